"""The chaos run's short form: 30 resources, 3 SIGKILLs, two replicas, an API-server restart
and every fault at once, then the invariants, among them that no two replicas ever acted at
once (``bench/chaos.py`` is the long form: 150 resources, 50 kills, 4 restarts, 5 seeds)."""

import dataclasses
import uuid
from pathlib import Path

from supervisely_devkit.devcluster.access import ClusterAccess

from chaosbench.run import ChaosPlan, run_chaos

PLAN = ChaosPlan(
    resources=30,
    kills=3,
    churn_seconds=24.0,
    seed=7,
    settle_seconds=90.0,
    replicas=2,
    apiserver_restarts=1,
    apiserver_down=1.0,
    # Shorter than the defaults (10 s, 7 s, 2 s), so that failovers fit the short churn.
    peering_lifetime=4,
    peering_renew_deadline=2.5,
    peering_retry_period=0.5,
)
TOKEN = "e2e-chaos-token-8d2b6a"
PEERING_CRDS = Path(__file__).resolve().parents[2] / "charts/supervisely-operator/crds"


async def test_everything_at_once_leaves_one_task_per_resource_and_no_secret_out(
    crd_cluster: ClusterAccess, tmp_path: Path
) -> None:
    namespace = f"chaos-{uuid.uuid4().hex[:8]}"
    crd_cluster.kubectl("apply", "-f", str(PEERING_CRDS / "kopfpeerings.yaml"))
    crd_cluster.wait_established("clusterkopfpeerings.kopf.dev")
    cluster = crd_cluster.dev_cluster
    # Another cluster's API server is not ours to restart.
    plan = PLAN if cluster is not None else dataclasses.replace(PLAN, apiserver_restarts=0)
    progress: list[str] = []

    def log(line: str) -> None:
        progress.append(line)
        print(line)  # shown with the test's output when it fails, or with -rP

    def restart(down_for: float) -> None:
        assert cluster is not None
        cluster.restart_apiserver(down_for=down_for)

    report = await run_chaos(
        plan,
        kubeconfig=crd_cluster.kubeconfig,
        namespace=namespace,
        workdir=tmp_path,
        token=TOKEN,
        log=log,
        restart_apiserver=restart,
    )
    log(report.summary())
    seen = "\n".join(progress)
    assert report.created == plan.resources, seen
    assert report.kills == plan.kills, seen
    assert report.apiserver_restarts == plan.apiserver_restarts, seen
    assert sum(report.actions.values()) > 0, seen
    assert report.faults["status:503"] > 0, f"the simulator injected faults\n{seen}"
    assert report.windows, f"the replicas' acting was read from their logs\n{seen}"
    assert report.settled_s is not None, f"every resource converges\n{seen}"
    assert report.violations == [], seen
