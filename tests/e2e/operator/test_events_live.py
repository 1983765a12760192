"""The Events of a task's life, as users see them: ``kubectl get events`` and ``kubectl describe``
through the dev cluster's front, which serves core v1 Events (the API server alone has none).
"""

import json

from supervisely_devkit.simulator.runner import ThreadedSimulator

from harness import OperatorProcess, Tasks


def test_the_events_kopf_posts_for_a_task_life_reach_kubectl(
    tasks: Tasks, simulator: ThreadedSimulator, operator: OperatorProcess
) -> None:
    tasks.apply("train", {"moduleId": 101, "workspaceId": 1})
    obj = tasks.wait_phase("train", "Succeeded")
    task_id = obj["status"]["taskId"]

    # kopf posts Events from a queue, in order: once Finished is there, all before it are too.
    def events() -> list[dict[str, object]]:
        listed = tasks.kubectl(
            "get", "events", "--field-selector", "involvedObject.name=train", "-o", "json"
        )
        items: list[dict[str, object]] = json.loads(listed)["items"]
        return items

    tasks.wait("train", lambda _: "Finished" in [e["reason"] for e in events()], what="told")
    told = events()
    reasons = [event["reason"] for event in told]
    assert reasons[0] in {"Started", "Adopted"}
    assert reasons[-1] == "Finished"
    assert set(reasons) <= {
        "Started",
        "Adopted",
        "Queued",
        "AwaitingReadiness",
        "Running",
        "Finished",
    }
    assert told[-1]["message"] == f"Task {task_id} finished"
    for event in told:
        assert event["type"] == "Normal"
        assert event["involvedObject"] == {
            "apiVersion": "supervisely.com/v1alpha1",
            "kind": "SuperviselyTask",
            "name": "train",
            "namespace": tasks.namespace,
            "uid": obj["metadata"]["uid"],
        }
        assert event["source"] == {"component": "supervisely-operator"}

    described = tasks.kubectl("describe", "slytask", "train")
    section = described.split("\nEvents:", 1)[1]
    assert "Finished" in section
    assert f"Task {task_id} finished" in section
    assert "Failed to post an event" not in operator.log()
