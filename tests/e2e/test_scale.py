"""The scale benchmark's short form: its core at N=50 on the session's control plane.

``bench/scale.py`` measures 100 to 10,000 objects for people to read; this runs the same code
(``bench/scalebench``) small enough for every test run and asserts what must hold at any size:
every object gets a task and runs, polling does not grow with the number of tasks, nothing a
watch should see is lost, and deleting everything leaves no task running on Supervisely.
"""

import uuid
from pathlib import Path

from supervisely_devkit.devcluster.access import ClusterAccess

from scalebench.measure import (
    OperatorRun,
    Timeouts,
    measure_floor,
    measure_operator,
    warm_up,
)

N = 50
STEADY_SECONDS = 10.0
TOKEN = "e2e-scale-token-3c9e1f"
TIMEOUTS = Timeouts(task_ids=15.0, running=20.0, deletion=20.0)


async def test_fifty_tasks_start_run_poll_cheaply_and_leave_nothing_behind(
    crd_cluster: ClusterAccess, tmp_path: Path
) -> None:
    suffix = uuid.uuid4().hex[:8]
    progress: list[str] = []
    await warm_up(crd_cluster.kubeconfig, namespace=f"warm-up-{suffix}")
    floor = await measure_floor(
        crd_cluster.kubeconfig, namespace=f"floor-{suffix}", n=N, log=progress.append
    )
    run = OperatorRun(
        n=N,
        kubeconfig=crd_cluster.kubeconfig,
        namespace=f"scale-{suffix}",
        workdir=tmp_path,
        token=TOKEN,
        steady_seconds=STEADY_SECONDS,
        timeouts=TIMEOUTS,
        settle_failures=False,  # the failing apps' restarts may take 45 s; polls are counted
    )
    result = await measure_operator(run, log=progress.append)
    seen = "\n".join(progress)

    assert floor.failures == 0, seen
    assert floor.delete_s is not None, "the floor's objects have no finalizers to wait for"
    assert result.apply_failures == 0, seen
    assert result.with_task_id == N, f"every object gets a task id\n{seen}"
    assert result.running == result.running_target, f"every serving app runs\n{seen}"
    per_task_polling = 60.0 / result.poll_interval_s
    assert result.steady_polls_per_task_min < per_task_polling / 2, (
        f"steady polls per task per minute ({result.steady_polls_per_task_min:.2f}) must stay "
        f"well under one poll per task per interval ({per_task_polling:.1f}): "
        f"{result.steady_calls}"
    )
    assert result.lag.samples > 0, "status changes were seen through the watch"
    assert result.lag.missed == 0, f"every status change reached the API server: {result.lag}"
    assert result.deleted == N, f"every object is gone after deletion\n{seen}"
    assert result.left_live == 0, "no task is left running on Supervisely"
