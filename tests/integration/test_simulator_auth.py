"""The simulator's transport contract: auth, error shapes, routing, and the token staying secret."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from supervisely_devkit.simulator import Simulator

ClientFactory = Callable[..., httpx.AsyncClient]

UNAUTHORIZED = {"error": "Unauthorized", "details": {"message": "Invalid API token"}}


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({}, "no x-api-key at all"),
        ({"x-api-key": "wrong"}, "a token that is not the simulator's"),
        ({"x-api-key": ""}, "an empty token"),
    ],
)
async def test_bad_token_is_401_with_error_shape(
    simulator: Simulator, headers: dict[str, str], why: str
) -> None:
    async with httpx.AsyncClient(base_url=simulator.base_url) as client:
        response = await client.post("/public/api/v3/tasks.info", json={"id": 1}, headers=headers)
    assert response.status_code == 401, why
    assert response.json() == UNAUTHORIZED
    assert simulator.calls()[-1].token_valid is False


async def test_authorization_header_is_not_accepted_instead_of_x_api_key(
    simulator: Simulator, simulator_token: str
) -> None:
    async with httpx.AsyncClient(base_url=simulator.base_url) as client:
        response = await client.post(
            "/public/api/v3/instance.version",
            json={},
            headers={"Authorization": f"Bearer {simulator_token}"},
        )
    assert response.status_code == 401


async def test_good_token_reaches_the_method(sim_client: httpx.AsyncClient) -> None:
    response = await sim_client.post("instance.version", json={})
    assert response.status_code == 200
    assert response.json()["version"].startswith("6.")


async def test_unknown_method_is_404_with_error_shape(sim_client: httpx.AsyncClient) -> None:
    response = await sim_client.post("tasks.explode", json={})
    assert response.status_code == 404
    body = response.json()
    assert body["error"] == "Not found"
    assert "tasks.explode" in body["details"]["message"]


async def test_unknown_path_is_404_with_error_shape(simulator: Simulator) -> None:
    async with httpx.AsyncClient(base_url=simulator.base_url) as client:
        response = await client.get("/somewhere/else")
    assert response.status_code == 404
    assert set(response.json()) == {"error", "details"}


async def test_wrong_http_method_is_405(sim_client: httpx.AsyncClient) -> None:
    response = await sim_client.get("tasks.info", params={"id": 1})
    assert response.status_code == 405
    assert response.json()["error"] == "Method not allowed"


async def test_invalid_json_is_400_with_list_details(sim_client: httpx.AsyncClient) -> None:
    response = await sim_client.post(
        "tasks.info", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "Validation error"
    assert "not valid JSON" in body["details"][0]["message"]


async def test_body_that_is_not_an_object_is_400(sim_client: httpx.AsyncClient) -> None:
    response = await sim_client.post("tasks.info", json=[1, 2])
    assert response.status_code == 400


async def test_wrongly_typed_field_is_400_naming_the_field(sim_client: httpx.AsyncClient) -> None:
    response = await sim_client.post("tasks.info", json={"id": "12"})
    assert response.status_code == 400
    assert response.json()["details"] == [{"message": '"id": Input should be a valid integer'}]


async def test_sim_endpoints_need_the_token(simulator: Simulator, simulator_token: str) -> None:
    async with httpx.AsyncClient(base_url=simulator.base_url) as client:
        without = await client.get("/_sim/calls")
        with_token = await client.get("/_sim/calls", headers={"x-api-key": simulator_token})
    assert without.status_code == 401
    assert without.json() == UNAUTHORIZED
    assert with_token.status_code == 200


async def test_token_never_appears_in_record_repr_or_state(
    simulator: Simulator, sim_client_factory: ClientFactory, simulator_token: str
) -> None:
    client = sim_client_factory(simulator)
    # A client that echoes its own token in a body and a query must still not leak it.
    await client.post("tasks.info", json={"id": 1, "note": f"token={simulator_token}"})
    await client.get("tasks.log.download", params={"id": 1, "echo": simulator_token})
    wrong = sim_client_factory(simulator, token=simulator_token + "x")
    await wrong.post("tasks.info", json={"id": 1})
    dumped = [call.model_dump_json() for call in simulator.calls()]
    assert len(dumped) == 3
    assert all(simulator_token not in text for text in dumped)
    assert "<redacted>" in dumped[0]
    assert simulator_token not in repr(simulator)
    assert simulator_token not in repr(simulator.state)
    assert simulator_token not in repr(simulator.state.token)
