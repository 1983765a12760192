"""Request bodies the simulator accepts, as pydantic models in strict mode.

Strict mode means a string where the SDK sends a number is a 400, as a typed server would
answer. Validation problems become the list form of the error ``details``, one message per
problem, e.g. ``"moduleId": Input should be a valid integer``.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from supervisely_devkit.simulator.lifecycle import LogLevel
from supervisely_devkit.simulator.wire import ApiError, JsonObject, validation_error

_Model = TypeVar("_Model", bound=BaseModel)


class _Body(BaseModel):
    """Unknown keys are allowed (the real server's policy is unknown) and kept in extras."""

    model_config = ConfigDict(strict=True, extra="allow", populate_by_name=True, frozen=True)


class IdRequest(_Body):
    """``{"id": N}``: every ``*.info`` method, ``tasks.stop``, ``GetTaskContext``."""

    id: int


class FilterItem(BaseModel):
    """``{"field": ..., "operator": "=" | "in", "value": ...}``."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    field: str
    operator: Literal["=", "in"]
    value: Any


class ListRequest(_Body):
    """The paginated-list body of section 2 of the API doc, plus each method's own keys."""

    filter: list[FilterItem] = Field(default_factory=list)
    sort: str | None = None
    sort_order: Literal["asc", "desc"] | None = None
    page: int | None = Field(None, ge=1)
    per_page: int | None = Field(None, ge=1)
    team_id: int | None = Field(None, alias="teamId")
    workspace_id: int | None = Field(None, alias="workspaceId")
    app_id: int | None = Field(None, alias="appId")
    search: str | None = None
    categories: list[str] | None = None
    categories_operation: Literal["or", "and"] = Field("or", alias="categoriesOperation")
    only_running: bool = Field(False, alias="onlyRunning")


class RunAppRequest(_Body):
    """``tasks.run.app``: every key of section 3.1 of the API doc."""

    agent_id: int | None = Field(alias="agentId")
    workspace_id: int | None = Field(alias="workspaceId")
    module_id: int | None = Field(None, alias="moduleId")
    app_id: int | None = Field(None, alias="appId")
    description: str = ""
    params: JsonObject = Field(default_factory=lambda: {"state": {}})
    log_level: LogLevel = Field(LogLevel.INFO, alias="logLevel", strict=False)
    users_ids: list[int] = Field(default_factory=list, alias="usersIds")
    app_version: str = Field("", alias="appVersion")
    is_branch: bool = Field(False, alias="isBranch")
    task_name: str = Field("pythonSpawned", alias="taskName")
    restart_policy: Literal["never", "on_error"] = Field("never", alias="restartPolicy")
    proxy_keep_url: bool = Field(False, alias="proxyKeepUrl")
    advanced_settings: JsonObject = Field(default_factory=dict, alias="advancedSettings")
    redirect_requests: JsonObject = Field(default_factory=dict, alias="redirectRequests")
    single_session_mode: bool = Field(False, alias="singleSessionMode")


class DirectRequest(_Body):
    """``tasks.request.direct``: a command forwarded to the app of a task."""

    task_id: int = Field(alias="taskId")
    command: str
    context: JsonObject = Field(default_factory=dict)
    state: JsonObject = Field(default_factory=dict)
    skip_response: bool = Field(False, alias="skipResponse")
    timeout: float | None = None


class OutputSetRequest(_Body):
    """``tasks.output.set``: what every ``TaskApi.set_output_*`` call sends."""

    task_id: int = Field(alias="taskId")
    output: JsonObject


class EcosystemInfoRequest(_Body):
    """``ecosystem.info``: by ``id`` or by ``slug``, optionally for one ``version``."""

    id: int | None = None
    slug: str | None = None
    version: str | None = None


class LogQuery(BaseModel):
    """``tasks.log.download`` query parameters (strings on the wire, hence lax mode)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)

    id: int
    since_time: str | None = Field(None, alias="sinceTime")
    limit: int | None = Field(None, ge=1)


class AvailableAgentsRequest(_Body):
    """``agents.available``: a bare-array reply, not paginated."""

    team_id: int = Field(alias="teamId")
    without_public: bool = Field(False, alias="withoutPublic")
    any_status: bool = Field(False, alias="anyStatus")
    need_gpu: bool = Field(False, alias="needGPU")


def parse(model: type[_Model], data: object) -> _Model:
    """Validate a body, turning problems into a 400 with one message per problem."""
    if not isinstance(data, dict):
        raise validation_error("request body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _as_api_error(exc) from None


def _as_api_error(exc: ValidationError) -> ApiError:
    messages = []
    for problem in exc.errors(include_url=False):
        where = ".".join(str(part) for part in problem["loc"]) or "body"
        messages.append(f'"{where}": {problem["msg"]}')
    return validation_error(*messages)


def unknown_keys(body: BaseModel) -> list[str]:
    """Keys of the body that the model does not know (kept as pydantic extras)."""
    return sorted((body.model_extra or {}).keys())
