"""Fault injection: error statuses, 429 with Retry-After, slow replies, dropped connections."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from supervisely_devkit.simulator import FaultSpec, Scenario, Simulator

ClientFactory = Callable[..., httpx.AsyncClient]
RUN_BODY = {"agentId": 1, "workspaceId": 1, "moduleId": 101}


async def test_status_fault_fires_the_given_number_of_times(
    simulator: Simulator, sim_client: httpx.AsyncClient
) -> None:
    simulator.inject_fault(method="instance.version", status=503, times=2)
    statuses = [(await sim_client.post("instance.version", json={})).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert [call.fault for call in simulator.calls()] == ["status:503", "status:503", None]


async def test_status_fault_body_has_the_error_shape(
    simulator: Simulator, sim_client: httpx.AsyncClient
) -> None:
    simulator.inject_fault(method="tasks.info", status=502, times=1)
    response = await sim_client.post("tasks.info", json={"id": 1})
    assert response.status_code == 502
    assert response.json() == {
        "error": "Bad Gateway",
        "details": {"message": "Injected fault: 502 Bad Gateway"},
    }


async def test_429_carries_retry_after(simulator: Simulator, sim_client: httpx.AsyncClient) -> None:
    simulator.inject_fault(method="tasks.list", status=429, retry_after=7, times=1)
    response = await sim_client.post("tasks.list", json={})
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert (await sim_client.post("tasks.list", json={})).status_code == 200


async def test_custom_error_text_for_the_agent_ping_case(
    simulator: Simulator, sim_client: httpx.AsyncClient
) -> None:
    text = "Agent should call AgentConnected or AgentPing before attempting any other request"
    simulator.inject_fault(method="tasks.info", status=400, error=text, times=1)
    response = await sim_client.post("tasks.info", json={"id": 1})
    assert response.status_code == 400
    assert response.json()["error"] == text


async def test_fault_only_hits_its_method(
    simulator: Simulator, sim_client: httpx.AsyncClient
) -> None:
    simulator.inject_fault(method="tasks.stop", status=500)
    assert (await sim_client.post("instance.version", json={})).status_code == 200
    assert (await sim_client.post("tasks.stop", json={"id": 1})).status_code == 500


async def test_wildcard_fault_hits_every_method_until_cleared(
    simulator: Simulator, sim_client: httpx.AsyncClient
) -> None:
    simulator.inject_fault(status=504)
    assert (await sim_client.post("instance.version", json={})).status_code == 504
    assert (await sim_client.post("teams.list", json={})).status_code == 504
    simulator.clear_faults()
    assert (await sim_client.post("teams.list", json={})).status_code == 200


async def test_failed_start_creates_no_task(
    simulator: Simulator, sim_client: httpx.AsyncClient
) -> None:
    simulator.inject_fault(method="tasks.run.app", status=503, times=1)
    assert (await sim_client.post("tasks.run.app", json=RUN_BODY)).status_code == 503
    assert simulator.tasks() == []


async def test_after_effect_fault_creates_the_task_and_still_fails(
    simulator: Simulator, sim_client: httpx.AsyncClient
) -> None:
    simulator.inject_fault(method="tasks.run.app", status=502, times=1, after_effect=True)
    assert (await sim_client.post("tasks.run.app", json=RUN_BODY)).status_code == 502
    assert [task["id"] for task in simulator.tasks()] == [1001]


async def test_delay_outlasts_a_client_timeout(
    simulator: Simulator, sim_client_factory: ClientFactory
) -> None:
    simulator.inject_fault(method="tasks.info", delay=5, times=1)
    client = sim_client_factory(simulator, timeout=0.2)
    began = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        await client.post("tasks.info", json={"id": 1})
    assert time.monotonic() - began < 2
    # The next call is not delayed.
    assert (await client.post("instance.version", json={})).status_code == 200


async def test_short_delay_then_normal_answer(
    simulator: Simulator, sim_client: httpx.AsyncClient
) -> None:
    simulator.inject_fault(method="instance.version", delay=0.2, times=1)
    began = time.monotonic()
    response = await sim_client.post("instance.version", json={})
    assert response.status_code == 200
    assert time.monotonic() - began >= 0.19, "asyncio timers may fire a hair early"
    assert simulator.calls()[-1].fault == "delay:0.2"


async def test_drop_closes_the_connection_without_an_answer(
    simulator: Simulator, sim_client: httpx.AsyncClient
) -> None:
    simulator.inject_fault(method="tasks.info", drop=True, times=1)
    with pytest.raises(httpx.RemoteProtocolError):
        await sim_client.post("tasks.info", json={"id": 1})
    (call,) = simulator.calls()
    assert (call.status, call.fault) == (None, "drop")
    assert (await sim_client.post("instance.version", json={})).status_code == 200


async def test_drop_after_effect_stops_the_task_but_the_client_never_hears(
    simulator: Simulator, sim_client: httpx.AsyncClient
) -> None:
    (element,) = (await sim_client.post("tasks.run.app", json=RUN_BODY)).json()
    simulator.inject_fault(method="tasks.stop", drop=True, after_effect=True, times=1)
    with pytest.raises(httpx.RemoteProtocolError):
        await sim_client.post("tasks.stop", json={"id": element["taskId"]})
    assert simulator.task_status(element["taskId"]) in {"terminating", "stopped"}


async def test_probability_is_seeded(
    simulator_factory: Callable[..., Any], sim_client_factory: ClientFactory
) -> None:
    async def pattern(seed: int) -> list[int]:
        simulator = await simulator_factory(Scenario.fast(seed=seed))
        simulator.inject_fault(method="instance.version", status=500, probability=0.5)
        client = sim_client_factory(simulator)
        return [(await client.post("instance.version", json={})).status_code for _ in range(16)]

    first, again = await pattern(3), await pattern(3)
    assert first == again
    assert set(first) == {200, 500}


async def test_scenario_faults_are_armed_at_start(
    simulator_factory: Callable[..., Any], sim_client_factory: ClientFactory
) -> None:
    scenario = Scenario.fast(faults=[FaultSpec(method="teams.list", status=429, retry_after=1)])
    client = sim_client_factory(await simulator_factory(scenario))
    assert (await client.post("teams.list", json={})).status_code == 429


async def test_unauthorized_calls_do_not_consume_faults(
    simulator: Simulator, sim_client_factory: ClientFactory
) -> None:
    simulator.inject_fault(method="instance.version", status=503, times=1)
    anonymous = sim_client_factory(simulator, token=None)
    assert (await anonymous.post("instance.version", json={})).status_code == 401
    client = sim_client_factory(simulator)
    assert (await client.post("instance.version", json={})).status_code == 503


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({}, "no effect at all"),
        ({"status": 503, "drop": True}, "cannot both answer and drop"),
        ({"retry_after": 3, "delay": 1}, "retry_after without a status"),
        ({"status": 302}, "not an error status"),
        ({"status": 503, "probability": 1.5}, "probability above 1"),
        ({"status": 503, "times": 0}, "zero times"),
    ],
)
def test_invalid_fault_specs_are_refused(fields: dict[str, Any], why: str) -> None:
    with pytest.raises(ValidationError):
        FaultSpec.model_validate(fields)
