"""The chaos run's short form: 30 resources, 3 SIGKILLs and every fault at once, then the
invariants (``bench/chaos.py`` is the long form: 150 resources, 50 kills)."""

import uuid
from pathlib import Path

from supervisely_devkit.devcluster.access import ClusterAccess

from chaosbench.run import ChaosPlan, run_chaos

PLAN = ChaosPlan(resources=30, kills=3, churn_seconds=24.0, seed=7, settle_seconds=90.0)
TOKEN = "e2e-chaos-token-8d2b6a"


async def test_everything_at_once_leaves_one_task_per_resource_and_no_secret_out(
    crd_cluster: ClusterAccess, tmp_path: Path
) -> None:
    namespace = f"chaos-{uuid.uuid4().hex[:8]}"
    progress: list[str] = []

    def log(line: str) -> None:
        progress.append(line)
        print(line)  # shown with the test's output when it fails, or with -rP

    report = await run_chaos(
        PLAN,
        kubeconfig=crd_cluster.kubeconfig,
        namespace=namespace,
        workdir=tmp_path,
        token=TOKEN,
        log=log,
    )
    log(report.summary())
    seen = "\n".join(progress)
    assert report.created == PLAN.resources, seen
    assert report.kills == PLAN.kills, seen
    assert sum(report.actions.values()) > 0, seen
    assert report.faults["status:503"] > 0, f"the simulator injected faults\n{seen}"
    assert report.settled_s is not None, f"every resource converges\n{seen}"
    assert report.violations == [], seen
