"""The ``/_sim`` endpoints and the call record, as a subprocess user would reach them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from supervisely_devkit.simulator import FakeClock, Scenario, Simulator

ClientFactory = Callable[..., httpx.AsyncClient]
RUN_BODY = {
    "agentId": 1,
    "workspaceId": 1,
    "moduleId": 103,
    "advancedSettings": {"limitByWorkspace": False, "limitCpus": 2},
}


@pytest.fixture
async def sim_admin(simulator: Simulator, simulator_token: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=f"{simulator.base_url}/_sim/", headers={"x-api-key": simulator_token}
    ) as client:
        yield client


async def test_calls_endpoint_lists_and_filters_records(
    sim_client: httpx.AsyncClient, sim_admin: httpx.AsyncClient
) -> None:
    await sim_client.post("tasks.run.app", json=RUN_BODY)
    await sim_client.post("tasks.info", json={"id": 1001})
    everything = (await sim_admin.get("calls")).json()
    assert [call["method"] for call in everything] == ["tasks.run.app", "tasks.info"]
    (run,) = (await sim_admin.get("calls", params={"method": "tasks.run.app"})).json()
    assert run["body"]["advancedSettings"] == {"limitByWorkspace": False, "limitCpus": 2}
    assert run["status"] == 200
    assert run["token_valid"] is True
    assert set(run) == {
        "seq",
        "timestamp",
        "method",
        "http_method",
        "path",
        "query",
        "body",
        "status",
        "token_valid",
        "fault",
        "workspace_id",
    }


async def test_sim_calls_are_not_recorded_and_can_be_cleared(
    sim_client: httpx.AsyncClient, sim_admin: httpx.AsyncClient
) -> None:
    await sim_client.post("instance.version", json={})
    await sim_admin.get("calls")
    assert len((await sim_admin.get("calls")).json()) == 1
    assert (await sim_admin.delete("calls")).status_code == 200
    assert (await sim_admin.get("calls")).json() == []


async def test_faults_endpoint_arms_lists_and_clears(
    sim_client: httpx.AsyncClient, sim_admin: httpx.AsyncClient
) -> None:
    armed = await sim_admin.post(
        "faults",
        json=[
            {"method": "tasks.info", "status": 429, "retry_after": 2, "times": 1},
            {"method": "tasks.stop", "drop": True},
        ],
    )
    assert armed.status_code == 200
    assert armed.json()["ids"] == [1, 2]
    listed = (await sim_admin.get("faults")).json()
    assert [(f["method"], f["remaining"]) for f in listed] == [
        ("tasks.info", 1),
        ("tasks.stop", None),
    ]
    response = await sim_client.post("tasks.info", json={"id": 1})
    assert (response.status_code, response.headers["Retry-After"]) == (429, "2")
    assert [f["method"] for f in (await sim_admin.get("faults")).json()] == ["tasks.stop"]
    await sim_admin.delete("faults")
    assert (await sim_admin.get("faults")).json() == []


async def test_single_fault_object_is_accepted(sim_admin: httpx.AsyncClient) -> None:
    armed = await sim_admin.post("faults", json={"method": "tasks.info", "delay": 0.1})
    assert armed.json()["ids"] == [1]


@pytest.mark.parametrize(
    "payload", [{"method": "tasks.info"}, {"status": 200}, {"status": 503, "bogus": 1}, "x"]
)
async def test_invalid_fault_is_400(sim_admin: httpx.AsyncClient, payload: Any) -> None:
    response = await sim_admin.post("faults", json=payload)
    assert response.status_code == 400
    assert response.json()["error"] == "Validation error"


async def test_agent_endpoint_toggles_status(
    sim_client: httpx.AsyncClient, sim_admin: httpx.AsyncClient
) -> None:
    assert (
        await sim_client.post("tasks.run.app", json={**RUN_BODY, "agentId": 2})
    ).status_code == 400
    changed = await sim_admin.post("agents/2", json={"status": "running"})
    assert changed.json()["status"] == "running"
    assert (
        await sim_client.post("tasks.run.app", json={**RUN_BODY, "agentId": 2})
    ).status_code == 200
    assert (await sim_admin.post("agents/2", json={"status": "broken"})).status_code == 400
    assert (await sim_admin.post("agents/99", json={"status": "running"})).status_code == 404


async def test_task_endpoints_force_list_and_delete(
    sim_client: httpx.AsyncClient, sim_admin: httpx.AsyncClient
) -> None:
    first = (await sim_client.post("tasks.run.app", json=RUN_BODY)).json()[0]["taskId"]
    second = (await sim_client.post("tasks.run.app", json=RUN_BODY)).json()[0]["taskId"]
    forced = await sim_admin.post(f"tasks/{first}", json={"status": "error", "message": "boom"})
    assert forced.json()["status"] == "error"
    assert [t["id"] for t in (await sim_admin.get("tasks")).json()] == [first, second]
    deleted = await sim_admin.post(f"tasks/{first}", json={"delete": True})
    assert deleted.json() == {"deleted": first}
    assert (await sim_admin.delete(f"tasks/{second}")).json() == {"deleted": second}
    assert (await sim_admin.get("tasks")).json() == []
    assert (await sim_client.post("tasks.info", json={"id": first})).status_code == 404


async def test_a_workspace_added_while_running_takes_tasks_and_reads_apart(
    sim_client: httpx.AsyncClient, sim_admin: httpx.AsyncClient
) -> None:
    """Tests that share one simulator each take a workspace and read only its tasks and calls:
    those naming the workspace, and those naming one of its tasks, even after it is lost."""
    assert (
        await sim_client.post("tasks.run.app", json={**RUN_BODY, "workspaceId": 7})
    ).status_code == 404
    added = await sim_admin.post("workspaces", json={"id": 7, "name": "Mine"})
    assert (added.status_code, added.json()["teamId"]) == (200, 1)
    assert (await sim_admin.post("workspaces", json={"id": 7})).status_code == 400
    assert (await sim_admin.post("workspaces", json={"id": 8, "teamId": 9})).status_code == 404
    mine = (await sim_client.post("tasks.run.app", json={**RUN_BODY, "workspaceId": 7})).json()
    other = (await sim_client.post("tasks.run.app", json=RUN_BODY)).json()
    task_id, other_id = mine[0]["taskId"], other[0]["taskId"]
    await sim_client.post("tasks.list", json={"workspaceId": 7})
    await sim_client.post("tasks.info", json={"id": other_id})
    await sim_client.get("tasks.log.download", params={"id": str(task_id)})
    await sim_client.post("tasks.request.direct", json={"taskId": task_id, "command": "is_ready"})
    await sim_admin.delete(f"tasks/{task_id}")
    await sim_client.post("tasks.stop", json={"id": task_id})
    await sim_client.post("instance.version", json={})

    calls = (await sim_admin.get("calls", params={"workspaceId": "7"})).json()
    assert [(call["method"], call["status"]) for call in calls[:2]] == [
        ("tasks.run.app", 404),
        ("tasks.run.app", 200),
    ], "a call counts for the workspace it names, known or not"
    assert [call["method"] for call in calls[2:]] == [
        "tasks.list",
        "tasks.log.download",
        "tasks.request.direct",
        "tasks.stop",
    ]
    assert {call["workspace_id"] for call in calls} == {7}
    stops = await sim_admin.get("calls", params={"workspaceId": "7", "method": "tasks.stop"})
    assert [call["status"] for call in stops.json()] == [404], "a lost task's calls still count"
    everything = (await sim_admin.get("calls")).json()
    assert [c["workspace_id"] for c in everything if c["method"] == "instance.version"] == [None]
    await sim_client.post("tasks.run.app", json={**RUN_BODY, "workspaceId": 7})
    [listed] = (await sim_admin.get("tasks", params={"workspaceId": "7"})).json()
    assert listed["workspaceId"] == 7
    assert [t["id"] for t in (await sim_admin.get("tasks")).json()] == [other_id, listed["id"]]
    assert (await sim_admin.get("calls", params={"workspaceId": "x"})).status_code == 400


@pytest.mark.parametrize(
    ("path", "payload", "status"),
    [
        ("tasks/1001", {"status": "started"}, 400),
        ("tasks/1001", {}, 400),
        ("tasks/1001", {"status": "error", "delete": True}, 400),
        ("tasks/abc", {"delete": True}, 400),
        ("tasks/4242", {"delete": True}, 404),
    ],
)
async def test_bad_task_changes(
    sim_client: httpx.AsyncClient,
    sim_admin: httpx.AsyncClient,
    path: str,
    payload: dict[str, Any],
    status: int,
) -> None:
    await sim_client.post("tasks.run.app", json=RUN_BODY)
    assert (await sim_admin.post(path, json=payload)).status_code == status


async def test_record_file_gets_one_json_line_per_call(
    simulator_factory: Callable[..., Any],
    sim_client_factory: ClientFactory,
    tmp_path: Path,
    simulator_token: str,
) -> None:
    record = tmp_path / "calls.jsonl"
    simulator = await simulator_factory(Scenario.fast(), record_path=record)
    client = sim_client_factory(simulator)
    await client.post("tasks.run.app", json=RUN_BODY)
    await sim_client_factory(simulator, token="nope").post("instance.version", json={})
    lines = record.read_text().splitlines()
    assert [json.loads(line)["method"] for line in lines] == ["tasks.run.app", "instance.version"]
    assert [json.loads(line)["token_valid"] for line in lines] == [True, False]
    assert simulator_token not in record.read_text()


async def test_call_counts_by_method_follow_the_record(
    sim_client: httpx.AsyncClient, sim_admin: httpx.AsyncClient
) -> None:
    assert (await sim_admin.get("calls/counts")).json() == {}
    await sim_client.post("tasks.run.app", json=RUN_BODY)
    await sim_client.post("tasks.run.app", json=RUN_BODY)
    await sim_client.post("tasks.info", json={"id": 1001})
    assert (await sim_admin.get("calls/counts")).json() == {"tasks.info": 1, "tasks.run.app": 2}
    await sim_admin.delete("calls")
    assert (await sim_admin.get("calls/counts")).json() == {}


async def test_timelines_show_each_status_change_so_far_in_wall_clock_time(
    simulator_factory: Callable[..., Any],
    sim_client_factory: ClientFactory,
    fake_clock: FakeClock,
    simulator_token: str,
) -> None:
    simulator = await simulator_factory(Scenario.fast(0.05), clock=fake_clock)
    client = sim_client_factory(simulator)
    finishes = {**RUN_BODY, "moduleId": 101}
    task_id = (await client.post("tasks.run.app", json=finishes)).json()[0]["taskId"]
    anchor = simulator.state.anchor
    async with httpx.AsyncClient(
        base_url=f"{simulator.base_url}/_sim/", headers={"x-api-key": simulator_token}
    ) as admin:
        fake_clock.advance(0.07)
        (early,) = (await admin.get("timelines")).json()
        assert early == {
            "id": task_id,
            "status": "consumed",
            "transitions": [
                {"status": "queued", "at": anchor.iso(1000.0), "attempt": 1},
                {"status": "consumed", "at": anchor.iso(1000.05), "attempt": 1},
            ],
        }, "the task's future is not shown before it happens"
        fake_clock.advance(1.0)
        (late,) = (await admin.get("timelines")).json()
    assert late["status"] == "finished"
    assert [t["status"] for t in late["transitions"]] == [
        "queued",
        "consumed",
        "started",
        "finished",
    ]
    assert late["transitions"][-1]["at"] == anchor.iso(1000.15)
