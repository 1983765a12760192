"""The API server goes away for one replica only: cut off, or one of its watches silenced.

Two replicas peer, each reaching the API server through a loopback proxy of its own
(``supervisely_devkit.devcluster.faultproxy``), so the test can break one replica's link while
the other still gets through, and break it as networks do, without closing anything:

- The leader's link goes into a black hole. The leader must stop acting before the standby may
  start, by its own clock, although it hears nothing; the standby takes over after the claim's
  lifetime; the old leader, back, stays a standby. Both logs are read for the moments each
  replica acted: they never overlap.
- The leader's watch of SuperviselyTasks is silenced: every byte dropped, the server's end of
  the response included, the connection kept open. An edit made then reaches the leader once
  it gives up on the silent stream: within the inactivity timeout, plus 5 s to act on it, and
  it says so once, at WARNING, naming the kind.

The claim lives on kopf's peering object here: the local control plane serves no Leases
(``tests/integration/test_controller_election.py`` covers the Lease). Timings are shorter than
the defaults to keep the tests short: a claim lives 4 s, its holder acts 2.5 s after its last
renewal and renews every 0.5 s; the server ends a watch after 2 s, a stream is silent after 4 s.
The two tests share the replicas and do not depend on each other's order; the shared operator
is stopped for them (it watches every namespace), and they run after the tests that use it.
"""

import re
import time
import uuid
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pytest
from kubernetes import client

from supervisely_devkit.demo.process import log_errors
from supervisely_devkit.devcluster.access import ClusterAccess
from supervisely_devkit.devcluster.faultproxy import FaultProxy, kubeconfig_through, upstream_of
from supervisely_devkit.simulator import Scenario
from supervisely_devkit.simulator.runner import ThreadedSimulator

from chaosbench.acting import acting_windows, handovers, overlaps
from harness import OperatorPool, OperatorProcess, Tasks, phase_of, wait_until

PEERING_CRDS = Path(__file__).resolve().parents[3] / "charts/supervisely-operator/crds"
TOKEN = "e2e-apiserver-away-token-7c41d0"
SERVE = {"moduleId": 103}
WORKSPACE_ID = 1
LIFETIME, RENEW_DEADLINE, RETRY = 4, 2.5, 0.5
SERVER_TIMEOUT, INACTIVITY_TIMEOUT = 2, 4
TASKS_WATCH = rb"superviselytasks\?watch=true"
SILENT = re.compile(r"\[WARNING\s*\].*The watch of SuperviselyTask \(superviselytasks\.")


class Replica:
    """An operator process behind a proxy of its own, so its link alone can be broken."""

    def __init__(
        self,
        name: str,
        *,
        cluster: ClusterAccess,
        server: str,
        logs: Path,
        peering: str,
        env: Mapping[str, str],
    ) -> None:
        self.name = name
        self.proxy = FaultProxy(*upstream_of(cluster.kubeconfig)).start()
        kubeconfig = kubeconfig_through(self.proxy, cluster.kubeconfig, logs / name)
        self.process = OperatorProcess(
            kubeconfig=kubeconfig,
            server=server,
            token=TOKEN,
            log_path=logs / f"{name}.log",
            env={
                **env,
                "SUPERVISELY_OPERATOR_PEERING": peering,
                "SUPERVISELY_OPERATOR_PEERING_LIFETIME": str(LIFETIME),
                "SUPERVISELY_OPERATOR_PEERING_RENEW_DEADLINE": str(RENEW_DEADLINE),
                "SUPERVISELY_OPERATOR_PEERING_RETRY_PERIOD": str(RETRY),
                "SUPERVISELY_OPERATOR_WATCH_SERVER_TIMEOUT": str(SERVER_TIMEOUT),
                "SUPERVISELY_OPERATOR_WATCH_INACTIVITY_TIMEOUT": str(INACTIVITY_TIMEOUT),
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


@pytest.fixture(scope="module")
def simulator() -> Iterator[ThreadedSimulator]:
    scenario = Scenario.model_validate(
        {"durations": {"queued": 0.2, "consumed": 0.2, "running": 0.6, "terminating": 0.3}}
    )
    with ThreadedSimulator(token=TOKEN, scenario=scenario) as sim:
        yield sim


@pytest.fixture(scope="module")
def own_operator() -> str:
    """Orders this module after the tests on the shared operator (conftest's scheduler)."""
    return "two replicas, each behind a proxy of its own"


@pytest.fixture(scope="module")
def replicas(
    crd_cluster: ClusterAccess,
    simulator: ThreadedSimulator,
    operator_pool: OperatorPool,
    fast_operator_env: Mapping[str, str],
    own_operator: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[list[Replica]]:
    """Two replicas peering in a ClusterKopfPeering of their own, started at once, with no
    other operator running. Their logs must hold no ERROR at the end (the shared autouse check
    sees only a test's own tmp_path)."""
    operator_pool.stop()
    logs = tmp_path_factory.mktemp("replicas")
    peering = f"e2e-away-{uuid.uuid4().hex[:6]}"
    crd_cluster.kubectl("apply", "-f", str(PEERING_CRDS / "kopfpeerings.yaml"))
    crd_cluster.wait_established("clusterkopfpeerings.kopf.dev")
    manifest = f"apiVersion: kopf.dev/v1\nkind: ClusterKopfPeering\nmetadata:\n  name: {peering}\n"
    crd_cluster.kubectl("apply", "-f", "-", input=manifest)
    started = [
        Replica(
            name,
            cluster=crd_cluster,
            server=simulator.base_url,
            logs=logs,
            peering=peering,
            env=fast_operator_env,
        )
        for name in ("a", "b")
    ]
    try:
        with ThreadPoolExecutor(len(started)) as pool:
            list(pool.map(lambda replica: replica.process.start(), started))
        yield started
    finally:
        with ThreadPoolExecutor(len(started)) as pool:
            list(pool.map(Replica.stop, started))
        crd_cluster.kubectl("delete", "clusterkopfpeering", peering, check=False)
    errors = [entry for replica in started for entry in log_errors(replica.log())]
    assert errors == [], f"the replicas logged errors (see {logs})"


def leader_and_standby(replicas: list[Replica]) -> tuple[Replica, Replica]:
    wait_until(lambda: any(replica.leads() for replica in replicas), what="a replica leading")
    first, second = replicas
    return (first, second) if first.leads() else (second, first)


@pytest.fixture
def tasks(
    crd_cluster: ClusterAccess, kube_objects: client.CustomObjectsApi, replicas: list[Replica]
) -> Iterator[Tasks]:
    """A namespace of the test's own; emptied while the replicas still run."""
    namespaced = Tasks(
        crd_cluster,
        kube_objects,
        namespace=f"e2e-{uuid.uuid4().hex[:8]}",
        workspace_id=WORKSPACE_ID,
    )
    yield namespaced
    namespaced.delete_all()


def test_a_leader_cut_off_from_the_api_server_stops_acting_before_the_standby_starts(
    simulator: ThreadedSimulator, replicas: list[Replica], tasks: Tasks
) -> None:
    leader, standby = leader_and_standby(replicas)
    began = datetime.now()
    tasks.apply("before", SERVE)
    tasks.wait_phase("before", "Running")
    assert "/before] Started:" in leader.log()

    leader.proxy.blackhole()
    cut = time.monotonic()
    try:
        tasks.apply("during", SERVE)
        tasks.wait_phase("during", "Running", timeout=45)
        took = time.monotonic() - cut
        print(f"a resource made when the leader was cut off was Running {took:.1f} s later")
        assert "/during] Started:" in standby.log()
        assert "Stood down: the claim was not renewed" in leader.log()
    finally:
        leader.proxy.restore()
    wait_until(
        lambda: "Pausing operations in favour of" in leader.log().split("Stood down:", 1)[-1],
        what="the old leader back, seeing the new one",
        timeout=30,
    )
    tasks.apply("after", SERVE)
    tasks.wait_phase("after", "Running")
    assert "/after] Started:" in standby.log()

    now = datetime.now()
    windows = [
        window
        for replica in replicas
        for window in acting_windows(replica.log(), replica=replica.name, until=now)
        if window.end > began
    ]
    assert overlaps(windows) == [], f"both acted at once: {windows}"
    [handover] = handovers(windows)
    print(f"nobody acted for {handover.total_seconds():.1f} s between the two leaders")
    assert handover.total_seconds() > 0
    for name in ("before", "during", "after"):
        found = tasks.get(name)
        assert found is not None
        uid = found["metadata"]["uid"]
        started = [t for t in simulator.tasks() if uid in (t.get("description") or "")]
        assert len(started) == 1, f"{name}: one task, started once"


def test_an_edit_behind_a_silent_watch_takes_effect_once_the_stream_is_given_up(
    replicas: list[Replica], tasks: Tasks
) -> None:
    leader, _ = leader_and_standby(replicas)
    tasks.apply("serve", SERVE)
    tasks.wait_phase("serve", "Running")
    mark = len(leader.log())
    time.sleep(SERVER_TIMEOUT + 1)  # a healthy stream ends and starts again meanwhile
    assert not SILENT.search(leader.log()[mark:]), "a healthy stream was taken for silent"

    wait_until(lambda: leader.proxy.silence(TASKS_WATCH) > 0, what="the watch silenced", timeout=10)
    silenced = time.monotonic()
    tasks.patch_spec("serve", {"suspend": True})
    tasks.wait(
        "serve",
        lambda obj: phase_of(obj) == "Suspended",
        what="Suspended",
        timeout=INACTIVITY_TIMEOUT + 5,
    )
    print(f"the edit took effect {time.monotonic() - silenced:.1f} s after the watch went silent")
    assert len(SILENT.findall(leader.log()[mark:])) == 1, "said once, naming the kind"
