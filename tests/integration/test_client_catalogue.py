"""The client against the simulator: ecosystem slugs and modules, agents, start refusals."""

from collections.abc import AsyncIterator

import pytest

from supervisely_devkit.simulator import Simulator
from supervisely_operator.supervisely import (
    AgentId,
    AgentNotFound,
    AgentStatus,
    AppNotFound,
    ClientSettings,
    ModuleId,
    NotFound,
    Rejected,
    StartTaskRequest,
    SuperviselyClient,
    WorkspaceId,
)

SETTINGS = ClientSettings(
    connect_timeout=1.0, read_timeout=2.0, max_attempts=3, initial_backoff=0.01, max_backoff=0.1
)
SERVE_SLUG = "supervisely-ecosystem/sim-serve-model"


@pytest.fixture
async def client(simulator: Simulator, simulator_token: str) -> AsyncIterator[SuperviselyClient]:
    async with SuperviselyClient(simulator.base_url, simulator_token, SETTINGS) as client:
        yield client


@pytest.mark.parametrize(
    ("slug", "module_id"),
    [
        ("supervisely-ecosystem/sim-train-finishes", 101),
        ("supervisely-ecosystem/sim-train-fails", 102),
        (SERVE_SLUG, 103),
    ],
)
async def test_slug_resolves_to_its_module(
    simulator: Simulator, client: SuperviselyClient, slug: str, module_id: int
) -> None:
    assert await client.resolve_app_slug(slug) == module_id
    (call,) = simulator.calls("ecosystem.list")
    assert call.body == {
        "filter": [{"field": "slug", "operator": "=", "value": slug}],
        "sort": "id",
        "sort_order": "asc",
    }


async def test_unknown_slug_is_app_not_found(client: SuperviselyClient) -> None:
    with pytest.raises(AppNotFound) as caught:
        await client.resolve_app_slug("supervisely-ecosystem/no-such-app")
    assert caught.value.reason == "AppNotFound"
    assert "'supervisely-ecosystem/no-such-app'" in str(caught.value)


async def test_module_info_by_id_and_slug(simulator: Simulator, client: SuperviselyClient) -> None:
    by_id = await client.get_module(ModuleId(103))
    by_slug = await client.get_module(SERVE_SLUG)
    assert (by_id.id, by_id.slug, by_id.latest_version) == (103, SERVE_SLUG, "v2.0.3")
    assert by_slug.id == 103
    assert [call.body for call in simulator.calls("ecosystem.info")] == [
        {"id": 103},
        {"slug": SERVE_SLUG},
    ]
    with pytest.raises(AppNotFound):
        await client.get_module(ModuleId(999))


async def test_agent_status_follows_the_simulator(
    simulator: Simulator, client: SuperviselyClient
) -> None:
    running = await client.get_agent(AgentId(1))
    assert (running.id, running.status, running.name) == (1, AgentStatus.RUNNING, "sim-agent-1")
    assert (await client.get_agent(AgentId(2))).status is AgentStatus.WAITING
    simulator.set_agent_status(1, "waiting")
    assert (await client.get_agent(AgentId(1))).status is AgentStatus.WAITING
    assert [call.body for call in simulator.calls("agents.info")] == [
        {"id": 1},
        {"id": 2},
        {"id": 1},
    ]


async def test_unknown_agent_is_agent_not_found(
    simulator: Simulator, client: SuperviselyClient
) -> None:
    with pytest.raises(AgentNotFound) as caught:
        await client.get_agent(AgentId(77))
    assert caught.value.agent_id == 77
    assert len(simulator.calls("agents.info")) == 1


async def test_start_on_a_waiting_agent_is_rejected_with_the_server_message(
    simulator: Simulator, client: SuperviselyClient
) -> None:
    request = StartTaskRequest(
        module_id=ModuleId(103), workspace_id=WorkspaceId(1), agent_id=AgentId(2)
    )
    with pytest.raises(Rejected) as caught:
        await client.start_task(request)
    assert caught.value.status == 400
    assert str(caught.value) == (
        "Supervisely rejected tasks.run.app (400): Bad request: Agent 2 is not running"
    )
    assert len(simulator.calls("tasks.run.app")) == 1
    assert simulator.tasks() == []


async def test_start_of_an_unknown_module_is_not_found(
    simulator: Simulator, client: SuperviselyClient
) -> None:
    request = StartTaskRequest(module_id=ModuleId(999), workspace_id=WorkspaceId(1))
    with pytest.raises(NotFound):
        await client.start_task(request)
    assert len(simulator.calls("tasks.run.app")) == 1
