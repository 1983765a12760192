"""Task lifecycle over HTTP, driven by a fake clock: exact transitions without sleeping."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from supervisely_devkit.simulator import (
    FakeClock,
    ModuleSpec,
    PhaseDurations,
    Scenario,
    Simulator,
)

ClientFactory = Callable[..., httpx.AsyncClient]
SimulatorFactory = Callable[..., Any]

DURATIONS = PhaseDurations(queued=1, consumed=2, running=5, terminating=1.5, ready_delay=3)
"""started at +3 s; a finishing/failing app ends at +8 s; a server is ready at +6 s."""


class Session:
    """A simulator on a fake clock and a client for it."""

    def __init__(self, simulator: Simulator, client: httpx.AsyncClient, clock: FakeClock) -> None:
        self.simulator = simulator
        self.client = client
        self.clock = clock

    async def start(self, module_id: int, **changes: Any) -> int:
        body = {"agentId": 1, "workspaceId": 1, "moduleId": module_id, **changes}
        response = await self.client.post("tasks.run.app", json=body)
        assert response.status_code == 200, response.text
        task_id: int = response.json()[0]["taskId"]
        return task_id

    async def info(self, task_id: int) -> dict[str, Any]:
        response = await self.client.post("tasks.info", json={"id": task_id})
        assert response.status_code == 200, response.text
        info: dict[str, Any] = response.json()
        return info

    async def status_at(self, task_id: int, seconds: float) -> str:
        """Move the clock to ``seconds`` after the clock's start and read the status."""
        self.clock.advance(seconds - (self.clock() - 1000.0))
        status: str = (await self.info(task_id))["status"]
        return status

    async def direct(self, task_id: int, command: str) -> httpx.Response:
        return await self.client.post(
            "tasks.request.direct",
            json={"taskId": task_id, "command": command, "context": {}, "state": {}},
        )


@pytest.fixture
async def session(
    simulator_factory: SimulatorFactory, sim_client_factory: ClientFactory, fake_clock: FakeClock
) -> Session:
    simulator = await simulator_factory(Scenario(durations=DURATIONS), clock=fake_clock)
    return Session(simulator, sim_client_factory(simulator), fake_clock)


async def test_finishing_app_walks_queued_consumed_started_finished(session: Session) -> None:
    task_id = await session.start(101)
    observed = [
        (at, await session.status_at(task_id, at)) for at in (0, 0.99, 1, 2.99, 3, 7.99, 8, 60)
    ]
    assert observed == [
        (0, "queued"),
        (0.99, "queued"),
        (1, "consumed"),
        (2.99, "consumed"),
        (3, "started"),
        (7.99, "started"),
        (8, "finished"),
        (60, "finished"),
    ]


async def test_failing_app_ends_in_error(session: Session) -> None:
    task_id = await session.start(102)
    assert await session.status_at(task_id, 7.9) == "started"
    assert await session.status_at(task_id, 8) == "error"


async def test_serving_app_stays_started(session: Session) -> None:
    task_id = await session.start(103)
    assert await session.status_at(task_id, 3) == "started"
    assert await session.status_at(task_id, 3600) == "started"


async def test_timestamps_follow_the_clock(session: Session) -> None:
    task_id = await session.start(101)
    info = await session.info(task_id)
    assert info["finishedAt"] is None
    assert info["startedAt"].endswith("Z")
    session.clock.advance(8)
    info = await session.info(task_id)
    assert info["finishedAt"] is not None
    started = info["startedAt"]
    assert info["finishedAt"] > started, "ISO timestamps of one format sort by time"


async def test_stop_goes_terminating_then_stopped(session: Session) -> None:
    task_id = await session.start(103)
    session.clock.advance(4)
    response = await session.client.post("tasks.stop", json={"id": task_id})
    assert response.status_code == 200
    assert response.json() == {"status": "terminating"}
    assert await session.status_at(task_id, 5.49) == "terminating"
    assert await session.status_at(task_id, 5.5) == "stopped"
    assert (await session.info(task_id))["finishedAt"] is not None


async def test_stop_while_queued_also_terminates(session: Session) -> None:
    task_id = await session.start(101)
    response = await session.client.post("tasks.stop", json={"id": task_id})
    assert response.json() == {"status": "terminating"}
    assert await session.status_at(task_id, 1.5) == "stopped", "the natural path is cut off"


@pytest.mark.parametrize(
    ("module_id", "at", "expected"),
    [
        (101, 8, "finished"),
        (102, 8, "error"),
    ],
)
async def test_stop_on_an_ended_task_reports_its_status_unchanged(
    session: Session, module_id: int, at: float, expected: str
) -> None:
    task_id = await session.start(module_id)
    session.clock.advance(at)
    response = await session.client.post("tasks.stop", json={"id": task_id})
    assert response.status_code == 200
    assert response.json() == {"status": expected}
    assert (await session.info(task_id))["status"] == expected


async def test_stop_twice_keeps_the_first_deadline(session: Session) -> None:
    task_id = await session.start(103)
    await session.client.post("tasks.stop", json={"id": task_id})
    session.clock.advance(1)
    second = await session.client.post("tasks.stop", json={"id": task_id})
    assert second.json() == {"status": "terminating"}
    assert await session.status_at(task_id, 1.5) == "stopped"


async def test_unknown_task_is_404_everywhere(session: Session) -> None:
    for method, payload in [
        ("tasks.info", {"id": 4242}),
        ("tasks.stop", {"id": 4242}),
        ("GetTaskContext", {"id": 4242}),
        ("tasks.request.direct", {"taskId": 4242, "command": "is_ready"}),
    ]:
        response = await session.client.post(method, json=payload)
        assert response.status_code == 404, method
        assert response.json()["error"] == "Not found"
        assert "4242" in response.json()["details"]["message"]


async def test_readiness_follows_ready_delay(session: Session) -> None:
    task_id = await session.start(103)
    observed = []
    for at in (0, 3, 5.99, 6):
        await session.status_at(task_id, at)
        ready = await session.direct(task_id, "is_ready")
        running = await session.direct(task_id, "is_running")
        observed.append((at, ready.status_code, running.status_code))
    assert observed == [(0, 503, 503), (3, 503, 200), (5.99, 503, 200), (6, 200, 200)]
    assert (await session.direct(task_id, "is_ready")).json() == {"status": "ready"}
    assert (await session.direct(task_id, "is_running")).json() == {
        "running": True,
        "mode": "production",
    }


async def test_not_ready_reply_is_the_apps_own_503(session: Session) -> None:
    task_id = await session.start(103)
    response = await session.direct(task_id, "is_ready")
    assert response.status_code == 503
    assert response.json() == {"detail": "Service not ready"}


async def test_stopped_app_is_not_ready(session: Session) -> None:
    task_id = await session.start(103)
    session.clock.advance(10)
    await session.client.post("tasks.stop", json={"id": task_id})
    assert (await session.direct(task_id, "is_ready")).status_code == 503


async def test_unknown_direct_command_is_400(session: Session) -> None:
    task_id = await session.start(103)
    assert (await session.direct(task_id, "self_destruct")).status_code == 400


async def test_on_error_restarts_the_same_task_id_a_bounded_number_of_times(
    session: Session,
) -> None:
    task_id = await session.start(102, restartPolicy="on_error")
    # Each attempt takes 8 s; the default catalogue allows 2 restarts (3 attempts in all).
    observed = []
    for at in (7.9, 8, 11, 16, 19, 24, 100):
        status = await session.status_at(task_id, at)
        observed.append((at, status, (await session.info(task_id))["meta"]["attempt"]))
    assert observed == [
        (7.9, "started", 1),
        (8, "queued", 2),
        (11, "started", 2),
        (16, "queued", 3),
        (19, "started", 3),
        (24, "error", 3),
        (100, "error", 3),
    ]


async def test_never_policy_does_not_restart(session: Session) -> None:
    task_id = await session.start(102, restartPolicy="never")
    assert await session.status_at(task_id, 8) == "error"
    assert (await session.info(task_id))["meta"]["attempt"] == 1


async def test_forced_error_and_deletion(session: Session) -> None:
    task_id = await session.start(103)
    session.clock.advance(4)
    session.simulator.force_task(task_id, "error", message="OOMKilled")
    info = await session.info(task_id)
    assert info["status"] == "error"
    assert info["finishedAt"] is not None
    session.simulator.delete_task(task_id)
    assert (await session.client.post("tasks.info", json={"id": task_id})).status_code == 404
    assert session.simulator.tasks() == []


async def test_forced_finish_of_a_queued_task(session: Session) -> None:
    task_id = await session.start(101)
    session.simulator.force_task(task_id, "finished")
    assert await session.status_at(task_id, 100) == "finished"


async def test_task_context_names_team_and_workspace(session: Session) -> None:
    task_id = await session.start(101, workspaceId=2)
    response = await session.client.post("GetTaskContext", json={"id": task_id})
    assert response.json() == {
        "team": {"id": 1, "name": "Simulated team"},
        "workspace": {"id": 2, "name": "Second workspace"},
    }


async def test_error_probability_is_reproducible_with_a_seed(
    simulator_factory: SimulatorFactory, sim_client_factory: ClientFactory
) -> None:
    async def outcomes(seed: int) -> list[str]:
        clock = FakeClock()
        scenario = Scenario(
            seed=seed,
            durations=DURATIONS,
            modules=[ModuleSpec(id=101, error_probability=0.5)],
        )
        simulator = await simulator_factory(scenario, clock=clock)
        client = sim_client_factory(simulator)
        for _ in range(12):
            await client.post(
                "tasks.run.app", json={"agentId": 1, "workspaceId": 1, "moduleId": 101}
            )
        clock.advance(8)
        return [task["status"] for task in simulator.tasks()]

    first, again, other = await outcomes(7), await outcomes(7), await outcomes(8)
    assert first == again
    assert set(first) == {"finished", "error"}, "p=0.5 over 12 tasks gives both outcomes"
    assert first != other
