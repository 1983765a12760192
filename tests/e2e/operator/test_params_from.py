"""paramsFrom on the real API server with the simulator: one task's outputs fill another's params.

The simulator's training publishes a checkpoint under a directory named after its task id, and
its serving app loads only a checkpoint some training published (any other is an error): a
pipeline that reaches Running has passed the exact value along, end to end.
"""

from typing import Any

from harness import Operator, SimulatorView, Tasks, condition, phase_of

TRAIN = {"moduleId": 101}
TRAIN_FAILS = {"moduleId": 102, "restartPolicy": "Never"}
SERVE = {"moduleId": 103}
REFRESH = "supervisely.com/refresh-requested-at"


def status_of(obj: dict[str, Any] | None) -> dict[str, Any]:
    return ((obj or {}).get("status")) or {}


def ready_reason(obj: dict[str, Any] | None) -> str | None:
    reason: str | None = condition(obj or {}, "Ready").get("reason")
    return reason


def checkpoint_of(source: str, *, on_failure: str = "Wait") -> dict[str, str]:
    return {
        "source": source,
        "output": "experiment.bestCheckpoint",
        "path": "checkpoint",
        "onSourceFailure": on_failure,
    }


def sent_params(simulator: SimulatorView, task_id: int) -> dict[str, Any]:
    """The params the operator started the task with, as the app receives them."""
    [task] = [task for task in simulator.tasks() if task["id"] == task_id]
    params: dict[str, Any] = task["meta"]["params"]
    state: dict[str, Any] = params.get("state", params)
    return state


def test_the_pipeline_waits_for_its_training_then_serves_the_exact_checkpoint_it_made(
    tasks: Tasks, simulator: SimulatorView, operator: Operator
) -> None:
    metric = {"source": "train", "output": "experiment.metric", "metric": "mAP", "path": "map"}
    refs = [checkpoint_of("train", on_failure="Fail"), metric]
    tasks.apply("serve", {**SERVE, "params": {"device": "cuda"}, "paramsFrom": refs})
    missing = tasks.wait("serve", lambda o: ready_reason(o) == "SourceNotFound", what="no source")
    assert phase_of(missing) == "Pending"

    tasks.apply("train", TRAIN)
    waiting = tasks.wait("serve", lambda o: ready_reason(o) == "WaitingForSource", what="waiting")
    assert phase_of(waiting) == "Pending"
    assert "taskId" not in status_of(waiting), "nothing starts before the source succeeds"

    trained = status_of(tasks.wait_phase("train", "Succeeded"))
    path = f"/experiments/7_Sim lemons/{trained['taskId']}_YOLO/checkpoints/best.pt"
    serving = tasks.wait(
        "serve",
        lambda o: status_of(o).get("outputs", {}).get("text") == f"Serving {path}",
        what="serving the checkpoint its training made",
    )
    assert phase_of(serving) == "Running"
    status = status_of(serving)
    assert sent_params(simulator, status["taskId"]) == {
        "device": "cuda", "checkpoint": path, "map": 0.72
    }  # fmt: skip
    resolution = status["paramsFrom"]
    assert resolution["generation"] == serving["metadata"]["generation"]
    source_uid = (tasks.get("train") or {})["metadata"]["uid"]
    assert resolution["values"] == [
        {"path": "checkpoint", "value": path, "source": "train", "sourceUid": source_uid,
         "sourceTaskId": trained["taskId"]},
        {"path": "map", "value": 0.72, "source": "train", "sourceUid": source_uid,
         "sourceTaskId": trained["taskId"]},
    ]  # fmt: skip
    assert serving["spec"].get("params") == {"device": "cuda"}, "Git stays the truth"
    assert "ownerReferences" not in serving["metadata"]
    assert (tasks.get("train") or {})["metadata"].get("finalizers") == ["supervisely.com/stop-task"]

    # The source goes away under the running consumer: nothing is coupled to it.
    tasks.delete("train", wait=True)
    simulator.clear_calls()
    tasks.annotate("serve", REFRESH, "after-the-source-went")
    kept = status_of(
        tasks.wait(
            "serve",
            lambda o: status_of(o).get("refreshHandled") == "after-the-source-went",
            what="a pass after the source went",
        )
    )
    assert (kept["phase"], kept["taskId"], kept["paramsFrom"]) == (
        "Running", status["taskId"], resolution
    )  # fmt: skip
    assert simulator.calls("tasks.run.app") == simulator.calls("tasks.stop") == [], "left alone"


def test_a_failed_source_fails_a_consumer_that_says_fail_and_holds_one_that_says_wait(
    tasks: Tasks, simulator: SimulatorView, operator: Operator
) -> None:
    tasks.apply("train", TRAIN_FAILS)
    tasks.apply("strict", {**SERVE, "paramsFrom": [checkpoint_of("train", on_failure="Fail")]})
    tasks.apply("patient", {**SERVE, "paramsFrom": [checkpoint_of("train", on_failure="Wait")]})
    tasks.wait_phase("train", "Failed")

    strict = tasks.wait_phase("strict", "Failed")
    failed = condition(strict, "Failed")
    assert (failed["status"], failed["reason"]) == ("True", "SourceFailed")
    assert failed["message"] == "train failed (paramsFrom, onSourceFailure Fail)"
    patient = tasks.wait(
        "patient",
        lambda o: (
            condition(o or {}, "Ready").get("message")
            == "train failed; waiting for a run of it to succeed"
        ),
        what="waiting for a good run",
    )
    assert (phase_of(patient), ready_reason(patient)) == ("Pending", "WaitingForSource")

    # A good run of the source: the patient consumer starts with its checkpoint.
    tasks.patch_spec("train", TRAIN)
    trained = status_of(tasks.wait_phase("train", "Succeeded"))
    path = f"/experiments/7_Sim lemons/{trained['taskId']}_YOLO/checkpoints/best.pt"
    serving = tasks.wait_phase("patient", "Running")
    assert sent_params(simulator, status_of(serving)["taskId"]) == {"checkpoint": path}
    assert phase_of(tasks.get("strict")) == "Failed", "Fail is final until an edit or a restart"
    assert len(simulator.calls("tasks.run.app")) == 3, "two trainings, one serving app"


def test_a_cycle_is_reported_on_every_task_in_it_and_nothing_starts(
    tasks: Tasks, simulator: SimulatorView, operator: Operator
) -> None:
    tasks.apply("left", {**SERVE, "paramsFrom": [checkpoint_of("right")]})
    tasks.apply("right", {**TRAIN, "paramsFrom": [checkpoint_of("left")]})
    for name in ("left", "right"):
        reported = tasks.wait(name, lambda o: ready_reason(o) == "ReferenceCycle", what="a cycle")
        assert phase_of(reported) == "Pending"
        assert condition(reported, "Ready")["message"].startswith(
            "paramsFrom goes round in a circle: "
        )
    assert simulator.calls("tasks.run.app") == []
