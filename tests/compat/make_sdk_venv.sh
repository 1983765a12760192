#!/usr/bin/env bash
# Build a separate virtual environment with the official Supervisely SDK, for the SDK
# compatibility test (tests/compat/test_sdk_compat.py). The SDK pins versions that clash with the
# project's own lock, so it cannot live in .venv.
#
# Usage: tests/compat/make_sdk_venv.sh [TARGET_DIR]
#   TARGET_DIR defaults to $SDK_VENV, else ~/.cache/supervisely-operator/venv-sdk: outside the
#   work tree on purpose, so a ~1 GB environment can never be committed by accident.
# Then: SUPERVISELY_SDK_PYTHON=TARGET_DIR/bin/python .venv/bin/pytest tests/compat
set -euo pipefail

SDK_VERSION=6.74.51
target="${1:-${SDK_VENV:-${HOME}/.cache/supervisely-operator/venv-sdk}}"

start=$(date +%s)
python3 -m venv "${target}"
"${target}/bin/python" -m pip install --quiet --disable-pip-version-check "supervisely==${SDK_VERSION}"
end=$(date +%s)

echo "SDK venv: ${target}"
echo "build time: $((end - start)) s"
echo "size: $(du -sh "${target}" | cut -f1)"
echo "export SUPERVISELY_SDK_PYTHON=${target}/bin/python"
