"""``/_sim/...``: the simulator's own endpoints, for tests and demos that run it as a subprocess.

They read the call record (or just its counts per method; either for one workspace), arm and
disarm faults, switch agents between running and waiting, add workspaces, show each task's
status history, and force, end or delete tasks. They need the same ``x-api-key`` as the API and
are not recorded.
"""

from __future__ import annotations

import json
from typing import Any, Literal, Self, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from supervisely_devkit.simulator.faults import FaultSpec
from supervisely_devkit.simulator.lifecycle import TaskStatus
from supervisely_devkit.simulator.scenario import WorkspaceSpec
from supervisely_devkit.simulator.state import SimulatorState
from supervisely_devkit.simulator.tasks import SimTask
from supervisely_devkit.simulator.wire import JsonObject, unauthorized, validation_error

_T = TypeVar("_T")
_FAULTS = TypeAdapter(FaultSpec | list[FaultSpec])


class AgentChange(BaseModel):
    """``POST /_sim/agents/<id>``."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["running", "waiting"]


class NewWorkspace(BaseModel):
    """``POST /_sim/workspaces``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: int = Field(ge=1)
    name: str | None = None
    team_id: int = Field(1, ge=1, alias="teamId")


class TaskChange(BaseModel):
    """``POST /_sim/tasks/<id>``: force an end, or delete the task outright."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["error", "finished", "stopped"] | None = None
    message: str | None = None
    delete: bool = False

    @model_validator(mode="after")
    def _one_action(self) -> Self:
        if (self.status is None) == (not self.delete):
            raise ValueError('give either "status" or "delete": true')
        return self


def add_inspection_routes(app: web.Application, *, state_key: web.AppKey[SimulatorState]) -> None:
    """Register the ``/_sim`` routes on ``app``."""

    def state_of(request: web.Request) -> SimulatorState:
        state = request.app[state_key]
        if not state.token.accepts(request.headers.get("x-api-key")):
            raise unauthorized()
        return state

    async def get_calls(request: web.Request) -> web.StreamResponse:
        state = state_of(request)
        calls = state.recorder.calls(
            method=request.query.get("method"), workspace_id=_workspace_query(request)
        )
        return web.json_response([call.model_dump(mode="json") for call in calls])

    async def count_calls(request: web.Request) -> web.StreamResponse:
        return web.json_response(state_of(request).recorder.counts())

    async def clear_calls(request: web.Request) -> web.StreamResponse:
        state_of(request).recorder.clear()
        return web.json_response({"cleared": True})

    async def get_faults(request: web.Request) -> web.StreamResponse:
        return web.json_response(state_of(request).faults.armed())

    async def add_faults(request: web.Request) -> web.StreamResponse:
        state = state_of(request)
        specs = _validated(_FAULTS, await _json(request))
        ids = [state.faults.add(spec) for spec in (specs if isinstance(specs, list) else [specs])]
        return web.json_response({"ids": ids, "faults": state.faults.armed()})

    async def clear_faults(request: web.Request) -> web.StreamResponse:
        state_of(request).faults.clear()
        return web.json_response({"cleared": True})

    async def change_agent(request: web.Request) -> web.StreamResponse:
        state = state_of(request)
        change = _validated(TypeAdapter(AgentChange), await _json(request))
        agent = state.catalogue.agent(_int_id(request))
        state.catalogue.agent_status[agent.id] = change.status
        return web.json_response(state.catalogue.agent_json(agent))

    async def add_workspace(request: web.Request) -> web.StreamResponse:
        state = state_of(request)
        new = _validated(TypeAdapter(NewWorkspace), await _json(request))
        name = new.name or f"Workspace {new.id}"
        workspace = WorkspaceSpec(id=new.id, name=name, team_id=new.team_id)
        state.catalogue.add_workspace(workspace)
        return web.json_response(state.catalogue.workspace_json(workspace))

    async def list_tasks(request: web.Request) -> web.StreamResponse:
        state = state_of(request)
        now = state.now()
        workspace_id = _workspace_query(request)
        return web.json_response(
            [
                state.tasks.render(t, now=now)
                for t in state.tasks.all()
                if workspace_id is None or t.workspace_id == workspace_id
            ]
        )

    async def list_timelines(request: web.Request) -> web.StreamResponse:
        state = state_of(request)
        now = state.now()
        return web.json_response([_timeline(state, task, now=now) for task in state.tasks.all()])

    async def change_task(request: web.Request) -> web.StreamResponse:
        state = state_of(request)
        change = _validated(TypeAdapter(TaskChange), await _json(request))
        task_id = _int_id(request)
        if change.status is None:
            state.tasks.delete(task_id)
            return web.json_response({"deleted": task_id})
        now = state.now()
        state.tasks.force(
            task_id, status=TaskStatus(change.status), now=now, message=change.message
        )
        return web.json_response(state.tasks.render(state.tasks.get(task_id), now=now))

    async def delete_task(request: web.Request) -> web.StreamResponse:
        state = state_of(request)
        task_id = _int_id(request)
        state.tasks.delete(task_id)
        return web.json_response({"deleted": task_id})

    routes = [
        ("GET", "/_sim/calls", get_calls),
        ("GET", "/_sim/calls/counts", count_calls),
        ("DELETE", "/_sim/calls", clear_calls),
        ("GET", "/_sim/faults", get_faults),
        ("POST", "/_sim/faults", add_faults),
        ("DELETE", "/_sim/faults", clear_faults),
        ("POST", "/_sim/agents/{id}", change_agent),
        ("POST", "/_sim/workspaces", add_workspace),
        ("GET", "/_sim/tasks", list_tasks),
        ("GET", "/_sim/timelines", list_timelines),
        ("POST", "/_sim/tasks/{id}", change_task),
        ("DELETE", "/_sim/tasks/{id}", delete_task),
    ]
    for http_method, path, handler in routes:
        app.router.add_route(http_method, path, handler)


def _timeline(state: SimulatorState, task: SimTask, *, now: float) -> JsonObject:
    """A task's status now and every status change up to now, with wall-clock times.

    Only the past is shown: the timeline already holds the task's natural future, which no
    client could know yet. Compact on purpose, so that tens of thousands of tasks stay cheap.
    """
    return {
        "id": task.id,
        "status": task.status(now).value,
        "transitions": [
            {"status": t.status.value, "at": state.anchor.iso(t.at), "attempt": t.attempt}
            for t in task.timeline.transitions
            if t.at <= now
        ],
    }


async def _json(request: web.Request) -> Any:
    try:
        return await request.json()
    except json.JSONDecodeError:
        raise validation_error("request body is not valid JSON") from None


def _validated(adapter: TypeAdapter[_T], data: Any) -> _T:
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        raise validation_error(*(str(problem["msg"]) for problem in exc.errors())) from None


def _workspace_query(request: web.Request) -> int | None:
    """The ``workspaceId`` query parameter, if given."""
    value = request.query.get("workspaceId")
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise validation_error("workspaceId must be an integer") from None


def _int_id(request: web.Request) -> int:
    try:
        return int(request.match_info["id"])
    except ValueError:
        raise validation_error("the id in the path must be an integer") from None
