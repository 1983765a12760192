"""What a resource needs to see of Supervisely, decided from its spec and status alone.

The remote seam asks these questions before it answers a pass: which task to look for (the one
the status records, the one ``adoptTaskId`` names, or the start in flight by its marker), since
when an answer counts (a list older than the resource's last action cannot tell), and whether
the log of a task that just failed must be read before the decision can judge it. Keeping them
here, pure, puts every "what next" of the operator in one layer; the seam only carries them out.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from supervisely_operator.api import (
    ManagementPolicy,
    Readiness,
    RestartPolicy,
    SuperviselyTaskSpec,
    SuperviselyTaskStatus,
)
from supervisely_operator.reconcile.situation import RemoteStatus, Sighting, TaskSeen

FAILED_STATUSES = frozenset({RemoteStatus.ERROR, RemoteStatus.STOPPED})


@dataclass(frozen=True)
class Watch:
    """What one resource asks the shared lists of its workspace."""

    workspace_id: int
    task_id: int | None
    """The task to look at: the one the resource stands for, or the one it asks to adopt."""
    marker: str | None
    """A start whose task id was never recorded, looked up by the marker in its description."""
    since: datetime | None
    """Lists taken before this (the resource's last action, or a refresh it asked for) do not
    answer for it."""
    adopting: int | None = None
    """The task ``adoptTaskId`` names while the resource is to take it over: whose it is must
    be known before the decision may take it."""
    probe_readiness: bool = False
    """Ask the task's app ``is_ready`` while the task is started (``RemoteTask.ready``)."""
    poll_interval: float | None = None
    """List the workspace at least this often, in seconds (never faster than the operator's
    transition interval); None: the operator's intervals alone."""


def task_to_adopt(spec: SuperviselyTaskSpec, status: SuperviselyTaskStatus) -> int | None:
    """The task adoptTaskId names, while the resource is to take it over: until it has had a
    task of its own (Full), or whenever it shows another task (ObserveOnly)."""
    wanted = spec.adopt_task_id
    if wanted is None or status.task_id == wanted:
        return None
    if spec.management_policy is ManagementPolicy.OBSERVE_ONLY:
        return wanted
    had_a_task = status.task_id is not None or status.previous_task_ids
    return None if had_a_task or status.start_request is not None else wanted


def watch_for(
    spec: SuperviselyTaskSpec,
    status: SuperviselyTaskStatus,
    *,
    refresh_requested: str | None,
    acted_at: datetime | None,
    now: datetime,
) -> Watch:
    """The resource's watch: its task (or the start in flight), and since when answers count.

    ``acted_at``: when this operator last started or stopped something for the resource (a
    stop leaves no trace in the status); ``now`` bounds moments that lie ahead of us.
    """
    adopting = task_to_adopt(spec, status)
    request = status.start_request
    recorded = request.requested_at if request is not None else status.started_at
    # (an adopted task's startedAt is the server's clock; it may run ahead of ours)
    known = [min(moment, now) for moment in (recorded, acted_at) if moment is not None]
    if refresh_requested is not None and refresh_requested != status.refresh_handled:
        asked = moment_of(refresh_requested)
        if asked is not None and asked <= now:  # a moment ahead of us would never come
            known.append(asked)
    task_id = adopting or status.task_id  # ObserveOnly follows an edited adoptTaskId
    return Watch(
        workspace_id=spec.workspace_id,
        task_id=task_id,
        marker=request.marker if request is not None and task_id is None else None,
        since=max(known) if known else None,
        adopting=adopting,
        probe_readiness=spec.readiness is Readiness.APP_READY,
        poll_interval=spec.poll_interval_seconds,
    )


def log_tail_wanted(
    spec: SuperviselyTaskSpec, status: SuperviselyTaskStatus, sighting: Sighting
) -> int | None:
    """The task whose log the decision needs before it can judge the task's end, if any.

    A task that ended in error gets its log tail in ``lastError`` once; a failure rule that
    matches log lines reads it for a failure with no verdict yet. Later passes read the verdict
    from the status and never the log again.
    """
    if not isinstance(sighting, TaskSeen) or sighting.task.task_id != status.task_id:
        return None
    task = sighting.task
    if task.status not in FAILED_STATUSES:
        return None
    error = status.last_error
    judged = error is not None and error.task_id == task.task_id
    if task.status is RemoteStatus.ERROR and not judged:
        return task.task_id
    rules_read_logs = any(rule.on_log_line is not None for rule in spec.failure_rules)
    if not rules_read_logs or spec.restart_policy is not RestartPolicy.ON_ERROR or spec.suspend:
        return None
    has_verdict = judged and error is not None and error.failure_action is not None
    return None if has_verdict else task.task_id


def moment_of(value: str) -> datetime | None:
    """A value written on an object as an aware moment, if it is an RFC 3339 time (as Argo
    CD's action and the operator write them); None for another value ("manual", say)."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
