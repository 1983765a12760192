"""High availability: two replicas with kopf peering serve together, one task per resource."""

import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from supervisely_devkit.devcluster.access import ClusterAccess

from harness import (
    Operator,
    OperatorProcess,
    Schedules,
    SimulatorView,
    Tasks,
    minute_after,
    parse_time,
    wait_until,
)

PEERING_CRDS = Path(__file__).resolve().parents[3] / "charts/supervisely-operator/crds"
PEERING = "e2e-peering"
Replica = Operator | OperatorProcess


@pytest.fixture
def operator_env(
    crd_cluster: ClusterAccess, fast_operator_env: Mapping[str, str]
) -> Mapping[str, str]:
    """Replicas that join the peering, which must exist before the first of them starts."""
    crd_cluster.kubectl("apply", "-f", str(PEERING_CRDS / "kopfpeerings.yaml"))
    crd_cluster.wait_established("clusterkopfpeerings.kopf.dev")
    peering = f"apiVersion: kopf.dev/v1\nkind: ClusterKopfPeering\nmetadata:\n  name: {PEERING}\n"
    crd_cluster.kubectl("apply", "-f", "-", input=peering)
    return {**fast_operator_env, "SUPERVISELY_OPERATOR_PEERING": PEERING}


@pytest.fixture
def standby(
    crd_cluster: ClusterAccess,
    tasks: Tasks,
    simulator: SimulatorView,
    operator: Operator,
    operator_token: str,
    operator_env: Mapping[str, str],
    tmp_path: Path,
) -> Iterator[OperatorProcess]:
    """A second replica beside ``operator``, with its log in the test's directory. It deletes
    what the test left before it stops: the other replica may be the one the test killed."""
    process = OperatorProcess(
        kubeconfig=crd_cluster.kubeconfig,
        server=simulator.base_url,
        token=operator_token,
        log_path=tmp_path / "standby.log",
        env=operator_env,
    )
    process.start()
    try:
        yield process
        tasks.delete_all()
    finally:
        process.stop()


def active_one(replicas: list[Replica], name: str) -> Replica:
    """The replica that started the task of ``name`` (its log says so)."""
    [active] = [r for r in replicas if f"/{name}] Started:" in r.log()]
    return active


def test_two_peered_replicas_make_one_run_per_tick(
    tasks: Tasks, schedules: Schedules, operator: Operator, standby: OperatorProcess
) -> None:
    """Both replicas watch the cron task; only the active one acts on its tick, and the run's
    fixed name would refuse a second one anyway."""
    tick = minute_after(8)
    template = {"spec": {"moduleId": 101}}
    schedules.apply(
        "nightly", {"schedule": f"{tick.minute} {tick.hour} * * *", "taskTemplate": template}
    )
    ran = schedules.wait(
        "nightly", lambda o: "lastScheduleTime" in o.get("status", {}), what="ran", timeout=75
    )
    assert parse_time(ran["status"]["lastScheduleTime"]) == tick
    time.sleep(2)  # a second replica's run would be there by now
    [run] = schedules.runs("nightly")
    assert run["metadata"]["name"] == f"nightly-{int(tick.timestamp()) // 60}"
    tasks.wait_phase(run["metadata"]["name"], "Succeeded")
    made = [r for r in (operator, standby) if "Made run nightly-" in r.log()]
    assert len(made) == 1, "one replica made the run"


def test_one_of_two_peered_replicas_serves_and_a_standby_takes_over_mid_start_within_15_s(
    tasks: Tasks, simulator: SimulatorView, operator: Operator, standby: OperatorProcess
) -> None:
    """Exactly one replica acts. SIGKILL it while Supervisely holds its start of a resource (no
    goodbye: its peering record simply stops being renewed): the other takes over within 15 s,
    as Lease-based election would, and finishes that start instead of making a second one."""
    serve = {"moduleId": 103}
    began = time.monotonic()
    tasks.apply("first", serve)
    tasks.wait_phase("first", "Running", timeout=45)
    assert time.monotonic() - began < 15, "a replica served without waiting for a failover"
    assert len(simulator.tasks()) == 1, "exactly one replica acted"
    replicas: list[Replica] = [standby, operator]
    active = active_one(replicas, "first")

    # Supervisely creates the task at once and holds the reply past the client's timeout (2 s):
    # the replica is killed while it waits for the reply.
    simulator.inject_fault("tasks.run.app", delay=5.0, after_effect=True, times=1)
    tasks.apply("second", serve)
    wait_until(lambda: len(simulator.tasks()) == 2, what="the second task created")
    active.kill()
    died = time.monotonic()
    tasks.wait_phase("second", "Running", timeout=45)
    took = time.monotonic() - died
    print(f"the resource started mid-failover was Running {took:.1f} s after the death")
    assert took < 15, f"the standby took over {took:.1f} s after the death"
    assert len(simulator.tasks()) == 2, "one task per resource: the held start was not repeated"
    [survivor] = [replica for replica in replicas if replica is not active]
    wait_until(  # its log line may come a moment after the status it wrote
        lambda: "/second] Adopted:" in survivor.log(),
        what="the survivor logged that it adopted the start in flight",
        timeout=5,
    )

    tasks.delete("first", wait=True)  # served by the survivor; stopping it is then quick
    tasks.delete("second", wait=True)
    assert {simulator.task_status(task["id"]) for task in simulator.tasks()} == {"stopped"}
