"""The per-object poll interval: a resource may ask for its workspace to be listed more often."""

import time
from collections.abc import Mapping
from typing import Any

import pytest

from harness import Operator, SimulatorView, Tasks, condition

SERVE = {"moduleId": 103, "restartPolicy": "Never"}


@pytest.fixture
def operator_env(fast_operator_env: Mapping[str, str]) -> Mapping[str, str]:
    """An operator that lists a quiet workspace every 20 s only."""
    return {
        **fast_operator_env,
        "SUPERVISELY_OPERATOR_POLL_INTERVAL": "20",
        "SUPERVISELY_OPERATOR_IDLE_POLL_INTERVAL": "20",
    }


def running_task(tasks: Tasks, name: str) -> int:
    """The id of the resource's task once it runs and is Ready."""
    obj = tasks.wait(
        name,
        lambda o: condition(o or {}, "Ready").get("status") == "True",
        what="running and ready",
    )
    status: dict[str, Any] = (obj or {})["status"]
    task_id: int = status["taskId"]
    return task_id


def test_a_resource_asking_for_1_s_sees_a_change_long_before_its_neighbour(
    tasks: Tasks, simulator: SimulatorView, operator: Operator
) -> None:
    tasks.apply("eager", {**SERVE, "pollIntervalSeconds": 1})
    tasks.apply("calm", {**SERVE, "workspaceId": simulator.add_workspace()})
    eager, calm = running_task(tasks, "eager"), running_task(tasks, "calm")
    time.sleep(1)  # past the fast lists of the start
    simulator.force_task(eager, "error", message="boom")
    simulator.force_task(calm, "error", message="boom")
    tasks.wait_phase("eager", "Failed", timeout=5)
    obj = tasks.get("calm")
    assert obj is not None
    assert obj["status"]["phase"] == "Running", "its workspace waits 20 s"
