"""What Supervisely answers: typed, frozen views of its replies.

Each model reads the camelCase keys the server sends, ignores keys it does not know (the server
adds fields between versions), and keeps the whole reply in ``raw`` for debugging. Parsing
failures surface as :class:`~supervisely_operator.supervisely.errors.ProtocolError` in the
client, never as a pydantic error.

Unknown statuses: the task status enum has exactly the SDK's eight values. A status string
outside them (a newer server, a plugin) must not crash the operator, so :class:`TaskInfo` keeps
the server's string in ``raw_status`` and sets ``status`` to ``None``. Callers treat ``None`` as
"unknown: keep observing, do not act, report ``raw_status``". The same holds for agents.
"""

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from supervisely_operator.api.status import TaskOutputs
from supervisely_operator.supervisely.ids import (
    AgentId,
    AppId,
    ModuleId,
    TaskId,
    TeamId,
    UserId,
    WorkspaceId,
)
from supervisely_operator.supervisely.outputs import task_outputs


class ReplyShapeError(Exception):
    """A reply does not have the expected shape; the transport turns it into a ProtocolError.

    The text names the offending fields only, never their values: an ``agents.info`` reply
    carries the agent's token, and pydantic's own message would quote it.
    """


class TaskStatus(StrEnum):
    """The eight task statuses of ``TaskApi.Status``."""

    QUEUED = "queued"
    CONSUMED = "consumed"
    STARTED = "started"
    DEPLOYED = "deployed"
    TERMINATING = "terminating"
    ERROR = "error"
    FINISHED = "finished"
    STOPPED = "stopped"

    @classmethod
    def parse(cls, raw: str) -> "TaskStatus | None":
        """The member for ``raw``, or ``None`` for a status this client does not know."""
        try:
            return cls(raw)
        except ValueError:
            return None


ACTIVE_STATUSES = frozenset(
    {TaskStatus.QUEUED, TaskStatus.CONSUMED, TaskStatus.STARTED, TaskStatus.DEPLOYED}
)
"""What the SDK calls running (``apps.list`` ``onlyRunning``)."""

TERMINAL_STATUSES = frozenset({TaskStatus.ERROR, TaskStatus.FINISHED, TaskStatus.STOPPED})
"""Statuses a task never leaves (per the SDK's descriptions)."""


class AgentStatus(StrEnum):
    """The two agent statuses of ``AgentApi.Status``."""

    WAITING = "waiting"
    RUNNING = "running"

    @classmethod
    def parse(cls, raw: str) -> "AgentStatus | None":
        """The member for ``raw``, or ``None`` for a status this client does not know."""
        try:
            return cls(raw)
        except ValueError:
            return None


class _Reply(BaseModel):
    """Common configuration: frozen, camelCase aliases, unknown keys ignored, ``raw`` kept."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    raw: dict[str, Any] = Field(default_factory=dict, exclude=True, repr=False)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Self:
        """Validate ``payload`` and keep a copy of it in ``raw``."""
        return cls.model_validate(payload).model_copy(update={"raw": dict(payload)})

    @classmethod
    def from_reply(cls, reply: object) -> Self:
        """Like :meth:`from_payload` for a decoded JSON reply; :class:`ReplyShapeError` if unfit."""
        if not isinstance(reply, dict):
            raise ReplyShapeError(f"expected a JSON object, got {_json_kind(reply)}")
        try:
            return cls.from_payload(reply)
        except ValidationError as exc:
            problem = describe_validation_error(exc)
        # Raised outside the except block: the ValidationError quotes the reply, which may hold
        # secrets, and must not ride along as __context__.
        raise ReplyShapeError(problem)

    @classmethod
    def list_from_reply(cls, reply: object) -> list[Self]:
        """Every element of a JSON array reply; :class:`ReplyShapeError` if unfit."""
        if not isinstance(reply, list):
            raise ReplyShapeError(f"expected a JSON array, got {_json_kind(reply)}")
        return [cls.from_reply(item) for item in reply]


def describe_validation_error(exc: ValidationError, *, limit: int = 3) -> str:
    """``"status: Field required; id: ..."`` without the offending input values."""
    problems = [
        f"{'.'.join(str(part) for part in error['loc']) or 'reply'}: {error['msg']}"
        for error in exc.errors(include_input=False, include_url=False)
    ]
    more = f" (and {len(problems) - limit} more)" if len(problems) > limit else ""
    return "; ".join(problems[:limit]) + more


def _json_kind(value: object) -> str:
    kinds = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return kinds.get(type(value), "a number")


def _assume_utc(moment: datetime | None) -> datetime | None:
    # The API sends "...Z"; a timestamp without an offset is read as UTC rather than left naive,
    # so that all timestamps compare with each other.
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


class TaskInfo(_Reply):
    """A task as ``tasks.info`` and ``tasks.list`` describe it.

    ``outputs`` is ``meta.output`` (what the app published as its result) read by
    :func:`~.outputs.task_outputs`: typed, bounded, and never a reason to refuse the reply.
    """

    id: TaskId
    raw_status: str = Field(validation_alias="status")
    status: TaskStatus | None = Field(default=None, validation_alias="status")
    started_at: datetime | None = Field(default=None, alias="startedAt")
    finished_at: datetime | None = Field(default=None, alias="finishedAt")
    workspace_id: WorkspaceId | None = Field(default=None, alias="workspaceId")
    agent_id: AgentId | None = Field(default=None, alias="agentId")
    team_id: TeamId | None = Field(default=None, alias="teamId")
    user_id: UserId | None = Field(default=None, alias="userId")
    type: str | None = None
    description: str = ""
    meta: dict[str, Any] = Field(default_factory=dict)
    outputs: TaskOutputs | None = None

    @model_validator(mode="before")
    @classmethod
    def _outputs_from_meta(cls, data: object) -> object:
        # Always from meta.output: a top-level "outputs" key of some newer server is not ours.
        if not isinstance(data, dict):
            return data
        meta = data.get("meta")
        output = meta.get("output") if isinstance(meta, dict) else None
        return {**data, "outputs": task_outputs(output)}

    @field_validator("status", mode="before")
    @classmethod
    def _tolerate_unknown_status(cls, value: object) -> TaskStatus | None:
        return TaskStatus.parse(value) if isinstance(value, str) else None

    _utc = field_validator("started_at", "finished_at")(_assume_utc)

    @field_validator("description", mode="before")
    @classmethod
    def _none_is_empty_text(cls, value: object) -> object:
        return "" if value is None else value

    @field_validator("meta", mode="before")
    @classmethod
    def _none_is_empty_meta(cls, value: object) -> object:
        return {} if value is None else value


class StartedTask(_Reply):
    """One element of the ``tasks.run.app`` reply: ``taskId`` (or ``id``), ``userId``, ..."""

    task_id: TaskId
    user_id: UserId | None = Field(default=None, alias="userId")
    module_id: ModuleId | None = Field(default=None, alias="moduleId")
    app_id: AppId | None = Field(default=None, alias="appId")

    @model_validator(mode="before")
    @classmethod
    def _task_id_from_id_or_task_id(cls, data: object) -> object:
        # TaskApi.start copies taskId into id when id is absent, so id wins when both exist.
        if isinstance(data, dict) and "task_id" not in data:
            found = data.get("id", data.get("taskId"))
            return {**data, "task_id": found}
        return data


class LogEntry(_Reply):
    """One line of ``tasks.log.download``."""

    level: str = "info"
    message: str
    timestamp: datetime | None = None
    task_id: TaskId | None = None

    _utc = field_validator("timestamp")(_assume_utc)


class AgentInfo(_Reply):
    """An agent as ``agents.info`` describes it, without its token.

    ``agents.info`` returns the agent's own secret token; :meth:`from_payload` drops it from the
    model and from ``raw`` so it can never reach a log line or a Kubernetes status.
    """

    id: AgentId
    name: str = ""
    raw_status: str = Field(default="", validation_alias="status")
    status: AgentStatus | None = Field(default=None, validation_alias="status")
    team_id: TeamId | None = Field(default=None, alias="teamId")
    user_id: UserId | None = Field(default=None, alias="userId")
    version: str | None = None
    disabled: bool | None = None

    @field_validator("status", mode="before")
    @classmethod
    def _tolerate_unknown_status(cls, value: object) -> AgentStatus | None:
        return AgentStatus.parse(value) if isinstance(value, str) else None

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Self:
        """Validate ``payload`` without its ``token`` and keep the rest in ``raw``."""
        return super().from_payload({k: v for k, v in payload.items() if k != "token"})


class ModuleInfo(_Reply):
    """An ecosystem module as ``ecosystem.info`` describes it."""

    id: ModuleId
    slug: str = ""
    name: str = ""
    latest_version: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _latest_release(cls, data: object) -> object:
        # AppApi.start uses meta.releases[0].version as "the latest release".
        if not isinstance(data, dict) or "latest_version" in data:
            return data
        meta = data.get("meta")
        releases = meta.get("releases") if isinstance(meta, dict) else None
        first = releases[0] if isinstance(releases, list) and releases else None
        version = first.get("version") if isinstance(first, dict) else None
        return {**data, "latest_version": version if isinstance(version, str) else None}
