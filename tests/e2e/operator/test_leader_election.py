"""Two replicas, and the API server goes away for the leader alone.

Each replica reaches the API server through a loopback proxy of its own
(``supervisely_devkit.devcluster.faultproxy``). The test sends the leader's into a black hole:
its requests vanish and nothing is closed, as when its node drops off the network, while the
standby still reaches the server. The leader must stop acting before the standby may start, by
its own clock, although it hears nothing; the standby takes over after the claim's lifetime;
and once the leader is back it stays a standby. Both replicas' logs are read for the moments
each of them acted: they never overlap.

The claim lives on kopf's peering object here: the local control plane serves no Leases
(``tests/integration/test_controller_election.py`` covers the Lease). Timings are shorter than
the defaults (lifetime 4 s, renew deadline 2.5 s, renewal every 0.5 s) to keep the test short.
"""

import re
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pytest

from supervisely_devkit.devcluster.access import ClusterAccess
from supervisely_devkit.devcluster.faultproxy import FaultProxy, kubeconfig_through, upstream_of
from supervisely_devkit.simulator import Scenario
from supervisely_devkit.simulator.runner import ThreadedSimulator

from chaosbench.acting import acting_windows, handovers, overlaps
from harness import FAST_OPERATOR_ENV, OperatorProcess, Tasks, wait_until

PEERING_CRDS = Path(__file__).resolve().parents[3] / "charts/supervisely-operator/crds"
TOKEN = "e2e-election-token-7c41d0"
SERVE = {"moduleId": 103, "workspaceId": 1}
LIFETIME, RENEW_DEADLINE, RETRY = 4, 2.5, 0.5
LEADING = re.compile(r"Leading as (\S+) ")


class Replica:
    """An operator process behind a proxy of its own, so its link alone can be broken."""

    def __init__(
        self, name: str, *, cluster: ClusterAccess, server: str, tmp_path: Path, peering: str
    ) -> None:
        self.name = name
        self.proxy = FaultProxy(*upstream_of(cluster.kubeconfig)).start()
        kubeconfig = kubeconfig_through(self.proxy, cluster.kubeconfig, tmp_path / name)
        self.process = OperatorProcess(
            kubeconfig=kubeconfig,
            server=server,
            token=TOKEN,
            log_path=tmp_path / f"{name}.log",
            env={
                **FAST_OPERATOR_ENV,
                "SUPERVISELY_OPERATOR_PEERING": peering,
                "SUPERVISELY_OPERATOR_PEERING_LIFETIME": str(LIFETIME),
                "SUPERVISELY_OPERATOR_PEERING_RENEW_DEADLINE": str(RENEW_DEADLINE),
                "SUPERVISELY_OPERATOR_PEERING_RETRY_PERIOD": str(RETRY),
            },
        )

    def log(self) -> str:
        return self.process.log()

    def leads(self) -> bool:
        now = datetime.now()
        windows = acting_windows(self.log(), replica=self.name, until=now)
        return bool(windows) and windows[-1].end == now

    def stop(self) -> None:
        self.process.stop()
        self.proxy.stop()


@pytest.fixture
def simulator() -> Iterator[ThreadedSimulator]:
    scenario = Scenario.model_validate(
        {"durations": {"queued": 0.2, "consumed": 0.2, "running": 0.6, "terminating": 0.3}}
    )
    with ThreadedSimulator(token=TOKEN, scenario=scenario) as sim:
        yield sim


@pytest.fixture
def replicas(
    crd_cluster: ClusterAccess, simulator: ThreadedSimulator, tmp_path: Path
) -> Iterator[list[Replica]]:
    """Two replicas peering in a ClusterKopfPeering of their own, started at once; the one
    that leads comes first."""
    peering = f"e2e-election-{uuid.uuid4().hex[:6]}"
    crd_cluster.kubectl("apply", "-f", str(PEERING_CRDS / "kopfpeerings.yaml"))
    crd_cluster.kubectl("wait", "--for=condition=Established", "crd/clusterkopfpeerings.kopf.dev")
    manifest = f"apiVersion: kopf.dev/v1\nkind: ClusterKopfPeering\nmetadata:\n  name: {peering}\n"
    crd_cluster.kubectl("apply", "-f", "-", input=manifest)
    started = [
        Replica(
            name, cluster=crd_cluster, server=simulator.base_url, tmp_path=tmp_path, peering=peering
        )
        for name in ("a", "b")
    ]
    try:
        with ThreadPoolExecutor(len(started)) as pool:
            list(pool.map(lambda replica: replica.process.start(), started))
        wait_until(lambda: any(replica.leads() for replica in started), what="a replica leading")
        yield sorted(started, key=lambda replica: not replica.leads())
    finally:
        for replica in reversed(started):
            replica.stop()
        crd_cluster.kubectl("delete", "clusterkopfpeering", peering, check=False)


def test_a_leader_cut_off_from_the_api_server_stops_acting_before_the_standby_starts(
    crd_cluster: ClusterAccess, simulator: ThreadedSimulator, replicas: list[Replica]
) -> None:
    leader, standby = replicas
    tasks = Tasks(crd_cluster, f"e2e-{uuid.uuid4().hex[:8]}")
    try:
        tasks.apply("before", SERVE)
        tasks.wait_phase("before", "Running")
        assert "/before] Started:" in leader.log()
        assert not standby.leads()

        leader.proxy.blackhole()
        cut = time.monotonic()
        tasks.apply("during", SERVE)
        tasks.wait_phase("during", "Running", timeout=45)
        took = time.monotonic() - cut
        print(f"a resource made when the leader was cut off was Running {took:.1f} s later")
        assert "/during] Started:" in standby.log()
        assert "Stood down: the claim was not renewed" in leader.log()

        leader.proxy.restore()
        wait_until(
            lambda: "Pausing operations in favour of" in leader.log(),
            what="the old leader back, seeing the new one",
            timeout=30,
        )
        tasks.apply("after", SERVE)
        tasks.wait_phase("after", "Running")
        assert "/after] Started:" in standby.log()
    finally:
        tasks.kubectl("delete", "slytask", "--all", "--timeout=30s", check=False)

    now = datetime.now()
    windows = [
        window
        for replica in replicas
        for window in acting_windows(replica.log(), replica=replica.name, until=now)
    ]
    assert overlaps(windows) == [], f"both acted at once: {windows}"
    [handover] = handovers(windows)
    print(f"nobody acted for {handover.total_seconds():.1f} s between the two leaders")
    # The standby waits the lifetime from its last sight of a renewal; the old leader stopped
    # the renew deadline after sending it: the gap is their difference, give or take a renewal.
    assert handover.total_seconds() > 0
    assert all(re.search(r"Started:", line) is None for line in after_standing_down(leader))
    assert len(simulator.tasks()) == 3, "one task per resource"


def after_standing_down(replica: Replica) -> list[str]:
    """The replica's log lines after it first stood down."""
    lines = replica.log().splitlines()
    first = next(i for i, line in enumerate(lines) if "Stood down:" in line)
    return lines[first + 1 :]
