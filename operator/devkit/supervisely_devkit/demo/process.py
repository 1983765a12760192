"""The operator as a child process: how the demo, the benchmark and the e2e tests run it.

It is started exactly as a user starts it (``python -m supervisely_operator run -A``) and it
is judged healthy by kopf's own liveness endpoint, so nothing of the operator is imported or
faked by whoever runs it. ``kill`` is a SIGKILL, as a crashed pod would get. The operator
(supervisely-operator) must be installed beside this Python; the devkit does not depend on it.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

METRICS_PORT_VARIABLE = "SUPERVISELY_OPERATOR_METRICS_PORT"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0
_ERROR_RECORD = re.compile(r"^\[[^\]]+\] \S+\s+\[(?:ERROR|CRITICAL)\s*\]")
_ANY_RECORD = re.compile(r"^\[\d{4}-\d\d-\d\d [^\]]+\] \S+\s+\[[A-Z]+\s*\]")
_TRACEBACK = "Traceback (most recent call last)"


def log_errors(text: str) -> list[str]:
    """Each ERROR record of a log in kopf's full format, with the lines that follow it (its
    traceback), and any traceback outside a record (a crash), one text each.

    The tests and the chaos run read the operator's log with this: a handler exception that
    kopf caught and retried leaves nothing else behind.
    """
    entries: list[list[str]] = []
    inside_error = False
    for line in text.splitlines():
        if _ANY_RECORD.match(line):
            inside_error = bool(_ERROR_RECORD.match(line))
            if inside_error:
                entries.append([line])
        elif inside_error:
            entries[-1].append(line)
        elif line.startswith(_TRACEBACK):
            inside_error = True
            entries.append([line])
    return ["\n".join(entry) for entry in entries]


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def operator_crds() -> str:
    """The CRDs as ``supervisely-operator crds`` prints them (one YAML document each), from the
    operator beside this Python.

    Asked of the operator that will run rather than read from the repository, so the two
    always agree, and nothing of the operator is imported.
    """
    command = [sys.executable, "-m", "supervisely_operator", "crds"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} exited {done.returncode}; supervisely-operator must be"
            f" installed beside the devkit: {done.stderr.strip()}"
        )
    return done.stdout


class OperatorProcess:
    """``python -m supervisely_operator run -A`` with its log in a file."""

    def __init__(
        self,
        *,
        kubeconfig: Path,
        server: str,
        token: str,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        verbose: bool = True,
    ) -> None:
        self._kubeconfig = kubeconfig
        self._server = server
        self._token = token
        self.log_path = log_path
        self._env = dict(env or {})
        self._verbose = verbose
        self._process: subprocess.Popen[bytes] | None = None
        self.metrics_url = ""

    def __repr__(self) -> str:
        return f"OperatorProcess(server={self._server!r}, log={str(self.log_path)!r})"

    @property
    def pid(self) -> int | None:
        """The process id while it runs (a benchmark samples its CPU and memory by it)."""
        return None if self._process is None else self._process.pid

    def start(self) -> None:
        """Start and wait until kopf reports itself healthy. The metrics port is the one the
        given env names (a Prometheus set up first can scrape it from the start), else free."""
        port = free_port()
        metrics_port = int(self._env.get(METRICS_PORT_VARIABLE) or 0) or free_port()
        env = {
            **os.environ,
            **self._env,
            "KUBECONFIG": str(self._kubeconfig),
            "SERVER_ADDRESS": self._server,
            "API_TOKEN": self._token,
            METRICS_PORT_VARIABLE: str(metrics_port),
        }
        self.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        health = f"http://127.0.0.1:{port}/healthz"
        # Tests and the demo read the verbose log; a benchmark runs it as a deployment does.
        verbosity = ["--verbose"] if self._verbose else []
        command = [sys.executable, "-m", "supervisely_operator", "run", "-A", *verbosity]
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [*command, "--liveness", health], env=env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"the operator exited at start; see {self.log_path}")
            try:
                if httpx.get(health, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the operator did not become healthy; see {self.log_path}")

    def kill(self) -> None:
        """SIGKILL: no cleanup and no finalizer handling, exactly like a crashed pod."""
        if self._process is not None:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait(timeout=STOP_TIMEOUT)
            self._process = None

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not exit in time."""
        if self._process is None:
            return
        self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=STOP_TIMEOUT)
        self._process = None

    def log(self) -> str:
        """Everything the operator wrote so far."""
        return self.log_path.read_text(errors="replace")
