"""The benchmark's child processes, and what it measures of them.

The simulator, the local control plane and every contender run as processes of their own, so
the CPU and memory read from one process (with psutil) belong to that contender alone, and the
benchmark's own watch and requests do not compete with them for one interpreter lock.
"""

import asyncio
import contextlib
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

from supervisely_devkit.simulator import Scenario

START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
SAMPLE_INTERVAL = 1.0
MIB = 1024 * 1024
SIMULATOR_READY = re.compile(r"Supervisely simulator listening on (?P<url>http://\S+)")
CLUSTER_KUBECONFIG = re.compile(r"^kubeconfig: (?P<path>\S+)$", re.MULTILINE)
CLUSTER_READY = re.compile(r"^started in ", re.MULTILINE)


class ChildProcess:
    """A command with its output in a log file; SIGTERM, then SIGKILL, to stop it."""

    def __init__(
        self, argv: Sequence[str], *, log_path: Path, env: Mapping[str, str] | None = None
    ) -> None:
        self.argv = list(argv)
        self.log_path = log_path
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("not started")
        return self.process.pid

    def spawn(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )

    def wait_for_output(self, pattern: re.Pattern[str], *, timeout: float = START_TIMEOUT) -> str:
        """Wait until the log matches ``pattern``; the whole log so far."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_path.read_text(errors="replace")
            if pattern.search(text):
                return text
            self._check_alive()
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.argv[:4]} did not get ready in {timeout:.0f} s; {self.log_path}")

    def wait_healthy(self, url: str, *, timeout: float = START_TIMEOUT) -> None:
        """Wait until ``url`` answers 200."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=1).status_code == 200:
                    return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.argv[:4]} did not become healthy; see {self.log_path}")

    def _check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"{self.argv[:4]} exited at start; see {self.log_path}")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT)
        self.process = None


class SimulatorProcess:
    """``supervisely-operator simulator`` with a scenario file, quiet (warnings only)."""

    def __init__(self, *, scenario: Scenario, token: str, workdir: Path, name: str) -> None:
        scenario_path = workdir / f"{name}-scenario.json"
        scenario_path.write_text(scenario.model_dump_json(exclude_none=True))
        argv = [sys.executable, "-m", "supervisely_operator", "simulator", "--port", "0"]
        argv += ["--scenario", str(scenario_path), "--log-level", "warning"]
        # The token goes by environment, so it never shows in ``ps``.
        self.child = ChildProcess(argv, log_path=workdir / f"{name}.log", env={"API_TOKEN": token})
        self._token = token
        self.base_url = ""

    def __enter__(self) -> "SimulatorProcess":
        self.child.spawn()
        match = SIMULATOR_READY.search(self.child.wait_for_output(SIMULATOR_READY))
        assert match is not None
        self.base_url = match["url"]
        return self

    def __exit__(self, *_: object) -> None:
        self.child.stop()

    @property
    def pid(self) -> int:
        return self.child.pid

    def admin(self) -> httpx.AsyncClient:
        """An async client for ``/_sim``; close it (``async with``)."""
        return httpx.AsyncClient(
            base_url=f"{self.base_url}/_sim/",
            headers={"x-api-key": self._token},
            timeout=httpx.Timeout(120.0),
        )


async def call_counts(admin: httpx.AsyncClient) -> dict[str, int]:
    """Calls the simulator answered so far, by API method."""
    reply = await admin.get("calls/counts")
    reply.raise_for_status()
    counts: dict[str, int] = reply.json()
    return counts


async def timelines(admin: httpx.AsyncClient) -> list[dict[str, Any]]:
    """Every task's status now and its status changes so far (wall-clock ISO times)."""
    reply = await admin.get("timelines")
    reply.raise_for_status()
    tasks: list[dict[str, Any]] = reply.json()
    return tasks


class DevClusterProcess:
    """``supervisely-operator devcluster up`` in a process of its own: etcd, API server, front."""

    def __init__(self, *, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "supervisely_operator", "devcluster", "up"]
        self.child = ChildProcess(
            [*argv, "--workdir", str(workdir / "cluster")], log_path=workdir / "devcluster.log"
        )
        self.kubeconfig = Path()

    def __enter__(self) -> "DevClusterProcess":
        self.child.spawn()
        text = self.child.wait_for_output(CLUSTER_READY, timeout=120.0)
        match = CLUSTER_KUBECONFIG.search(text)
        if match is None:
            raise RuntimeError(f"no kubeconfig line in {self.child.log_path}")
        self.kubeconfig = Path(match["path"])
        return self

    def __exit__(self, *_: object) -> None:
        self.child.stop()

    def pids(self) -> dict[str, int]:
        """{part: pid}: the discovery front (this process) and the servers it started."""
        found = {"discovery front": self.child.pid}
        with contextlib.suppress(psutil.Error):
            for server in psutil.Process(self.child.pid).children(recursive=True):
                found[Path(server.cmdline()[0]).name] = server.pid
        return found


class CpuMeter:
    """CPU seconds several processes use between ``start()`` and ``stop()`` (psutil)."""

    def __init__(self, pids: Mapping[str, int]) -> None:
        self._processes = {}
        for name, pid in pids.items():
            with contextlib.suppress(psutil.Error):
                self._processes[name] = psutil.Process(pid)
        self._start: dict[str, float] = {}

    def _read(self) -> dict[str, float]:
        readings = {}
        for name, process in self._processes.items():
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                readings[name] = times.user + times.system
        return readings

    def start(self) -> None:
        self._start = self._read()

    def stop(self) -> dict[str, float]:
        """CPU seconds per process since ``start()`` (a process gone meanwhile is left out)."""
        return {
            name: round(seconds - self._start[name], 2)
            for name, seconds in self._read().items()
            if name in self._start
        }


@dataclass(frozen=True)
class Sample:
    """One reading of a process: when (monotonic), CPU seconds so far, resident memory."""

    at: float
    cpu_seconds: float
    rss: int


class ProcessSampler:
    """CPU time and RSS of one process, read every second in the background (psutil)."""

    def __init__(self, pid: int) -> None:
        self._process = psutil.Process(pid)
        self.samples: list[Sample] = []
        self._task: asyncio.Task[None] | None = None

    def sample(self) -> Sample | None:
        """Read the process now (None once it has exited)."""
        try:
            with self._process.oneshot():
                times = self._process.cpu_times()
                rss = self._process.memory_info().rss
        except psutil.Error:
            return None
        reading = Sample(time.monotonic(), times.user + times.system, rss)
        self.samples.append(reading)
        return reading

    def peak_rss(self) -> int:
        """The kernel's high-water mark where there is one (Linux), else the sampled peak."""
        with contextlib.suppress(OSError, ValueError, psutil.Error):
            status = Path(f"/proc/{self._process.pid}/status").read_text()
            match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
            if match:
                return int(match[1]) * 1024
        return max((s.rss for s in self.samples), default=0)

    async def _run(self) -> None:
        while True:
            if self.sample() is None:  # the process has exited
                return
            await asyncio.sleep(SAMPLE_INTERVAL)

    def __enter__(self) -> "ProcessSampler":
        self.sample()
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *_: object) -> None:
        if self._task is not None:
            self._task.cancel()


def cpu_percent(start: Sample, end: Sample) -> float:
    """Share of one core used between two readings, in percent."""
    elapsed = end.at - start.at
    return 100.0 * (end.cpu_seconds - start.cpu_seconds) / elapsed if elapsed > 0 else 0.0


def median_rss(samples: Sequence[Sample], start: Sample, end: Sample) -> int:
    """The median RSS between two readings: the steady footprint."""
    inside = [s.rss for s in samples if start.at <= s.at <= end.at]
    return int(statistics.median(inside)) if inside else end.rss
