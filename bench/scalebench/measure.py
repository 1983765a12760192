"""The floor and the operator run: what the issue's scale goals are measured on.

The floor is what the API server alone costs: N creates and N status patches, no operator. The
operator run starts the real operator as a user would (a process, its environment, default
poll interval), applies N objects at once, and reads everything from outside: the watch, the
simulator's call counts and timelines, psutil, and the operator's metrics endpoint.
"""

import asyncio
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from supervisely_devkit.demo.process import OperatorProcess

from scalebench.kube import TaskObjects, kube_session, run_bounded
from scalebench.lag import LagSummary, status_lags
from scalebench.operator_output import pass_counts, poll_lag, scan_log
from scalebench.processes import (
    MIB,
    CpuMeter,
    ProcessSampler,
    SimulatorProcess,
    call_counts,
    cpu_percent,
    median_rss,
    timelines,
)
from scalebench.watch import WatchRecorder, watching
from scalebench.workload import (
    FAIL,
    RUNNING_LIFECYCLES,
    TERMINATING_SECONDS,
    manifest,
    plan,
    scenario,
)

Log = Callable[[str], None]
DEFAULT_POLL_INTERVAL = 10.0
"""The operator's default ``SUPERVISELY_OPERATOR_POLL_INTERVAL`` (README, Running the operator)."""
POLL_INTERVAL_ENV = "SUPERVISELY_OPERATOR_POLL_INTERVAL"
POLL_METHODS = ("tasks.info", "tasks.list")
LIVE_STATUSES = frozenset({"queued", "consumed", "started", "deployed", "terminating"})
PROGRESS_EVERY = 10.0


@dataclass(frozen=True)
class Timeouts:
    """How long each wait may take: a base plus a share per object, so 10,000 stay bounded."""

    task_ids: float
    running: float
    deletion: float
    settle: float = TERMINATING_SECONDS + 5.0

    @classmethod
    def for_size(cls, n: int) -> "Timeouts":
        return cls(task_ids=30 + 0.02 * n, running=60 + 0.02 * n, deletion=60 + 0.015 * n)


async def wait_until(
    holds: Callable[[], bool], *, seconds: float, log: Log, describe: Callable[[], str]
) -> bool:
    """Poll ``holds`` (cheap) until true or for ``seconds``; a progress line every 10 s."""
    deadline = time.monotonic() + seconds
    next_note = time.monotonic() + PROGRESS_EVERY
    while not holds():
        now = time.monotonic()
        if now >= deadline:
            log(f"  timed out after {seconds:.0f} s: {describe()}")
            return False
        if now >= next_note:
            log(f"  ... {describe()}")
            next_note = now + PROGRESS_EVERY
        await asyncio.sleep(0.2)
    return True


async def warm_up(kubeconfig: Path, *, namespace: str = "warm-up") -> None:
    """Create, patch and delete one object: a fresh CRD's first create takes about 2 s (the
    API server builds its storage then), which would otherwise land in the first measurement."""
    async with kube_session(kubeconfig) as kube:
        objects = TaskObjects(kube, namespace)
        (planned,) = plan(1, prefix="warm-up")
        await objects.create(manifest(planned))
        await objects.patch_status(planned.name, {"phase": "Queued"})
        await objects.delete(planned.name)


@dataclass
class FloorResult:
    """N creates plus N status patches straight to the API server, then N deletes."""

    n: int
    create_and_patch_s: float
    delete_s: float | None
    failures: int

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


async def measure_floor(kubeconfig: Path, *, namespace: str, n: int, log: Log) -> FloorResult:
    """The API server's own cost of the objects an operator run creates and writes."""
    async with kube_session(kubeconfig) as kube:
        objects = TaskObjects(kube, namespace)

        async def create_then_patch(item: tuple[int, Any]) -> None:
            index, planned = item
            await objects.create(manifest(planned))
            status = {"phase": "Queued", "taskId": 100_000 + index, "remoteStatus": "queued"}
            await objects.patch_status(planned.name, status)

        planned = list(plan(n, prefix="floor"))
        began = time.monotonic()
        failures = await run_bounded(enumerate(planned), create_then_patch)
        written = time.monotonic() - began
        log(f"  floor: {n} creates + {n} status patches in {written:.1f} s")
        began = time.monotonic()
        failures += await run_bounded([p.name for p in planned], objects.delete)
        deadline = time.monotonic() + Timeouts.for_size(n).deletion
        while await objects.any_left():
            if time.monotonic() > deadline:
                return FloorResult(n, written, None, len(failures))
            await asyncio.sleep(0.2)
        deleted = time.monotonic() - began
        log(f"  floor: {n} deletes in {deleted:.1f} s")
        return FloorResult(n, written, deleted, len(failures))


@dataclass
class OperatorResult:
    """Everything measured of one operator run of N objects (seconds, MB, percent of a core)."""

    n: int
    poll_interval_s: float
    apply_s: float
    apply_failures: int
    task_ids_after_apply_s: float | None
    task_ids_from_first_apply_s: float | None
    with_task_id: int
    running_after_apply_s: float | None
    running_target: int
    running: int
    steady_window_s: float
    steady_calls: dict[str, int]
    steady_calls_per_task_min: float
    steady_polls_per_task_min: float
    """Only the reads that follow tasks (tasks.info, tasks.list): what per-task polling grows."""
    calls: dict[str, int]
    lag: LagSummary
    poll_lag_p95_s: float | None
    poll_lag_mean_s: float | None
    writes: dict[str, dict[str, float]]
    cpu_total_s: float
    cpu_steady_pct: float
    rss_peak_mb: float
    rss_steady_mb: float
    neighbour_cpu_s: dict[str, float]
    """CPU seconds of the simulator and the control plane during the run: where time went."""
    delete_s: float | None
    deleted: int
    left_live: int
    """Tasks of this run's objects not stopped, finished or error after the deletion."""
    other_live: int
    """Live tasks no object of this run ever showed: started but never recorded, or started
    for objects outside the namespace (the operator watches all namespaces)."""
    log_errors: int
    log_warnings: int
    log_samples: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class OperatorRun:
    """What an operator run needs to know."""

    n: int
    kubeconfig: Path
    namespace: str
    workdir: Path
    token: str
    steady_seconds: float
    operator_env: Mapping[str, str] = field(default_factory=dict)
    neighbours: Mapping[str, int] = field(default_factory=dict)
    """Other processes whose CPU use during the run is reported (e.g. the control plane's)."""
    timeouts: Timeouts | None = None
    """Default: ``Timeouts.for_size(n)``."""
    settle_failures: bool = True
    """Open the steady window only once the failing apps have used up their restarts."""

    @property
    def poll_interval(self) -> float:
        """The operator's poll interval: from its environment (ours, then the extra), or its
        default."""
        environment = {**os.environ, **self.operator_env}
        return float(environment.get(POLL_INTERVAL_ENV, DEFAULT_POLL_INTERVAL))


async def measure_operator(run: OperatorRun, *, log: Log) -> OperatorResult:
    """Start a simulator and the operator, apply N objects, measure, delete them all."""
    with SimulatorProcess(
        scenario=scenario(), token=run.token, workdir=run.workdir, name=f"simulator-{run.n}"
    ) as simulator:
        operator = OperatorProcess(
            kubeconfig=run.kubeconfig,
            server=simulator.base_url,
            token=run.token,
            log_path=run.workdir / f"operator-{run.n}.log",
            env=run.operator_env,
            verbose=False,
        )
        neighbours = CpuMeter({"simulator": simulator.pid, **run.neighbours})
        neighbours.start()
        await asyncio.to_thread(operator.start)
        try:
            assert operator.pid is not None
            async with (
                kube_session(run.kubeconfig) as kube,
                kube_session(run.kubeconfig, for_watch=True) as kube_watch,
                simulator.admin() as admin,
                watching(kube_watch, run.namespace) as recorder,
            ):
                with ProcessSampler(operator.pid) as usage:
                    result = await _drive(
                        run, TaskObjects(kube, run.namespace), admin, recorder, usage, log=log
                    )
                    result.rss_peak_mb = usage.peak_rss() / MIB
                    result.poll_lag_p95_s, result.poll_lag_mean_s = await poll_lag(
                        operator.metrics_url
                    )
                    passes = await pass_counts(operator.metrics_url)
                    log(f"  reconcile passes: {passes}")
                    result.neighbour_cpu_s = neighbours.stop()
        finally:
            await asyncio.to_thread(operator.stop)
        result.log_errors, result.log_warnings, result.log_samples = scan_log(operator.log_path)
        return result


async def _drive(
    run: OperatorRun,
    objects: TaskObjects,
    admin: httpx.AsyncClient,
    recorder: WatchRecorder,
    usage: ProcessSampler,
    *,
    log: Log,
) -> OperatorResult:
    n, timeouts = run.n, run.timeouts or Timeouts.for_size(run.n)
    planned = list(plan(n))
    running_target = sum(1 for p in planned if p.lifecycle in RUNNING_LIFECYCLES)

    log(f"  applying {n} objects, 32 in flight")
    first_apply = time.time()
    failures = await run_bounded(planned, lambda p: objects.create(manifest(p)))
    last_apply = time.time()
    log(f"  applied in {last_apply - first_apply:.1f} s ({len(failures)} failed)")

    await wait_until(
        lambda: recorder.with_task_id >= n,
        seconds=timeouts.task_ids,
        log=log,
        describe=lambda: f"{recorder.with_task_id}/{n} have a task id",
    )
    task_ids_at = recorder.latest(lambda h: h.task_id_at)
    await wait_until(
        lambda: recorder.running >= running_target,
        seconds=timeouts.running,
        log=log,
        describe=lambda: f"{recorder.running}/{running_target} serving/finishing were Running",
    )
    running_at = _latest_running(recorder)
    log(
        f"  task ids: {_since(last_apply, task_ids_at)}, all Running: "
        f"{_since(last_apply, running_at)} after the last apply"
    )
    if run.settle_failures:  # restarts are start-up churn, not the steady state
        failing = sum(1 for p in planned if p.lifecycle == FAIL)
        await wait_until(
            lambda: recorder.ended[FAIL] >= failing,
            seconds=timeouts.running,
            log=log,
            describe=lambda: f"{recorder.ended[FAIL]}/{failing} failing apps have ended",
        )

    log(f"  steady window of {run.steady_seconds:.0f} s")
    start_sample, start_counts = usage.sample(), await call_counts(admin)
    began = time.monotonic()
    await asyncio.sleep(run.steady_seconds)
    end_sample, end_counts = usage.sample(), await call_counts(admin)
    window = time.monotonic() - began
    steady = {m: end_counts.get(m, 0) - start_counts.get(m, 0) for m in end_counts}
    steady = {m: c for m, c in steady.items() if c}
    per_task_min = sum(steady.values()) / n / (window / 60.0)
    cpu_steady = rss_steady = 0.0
    if start_sample and end_sample:
        cpu_steady = cpu_percent(start_sample, end_sample)
        rss_steady = median_rss(usage.samples, start_sample, end_sample) / MIB
    log(f"  steady: {per_task_min:.3f} calls/task/min, CPU {cpu_steady:.1f} % of a core")

    history = await timelines(admin)
    delete_start = time.time()
    lag = status_lags(
        history,
        recorder.objects,
        settled_before=delete_start - (run.poll_interval + 2.0),
        now=delete_start,
    )
    log(f"  deleting all {n}, 32 in flight")
    names = [name for name, h in recorder.objects.items() if h.deleted_at is None]
    failures += await run_bounded(names, objects.delete)
    await wait_until(
        lambda: recorder.deleted >= len(recorder.objects),
        seconds=timeouts.deletion,
        log=log,
        describe=lambda: f"{recorder.deleted}/{len(recorder.objects)} gone",
    )
    gone_at = recorder.latest(lambda h: h.deleted_at)
    owned = {
        seen.task_id
        for history in recorder.objects.values()
        for seen in history.observations
        if seen.task_id is not None
    }
    left_live, other_live = await _settled_live(admin, owned, seconds=timeouts.settle)
    log(
        f"  deleted in {_since(delete_start, gone_at)}; {left_live} tasks left live "
        f"({other_live} live tasks of no object)"
    )
    final = usage.sample()
    return OperatorResult(
        n=n,
        poll_interval_s=run.poll_interval,
        apply_s=last_apply - first_apply,
        apply_failures=len(failures),
        task_ids_after_apply_s=_after(last_apply, task_ids_at),
        task_ids_from_first_apply_s=_after(first_apply, task_ids_at),
        with_task_id=recorder.with_task_id,
        running_after_apply_s=_after(last_apply, running_at),
        running_target=running_target,
        running=recorder.running,
        steady_window_s=window,
        steady_calls=steady,
        steady_calls_per_task_min=per_task_min,
        steady_polls_per_task_min=sum(steady.get(m, 0) for m in POLL_METHODS) / n / (window / 60),
        calls=await call_counts(admin),
        lag=lag,
        poll_lag_p95_s=None,
        poll_lag_mean_s=None,
        writes=recorder.writes_by_lifecycle(),
        cpu_total_s=final.cpu_seconds if final else 0.0,
        cpu_steady_pct=cpu_steady,
        rss_peak_mb=0.0,
        rss_steady_mb=rss_steady,
        neighbour_cpu_s={},
        delete_s=_after(delete_start, gone_at),
        deleted=recorder.deleted,
        left_live=left_live,
        other_live=other_live,
        log_errors=0,
        log_warnings=0,
    )


def _latest_running(recorder: WatchRecorder) -> float | None:
    moments = [h.running_at for h in recorder.objects.values() if h.lifecycle in RUNNING_LIFECYCLES]
    if not moments or any(m is None for m in moments):
        return None
    return max(m for m in moments if m is not None)


def _after(start: float, moment: float | None) -> float | None:
    return None if moment is None else max(0.0, moment - start)


def _since(start: float, moment: float | None) -> str:
    elapsed = _after(start, moment)
    return "not reached" if elapsed is None else f"{elapsed:.1f} s"


async def _settled_live(
    admin: httpx.AsyncClient, owned: set[int], *, seconds: float
) -> tuple[int, int]:
    """Live tasks on the simulator, of ``owned`` and of none, once stops have had (up to
    ``seconds``) time to end."""
    deadline = time.monotonic() + seconds
    while True:
        live = [task["id"] for task in await timelines(admin) if task["status"] in LIVE_STATUSES]
        ours = sum(1 for task_id in live if task_id in owned)
        if not live or time.monotonic() > deadline:
            return ours, len(live) - ours
        await asyncio.sleep(1.0)
