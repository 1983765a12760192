"""API methods about the platform's fixed objects: ecosystem, agents, team apps, workspaces,
teams and the instance version."""

from __future__ import annotations

from supervisely_devkit.simulator.catalogue import EcosystemModule
from supervisely_devkit.simulator.pagination import page_reply
from supervisely_devkit.simulator.payloads import (
    AvailableAgentsRequest,
    EcosystemInfoRequest,
    IdRequest,
    ListRequest,
    parse,
)
from supervisely_devkit.simulator.state import Handler, SimulatorState
from supervisely_devkit.simulator.wire import ApiReply, MethodCall, validation_error

RUNNING_STATUSES = ("queued", "consumed", "started", "deployed")
"""What ``apps.list`` ``onlyRunning`` means, per the SDK docstring."""


def ecosystem_list(state: SimulatorState, call: MethodCall) -> ApiReply:
    """``ecosystem.list``: paginated; slug filter, ``search`` and ``categories``."""
    request = parse(ListRequest, call.body)
    modules = [m for m in state.catalogue.modules.values() if _wanted(m, request)]
    return page_reply(
        [state.catalogue.module_json(m) for m in modules], request, scenario=state.scenario
    )


def _wanted(module: EcosystemModule, request: ListRequest) -> bool:
    if request.search:
        needle = request.search.lower()
        if needle not in module.name.lower() and needle not in module.slug.lower():
            return False
    if request.categories:
        hits = [category in module.categories for category in request.categories]
        return all(hits) if request.categories_operation == "and" else any(hits)
    return True


def ecosystem_info(state: SimulatorState, call: MethodCall) -> ApiReply:
    """``ecosystem.info``: by ``id`` or ``slug``; any ``version`` is accepted."""
    request = parse(EcosystemInfoRequest, call.body)
    if request.id is not None:
        module = state.catalogue.module(request.id)
    elif request.slug is not None:
        module = state.catalogue.module_by_slug(request.slug)
    else:
        raise validation_error('one of "id" and "slug" is required')
    return ApiReply(body=state.catalogue.module_json(module))


def agent_info(state: SimulatorState, call: MethodCall) -> ApiReply:
    """``agents.info``: status ``running`` or ``waiting``."""
    request = parse(IdRequest, call.body)
    catalogue = state.catalogue
    return ApiReply(body=catalogue.agent_json(catalogue.agent(request.id)))


def agent_list(state: SimulatorState, call: MethodCall) -> ApiReply:
    """``agents.list``: paginated, by ``teamId``."""
    request = parse(ListRequest, call.body)
    catalogue = state.catalogue
    agents = [
        catalogue.agent_json(agent)
        for agent in catalogue.agents.values()
        if request.team_id is None or agent.team_id == request.team_id
    ]
    return page_reply(agents, request, scenario=state.scenario)


def agents_available(state: SimulatorState, call: MethodCall) -> ApiReply:
    """``agents.available``: a bare array; running agents only unless ``anyStatus``."""
    request = parse(AvailableAgentsRequest, call.body)
    catalogue = state.catalogue
    agents = [
        catalogue.agent_json(agent)
        for agent in catalogue.agents.values()
        if agent.team_id == request.team_id
        and (request.any_status or catalogue.agent_status[agent.id] == "running")
        and (agent.gpu or not request.need_gpu)
    ]
    return ApiReply(body=agents)


def app_list(state: SimulatorState, call: MethodCall) -> ApiReply:
    """``apps.list``: team apps with their sessions, paginated."""
    request = parse(ListRequest, call.body)
    catalogue = state.catalogue
    tasks = state.tasks.render_all(state.tasks.all(), now=state.now())
    entities = []
    for app in catalogue.team_apps.values():
        if request.team_id is not None and app.team_id != request.team_id:
            continue
        sessions = [task for task in tasks if task["meta"]["app"]["id"] == app.id]
        if request.only_running:
            sessions = [task for task in sessions if task["status"] in RUNNING_STATUSES]
            if not sessions:
                continue
        entities.append(catalogue.team_app_json(app, tasks=sessions))
    return page_reply(entities, request, scenario=state.scenario)


def app_info(state: SimulatorState, call: MethodCall) -> ApiReply:
    """``apps.info``: one team app with its sessions."""
    request = parse(IdRequest, call.body)
    catalogue = state.catalogue
    app = catalogue.team_app(request.id)
    tasks = [
        task
        for task in state.tasks.render_all(state.tasks.all(), now=state.now())
        if task["meta"]["app"]["id"] == app.id
    ]
    return ApiReply(body=catalogue.team_app_json(app, tasks=tasks))


def workspace_info(state: SimulatorState, call: MethodCall) -> ApiReply:
    """``workspaces.info``."""
    request = parse(IdRequest, call.body)
    catalogue = state.catalogue
    return ApiReply(body=catalogue.workspace_json(catalogue.workspace(request.id)))


def workspace_list(state: SimulatorState, call: MethodCall) -> ApiReply:
    """``workspaces.list``: paginated, by ``teamId``."""
    request = parse(ListRequest, call.body)
    catalogue = state.catalogue
    workspaces = [
        catalogue.workspace_json(workspace)
        for workspace in catalogue.workspaces.values()
        if request.team_id is None or workspace.team_id == request.team_id
    ]
    return page_reply(workspaces, request, scenario=state.scenario)


def team_info(state: SimulatorState, call: MethodCall) -> ApiReply:
    """``teams.info``."""
    request = parse(IdRequest, call.body)
    catalogue = state.catalogue
    return ApiReply(body=catalogue.team_json(catalogue.team(request.id)))


def team_list(state: SimulatorState, call: MethodCall) -> ApiReply:
    """``teams.list``: paginated."""
    request = parse(ListRequest, call.body)
    catalogue = state.catalogue
    teams = [catalogue.team_json(team) for team in catalogue.teams.values()]
    return page_reply(teams, request, scenario=state.scenario)


def instance_version(state: SimulatorState, call: MethodCall) -> ApiReply:
    """``instance.version``: the SDK's one-time version probe."""
    return ApiReply(body={"version": state.scenario.instance_version})


CATALOGUE_METHODS: dict[str, Handler] = {
    "ecosystem.list": ecosystem_list,
    "ecosystem.info": ecosystem_info,
    "agents.info": agent_info,
    "agents.list": agent_list,
    "agents.available": agents_available,
    "apps.list": app_list,
    "apps.info": app_info,
    "workspaces.info": workspace_info,
    "workspaces.list": workspace_list,
    "teams.info": team_info,
    "teams.list": team_list,
    "instance.version": instance_version,
}
