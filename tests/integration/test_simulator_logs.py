"""``tasks.log.download``: GET with a query string, ``sinceTime`` exclusive, ``limit``, order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from supervisely_devkit.simulator import FakeClock, PhaseDurations, Scenario, Simulator

ClientFactory = Callable[..., httpx.AsyncClient]

DURATIONS = PhaseDurations(queued=1, consumed=2, running=4, terminating=1, ready_delay=2)


@pytest.fixture
async def clocked(
    simulator_factory: Callable[..., Any], sim_client_factory: ClientFactory, fake_clock: FakeClock
) -> tuple[Simulator, httpx.AsyncClient, FakeClock]:
    simulator = await simulator_factory(Scenario(durations=DURATIONS), clock=fake_clock)
    return simulator, sim_client_factory(simulator), fake_clock


async def start(client: httpx.AsyncClient, module_id: int, **changes: Any) -> int:
    body = {"agentId": 1, "workspaceId": 1, "moduleId": module_id, **changes}
    task_id: int = (await client.post("tasks.run.app", json=body)).json()[0]["taskId"]
    return task_id


async def logs(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await client.get("tasks.log.download", params=params)
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()
    return entries


async def test_entries_have_the_documented_shape_in_time_order(
    clocked: tuple[Simulator, httpx.AsyncClient, FakeClock],
) -> None:
    _, client, clock = clocked
    task_id = await start(client, 101)
    clock.advance(60)
    entries = await logs(client, id=task_id)
    assert entries
    for entry in entries:
        assert set(entry) == {"level", "message", "timestamp", "task_id"}
        assert entry["task_id"] == task_id
        assert entry["timestamp"].endswith("Z")
    stamps = [entry["timestamp"] for entry in entries]
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == len(stamps), "every entry has its own millisecond"
    assert entries[0]["message"].startswith(f"Task {task_id} queued")
    assert entries[-1]["message"] == "Application finished successfully"


async def test_lines_appear_as_phases_are_reached(
    clocked: tuple[Simulator, httpx.AsyncClient, FakeClock],
) -> None:
    _, client, clock = clocked
    task_id = await start(client, 101)
    assert [e["message"] for e in await logs(client, id=task_id)] == [
        f"Task {task_id} queued: Sim: train (finishes) v1.2.0"
    ]
    clock.advance(1)
    assert (await logs(client, id=task_id))[-1]["message"] == "Agent 'sim-agent-1' took the task"
    clock.advance(2)
    assert (await logs(client, id=task_id))[-1]["message"] == "Application started (attempt 1)"


async def test_error_line_carries_the_error(
    clocked: tuple[Simulator, httpx.AsyncClient, FakeClock],
) -> None:
    _, client, clock = clocked
    task_id = await start(client, 102)
    clock.advance(7)
    last = (await logs(client, id=task_id))[-1]
    assert last["level"] == "error"
    assert last["message"] == "Task failed: RuntimeError: CUDA out of memory (simulated)"


async def test_forced_error_message_is_logged(
    clocked: tuple[Simulator, httpx.AsyncClient, FakeClock],
) -> None:
    simulator, client, clock = clocked
    task_id = await start(client, 103)
    clock.advance(5)
    simulator.force_task(task_id, "error", message="OOMKilled")
    assert (await logs(client, id=task_id))[-1] == {
        "level": "error",
        "message": "Task failed: OOMKilled",
        "timestamp": (await logs(client, id=task_id))[-1]["timestamp"],
        "task_id": task_id,
    }


async def test_since_time_is_exclusive(
    clocked: tuple[Simulator, httpx.AsyncClient, FakeClock],
) -> None:
    _, client, clock = clocked
    task_id = await start(client, 101)
    clock.advance(60)
    everything = await logs(client, id=task_id)
    after_third = await logs(client, id=task_id, sinceTime=everything[2]["timestamp"])
    assert after_third == everything[3:]


async def test_limit_returns_the_oldest_entries_first(
    clocked: tuple[Simulator, httpx.AsyncClient, FakeClock],
) -> None:
    _, client, clock = clocked
    task_id = await start(client, 101)
    clock.advance(60)
    everything = await logs(client, id=task_id)
    assert await logs(client, id=task_id, limit=2) == everything[:2]


async def test_tail_following_sees_every_line_exactly_once(
    clocked: tuple[Simulator, httpx.AsyncClient, FakeClock],
) -> None:
    _, client, clock = clocked
    task_id = await start(client, 101, logLevel="debug")
    seen: list[dict[str, Any]] = []
    since: str | None = None
    for _ in range(40):
        params: dict[str, Any] = {"id": task_id, "limit": 1}
        if since is not None:
            params["sinceTime"] = since
        page = await logs(client, **params)
        seen.extend(page)
        if page:
            since = page[-1]["timestamp"]
        clock.advance(0.25)
    assert seen == await logs(client, id=task_id)


async def test_log_level_hides_less_severe_lines(
    clocked: tuple[Simulator, httpx.AsyncClient, FakeClock],
) -> None:
    _, client, clock = clocked
    debug_task = await start(client, 102, logLevel="debug")
    info_task = await start(client, 102, logLevel="info")
    error_task = await start(client, 102, logLevel="error")
    clock.advance(60)
    debug_levels = {e["level"] for e in await logs(client, id=debug_task)}
    info_levels = {e["level"] for e in await logs(client, id=info_task)}
    error_levels = {e["level"] for e in await logs(client, id=error_task)}
    assert debug_levels == {"debug", "info", "error"}
    assert info_levels == {"info", "error"}
    assert error_levels == {"error"}


async def test_restart_is_logged_as_a_warning(
    clocked: tuple[Simulator, httpx.AsyncClient, FakeClock],
) -> None:
    _, client, clock = clocked
    task_id = await start(client, 102, restartPolicy="on_error")
    clock.advance(7)
    warnings = [e for e in await logs(client, id=task_id) if e["level"] == "warning"]
    assert [e["message"] for e in warnings] == [
        "Restart policy on_error: re-queued (attempt 2 of 3)"
    ]


async def test_stop_is_logged(clocked: tuple[Simulator, httpx.AsyncClient, FakeClock]) -> None:
    _, client, clock = clocked
    task_id = await start(client, 103)
    clock.advance(4)
    await client.post("tasks.stop", json={"id": task_id})
    clock.advance(1)
    messages = [e["message"] for e in await logs(client, id=task_id)]
    assert messages[-2:] == ["Stop requested: terminating the application", "Application stopped"]


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"id": 4242}, 404),
        ({}, 400),
        ({"id": "abc"}, 400),
        ({"id": 1001, "sinceTime": "yesterday"}, 400),
        ({"id": 1001, "limit": 0}, 400),
    ],
)
async def test_bad_queries(
    clocked: tuple[Simulator, httpx.AsyncClient, FakeClock],
    params: dict[str, Any],
    status: int,
) -> None:
    _, client, _ = clocked
    await start(client, 101)
    response = await client.get("tasks.log.download", params=params)
    assert response.status_code == status
    assert set(response.json()) == {"error", "details"}


async def test_logs_are_recorded_with_their_query(
    clocked: tuple[Simulator, httpx.AsyncClient, FakeClock],
) -> None:
    simulator, client, _ = clocked
    task_id = await start(client, 101)
    await logs(client, id=task_id, limit=5)
    (call,) = simulator.calls(method="tasks.log.download")
    assert call.http_method == "GET"
    assert call.query == {"id": str(task_id), "limit": "5"}
