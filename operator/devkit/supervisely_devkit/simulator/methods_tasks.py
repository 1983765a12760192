"""API methods about tasks: start, inspect, list, stop, logs, outputs and the readiness proxy."""

from __future__ import annotations

from supervisely_devkit.simulator.catalogue import EcosystemModule, TeamApp
from supervisely_devkit.simulator.clock import parse_iso
from supervisely_devkit.simulator.lifecycle import TaskStatus
from supervisely_devkit.simulator.pagination import page_reply
from supervisely_devkit.simulator.payloads import (
    DirectRequest,
    IdRequest,
    ListRequest,
    LogQuery,
    OutputSetRequest,
    RunAppRequest,
    parse,
    unknown_keys,
)
from supervisely_devkit.simulator.scenario import AgentSpec, WorkspaceSpec
from supervisely_devkit.simulator.state import Handler, SimulatorState
from supervisely_devkit.simulator.wire import (
    ApiError,
    ApiReply,
    MethodCall,
    bad_request,
    validation_error,
)

NOT_READY = ApiReply(status=503, body={"detail": "Service not ready"})
"""What the app itself answers while it is not ready (``supervisely/app/fastapi/subapp.py``)."""


def run_app(state: SimulatorState, call: MethodCall) -> ApiReply:
    """``tasks.run.app``: one task per user (or one shared session), replied as an array."""
    request = parse(RunAppRequest, call.body)
    if state.scenario.reject_unknown_keys and (extra := unknown_keys(request)):
        raise validation_error(*(f'"{key}" is not allowed' for key in extra))
    if (request.module_id is None) == (request.app_id is None):
        raise validation_error('exactly one of "moduleId" and "appId" is required')
    catalogue = state.catalogue
    workspace = _workspace_for(state, request)
    agent = _agent_for(state, request, team_id=workspace.team_id)
    module, team_app = _module_for(state, request, team_id=workspace.team_id)
    caller = catalogue.user.id
    if request.single_session_mode or not request.users_ids:
        session_users = [caller]
    else:
        session_users = list(request.users_ids)
    now = state.now()
    created = [
        state.tasks.create(
            request=request,
            module=module,
            team_app=team_app,
            workspace_id=workspace.id,
            agent_id=agent.id,
            user_id=user_id,
            now=now,
        )
        for user_id in session_users
    ]
    return ApiReply(
        body=[
            {"taskId": task.id, "userId": task.user_id, "moduleId": module.id, "appId": team_app.id}
            for task in created
        ]
    )


def _workspace_for(state: SimulatorState, request: RunAppRequest) -> WorkspaceSpec:
    """The named workspace, or (``workspaceId: null``) the first one the agent's team has."""
    catalogue = state.catalogue
    if request.workspace_id is not None:
        return catalogue.workspace(request.workspace_id)
    team_id = catalogue.agent(request.agent_id).team_id if request.agent_id is not None else None
    for workspace in catalogue.workspaces.values():
        if team_id is None or workspace.team_id == team_id:
            return workspace
    raise bad_request("No workspace to run the task in")


def _agent_for(state: SimulatorState, request: RunAppRequest, *, team_id: int) -> AgentSpec:
    """The named agent if it is running, or (``agentId: null``) any running agent of the team."""
    catalogue = state.catalogue
    if request.agent_id is None:
        for agent in catalogue.agents.values():
            if agent.team_id == team_id and catalogue.agent_status[agent.id] == "running":
                return agent
        raise bad_request(f"No running agent available in team {team_id}")
    agent = catalogue.agent(request.agent_id)
    if catalogue.agent_status[agent.id] != "running":
        raise bad_request(f"Agent {agent.id} is not running")
    return agent


def _module_for(
    state: SimulatorState, request: RunAppRequest, *, team_id: int
) -> tuple[EcosystemModule, TeamApp]:
    """The module and its team app, from ``moduleId`` or (deprecated) ``appId``."""
    catalogue = state.catalogue
    if request.module_id is not None:
        module = catalogue.module(request.module_id)
        return module, catalogue.team_app_for(team_id=team_id, module_id=module.id)
    if request.app_id is None:
        raise validation_error('exactly one of "moduleId" and "appId" is required')
    team_app = catalogue.team_app(request.app_id)
    if team_app.team_id != team_id:
        raise bad_request(f"App {team_app.id} does not belong to team {team_id}")
    return catalogue.module(team_app.module_id), team_app


def task_info(state: SimulatorState, call: MethodCall) -> ApiReply:
    """``tasks.info``: the full task object, 404 for an unknown (or deleted) id."""
    request = parse(IdRequest, call.body)
    return ApiReply(body=state.tasks.render(state.tasks.get(request.id), now=state.now()))


def task_list(state: SimulatorState, call: MethodCall) -> ApiReply:
    """``tasks.list``: paginated, by ``workspaceId`` (all tasks without it)."""
    request = parse(ListRequest, call.body)
    tasks = [
        task
        for task in state.tasks.all()
        if request.workspace_id is None or task.workspace_id == request.workspace_id
    ]
    entities = state.tasks.render_all(tasks, now=state.now())
    return page_reply(entities, request, scenario=state.scenario)


def app_task_list(state: SimulatorState, call: MethodCall) -> ApiReply:
    """``apps.tasks.list``: the sessions of one team app, paginated."""
    request = parse(ListRequest, call.body)
    tasks = [
        task
        for task in state.tasks.all()
        if (request.app_id is None or task.team_app.id == request.app_id)
        and (request.team_id is None or task.team_id == request.team_id)
    ]
    entities = state.tasks.render_all(tasks, now=state.now())
    return page_reply(entities, request, scenario=state.scenario)


def stop_task(state: SimulatorState, call: MethodCall) -> ApiReply:
    """``tasks.stop``: ``terminating`` for a live task, the current status for an ended one."""
    request = parse(IdRequest, call.body)
    status = state.tasks.stop(request.id, now=state.now())
    return ApiReply(body={"status": status.value})


def download_logs(state: SimulatorState, call: MethodCall) -> ApiReply:
    """``tasks.log.download`` (GET): entries after ``sinceTime`` (exclusive), oldest first."""
    query = parse(LogQuery, call.query)
    task = state.tasks.get(query.id)
    since = None
    if query.since_time is not None:
        try:
            since = parse_iso(query.since_time)
        except ValueError:
            raise validation_error(
                f'"sinceTime": {query.since_time!r} is not an ISO-8601 timestamp'
            ) from None
    limit = min(query.limit or state.scenario.log_limit, state.scenario.max_log_limit)
    return ApiReply(body=state.tasks.log_entries(task, now=state.now(), since=since, limit=limit))


def set_output(state: SimulatorState, call: MethodCall) -> ApiReply:
    """``tasks.output.set``: publish part of the task's result (see ``TaskStore.publish``)."""
    request = parse(OutputSetRequest, call.body)
    state.tasks.publish(request.task_id, output=request.output, now=state.now())
    return ApiReply(body={"success": True})


def direct_request(state: SimulatorState, call: MethodCall) -> ApiReply:
    """``tasks.request.direct``: the app's own answer to ``is_ready`` / ``is_running``.

    A live task whose app is not up yet (queued, consumed, starting, terminating) gets the app's
    503; an ended task has no app to forward to, so the platform refuses with a 400.
    """
    request = parse(DirectRequest, call.body)
    task = state.tasks.get(request.task_id)
    now = state.now()
    status = task.status(now)
    if status.is_terminal:
        raise bad_request(f"Task {task.id} is not running (status {status.value})")
    if request.command == "is_ready":
        return ApiReply(body={"status": "ready"}) if task.timeline.is_ready(now) else NOT_READY
    if request.command == "is_running":
        if status is not TaskStatus.STARTED:
            return NOT_READY
        return ApiReply(body={"running": True, "mode": "production"})
    raise ApiError(400, "Bad request", f"The simulated app does not know {request.command!r}")


def task_context(state: SimulatorState, call: MethodCall) -> ApiReply:
    """``GetTaskContext``: the team and workspace a task belongs to."""
    request = parse(IdRequest, call.body)
    task = state.tasks.get(request.id)
    team = state.catalogue.team(task.team_id)
    workspace = state.catalogue.workspace(task.workspace_id)
    return ApiReply(
        body={
            "team": {"id": team.id, "name": team.name},
            "workspace": {"id": workspace.id, "name": workspace.name},
        }
    )


TASK_METHODS: dict[str, Handler] = {
    "tasks.run.app": run_app,
    "tasks.info": task_info,
    "tasks.list": task_list,
    "tasks.stop": stop_task,
    "tasks.log.download": download_logs,
    "tasks.request.direct": direct_request,
    "tasks.output.set": set_output,
    "apps.tasks.list": app_task_list,
    "GetTaskContext": task_context,
}
