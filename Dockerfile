# The supervisely-operator image: a slim Python with one virtual environment, run as uid 10001.
#
#   docker build -t supervisely-operator:0.1.0 .
#
# The builder stage installs only through .ci/install-runtime: the runtime dependencies from
# requirements-runtime.lock, hash-checked, then the wheel, built by the hash-locked backend of
# requirements-build.lock, without dependencies. tests/install/test_wheel_install.py runs these
# very RUN lines in a clean venv, since the image cannot be built where the tests run. The final
# stage receives the finished /opt/venv and nothing else: no pip, uv, compiler or build backend.
#
# Both stages must use the same base image: the venv's python is a symlink to the base's
# /usr/local/bin/python3.11. To pin the base by digest, pass
#   --build-arg PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:<digest>
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
# The builder is discarded, but a cache in its layers would still slow every build down.
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# Dependencies first: this layer is rebuilt only when a lock or the install script changes.
COPY .ci/install-runtime .ci/install-runtime
COPY requirements-runtime.lock requirements-build.lock ./
RUN .ci/install-runtime deps /opt/venv
COPY pyproject.toml README.md ./
# The operator's package only: operator/devkit/ (the test tooling) stays out of the context.
COPY operator/supervisely_operator/ operator/supervisely_operator/
RUN .ci/install-runtime project /opt/venv

FROM ${PYTHON_IMAGE}
# Keep in step with [project].version in pyproject.toml (a unit test checks); CI may override.
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="supervisely-operator" \
      org.opencontainers.image.description="Kubernetes operator that runs Supervisely app sessions declared as SuperviselyTask resources." \
      org.opencontainers.image.source="https://github.com/supervisely-operator/supervisely-operator" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
# A fixed numeric user and group, as the chart's securityContext names them (runAsUser 10001),
# with no home and no login. The base image's own pip, setuptools and wheel go: nothing in this
# image installs anything at run time, and the venv never saw them.
RUN groupadd --system --gid 10001 supervisely-operator \
 && useradd --system --no-log-init --uid 10001 --gid 10001 --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin supervisely-operator \
 && python -m pip uninstall --yes --quiet pip setuptools wheel
# Owned by root: the operator's user can read and run its code, never change it.
COPY --from=builder /opt/venv /opt/venv
# Bytecode was compiled at install time; the root filesystem is read-only in the cluster.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
# 8080: kopf's liveness endpoint (run --liveness http://0.0.0.0:8080/healthz); 9090: metrics.
EXPOSE 8080 9090
ENTRYPOINT ["supervisely-operator"]
CMD ["run", "-A"]
