"""Events about a SuperviselyTask, as kopf posts them to core v1 on the operator's behalf.

Here the Events' wire form is checked fast and in full: the reason and type the decision chose,
the message, and the object they are about. The e2e tier sees them too, through the dev
cluster's front, which serves Events from memory (tests/e2e/operator/test_events_and_logs_live.py).
"""

from typing import Any

import pytest

from supervisely_devkit.simulator import Simulator
from supervisely_operator.api import resource

from controller_harness import Cluster, OperatorStarter, condition, wait_until

NAMESPACE = "vision"
FINISHES = "supervisely-ecosystem/sim-train-finishes"


def reasons(events: list[dict[str, Any]]) -> list[str]:
    return [event["reason"] for event in events]


async def test_a_task_that_runs_to_its_end_is_told_in_normal_events_about_the_resource(
    cluster: Cluster, simulator: Simulator, simulator_token: str, start_operator: OperatorStarter
) -> None:
    await start_operator(SERVER_ADDRESS=simulator.base_url, API_TOKEN=simulator_token)
    uid = await cluster.create_task(
        "train", {"workspaceId": 1, "agentId": 1, "appSlug": FINISHES}, namespace=NAMESPACE
    )

    # kopf posts Events from a queue, in order: once Finished is there, all before it are too.
    await wait_until(
        lambda: "Finished" in reasons(cluster.events(namespace=NAMESPACE)),
        what="a Finished event",
    )
    [task] = simulator.tasks()
    events = cluster.events(namespace=NAMESPACE)
    # The first start is told once, by its outcome: no "Starting" a moment before "Started".
    assert reasons(events)[0] in {"Started", "Adopted"}
    assert reasons(events)[-1] == "Finished"
    # Started, or Adopted when the write recording the task lost a race (see
    # test_controller_status.py): one announcement either way.
    [announced] = [e for e in events if e["reason"] in {"Started", "Adopted"}]
    assert str(task["id"]) in announced["message"]
    assert set(reasons(events)) - {"Started", "Adopted"} <= {
        "Queued",
        "AwaitingReadiness",  # started, until the app answers is_ready
        "Running",
        "Finished",
    }
    assert len(set(reasons(events))) == len(events), "a phase is announced once, when entered"
    assert events[-1]["message"] == f"Task {task['id']} finished"
    for event in events:
        assert event["type"] == "Normal"
        assert event["involvedObject"] == {
            "apiVersion": resource.API_VERSION,
            "kind": resource.KIND,
            "name": "train",
            "namespace": NAMESPACE,
            "uid": uid,
        }
        assert event["metadata"]["namespace"] == NAMESPACE
        assert event["source"] == {"component": "supervisely-operator"}
        assert event["reportingComponent"] == "supervisely-operator"
    posted_anywhere = [r for r in cluster.api if r.url.path.endswith("/events")]
    assert {(r.method, r.url.path) for r in posted_anywhere} == {
        ("POST", f"/api/v1/namespaces/{NAMESPACE}/events")
    }
    assert cluster.server_faults() == []


@pytest.mark.parametrize(
    ("app", "message"),
    [
        pytest.param(
            {"appSlug": "supervisely-ecosystem/no-such-app"},
            "Supervisely ecosystem has no app 'supervisely-ecosystem/no-such-app' (ecosystem.list)",
            id="unknown-slug",
        ),
        pytest.param(
            {"moduleId": 999},
            "Supervisely found nothing for tasks.run.app (404): Not found: "
            "Module with id 999 not found",
            id="unknown-module-in-the-servers-words",
        ),
    ],
)
async def test_a_refused_start_is_a_warning_with_the_reason_and_the_status_agrees(
    cluster: Cluster,
    simulator: Simulator,
    simulator_token: str,
    start_operator: OperatorStarter,
    app: dict[str, Any],
    message: str,
) -> None:
    await start_operator(SERVER_ADDRESS=simulator.base_url, API_TOKEN=simulator_token)
    await cluster.create_task("train", {"workspaceId": 1, **app}, namespace=NAMESPACE)

    await wait_until(
        lambda: "StartFailed" in reasons(cluster.events(namespace=NAMESPACE)),
        what="a StartFailed event",
    )
    events = cluster.events(namespace=NAMESPACE)
    assert [(e["type"], e["reason"]) for e in events] == [("Warning", "StartFailed")]
    assert events[0]["message"] == message
    assert events[0]["involvedObject"]["name"] == "train"
    status = await wait_until(
        lambda: (s := cluster.status("train", namespace=NAMESPACE)).get("phase") == "Failed" and s,
        what="phase Failed",
    )
    assert condition(status, "Failed") | {"lastTransitionTime": None} == {
        "type": "Failed",
        "status": "True",
        "reason": "StartFailed",
        "message": message,
        "observedGeneration": 1,
        "lastTransitionTime": None,
    }
    assert simulator.tasks() == [], "nothing was started"
    assert cluster.server_faults() == []
