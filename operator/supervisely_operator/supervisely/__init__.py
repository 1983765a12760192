"""The Supervisely REST API as the operator needs it: one async client, typed models and errors.

Import from here; the submodules are an implementation detail. See ``docs/client.md``.
"""

from supervisely_operator.supervisely.client import (
    SuperviselyClient,
    normalize_server_address,
    server_label,
)
from supervisely_operator.supervisely.errors import (
    AgentNotFound,
    AmbiguousApp,
    AppNotFound,
    MultipleTasksStarted,
    NotFound,
    PaginationMismatch,
    ProtocolError,
    Rejected,
    RequestTooLarge,
    ServerMessage,
    StartOutcomeUnknown,
    SuperviselyError,
    TaskNotFound,
    Transient,
    Unauthorized,
)
from supervisely_operator.supervisely.ids import (
    AgentId,
    AppId,
    ModuleId,
    TaskId,
    TeamId,
    UserId,
    WorkspaceId,
)
from supervisely_operator.supervisely.limits import ServerGate
from supervisely_operator.supervisely.models import (
    ACTIVE_STATUSES,
    TERMINAL_STATUSES,
    AgentInfo,
    AgentStatus,
    LogEntry,
    ModuleInfo,
    StartedTask,
    TaskInfo,
    TaskStatus,
)
from supervisely_operator.supervisely.outputs import absolute_links, task_outputs
from supervisely_operator.supervisely.payloads import (
    Filter,
    KubernetesSettings,
    LogLevel,
    RestartPolicy,
    StartTaskRequest,
    filter_eq,
    filter_in,
)
from supervisely_operator.supervisely.settings import ClientSettings
from supervisely_operator.supervisely.transport import CallObserver, CallOutcome, WaitObserver

__all__ = [
    "ACTIVE_STATUSES",
    "TERMINAL_STATUSES",
    "AgentId",
    "AgentInfo",
    "AgentNotFound",
    "AgentStatus",
    "AmbiguousApp",
    "AppId",
    "AppNotFound",
    "CallObserver",
    "CallOutcome",
    "ClientSettings",
    "Filter",
    "KubernetesSettings",
    "LogEntry",
    "LogLevel",
    "ModuleId",
    "ModuleInfo",
    "MultipleTasksStarted",
    "NotFound",
    "PaginationMismatch",
    "ProtocolError",
    "Rejected",
    "RequestTooLarge",
    "RestartPolicy",
    "ServerGate",
    "ServerMessage",
    "StartOutcomeUnknown",
    "StartTaskRequest",
    "StartedTask",
    "SuperviselyClient",
    "SuperviselyError",
    "TaskId",
    "TaskInfo",
    "TaskNotFound",
    "TaskStatus",
    "TeamId",
    "Transient",
    "Unauthorized",
    "UserId",
    "WaitObserver",
    "WorkspaceId",
    "absolute_links",
    "filter_eq",
    "filter_in",
    "normalize_server_address",
    "server_label",
    "task_outputs",
]
