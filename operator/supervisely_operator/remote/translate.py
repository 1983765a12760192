"""Translation between the pure core's values and the Supervisely client's requests and errors.

Data flows one way through here: a spec becomes a ``tasks.run.app`` request, a task reply becomes
the decision's :class:`RemoteTask`, and a client error becomes an outcome the decision reads.
Which failures a retry can cure is not decided here: the one list of reasons says it.
"""

from collections.abc import Mapping
from typing import Any

from supervisely_operator.api import SuperviselyTaskSpec
from supervisely_operator.api.reasons import REASONS
from supervisely_operator.reconcile.conditions import Reason
from supervisely_operator.reconcile.launch import (
    describe_with_marker,
    marker_in,
    marker_owner,
    task_name,
)
from supervisely_operator.reconcile.situation import (
    CallFailed,
    RemoteStatus,
    RemoteTask,
    RemoteUnavailable,
    ResourceRef,
    StartRefused,
)
from supervisely_operator.supervisely import (
    AgentId,
    KubernetesSettings,
    ModuleId,
    StartOutcomeUnknown,
    StartTaskRequest,
    SuperviselyError,
    TaskInfo,
    Transient,
    UserId,
    WorkspaceId,
    absolute_links,
)


def build_start_request(
    spec: SuperviselyTaskSpec,
    *,
    resource: ResourceRef,
    marker: str,
    module_id: int,
    params: Mapping[str, Any],
) -> StartTaskRequest:
    """The ``tasks.run.app`` request for a spec, as the SDK's ``TaskApi.start`` would send it;
    ``params`` are the spec's with what paramsFrom filled in."""
    kubernetes = None
    if spec.kubernetes_settings is not None:
        kubernetes = KubernetesSettings.model_validate(spec.kubernetes_settings.to_wire())
    return StartTaskRequest(
        module_id=ModuleId(module_id),
        workspace_id=WorkspaceId(spec.workspace_id),
        agent_id=AgentId(spec.agent_id) if spec.agent_id is not None else None,
        task_name=task_name(spec, resource),
        description=describe_with_marker(spec.description, marker),
        params=dict(params),
        log_level=spec.log_level.value,
        users_ids=tuple(UserId(user) for user in spec.users_ids),
        app_version=spec.app_version or "",
        is_branch=spec.is_branch,
        restart_policy=spec.server_restart_policy.value,
        limit_by_workspace=spec.limit_by_workspace,
        kubernetes=kubernetes,
        multi_user=spec.multi_user_session,
    )


def remote_status(raw: str) -> RemoteStatus | None:
    """The decision's status for a raw Supervisely status; None for one it does not know."""
    try:
        return RemoteStatus(raw)
    except ValueError:
        return None


def remote_task(info: TaskInfo, *, server: str, session_url: str) -> RemoteTask:
    """The decision's view of a ``tasks.info`` or ``tasks.list`` entity (readiness is the
    poller's to add: no list says it)."""
    marker = marker_in(info.description)
    outputs = info.outputs
    return RemoteTask(
        task_id=info.id,
        status=remote_status(info.raw_status),
        raw_status=info.raw_status,
        started_at=info.started_at,
        finished_at=info.finished_at,
        agent_id=info.agent_id,
        session_url=session_url,
        outputs=None if outputs is None else absolute_links(outputs, server=server),
        workspace_id=info.workspace_id,
        marker_owner=None if marker is None else marker_owner(marker),
    )


def retry_after(error: SuperviselyError) -> float | None:
    """How long the server asked to be left alone, when it said (a 429's Retry-After)."""
    return error.retry_after if isinstance(error, Transient) else None


def unavailable(error: SuperviselyError) -> RemoteUnavailable:
    """A failed observation, as the decision reads it."""
    return RemoteUnavailable(error.reason, error.message, retry_after=retry_after(error))


def classify_start_error(error: SuperviselyError) -> StartRefused:
    """A refused start, retried without a spec change exactly when the one list of reasons says
    its reason is retried (an outage, a refused token, a lost reply)."""
    if isinstance(error, StartOutcomeUnknown):
        return StartRefused(error.reason, error.message, retryable=True, outcome_unknown=True)
    return StartRefused(
        error.reason,
        error.message,
        retryable=REASONS[error.reason].retried,
        retry_after=retry_after(error),
    )


def agent_not_running(agent_id: int, status: str) -> StartRefused:
    """The named agent exists but is not running: it may come back, so retry later."""
    return StartRefused(
        Reason.AGENT_NOT_RUNNING,
        f"Agent {agent_id} is not running (status {status!r}); the task starts when it is",
        retryable=REASONS[Reason.AGENT_NOT_RUNNING].retried,
    )


def call_failed(error: SuperviselyError) -> CallFailed:
    """A refused stop, as the outcome the decision reads."""
    return CallFailed(reason=error.reason, message=error.message)
