"""What the operator sends: the start request, filter items and timestamps, in exact wire shape.

Building bodies is pure, so it is tested without a server. The shapes follow the official SDK
(``TaskApi.start``, ``AppApi.start``, ``ModuleApiBase.get_list_all_pages``) key for key; see
section 3.1 of the API brief for ``tasks.run.app``.
"""

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, NotRequired, TypedDict, cast

from pydantic import BaseModel, ConfigDict, Field

from supervisely_operator.supervisely.ids import AgentId, ModuleId, UserId, WorkspaceId

LogLevel = Literal["info", "debug", "warning", "error"]
RestartPolicy = Literal["never", "on_error"]
FilterOperator = Literal["=", "in"]


class Filter(TypedDict):
    """One item of a list call's ``filter`` array."""

    field: str
    operator: FilterOperator
    value: Any


def filter_eq(field: str, value: Any) -> Filter:
    """``{"field": field, "operator": "=", "value": value}``."""
    return {"field": field, "operator": "=", "value": value}


def filter_in(field: str, values: Sequence[Any]) -> Filter:
    """``{"field": field, "operator": "in", "value": [...]}``."""
    return {"field": field, "operator": "in", "value": list(values)}


class AdvancedSettingsBody(TypedDict, total=False):
    """``advancedSettings``: flat, ``limitByWorkspace`` plus the Kubernetes keys that are set."""

    limitByWorkspace: bool
    useHealthCheck: bool
    requestCpus: int
    limitCpus: int
    limitMemoryGb: int
    limitShmGb: int
    limitStorageGb: int
    limitGpus: int
    limitGpuMemoryMb: int
    limitGpuCoresPerc: int


class StartTaskBody(TypedDict):
    """The JSON body of ``tasks.run.app`` as the SDK sends it (no ``appId``, no redirects)."""

    agentId: int | None
    workspaceId: int
    description: str
    params: dict[str, Any]
    logLevel: LogLevel
    usersIds: list[int]
    appVersion: str
    isBranch: bool
    taskName: str
    restartPolicy: RestartPolicy
    proxyKeepUrl: bool
    advancedSettings: AdvancedSettingsBody
    moduleId: int
    singleSessionMode: NotRequired[bool]


class KubernetesSettings(BaseModel):
    """Resource settings for the task's pod, merged flat into ``advancedSettings``.

    Mirrors the SDK's ``KubernetesSettings``; ``None`` fields are not sent at all, so the server
    applies its own default for them.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    use_health_check: bool | None = Field(default=None, alias="useHealthCheck")
    request_cpus: int | None = Field(default=None, alias="requestCpus")
    limit_cpus: int | None = Field(default=None, alias="limitCpus")
    limit_memory_gb: int | None = Field(default=None, alias="limitMemoryGb")
    limit_shm_gb: int | None = Field(default=None, alias="limitShmGb")
    limit_storage_gb: int | None = Field(default=None, alias="limitStorageGb")
    limit_gpus: int | None = Field(default=None, alias="limitGpus")
    limit_gpu_memory_mb: int | None = Field(default=None, alias="limitGpuMemoryMb")
    limit_gpu_cores_perc: int | None = Field(default=None, alias="limitGpuCoresPerc")


class StartTaskRequest(BaseModel):
    """Everything needed to start one app session with ``tasks.run.app``.

    Field names are snake_case; :meth:`to_body` produces the exact wire keys. Choices:

    - ``params`` is wrapped like ``AppApi.start`` does: a dict without a ``state`` key becomes
      ``{"state": params}``; a dict with a ``state`` key is sent as given (so the caller can
      also send other top-level params keys). An empty dict becomes ``{"state": {}}``, the
      SDK's default.
    - ``multi_user`` sends ``singleSessionMode: true`` (one shared session for all
      ``users_ids``); otherwise the key is omitted, as the SDK does. Without it, each user id
      gets its own task, which the client reports as
      :class:`~supervisely_operator.supervisely.errors.MultipleTasksStarted`.
    - ``task_name`` is the session name shown in the UI; the operator should make it unique
      per resource, so that after an ambiguous start the task can be found by name.
    - Only ``moduleId`` is supported; the deprecated team ``appId`` is never sent.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    module_id: ModuleId
    workspace_id: WorkspaceId
    agent_id: AgentId | None = None
    task_name: str = "supervisely-operator"
    description: str = ""
    params: Mapping[str, Any] = Field(default_factory=dict)
    log_level: LogLevel = "info"
    users_ids: tuple[UserId, ...] = ()
    app_version: str = ""
    is_branch: bool = False
    restart_policy: RestartPolicy = "never"
    limit_by_workspace: bool = False
    kubernetes: KubernetesSettings | None = None
    multi_user: bool = False

    def to_body(self) -> StartTaskBody:
        """The ``tasks.run.app`` JSON body, key for key as the SDK's ``TaskApi.start``."""
        body: StartTaskBody = {
            "agentId": self.agent_id,
            "workspaceId": self.workspace_id,
            "description": self.description,
            "params": wrap_params(self.params),
            "logLevel": self.log_level,
            "usersIds": list(self.users_ids),
            "appVersion": self.app_version,
            "isBranch": self.is_branch,
            "taskName": self.task_name,
            "restartPolicy": self.restart_policy,
            "proxyKeepUrl": False,
            "advancedSettings": self.advanced_settings(),
            "moduleId": self.module_id,
        }
        if self.multi_user:
            body["singleSessionMode"] = True
        return body

    def advanced_settings(self) -> AdvancedSettingsBody:
        """``limitByWorkspace`` plus every Kubernetes setting that is not ``None``."""
        kubernetes: dict[str, Any] = {}
        if self.kubernetes is not None:
            kubernetes = self.kubernetes.model_dump(by_alias=True, exclude_none=True)
        # The aliases of KubernetesSettings are exactly the optional keys of the TypedDict.
        return cast(
            AdvancedSettingsBody, {"limitByWorkspace": self.limit_by_workspace, **kubernetes}
        )


def wrap_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """``AppApi.start``'s wrapping: ``{"state": params}`` unless ``params`` has a ``state`` key."""
    if "state" in params:
        return dict(params)
    return {"state": dict(params)}


def format_since(moment: datetime) -> str:
    """``sinceTime`` for ``tasks.log.download``: UTC, milliseconds, ``Z``.

    A naive datetime is refused: guessing its zone would silently skip or repeat log lines.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("since must be a timezone-aware datetime")
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
