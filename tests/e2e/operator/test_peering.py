"""High availability: two replicas with kopf peering serve together, one task per resource."""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from supervisely_operator.devcluster.access import ClusterAccess
from supervisely_operator.simulator.runner import ThreadedSimulator

from harness import FAST_OPERATOR_ENV, OperatorProcess, Tasks

PEERING_CRDS = Path(__file__).resolve().parents[3] / "charts/supervisely-operator/crds"
PEERING = "e2e-peering"


def peer(
    cluster: ClusterAccess, simulator: ThreadedSimulator, token: str, log_path: Path
) -> OperatorProcess:
    """An operator replica that joins the peering."""
    return OperatorProcess(
        kubeconfig=cluster.kubeconfig,
        server=simulator.base_url,
        token=token,
        log_path=log_path,
        env={**FAST_OPERATOR_ENV, "SUPERVISELY_OPERATOR_PEERING": PEERING},
    )


@pytest.fixture
def standby(
    crd_cluster: ClusterAccess, simulator: ThreadedSimulator, operator_token: str, tmp_path: Path
) -> Iterator[OperatorProcess]:
    """A second replica; the first one (``operator``) is restarted with peering below."""
    crd_cluster.kubectl("apply", "-f", str(PEERING_CRDS / "kopfpeerings.yaml"))
    crd_cluster.kubectl("wait", "--for=condition=Established", "crd/clusterkopfpeerings.kopf.dev")
    peering = f"apiVersion: kopf.dev/v1\nkind: ClusterKopfPeering\nmetadata:\n  name: {PEERING}\n"
    crd_cluster.kubectl("apply", "-f", "-", input=peering)
    process = peer(crd_cluster, simulator, operator_token, tmp_path / "standby.log")
    process.start()
    try:
        yield process
    finally:
        process.stop()


def test_two_peered_replicas_serve_and_start_each_task_once(
    tasks: Tasks,
    simulator: ThreadedSimulator,
    operator: OperatorProcess,
    standby: OperatorProcess,
    crd_cluster: ClusterAccess,
    operator_token: str,
    tmp_path: Path,
) -> None:
    operator.stop()  # the shared fixture runs standalone; bring it back as a peer
    second = peer(crd_cluster, simulator, operator_token, tmp_path / "peer.log")
    second.start()
    try:
        began = time.monotonic()
        tasks.apply("serve", {"moduleId": 103, "workspaceId": 1})
        tasks.wait_phase("serve", "Running", timeout=45)
        assert time.monotonic() - began < 15, "a replica served without waiting for a failover"
        assert len(simulator.tasks()) == 1, "exactly one replica acted"
        tasks.delete("serve", wait=True)
        assert simulator.task_status(simulator.tasks()[0]["id"]) == "stopped"
    finally:
        second.stop()
