"""Run the operator as a real process against the local control plane and the simulator.

Tests drive it as users would: ``kubectl apply``/``patch``/``delete`` and reading status, and
they may SIGKILL it at any moment. Nothing of the operator is mocked or imported here.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
import yaml

from supervisely_operator.devcluster.access import ClusterAccess

OPERATOR_START_TIMEOUT = 60.0

#: Fast timings: every remote phase lasts a fraction of a second in the simulator.
FAST_OPERATOR_ENV = {
    "SUPERVISELY_OPERATOR_POLL_INTERVAL": "0.5",
    "SUPERVISELY_OPERATOR_TRANSITION_POLL_INTERVAL": "0.3",
    "SUPERVISELY_OPERATOR_START_GRACE": "2",
    "SUPERVISELY_OPERATOR_REQUEST_TIMEOUT": "3",
    "SUPERVISELY_OPERATOR_REQUEST_ATTEMPTS": "2",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class OperatorProcess:
    """``python -m supervisely_operator run -A`` with its log in a file."""

    def __init__(
        self, *, kubeconfig: Path, server: str, token: str, log_path: Path, env: Mapping[str, str]
    ) -> None:
        self._kubeconfig = kubeconfig
        self._server = server
        self._token = token
        self._log_path = log_path
        self._env = dict(env)
        self._process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        port = free_port()
        env = {
            **os.environ,
            **FAST_OPERATOR_ENV,
            **self._env,
            "KUBECONFIG": str(self._kubeconfig),
            "SERVER_ADDRESS": self._server,
            "API_TOKEN": self._token,
        }
        log = self._log_path.open("ab")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "supervisely_operator", "run", "-A", "--verbose",
             "--liveness", f"http://127.0.0.1:{port}/healthz"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        self.starts += 1
        deadline = time.monotonic() + OPERATOR_START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"the operator exited at start; see {self._log_path}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the operator did not become healthy; see {self._log_path}")

    def kill(self) -> None:
        """SIGKILL: no cleanup, no finalizer handling, exactly like a crashed pod."""
        assert self._process is not None
        self._process.send_signal(signal.SIGKILL)
        self._process.wait(timeout=10)
        self._process = None

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=10)
        self._process = None

    def log(self) -> str:
        return self._log_path.read_text(errors="replace")


class Tasks:
    """SuperviselyTask objects of one namespace, through kubectl."""

    def __init__(self, cluster: ClusterAccess, namespace: str) -> None:
        self.cluster = cluster
        self.namespace = namespace

    def kubectl(self, *args: str, check: bool = True, input: str | None = None) -> str:
        result = self.cluster.kubectl("-n", self.namespace, *args, check=check, input=input)
        return result.stdout

    def apply(self, name: str, spec: Mapping[str, Any]) -> None:
        manifest = {
            "apiVersion": "supervisely.com/v1alpha1",
            "kind": "SuperviselyTask",
            "metadata": {"name": name},
            "spec": dict(spec),
        }
        self.kubectl("apply", "-f", "-", input=yaml.safe_dump(manifest))

    def patch_spec(self, name: str, spec: Mapping[str, Any]) -> None:
        patch = json.dumps({"spec": dict(spec)})
        self.kubectl("patch", "slytask", name, "--type=merge", "-p", patch)

    def get(self, name: str) -> dict[str, Any] | None:
        out = self.kubectl("get", "slytask", name, "-o", "json", "--ignore-not-found")
        return json.loads(out) if out.strip() else None

    def delete(self, name: str, *, wait: bool = False) -> None:
        self.kubectl("delete", "slytask", name, f"--wait={str(wait).lower()}", "--timeout=60s")

    def wait(
        self,
        name: str,
        until: Callable[[dict[str, Any] | None], bool],
        *,
        what: str,
        timeout: float = 30.0,
    ) -> dict[str, Any] | None:
        """Poll the object until ``until`` holds; fail naming ``what`` and the last status."""
        deadline = time.monotonic() + timeout
        obj = self.get(name)
        while not until(obj):
            if time.monotonic() > deadline:
                status = (obj or {}).get("status")
                raise AssertionError(f"{name}: not {what} within {timeout}s; status={status}")
            time.sleep(0.3)
            obj = self.get(name)
        return obj

    def wait_phase(self, name: str, phase: str, *, timeout: float = 30.0) -> dict[str, Any]:
        obj = self.wait(name, lambda o: phase_of(o) == phase, what=phase, timeout=timeout)
        assert obj is not None
        return obj

    def wait_gone(self, name: str, *, timeout: float = 30.0) -> None:
        self.wait(name, lambda o: o is None, what="deleted", timeout=timeout)


def phase_of(obj: Mapping[str, Any] | None) -> str | None:
    return ((obj or {}).get("status") or {}).get("phase")


def condition(obj: Mapping[str, Any], type_: str) -> dict[str, Any]:
    """The condition of this type, or an empty mapping while there is none yet."""
    conditions = (obj.get("status") or {}).get("conditions", [])
    found: dict[str, Any] = next((c for c in conditions if c["type"] == type_), {})
    return found
