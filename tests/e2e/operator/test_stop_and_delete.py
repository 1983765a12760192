"""Deletion and tasks ended from outside: the remote task stops when the resource says so, and
only then. (Suspension: ``test_argocd_actions_live.py``, through Argo CD's suspend action.)"""

import pytest

from harness import Operator, SimulatorView, Tasks, condition

SERVE = {"moduleId": 103}


def test_deletion_stops_the_task_before_the_resource_goes(
    tasks: Tasks, simulator: SimulatorView, operator: Operator
) -> None:
    tasks.apply("serve", SERVE)
    task_id = tasks.wait_phase("serve", "Running")["status"]["taskId"]
    tasks.delete("serve", wait=True)
    assert tasks.get("serve") is None
    assert simulator.task_status(task_id) == "stopped"
    assert simulator.calls("tasks.stop")[0].body == {"id": task_id}


def test_orphan_deletion_leaves_the_task_running(
    tasks: Tasks, simulator: SimulatorView, operator: Operator
) -> None:
    tasks.apply("serve", {**SERVE, "deletionPolicy": "Orphan"})
    task_id = tasks.wait_phase("serve", "Running")["status"]["taskId"]
    tasks.delete("serve", wait=True)
    assert simulator.task_status(task_id) == "started"
    assert simulator.calls("tasks.stop") == []


def test_while_supervisely_is_unreachable_the_finalizer_stays_and_says_why(
    tasks: Tasks, simulator: SimulatorView, operator: Operator
) -> None:
    tasks.apply("serve", SERVE)
    task_id = tasks.wait_phase("serve", "Running")["status"]["taskId"]
    simulator.inject_fault("*", status=503)
    tasks.delete("serve")
    stuck = tasks.wait(
        "serve",
        lambda o: o is not None and condition(o, "Synced")["status"] == "False",
        what="reporting Supervisely unavailable",
    )
    assert stuck is not None
    assert stuck["metadata"]["deletionTimestamp"]
    assert condition(stuck, "Synced")["reason"] == "Unavailable"
    assert simulator.task_status(task_id) == "started"

    simulator.clear_faults()
    tasks.wait_gone("serve")
    assert simulator.task_status(task_id) == "stopped"


@pytest.mark.parametrize("outside", ["stopped", "deleted"])
def test_a_task_stopped_or_lost_outside_is_restarted_under_on_error(
    tasks: Tasks, simulator: SimulatorView, operator: Operator, outside: str
) -> None:
    backoff = {"limit": 1, "initialDelaySeconds": 1, "maxDelaySeconds": 1}
    tasks.apply("serve", {**SERVE, "backoff": backoff})
    first = tasks.wait_phase("serve", "Running")["status"]["taskId"]
    if outside == "stopped":
        simulator.force_task(first, "stopped")
    else:
        simulator.delete_task(first)
    obj = tasks.wait(
        "serve",
        lambda o: o is not None and o["status"].get("taskId") not in (None, first),
        what="restarted",
    )
    assert obj is not None
    expected = {"stopped": "StoppedExternally", "deleted": "TaskLost"}[outside]
    assert obj["status"]["lastError"]["reason"] == expected
    assert obj["status"]["restarts"] == 1


def test_a_task_stopped_outside_fails_the_resource_under_never(
    tasks: Tasks, simulator: SimulatorView, operator: Operator
) -> None:
    tasks.apply("serve", {**SERVE, "restartPolicy": "Never"})
    task_id = tasks.wait_phase("serve", "Running")["status"]["taskId"]
    simulator.force_task(task_id, "stopped")
    obj = tasks.wait_phase("serve", "Failed")
    assert condition(obj, "Failed")["reason"] == "StoppedExternally"
    assert len(simulator.calls("tasks.run.app")) == 1
