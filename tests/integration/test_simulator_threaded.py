"""``ThreadedSimulator``: the simulator for synchronous callers (the e2e suite, the demo)."""

from __future__ import annotations

import httpx
import pytest

from supervisely_devkit.simulator import FakeClock, PhaseDurations, Scenario, ThreadedSimulator

TOKEN = "threaded-test-token"


def test_threaded_simulator_serves_and_forwards_levers() -> None:
    clock = FakeClock()
    scenario = Scenario(durations=PhaseDurations.uniform(1.0))
    with (
        ThreadedSimulator(token=TOKEN, scenario=scenario, clock=clock) as simulator,
        httpx.Client(
            base_url=f"{simulator.base_url}/public/api/v3/", headers={"x-api-key": TOKEN}
        ) as client,
    ):
        started = client.post(
            "tasks.run.app", json={"agentId": 1, "workspaceId": 1, "moduleId": 103}
        )
        task_id = started.json()[0]["taskId"]
        assert TOKEN not in repr(simulator)
        clock.advance(2)
        assert simulator.task_status(task_id) == "started"
        simulator.inject_fault("tasks.info", status=503, times=1)
        assert client.post("tasks.info", json={"id": task_id}).status_code == 503
        simulator.force_task(task_id, "error")
        assert client.post("tasks.info", json={"id": task_id}).json()["status"] == "error"
        simulator.publish_output(task_id, {"project": {"id": 7, "title": "P"}})
        assert simulator.tasks()[0]["meta"]["output"] == {"project": {"id": 7, "title": "P"}}
        assert [call.method for call in simulator.calls()] == [
            "tasks.run.app",
            "tasks.info",
            "tasks.info",
        ]
        simulator.add_workspace(5)
        client.post("tasks.run.app", json={"agentId": 1, "workspaceId": 5, "moduleId": 101})
        [elsewhere] = simulator.tasks(workspace_id=5)
        assert [call.method for call in simulator.calls(workspace_id=5)] == ["tasks.run.app"]
        assert [task["id"] for task in simulator.tasks()] == [task_id, elsewhere["id"]]
        simulator.set_agent_status(1, "waiting")
        assert client.post("agents.info", json={"id": 1}).json()["status"] == "waiting"
        simulator.delete_task(task_id)
        assert simulator.tasks() == [elsewhere]
        simulator.clear_calls()
        assert simulator.calls() == []


def test_levers_raise_in_the_caller_thread() -> None:
    with ThreadedSimulator(token=TOKEN) as simulator, pytest.raises(Exception, match="4242"):
        simulator.delete_task(4242)


def test_start_failure_is_raised_to_the_caller() -> None:
    simulator = ThreadedSimulator(token="")
    with pytest.raises(ValueError, match="non-empty API token"):
        simulator.start()
    simulator.stop()


def test_call_record_stays_readable_after_stop() -> None:
    simulator = ThreadedSimulator(token=TOKEN)
    with simulator, httpx.Client(base_url=simulator.base_url) as client:
        client.post("/public/api/v3/instance.version", json={}, headers={"x-api-key": TOKEN})
    assert [call.method for call in simulator.calls()] == ["instance.version"]


def test_lever_before_start_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="not been started"):
        ThreadedSimulator(token=TOKEN).calls()
