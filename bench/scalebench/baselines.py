"""The two baselines the operator is compared with, on the same N and the same simulator scenario.

(a) The SDK's wait loop: N tasks started directly, one ``tasks.info`` per task per second
(``bench/sdk_wait_loop.py``, a process of its own). (b) A naive kopf operator: a start on
create and a 2-second timer per resource (``bench/naive_operator.py``), measured like the
operator: through the watch, the simulator's counts and psutil.
"""

import asyncio
import contextlib
import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from supervisely_devkit.demo.process import free_port

from scalebench.kube import TaskObjects, kube_session, run_bounded
from scalebench.measure import Log, Timeouts, wait_until
from scalebench.processes import (
    MIB,
    ChildProcess,
    ProcessSampler,
    SimulatorProcess,
    call_counts,
    cpu_percent,
    median_rss,
)
from scalebench.watch import watching
from scalebench.workload import manifest, plan, scenario

BENCH_DIR = Path(__file__).resolve().parents[1]
SDK_WAIT_LOOP = BENCH_DIR / "sdk_wait_loop.py"
NAIVE_OPERATOR = BENCH_DIR / "naive_operator.py"
SDK_WINDOW_SECONDS = 30.0


async def measure_sdk_wait_loop(*, n: int, token: str, workdir: Path, log: Log) -> dict[str, Any]:
    """Baseline (a): what ``sdk_wait_loop.py`` reports of itself, plus the simulator's count."""
    with SimulatorProcess(
        scenario=scenario(), token=token, workdir=workdir, name=f"simulator-sdk-{n}"
    ) as simulator:
        argv = [sys.executable, str(SDK_WAIT_LOOP), "--count", str(n)]
        child = ChildProcess(
            [*argv, "--window", str(SDK_WINDOW_SECONDS)],
            log_path=workdir / f"sdk-wait-loop-{n}.log",
            env={"SERVER_ADDRESS": simulator.base_url, "API_TOKEN": token},
        )
        log(f"  starting {n} tasks, then {SDK_WINDOW_SECONDS:.0f} s of 1 tasks.info/task/s")
        child.spawn()
        assert child.process is not None
        with contextlib.suppress(subprocess.TimeoutExpired):
            await asyncio.to_thread(child.process.wait, SDK_WINDOW_SECONDS + 60 + 0.05 * n)
        child.stop()
        async with simulator.admin() as admin:
            counts = await call_counts(admin)
    lines = child.log_path.read_text(errors="replace").strip().splitlines()
    try:
        result: dict[str, Any] = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        log(f"  the SDK wait loop printed no result; see {child.log_path}")
        return {"n": n, "failed": True}
    result["simulator_calls"] = counts
    log(
        f"  SDK wait loop: {result['calls_per_task_min']:.1f} calls/task/min, "
        f"CPU {result['cpu_pct']:.0f} % of a core"
    )
    return result


@dataclass
class NaiveResult:
    """Baseline (b): the naive kopf operator, measured like the operator."""

    n: int
    apply_s: float
    task_ids_after_apply_s: float | None
    with_task_id: int
    steady_window_s: float
    steady_calls: dict[str, int]
    steady_calls_per_task_min: float
    cpu_total_s: float
    cpu_steady_pct: float
    rss_peak_mb: float
    rss_steady_mb: float
    writes: dict[str, dict[str, float]]

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


async def measure_naive_operator(
    *,
    n: int,
    kubeconfig: Path,
    namespace: str,
    token: str,
    workdir: Path,
    steady_seconds: float,
    log: Log,
) -> NaiveResult:
    """Baseline (b): apply N objects for the naive operator; its objects are left behind.

    Run it last on a cluster: its finalizers stay on the objects, so the cluster is discarded.
    """
    with SimulatorProcess(
        scenario=scenario(), token=token, workdir=workdir, name=f"simulator-naive-{n}"
    ) as simulator:
        health = f"http://127.0.0.1:{free_port()}/healthz"
        argv = [sys.executable, str(NAIVE_OPERATOR), "--namespace", namespace]
        child = ChildProcess(
            [*argv, "--liveness", health],
            log_path=workdir / f"naive-operator-{n}.log",
            env={
                "KUBECONFIG": str(kubeconfig),
                "SERVER_ADDRESS": simulator.base_url,
                "API_TOKEN": token,
            },
        )
        child.spawn()
        try:
            await asyncio.to_thread(child.wait_healthy, health)
            async with (
                kube_session(kubeconfig) as kube,
                kube_session(kubeconfig, for_watch=True) as kube_watch,
                simulator.admin() as admin,
                watching(kube_watch, namespace) as recorder,
            ):
                with ProcessSampler(child.pid) as usage:
                    objects = TaskObjects(kube, namespace)
                    log(f"  applying {n} objects for the naive operator")
                    first = time.time()
                    planned = plan(n, prefix="naive")
                    await run_bounded(planned, lambda p: objects.create(manifest(p)))
                    last = time.time()
                    await wait_until(
                        lambda: recorder.with_task_id >= n,
                        seconds=Timeouts.for_size(n).task_ids,
                        log=log,
                        describe=lambda: f"{recorder.with_task_id}/{n} have a task id",
                    )
                    task_ids_at = recorder.latest(lambda h: h.task_id_at)
                    log(f"  steady window of {steady_seconds:.0f} s")
                    start, start_counts = usage.sample(), await call_counts(admin)
                    began = time.monotonic()
                    await asyncio.sleep(steady_seconds)
                    end, end_counts = usage.sample(), await call_counts(admin)
                    window = time.monotonic() - began
                    steady = {
                        m: end_counts[m] - start_counts.get(m, 0)
                        for m in end_counts
                        if end_counts[m] != start_counts.get(m, 0)
                    }
                    result = NaiveResult(
                        n=n,
                        apply_s=last - first,
                        task_ids_after_apply_s=None
                        if task_ids_at is None
                        else max(0.0, task_ids_at - last),
                        with_task_id=recorder.with_task_id,
                        steady_window_s=window,
                        steady_calls=steady,
                        steady_calls_per_task_min=sum(steady.values()) / n / (window / 60.0),
                        cpu_total_s=end.cpu_seconds if end else 0.0,
                        cpu_steady_pct=cpu_percent(start, end) if start and end else 0.0,
                        rss_peak_mb=usage.peak_rss() / MIB,
                        rss_steady_mb=median_rss(usage.samples, start, end) / MIB
                        if start and end
                        else 0.0,
                        writes=recorder.writes_by_lifecycle(),
                    )
        finally:
            await asyncio.to_thread(child.stop)
    log(
        f"  naive operator: {result.steady_calls_per_task_min:.1f} calls/task/min, "
        f"CPU {result.cpu_steady_pct:.0f} % of a core"
    )
    return result
