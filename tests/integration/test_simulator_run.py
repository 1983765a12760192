"""``tasks.run.app``: the body of section 3.1 of the API doc, its validation and its reply."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from supervisely_devkit.simulator import Scenario, Simulator

SimulatorFactory = Callable[..., Any]

SDK_BODY: dict[str, Any] = {
    "agentId": 1,
    "workspaceId": 1,
    "description": "application description",
    "params": {"state": {"epochs": 3}},
    "logLevel": "info",
    "usersIds": [],
    "appVersion": "",
    "isBranch": False,
    "taskName": "pythonSpawned",
    "restartPolicy": "never",
    "proxyKeepUrl": False,
    "advancedSettings": {
        "limitByWorkspace": True,
        "useHealthCheck": True,
        "requestCpus": 2,
        "limitCpus": 4,
        "limitMemoryGb": 8,
        "limitShmGb": 1,
        "limitStorageGb": 20,
        "limitGpus": 1,
        "limitGpuMemoryMb": 8000,
        "limitGpuCoresPerc": 50,
    },
    "redirectRequests": {"port": "8000"},
    "moduleId": 101,
}
"""Every key TaskApi.start can send, with Kubernetes settings flattened as the SDK does."""


def body(**changes: Any) -> dict[str, Any]:
    merged = {**SDK_BODY, **changes}
    return {key: value for key, value in merged.items() if value is not ...}


async def test_full_sdk_body_is_accepted_and_replied_as_an_array(
    simulator: Simulator, sim_client: httpx.AsyncClient
) -> None:
    response = await sim_client.post("tasks.run.app", json=SDK_BODY)
    assert response.status_code == 200
    reply = response.json()
    assert isinstance(reply, list)
    assert len(reply) == 1
    (element,) = reply
    assert set(element) == {"taskId", "userId", "moduleId", "appId"}
    assert element["moduleId"] == 101
    assert element["userId"] == 1
    assert element["appId"] == 201, "team app 201 is module 101 in team 1"


async def test_task_carries_what_was_asked_for(
    simulator: Simulator, sim_client: httpx.AsyncClient
) -> None:
    (element,) = (await sim_client.post("tasks.run.app", json=SDK_BODY)).json()
    info = (await sim_client.post("tasks.info", json={"id": element["taskId"]})).json()
    assert info["settings"]["advancedSettings"] == SDK_BODY["advancedSettings"]
    assert info["meta"]["params"] == {"state": {"epochs": 3}}
    assert info["meta"]["name"] == "pythonSpawned"
    assert info["meta"]["restartPolicy"] == "never"
    assert info["meta"]["redirectRequests"] == {"port": "8000"}
    assert info["meta"]["app"] == {
        "id": 201,
        "moduleId": 101,
        "name": "Sim: train (finishes)",
        "version": "v1.2.0",
        "isBranch": False,
    }, "an empty appVersion means the latest release"
    assert info["description"] == "application description"


async def test_call_record_keeps_advanced_settings_verbatim(
    simulator: Simulator, sim_client: httpx.AsyncClient
) -> None:
    await sim_client.post("tasks.run.app", json=SDK_BODY)
    (call,) = simulator.calls(method="tasks.run.app")
    assert call.body["advancedSettings"] == SDK_BODY["advancedSettings"]
    assert call.status == 200
    assert call.http_method == "POST"
    assert call.path == "/public/api/v3/tasks.run.app"


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"moduleId": ...}, "neither moduleId nor appId"),
        ({"appId": 201}, "both moduleId and appId"),
        ({"logLevel": "verbose"}, "logLevel outside info/debug/warning/error"),
        ({"restartPolicy": "always"}, "restartPolicy outside never/on_error"),
        ({"moduleId": "101"}, "a string where the SDK sends a number"),
        ({"usersIds": "1"}, "usersIds not a list"),
        ({"advancedSettings": [1]}, "advancedSettings not an object"),
    ],
)
async def test_invalid_bodies_are_400_validation_errors(
    sim_client: httpx.AsyncClient, changes: dict[str, Any], why: str
) -> None:
    response = await sim_client.post("tasks.run.app", json=body(**changes))
    assert response.status_code == 400, why
    reply = response.json()
    assert reply["error"] == "Validation error"
    assert isinstance(reply["details"], list)
    assert reply["details"][0]["message"]


@pytest.mark.parametrize(
    ("changes", "status", "why"),
    [
        ({"moduleId": 999}, 404, "unknown ecosystem module"),
        ({"moduleId": ..., "appId": 999}, 404, "unknown team app"),
        ({"agentId": 77}, 404, "unknown agent"),
        ({"workspaceId": 77}, 404, "unknown workspace"),
        ({"agentId": 2}, 400, "agent 2 is waiting, not running"),
    ],
)
async def test_refusals_have_documented_statuses(
    simulator: Simulator,
    sim_client: httpx.AsyncClient,
    changes: dict[str, Any],
    status: int,
    why: str,
) -> None:
    response = await sim_client.post("tasks.run.app", json=body(**changes))
    assert response.status_code == status, why
    assert set(response.json()) == {"error", "details"}
    assert simulator.tasks() == [], "a refused start creates no task"


async def test_waiting_agent_says_not_running(sim_client: httpx.AsyncClient) -> None:
    response = await sim_client.post("tasks.run.app", json=body(agentId=2))
    assert response.json()["details"]["message"] == "Agent 2 is not running"


async def test_agent_can_be_brought_up(simulator: Simulator, sim_client: httpx.AsyncClient) -> None:
    simulator.set_agent_status(2, "running")
    response = await sim_client.post("tasks.run.app", json=body(agentId=2))
    assert response.status_code == 200


async def test_team_app_id_starts_its_module(sim_client: httpx.AsyncClient) -> None:
    response = await sim_client.post("tasks.run.app", json=body(moduleId=..., appId=203))
    assert response.status_code == 200
    assert response.json()[0]["moduleId"] == 103


async def test_null_agent_picks_a_running_agent_of_the_team(
    sim_client: httpx.AsyncClient,
) -> None:
    (element,) = (await sim_client.post("tasks.run.app", json=body(agentId=None))).json()
    info = (await sim_client.post("tasks.info", json={"id": element["taskId"]})).json()
    assert info["agentId"] == 1


async def test_null_agent_with_no_running_agent_is_400(
    simulator: Simulator, sim_client: httpx.AsyncClient
) -> None:
    simulator.set_agent_status(1, "waiting")
    response = await sim_client.post("tasks.run.app", json=body(agentId=None))
    assert response.status_code == 400


async def test_one_task_per_user_without_single_session_mode(
    simulator: Simulator, sim_client: httpx.AsyncClient
) -> None:
    reply = (await sim_client.post("tasks.run.app", json=body(usersIds=[5, 6, 7]))).json()
    assert [element["userId"] for element in reply] == [5, 6, 7]
    assert len({element["taskId"] for element in reply}) == 3
    assert len(simulator.tasks()) == 3


async def test_single_session_mode_makes_one_shared_task(
    simulator: Simulator, sim_client: httpx.AsyncClient
) -> None:
    reply = (
        await sim_client.post(
            "tasks.run.app", json=body(usersIds=[5, 6, 7], singleSessionMode=True)
        )
    ).json()
    assert len(reply) == 1
    assert reply[0]["userId"] == 1, "the shared session belongs to the caller"
    assert len(simulator.tasks()) == 1


async def test_task_ids_increase_from_the_scenario_start(sim_client: httpx.AsyncClient) -> None:
    first = (await sim_client.post("tasks.run.app", json=SDK_BODY)).json()[0]["taskId"]
    second = (await sim_client.post("tasks.run.app", json=SDK_BODY)).json()[0]["taskId"]
    assert (first, second) == (1001, 1002)


async def test_explicit_app_version_is_kept(sim_client: httpx.AsyncClient) -> None:
    (element,) = (
        await sim_client.post("tasks.run.app", json=body(appVersion="dev", isBranch=True))
    ).json()
    info = (await sim_client.post("tasks.info", json={"id": element["taskId"]})).json()
    assert info["meta"]["app"]["version"] == "dev"
    assert info["meta"]["app"]["isBranch"] is True


async def test_unknown_keys_are_ignored_by_default(sim_client: httpx.AsyncClient) -> None:
    response = await sim_client.post("tasks.run.app", json=body(someFutureKey=1))
    assert response.status_code == 200


async def test_unknown_keys_are_refused_when_the_scenario_says_so(
    simulator_factory: SimulatorFactory,
    sim_client_factory: Callable[..., httpx.AsyncClient],
) -> None:
    strict = await simulator_factory(Scenario.fast(reject_unknown_keys=True))
    client = sim_client_factory(strict)
    response = await client.post("tasks.run.app", json=body(someFutureKey=1, typoKey=2))
    assert response.status_code == 400
    assert response.json()["details"] == [
        {"message": '"someFutureKey" is not allowed'},
        {"message": '"typoKey" is not allowed'},
    ]
    assert (await client.post("tasks.run.app", json=SDK_BODY)).status_code == 200


async def test_a_body_over_the_proxy_limit_gets_nginx_413_page_and_starts_nothing(
    simulator_factory: SimulatorFactory,
    sim_client_factory: Callable[..., httpx.AsyncClient],
) -> None:
    """The proxy in front of the API refuses it: its HTML page, not the API's JSON shape."""
    limit = 4096
    small = await simulator_factory(Scenario.fast(max_request_bytes=limit))
    client = sim_client_factory(small)
    oversized = body(params={"state": {"blob": "x" * limit}})
    response = await client.post("tasks.run.app", json=oversized)
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("text/html")
    assert "<title>413 Request Entity Too Large</title>" in response.text
    assert small.tasks() == []
    [call] = small.calls("tasks.run.app")
    assert (call.status, call.body, call.token_valid) == (413, None, True)

    at_the_limit = json.dumps(body(params={"state": {}})).encode()
    at_the_limit += b" " * (limit - len(at_the_limit))
    response = await client.post(
        "tasks.run.app", content=at_the_limit, headers={"content-type": "application/json"}
    )
    assert response.status_code == 200, "a body of exactly the limit passes"


def test_the_default_limit_is_nginx_default_client_max_body_size() -> None:
    assert Scenario().max_request_bytes == 1024 * 1024
