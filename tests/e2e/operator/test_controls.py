"""Per-object controls on the real API server with the simulator: pause, adoption and
observe-only, failure rules, readiness and the start deadline, and outputs. (Restart and refresh
requests: ``test_argocd_actions_live.py``, which makes them as Argo CD's actions do; the
per-object poll interval: ``test_poll_interval.py``.)"""

import time
from typing import Any

from harness import (
    NEVER_READY_MODULE,
    SLOW_TO_LOAD_MODULE,
    Operator,
    SimulatorView,
    Tasks,
    condition,
    live_tasks,
    wait_until,
)

SERVE = {"moduleId": 103}
TRAIN_FAILS = {"moduleId": 102}
PAUSED = "supervisely.com/paused"


def status_of(obj: dict[str, Any] | None) -> dict[str, Any]:
    return ((obj or {}).get("status")) or {}


def running_task(tasks: Tasks, name: str, *, other_than: int | None = None) -> int:
    """The id of the resource's task once it runs and is Ready (not ``other_than``)."""
    obj = tasks.wait(
        name,
        lambda o: (
            condition(o or {}, "Ready").get("status") == "True"
            and status_of(o).get("taskId") not in (None, other_than)
        ),
        what="running and ready",
    )
    task_id: int = status_of(obj)["taskId"]
    return task_id


def paused_while_running(tasks: Tasks, operator: Operator, name: str) -> int:
    """Start a serving app, pause its resource once it runs; the id of its task."""
    tasks.apply(name, {**SERVE, "backoff": {"initialDelaySeconds": 0}})
    task_id = running_task(tasks, name)
    tasks.annotate(name, PAUSED, "true")
    wait_until(lambda: "Paused" in operator.log(), what="the operator logged the pause")
    return task_id


def test_a_paused_resource_gets_no_calls_and_no_writes_and_resumes_where_it_was(
    tasks: Tasks, simulator: SimulatorView, operator: Operator
) -> None:
    task_id = paused_while_running(tasks, operator, "serve")
    version = (tasks.get("serve") or {})["metadata"]["resourceVersion"]
    simulator.clear_calls()
    simulator.force_task(task_id, "error", message="crashed while paused")
    time.sleep(3)  # several poll intervals (0.5 s): nothing may look or write
    assert simulator.calls() == []
    obj = tasks.get("serve")
    assert obj is not None
    assert obj["metadata"]["resourceVersion"] == version
    assert status_of(obj)["phase"] == "Running"

    tasks.annotate("serve", PAUSED, None)
    restarted = running_task(tasks, "serve", other_than=task_id)
    status = status_of(tasks.get("serve"))
    assert status["previousTaskIds"] == [task_id]
    assert (status["restarts"], status["lastError"]["taskId"]) == (1, task_id)
    assert restarted in live_tasks(simulator)


def test_a_paused_resource_keeps_its_task_when_deleted_until_it_is_unpaused(
    tasks: Tasks, simulator: SimulatorView, operator: Operator
) -> None:
    task_id = paused_while_running(tasks, operator, "serve")
    tasks.delete("serve")
    time.sleep(2)
    assert tasks.get("serve") is not None, "the finalizer holds while paused"
    assert live_tasks(simulator) == [task_id]
    tasks.annotate("serve", PAUSED, None)
    tasks.wait_gone("serve")
    assert simulator.task_status(task_id) in ("terminating", "stopped")


def test_moving_a_running_session_under_a_new_resource_by_adoption(
    tasks: Tasks, simulator: SimulatorView, operator: Operator
) -> None:
    tasks.apply("old", {**SERVE, "deletionPolicy": "Orphan"})
    task_id = running_task(tasks, "old")
    tasks.apply("thief", {**SERVE, "adoptTaskId": task_id})
    refused = tasks.wait(
        "thief",
        lambda o: condition(o or {}, "Synced").get("reason") == "AdoptionRefused",
        what="refused",
    )
    assert condition(refused or {}, "Synced")["message"] == (
        f"Task {task_id} already belongs to {tasks.namespace}/old"
    )
    tasks.delete("thief", wait=True)

    tasks.delete("old", wait=True)
    assert live_tasks(simulator) == [task_id], "Orphan leaves the session running"
    tasks.apply("new", {**SERVE, "adoptTaskId": task_id})
    assert running_task(tasks, "new") == task_id
    assert len(simulator.calls("tasks.run.app")) == 1, "adopted, not started"
    tasks.delete("new", wait=True)
    assert simulator.task_status(task_id) in ("terminating", "stopped"), "now it is ours"


def test_observe_only_mirrors_a_task_and_never_touches_it(
    tasks: Tasks, simulator: SimulatorView, operator: Operator
) -> None:
    orphans = []
    for owner in ("one", "two"):
        tasks.apply(owner, {**SERVE, "deletionPolicy": "Orphan"})
        orphans.append(running_task(tasks, owner))
        tasks.delete(owner, wait=True)
    first, second = orphans
    observe = {"managementPolicy": "ObserveOnly"}
    tasks.apply("watcher", {**observe, "adoptTaskId": first})
    assert running_task(tasks, "watcher") == first
    tasks.patch_spec("watcher", {"adoptTaskId": second})  # follows the edit
    assert running_task(tasks, "watcher", other_than=first) == second
    assert status_of(tasks.get("watcher"))["previousTaskIds"] == [first]
    simulator.force_task(second, "error", message="boom")
    failed = tasks.wait_phase("watcher", "Failed")
    assert condition(failed, "Failed")["reason"] == "TaskError"
    tasks.delete("watcher", wait=True)
    assert len(simulator.calls("tasks.run.app")) == 2, "only the owners started tasks"
    assert simulator.calls("tasks.stop") == [], "nobody stopped anything"
    assert sorted(live_tasks(simulator)) == [first]


def test_an_out_of_memory_error_fails_at_once_and_a_lost_agent_restarts_uncounted(
    tasks: Tasks, simulator: SimulatorView, operator: Operator
) -> None:
    rules = [
        {"action": "Fail", "onLogLine": "out of memory"},
        {"action": "Ignore", "onLogLine": "agent (lost|disconnected)"},
    ]
    policy = {"backoff": {"limit": 0, "initialDelaySeconds": 0}, "failureRules": rules}
    tasks.apply("serve", {**SERVE, **policy})
    first = running_task(tasks, "serve")
    simulator.force_task(first, "error", message="agent lost")
    second = running_task(tasks, "serve", other_than=first)
    assert status_of(tasks.get("serve"))["restarts"] == 0, "not counted, though the limit is 0"

    simulator.force_task(second, "error", message="CUDA out of memory")
    obj = tasks.wait_phase("serve", "Failed")
    failed = condition(obj, "Failed")
    assert failed["reason"] == "FailureRuleMatched"
    assert failed["message"].endswith("failure rule 1 says Fail")
    assert status_of(obj)["lastError"]["failureRule"] == 1
    assert len(simulator.calls("tasks.run.app")) == 2


def test_ready_only_once_the_app_answers_and_a_start_deadline_restarts(
    tasks: Tasks, simulator: SimulatorView, operator: Operator
) -> None:
    """A serving app that takes 2 s to load its model, and one that never does."""
    tasks.apply("serve", {"moduleId": SLOW_TO_LOAD_MODULE})
    awaiting = tasks.wait(
        "serve",
        lambda o: condition(o or {}, "Ready").get("reason") == "AwaitingReadiness",
        what="awaiting readiness",
    )
    assert status_of(awaiting)["phase"] == "Running"
    assert condition(awaiting or {}, "Ready")["status"] == "False"
    running_task(tasks, "serve")
    assert simulator.calls("tasks.request.direct"), "readiness comes from the app"

    backoff = {"limit": 1, "initialDelaySeconds": 0}
    tasks.apply(
        "stuck",
        {"moduleId": NEVER_READY_MODULE, "startDeadlineSeconds": 2, "backoff": backoff},
    )
    obj = tasks.wait_phase("stuck", "Failed", timeout=30)
    assert condition(obj, "Failed")["reason"] == "BackoffLimitExceeded"
    assert status_of(obj)["lastError"]["reason"] == "StartDeadlineExceeded"
    assert status_of(obj)["restarts"] == 1
    assert live_tasks(simulator) == [status_of(tasks.get("serve"))["taskId"]]


def test_what_a_training_publishes_lands_in_status_outputs(
    tasks: Tasks, simulator: SimulatorView, operator: Operator
) -> None:
    tasks.apply("train", {"moduleId": 101})
    trained = status_of(tasks.wait_phase("train", "Succeeded"))
    outputs = trained["outputs"]
    experiment = outputs["experiment"]
    assert experiment["artifactsDir"] == f"/experiments/7_Sim lemons/{trained['taskId']}_YOLO/"
    assert experiment["bestCheckpoint"] == "best.pt"
    assert experiment["metrics"] == {"mAP": 0.72, "AP50": 0.91, "AP75": 0.78}
    assert outputs["link"]["kind"] == "Directory"
    printed = tasks.kubectl("get", "slytask", "train")
    assert "experiments" not in printed, "printer columns stay short"
