"""Paginated lists (section 2 of the API doc) and the catalogue methods."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supervisely_devkit.simulator import (
    AgentSpec,
    FakeClock,
    PhaseDurations,
    Scenario,
    Simulator,
    ThreadedSimulator,
    WorkspaceSpec,
)

ClientFactory = Callable[..., httpx.AsyncClient]
TOKEN = "lists-test-token"

MODULES = (101, 102, 103)
TASK_COUNT = 23


async def fetch_all(client: httpx.AsyncClient, method: str, body: dict[str, Any]) -> list[Any]:
    """Walk the pages as the SDK does: first call without page fields, then page/per_page."""
    first = (await client.post(method, json=body)).json()
    entities = list(first["entities"])
    for page in range(2, first["pagesCount"] + 1):
        reply = await client.post(method, json={**body, "page": page, "per_page": first["perPage"]})
        entities.extend(reply.json()["entities"])
    assert len(entities) == first["total"]
    return entities


async def start_tasks(client: httpx.AsyncClient, count: int, workspace_id: int = 1) -> list[int]:
    ids = []
    for index in range(count):
        body = {"agentId": 1, "workspaceId": workspace_id, "moduleId": MODULES[index % 3]}
        ids.append((await client.post("tasks.run.app", json=body)).json()[0]["taskId"])
    return ids


async def test_empty_list_has_the_documented_shape(sim_client: httpx.AsyncClient) -> None:
    response = await sim_client.post("tasks.list", json={"workspaceId": 1})
    assert response.json() == {"total": 0, "perPage": 5, "pagesCount": 0, "entities": []}


async def test_first_page_uses_the_default_page_size(sim_client: httpx.AsyncClient) -> None:
    await start_tasks(sim_client, 12)
    reply = (await sim_client.post("tasks.list", json={"workspaceId": 1})).json()
    assert (reply["total"], reply["perPage"], reply["pagesCount"]) == (12, 5, 3)
    assert [task["id"] for task in reply["entities"]] == [1001, 1002, 1003, 1004, 1005]


async def test_pages_add_up_to_total_without_overlap(sim_client: httpx.AsyncClient) -> None:
    ids = await start_tasks(sim_client, 12)
    entities = await fetch_all(sim_client, "tasks.list", {"workspaceId": 1})
    assert [task["id"] for task in entities] == ids


async def test_page_past_the_end_is_empty_but_keeps_totals(sim_client: httpx.AsyncClient) -> None:
    await start_tasks(sim_client, 3)
    reply = (
        await sim_client.post("tasks.list", json={"workspaceId": 1, "page": 9, "per_page": 2})
    ).json()
    assert reply == {"total": 3, "perPage": 2, "pagesCount": 2, "entities": []}


async def test_per_page_is_clamped_to_the_maximum(
    simulator_factory: Callable[..., Any], sim_client_factory: ClientFactory
) -> None:
    simulator = await simulator_factory(Scenario.fast(max_page_size=4))
    client = sim_client_factory(simulator)
    await start_tasks(client, 6)
    reply = (await client.post("tasks.list", json={"per_page": 100, "page": 1})).json()
    assert (reply["perPage"], reply["pagesCount"], len(reply["entities"])) == (4, 2, 4)


@pytest.mark.parametrize(
    "bad",
    [{"page": 0}, {"per_page": 0}, {"sort_order": "up"}, {"filter": [{"field": "id"}]}],
)
async def test_bad_page_fields_are_400(sim_client: httpx.AsyncClient, bad: dict[str, Any]) -> None:
    response = await sim_client.post("tasks.list", json={"workspaceId": 1, **bad})
    assert response.status_code == 400


async def test_unknown_filter_operator_is_400(sim_client: httpx.AsyncClient) -> None:
    body = {"filter": [{"field": "id", "operator": ">", "value": 1}]}
    assert (await sim_client.post("tasks.list", json=body)).status_code == 400


async def test_in_operator_needs_a_list(sim_client: httpx.AsyncClient) -> None:
    await start_tasks(sim_client, 1)
    body = {"filter": [{"field": "status", "operator": "in", "value": "queued"}]}
    assert (await sim_client.post("tasks.list", json=body)).status_code == 400


async def test_filters_by_workspace_status_type_and_id(
    simulator: Simulator, sim_client: httpx.AsyncClient
) -> None:
    ids = await start_tasks(sim_client, 4, workspace_id=1)
    other = await start_tasks(sim_client, 2, workspace_id=2)
    simulator.force_task(ids[0], "error")
    in_two = await fetch_all(sim_client, "tasks.list", {"workspaceId": 2})
    assert [task["id"] for task in in_two] == other
    errored = await fetch_all(
        sim_client,
        "tasks.list",
        {
            "workspaceId": 1,
            "filter": [
                {"field": "type", "operator": "=", "value": "app"},
                {"field": "status", "operator": "in", "value": ["error", "stopped"]},
            ],
        },
    )
    assert [task["id"] for task in errored] == [ids[0]]
    by_id = await fetch_all(
        sim_client,
        "tasks.list",
        {"workspaceId": 1, "filter": [{"field": "id", "operator": "=", "value": ids[2]}]},
    )
    assert [task["id"] for task in by_id] == [ids[2]]


async def test_dotted_filter_fields_reach_into_meta(sim_client: httpx.AsyncClient) -> None:
    await start_tasks(sim_client, 6)
    entities = await fetch_all(
        sim_client,
        "tasks.list",
        {"filter": [{"field": "meta.app.moduleId", "operator": "=", "value": 103}]},
    )
    assert [task["moduleId"] for task in entities] == [103, 103]


async def test_sort_descending(sim_client: httpx.AsyncClient) -> None:
    ids = await start_tasks(sim_client, 7)
    entities = await fetch_all(
        sim_client, "tasks.list", {"workspaceId": 1, "sort": "id", "sort_order": "desc"}
    )
    assert [task["id"] for task in entities] == sorted(ids, reverse=True)


@pytest.fixture(scope="module")
def populated() -> Iterator[tuple[ThreadedSimulator, list[dict[str, Any]]]]:
    """One simulator on a frozen clock with a fixed set of tasks, shared by property tests."""
    clock = FakeClock()
    scenario = Scenario(durations=PhaseDurations.uniform(1.0), page_size=4)
    with ThreadedSimulator(token=TOKEN, scenario=scenario, clock=clock) as simulator:
        with httpx.Client(
            base_url=f"{simulator.base_url}/public/api/v3/", headers={"x-api-key": TOKEN}
        ) as client:
            for index in range(TASK_COUNT):
                body = {
                    "agentId": 1,
                    "workspaceId": 1 + index % 2,
                    "moduleId": MODULES[index % 3],
                    "taskName": f"task-{index:02d}",
                }
                assert client.post("tasks.run.app", json=body).status_code == 200
                clock.advance(0.4)
        yield simulator, simulator.tasks()


SORT_FIELDS = st.sampled_from(["id", "status", "startedAt", "workspaceId", "moduleId"])
FILTERS = st.lists(
    st.one_of(
        st.builds(
            lambda value: {"field": "workspaceId", "operator": "=", "value": value},
            st.integers(1, 3),
        ),
        st.builds(
            lambda values: {"field": "status", "operator": "in", "value": values},
            st.lists(st.sampled_from(["queued", "consumed", "started", "finished", "error"])),
        ),
        st.builds(
            lambda values: {"field": "moduleId", "operator": "in", "value": values},
            st.lists(st.sampled_from(MODULES), max_size=2),
        ),
    ),
    max_size=2,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    per_page=st.one_of(st.none(), st.integers(1, 30)),
    sort=SORT_FIELDS,
    order=st.sampled_from(["asc", "desc"]),
    filters=FILTERS,
)
def test_pagination_invariants(
    populated: tuple[ThreadedSimulator, list[dict[str, Any]]],
    per_page: int | None,
    sort: str,
    order: str,
    filters: list[dict[str, Any]],
) -> None:
    simulator, everything = populated
    body: dict[str, Any] = {"filter": filters, "sort": sort, "sort_order": order}
    with httpx.Client(
        base_url=f"{simulator.base_url}/public/api/v3/", headers={"x-api-key": TOKEN}
    ) as client:
        first = client.post(
            "tasks.list", json=body if per_page is None else {**body, "per_page": per_page}
        ).json()
        size = first["perPage"]
        assert size == (per_page or 4)
        pages = [first["entities"]]
        for page in range(2, first["pagesCount"] + 1):
            reply = client.post("tasks.list", json={**body, "page": page, "per_page": size}).json()
            assert reply["total"] == first["total"]
            pages.append(reply["entities"])
    collected = [task for page in pages for task in page]
    assert all(len(page) <= size for page in pages)
    assert all(len(page) == size for page in pages[:-1])
    assert first["pagesCount"] == -(-first["total"] // size)
    assert len(collected) == first["total"]
    assert len({task["id"] for task in collected}) == len(collected), "no task on two pages"

    def passes(task: dict[str, Any]) -> bool:
        for item in filters:
            value = task[item["field"]]
            if item["operator"] == "=" and value != item["value"]:
                return False
            if item["operator"] == "in" and value not in item["value"]:
                return False
        return True

    assert {task["id"] for task in collected} == {t["id"] for t in everything if passes(t)}
    keys = [task[sort] for task in collected]
    assert keys == sorted(keys, reverse=order == "desc")


async def test_ecosystem_slug_filter_gives_zero_or_one(sim_client: httpx.AsyncClient) -> None:
    def by_slug(slug: str) -> dict[str, Any]:
        return {
            "filter": [{"field": "slug", "operator": "=", "value": slug}],
            "sort": "id",
            "sort_order": "asc",
        }

    hit = (
        await sim_client.post(
            "ecosystem.list", json=by_slug("supervisely-ecosystem/sim-serve-model")
        )
    ).json()
    assert (hit["total"], hit["pagesCount"], [m["id"] for m in hit["entities"]]) == (1, 1, [103])
    miss = (await sim_client.post("ecosystem.list", json=by_slug("nobody/nothing"))).json()
    assert miss == {"total": 0, "perPage": 5, "pagesCount": 0, "entities": []}


async def test_ecosystem_search_and_categories(sim_client: httpx.AsyncClient) -> None:
    searched = (await sim_client.post("ecosystem.list", json={"search": "SERVE"})).json()
    assert [m["id"] for m in searched["entities"]] == [103]
    train = (
        await sim_client.post(
            "ecosystem.list", json={"categories": ["train", "serve"], "categoriesOperation": "or"}
        )
    ).json()
    assert train["total"] == 3
    both = (
        await sim_client.post(
            "ecosystem.list",
            json={"categories": ["neural network", "serve"], "categoriesOperation": "and"},
        )
    ).json()
    assert [m["id"] for m in both["entities"]] == [103]


@pytest.mark.parametrize("key", [{"id": 101}, {"slug": "supervisely-ecosystem/sim-train-finishes"}])
async def test_ecosystem_info_by_id_or_slug(
    sim_client: httpx.AsyncClient, key: dict[str, Any]
) -> None:
    module = (await sim_client.post("ecosystem.info", json=key)).json()
    required = {"id", "slug", "name", "type", "config", "createdAt", "updatedAt"}
    assert required <= set(module)
    assert module["id"] == 101
    assert module["meta"]["releases"][0]["version"] == "v1.2.0"


@pytest.mark.parametrize("key", [{"id": 999}, {"slug": "nobody/nothing"}])
async def test_ecosystem_info_unknown_is_404(
    sim_client: httpx.AsyncClient, key: dict[str, Any]
) -> None:
    assert (await sim_client.post("ecosystem.info", json=key)).status_code == 404


async def test_ecosystem_info_needs_id_or_slug(sim_client: httpx.AsyncClient) -> None:
    assert (await sim_client.post("ecosystem.info", json={})).status_code == 400


async def test_agents_info_list_and_available(
    simulator: Simulator, sim_client: httpx.AsyncClient
) -> None:
    one = (await sim_client.post("agents.info", json={"id": 1})).json()
    two = (await sim_client.post("agents.info", json={"id": 2})).json()
    assert (one["status"], two["status"]) == ("running", "waiting")
    assert "token" not in one
    assert (await sim_client.post("agents.info", json={"id": 9})).status_code == 404
    listed = await fetch_all(sim_client, "agents.list", {"teamId": 1, "filter": []})
    assert [agent["id"] for agent in listed] == [1, 2]
    available = (await sim_client.post("agents.available", json={"teamId": 1})).json()
    assert [agent["id"] for agent in available] == [1], "a bare array of running agents"
    any_status = (
        await sim_client.post("agents.available", json={"teamId": 1, "anyStatus": True})
    ).json()
    assert [agent["id"] for agent in any_status] == [1, 2]
    gpu = (await sim_client.post("agents.available", json={"teamId": 1, "needGPU": True})).json()
    assert gpu == []
    simulator.set_agent_status(2, "running")
    assert (await sim_client.post("agents.info", json={"id": 2})).json()["status"] == "running"


async def test_apps_list_and_sessions(sim_client: httpx.AsyncClient) -> None:
    ids = await start_tasks(sim_client, 3)
    apps = await fetch_all(sim_client, "apps.list", {"teamId": 1, "filter": []})
    assert [(app["id"], app["moduleId"]) for app in apps] == [(201, 101), (202, 102), (203, 103)]
    assert [task["id"] for task in apps[2]["tasks"]] == [ids[2]]
    sessions = await fetch_all(
        sim_client,
        "apps.tasks.list",
        {"teamId": 1, "appId": 203, "sort": "startedAt", "sort_order": "desc"},
    )
    assert [task["id"] for task in sessions] == [ids[2]]
    assert sessions[0]["meta"]["app"]["id"] == 203
    assert sessions[0]["createdBy"] == 1
    running = await fetch_all(sim_client, "apps.list", {"teamId": 1, "onlyRunning": True})
    assert len(running) == 3
    info = (await sim_client.post("apps.info", json={"id": 202})).json()
    assert info["slug"] == "supervisely-ecosystem/sim-train-fails"


async def test_workspaces_and_teams(sim_client: httpx.AsyncClient) -> None:
    workspace = (await sim_client.post("workspaces.info", json={"id": 2})).json()
    assert (workspace["teamId"], workspace["name"]) == (1, "Second workspace")
    assert (await sim_client.post("workspaces.info", json={"id": 99})).status_code == 404
    workspaces = await fetch_all(sim_client, "workspaces.list", {"teamId": 1})
    assert [w["id"] for w in workspaces] == [1, 2]
    team = (await sim_client.post("teams.info", json={"id": 1})).json()
    assert {"id", "name", "description", "role", "createdAt", "updatedAt", "usage"} <= set(team)
    teams = await fetch_all(sim_client, "teams.list", {"filter": []})
    assert [t["id"] for t in teams] == [1]


async def test_scenario_additions_show_up_in_lists(
    simulator_factory: Callable[..., Any], sim_client_factory: ClientFactory
) -> None:
    scenario = Scenario.fast(
        workspaces=[WorkspaceSpec(id=3, name="Extra", team_id=1)],
        agents=[AgentSpec(id=3, name="gpu-box", gpu=True)],
    )
    client = sim_client_factory(await simulator_factory(scenario))
    workspaces = await fetch_all(client, "workspaces.list", {"teamId": 1})
    assert [w["id"] for w in workspaces] == [1, 2, 3]
    gpu = (await client.post("agents.available", json={"teamId": 1, "needGPU": True})).json()
    assert [agent["name"] for agent in gpu] == ["gpu-box"]
