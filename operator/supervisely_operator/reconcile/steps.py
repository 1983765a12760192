"""The draft a decision builds, and the steps that end its branches.

Every branch of the decision (``decide``, ``task_life``) builds the next status through one
:class:`Draft` and ends in one of a few steps: start a task (the mark lands before the call),
retire the current task into the bounded history, or wait out ``ttlSecondsAfterFinished``.
"""

from datetime import timedelta
from typing import Any

from supervisely_operator.api import (
    ManagementPolicy,
    ParamsResolution,
    StartRequest,
    SuperviselyTaskStatus,
    TaskPhase,
)
from supervisely_operator.api.reasons import REASONS
from supervisely_operator.api.status import PREVIOUS_TASK_IDS_LIMIT
from supervisely_operator.reconcile.conditions import Reason
from supervisely_operator.reconcile.draft import StatusDraft
from supervisely_operator.reconcile.launch import launch_hash, start_marker
from supervisely_operator.reconcile.milestones import TaskReplaced
from supervisely_operator.reconcile.params import Unresolved, resolve, with_values
from supervisely_operator.reconcile.situation import (
    DeleteResource,
    EventType,
    Plan,
    RemoteStatus,
    RemoteTask,
    Situation,
    StartTask,
)

QUEUED_STATUSES = frozenset({RemoteStatus.QUEUED, RemoteStatus.CONSUMED})
RUNNING_STATUSES = frozenset({RemoteStatus.STARTED, RemoteStatus.DEPLOYED})
ENDED_STATUSES = frozenset({RemoteStatus.FINISHED, RemoteStatus.ERROR, RemoteStatus.STOPPED})

SUSPENDED_MESSAGE = "Suspended: no task runs"


class Draft(StatusDraft):
    """The one status builder, plus the situation it decides on and how it ends as a Plan."""

    situation: Situation

    @classmethod
    def of(cls, situation: Situation, status: SuperviselyTaskStatus) -> "Draft":
        draft = cls(before=situation.status, generation=situation.generation, now=situation.now)
        draft.situation = situation
        draft.status = status
        return draft

    def plan(self, *, requeue_after: float | None, **extra: Any) -> Plan:
        return Plan(
            status=self.status,
            events=tuple(self.events),
            milestones=tuple(self.milestones),
            requeue_after=requeue_after,
            **extra,
        )


def only_observes(situation: Situation) -> bool:
    """managementPolicy ObserveOnly: the decision mirrors, and never starts or stops."""
    return situation.spec.management_policy is ManagementPolicy.OBSERVE_ONLY


def poll_interval(situation: Situation) -> float:
    """How soon to look again at a quiet task: the object's own interval, else the resync."""
    return float(situation.spec.poll_interval_seconds or situation.timing.resync_interval)


def restart_requested(situation: Situation, status: SuperviselyTaskStatus) -> bool:
    """The restart annotation carries a value no start has answered yet."""
    wanted = situation.restart_requested
    return (
        wanted is not None
        and wanted != status.restart_request_handled
        and not only_observes(situation)
        and not situation.spec.suspend
    )


def error_recorded(draft: Draft, reason: str, task_id: int | None) -> bool:
    """lastError already tells this failure of this task (so it is not told again)."""
    error = draft.status.last_error
    return error is not None and error.reason == reason and error.task_id == task_id


def copy_outputs(draft: Draft, task: RemoteTask) -> None:
    """What the task published (a checkpoint's location, metrics) is read from the status by
    pipelines; kept until a new task replaces it, even when a later list shows none."""
    if task.outputs is not None and task.outputs != draft.status.outputs:
        draft.update(outputs=task.outputs)


def retire_current_task(draft: Draft) -> None:
    """Move the current task id to the bounded history."""
    current = draft.status.task_id
    if current is None:
        return
    history = [*draft.status.previous_task_ids, current][-PREVIOUS_TASK_IDS_LIMIT:]
    draft.update(task_id=None, previous_task_ids=history)


def start(draft: Draft, *, reason: str, restarts: int) -> Plan:
    """Record the start request, then ask for the start: the mark lands before the call.

    A spec with paramsFrom starts only once its sources have succeeded: until then the plan
    waits (or fails, as ``onSourceFailure`` says) instead of starting.
    """
    situation = draft.situation
    params = _launch_params(draft, restart=reason == Reason.RESTART_REQUESTED)
    if isinstance(params, Plan):
        return params
    marker = start_marker(situation.resource, at=situation.now)
    previous = draft.status.task_id
    if reason != Reason.STARTING:
        error = draft.status.last_error
        why = error.reason if reason == Reason.RESTARTING and error is not None else reason
        draft.passed(TaskReplaced(reason=why))
    retire_current_task(draft)
    if situation.restart_requested is not None:
        draft.update(restart_request_handled=situation.restart_requested)  # any start answers it
    draft.update(
        start_request=StartRequest(marker=marker, requested_at=situation.now),
        launch_hash=launch_hash(situation.spec),
        restarts=restarts,
        remote_status=None,
        session_url=None,
        started_at=None,
        finished_at=None,
        outputs=None,
    )
    messages = {
        Reason.RESTARTING: f"Restarting after task {previous} ended (restart {restarts})",
        Reason.SPEC_CHANGED: "Starting a task from the changed spec",
        Reason.RESTART_REQUESTED: "Starting a new task: restart requested",
    }
    message = messages.get(reason, "Starting a task on Supervisely")
    # A first start is told by its outcome (Started or StartFailed) a moment later.
    draft.enter(TaskPhase.PENDING, reason, message, announce=reason != Reason.STARTING)
    return draft.plan(
        requeue_after=situation.timing.transition_recheck,
        action=StartTask(marker=marker, params=params),
    )


def _launch_params(draft: Draft, *, restart: bool) -> dict[str, Any] | Plan:
    """The params to start with: spec.params, with what paramsFrom fills in. Values resolved
    for this generation are used again (a restart after an error runs what ran before); an
    edit or a restart request resolves them afresh. A plan instead while they cannot be had."""
    situation = draft.situation
    spec = situation.spec
    if not spec.params_from:
        if draft.status.params_from is not None:
            draft.update(params_from=None)  # an edit took paramsFrom away
        return dict(spec.params)
    recorded = draft.status.params_from
    if recorded is not None and recorded.generation == situation.generation and not restart:
        return with_values(spec.params, recorded.values)
    found = resolve(
        spec.params_from,
        consumer=situation.resource.name,
        sources=situation.sources,
        foreign=situation.observation.foreign_sources,
    )
    if isinstance(found, Unresolved):
        if found.fails:
            # Kept until an edit or a restart request: a later run of the source changes nothing.
            # A task of the earlier spec is history: it must not speak for this one next pass.
            retire_current_task(draft)
            if restart:
                draft.update(restart_request_handled=situation.restart_requested)
            draft.update(
                launch_hash=launch_hash(spec),
                finished_at=situation.now,
                remote_status=None,
                session_url=None,
                started_at=None,
                outputs=None,
            )
            draft.enter(TaskPhase.FAILED, found.reason, found.message, warn=True)
            return draft.plan(requeue_after=None)
        draft.enter(
            TaskPhase.PENDING, found.reason, found.message, warn=not REASONS[found.reason].heals
        )
        return draft.plan(requeue_after=poll_interval(situation))  # a source's change wakes it
    draft.update(
        params_from=ParamsResolution(generation=situation.generation, values=list(found.values))
    )
    return with_values(spec.params, found.values)


def expire_when_due(draft: Draft) -> Plan:
    """Terminal phase: delete the resource once ttlSecondsAfterFinished has passed."""
    situation = draft.situation
    ttl = situation.spec.ttl_seconds_after_finished
    finished_at = draft.status.finished_at
    if ttl is None or finished_at is None:
        return draft.plan(requeue_after=None)
    due = finished_at + timedelta(seconds=ttl)
    if situation.now >= due:
        draft.event(EventType.NORMAL, Reason.EXPIRED, f"Deleting: finished more than {ttl}s ago")
        return draft.plan(requeue_after=None, action=DeleteResource())
    return draft.plan(requeue_after=(due - situation.now).total_seconds())
