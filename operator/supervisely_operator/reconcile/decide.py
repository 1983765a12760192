"""The decision: given spec, status, one observation of Supervisely and the time, what next.

``plan_next_step`` is the whole control logic of the operator and it is pure: no I/O, no
clock, no globals. Every pass of the shell observes, calls it, writes the status it returns
(when that changed), then runs the one action it asks for. Because the status is written
*before* the action, a crash between any two steps leaves a status from which the next pass
finds the same decision again, or a better one (see ``_settle_start_request``).

The order of concerns, highest first: Supervisely unreachable (wait), a start in flight (find
its task), a task to adopt (take it over, or refuse it), deletion (stop, then release), a live
task (stop it when suspended, edited, asked to restart or past a deadline; otherwise mirror it),
an ended task (succeed, restart or fail, as the failure rules say), no task (start). Under
managementPolicy ObserveOnly the same order only mirrors: nothing is started or stopped.
"""

import re
from datetime import datetime, timedelta
from typing import Any

from supervisely_operator.api import (
    ConditionStatus,
    DeletionPolicy,
    FailureAction,
    FailureRule,
    ManagementPolicy,
    Readiness,
    RestartPolicy,
    StartRequest,
    SuperviselyTaskSpec,
    SuperviselyTaskStatus,
    TaskPhase,
)
from supervisely_operator.api.status import PREVIOUS_TASK_IDS_LIMIT
from supervisely_operator.reconcile.backoff import outage_delay, restart_delay
from supervisely_operator.reconcile.conditions import SYNCED, Reason, condition_since
from supervisely_operator.reconcile.draft import StatusDraft
from supervisely_operator.reconcile.launch import launch_hash, start_marker
from supervisely_operator.reconcile.situation import (
    AwaitingObservation,
    DeleteResource,
    EventType,
    NothingToObserve,
    Observation,
    Plan,
    RemoteStatus,
    RemoteTask,
    RemoteUnavailable,
    Situation,
    StartTask,
    StopTask,
    TaskGone,
    TaskSeen,
)

QUEUED_STATUSES = frozenset({RemoteStatus.QUEUED, RemoteStatus.CONSUMED})
RUNNING_STATUSES = frozenset({RemoteStatus.STARTED, RemoteStatus.DEPLOYED})
ENDED_STATUSES = frozenset({RemoteStatus.FINISHED, RemoteStatus.ERROR, RemoteStatus.STOPPED})

SUSPENDED_MESSAGE = "Suspended: no task runs"

#: How soon to look again when the finalizer is not on the object yet.
FINALIZER_WAIT = 1.0


class _Draft(StatusDraft):
    """The one status builder, plus the situation it decides on and how it ends as a Plan."""

    situation: Situation

    @classmethod
    def of(cls, situation: Situation, status: SuperviselyTaskStatus) -> "_Draft":
        draft = cls(before=situation.status, generation=situation.generation, now=situation.now)
        draft.situation = situation
        draft.status = status
        return draft

    def plan(self, *, requeue_after: float | None, **extra: Any) -> Plan:
        return Plan(
            status=self.status,
            events=tuple(self.events),
            requeue_after=requeue_after,
            **extra,
        )


def plan_next_step(situation: Situation) -> Plan:
    """Decide the next status, the one action (if any), the Events and when to look again."""
    if not situation.protected and not situation.deleting:
        # Until kopf has put the finalizer on, a task started now could be orphaned by a
        # deletion; nothing is decided or written, the pass only waits for it.
        return Plan(status=situation.status, requeue_after=FINALIZER_WAIT)
    observation = situation.observation
    if isinstance(observation, AwaitingObservation):
        # Nothing is known that is newer than the last action: decide nothing, write nothing.
        return Plan(status=situation.status, requeue_after=situation.tuning.stopping_poll_interval)
    status = situation.status.model_copy(update={"observed_generation": situation.generation})
    draft = _Draft.of(situation, status)
    if isinstance(observation, RemoteUnavailable):
        return _wait_for_supervisely(draft, observation)
    if not isinstance(observation, NothingToObserve):
        draft.synced()
    refresh = situation.refresh_requested
    if refresh is not None and refresh != draft.status.refresh_handled:
        draft.update(refresh_handled=refresh)  # this pass saw Supervisely after the request
    if situation.strays and not _observing(situation):
        return _stop_stray(draft, situation.strays[0])

    if draft.status.start_request is not None:
        waiting = _settle_start_request(draft)
        if waiting is not None:
            return waiting

    task = observation.task if isinstance(observation, TaskSeen) else None
    adopting = task_to_adopt(situation.spec, draft.status)
    if adopting is not None:
        if situation.deleting:
            return draft.plan(requeue_after=None, release=True)  # nothing of ours to stop
        waiting = _adopt(draft, adopting)
        if waiting is not None:
            return waiting
    if situation.deleting:
        return _finalize(draft, task)
    if task is not None and task.status not in ENDED_STATUSES:
        return _tend_live_task(draft, task)
    if task is None and not isinstance(observation, TaskGone):
        return _start_if_wanted(draft)
    return _after_task_ended(draft, task)


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


def log_tail_wanted(
    spec: SuperviselyTaskSpec, status: SuperviselyTaskStatus, observation: Observation
) -> int | None:
    """The task whose log the failure rules must read before this pass can decide, if any: its
    failure has no verdict yet and a rule matches on log lines."""
    if spec.restart_policy is not RestartPolicy.ON_ERROR or spec.suspend:
        return None
    if not any(rule.on_log_line is not None for rule in spec.failure_rules):
        return None
    if not isinstance(observation, TaskSeen) or observation.task.task_id != status.task_id:
        return None
    task = observation.task
    if task.status not in (RemoteStatus.ERROR, RemoteStatus.STOPPED):
        return None
    error = status.last_error
    if error is not None and error.task_id == task.task_id and error.failure_action is not None:
        return None
    return task.task_id


def _observing(situation: Situation) -> bool:
    return situation.spec.management_policy is ManagementPolicy.OBSERVE_ONLY


def _poll_interval(situation: Situation) -> float:
    return float(situation.spec.poll_interval_seconds or situation.tuning.poll_interval)


def _restart_requested(situation: Situation, status: SuperviselyTaskStatus) -> bool:
    """The restart annotation carries a value no start has answered yet."""
    wanted = situation.restart_requested
    return (
        wanted is not None
        and wanted != status.restart_request_handled
        and not _observing(situation)
        and not situation.spec.suspend
    )


def _awaits_readiness(situation: Situation, task: RemoteTask) -> bool:
    return situation.spec.readiness is Readiness.APP_READY and task.ready is not True


def _adopt(draft: _Draft, task_id: int) -> Plan | None:
    """Take over the task adoptTaskId names, or say why not; None: carry on with that task."""
    situation = draft.situation
    observation = situation.observation
    if isinstance(observation, TaskGone):
        return _refuse_adoption(draft, f"Task {task_id} does not exist on Supervisely")
    if not isinstance(observation, TaskSeen) or observation.task.task_id != task_id:
        # Never start instead: wait for the poller to answer for the task to adopt.
        return draft.plan(requeue_after=situation.tuning.stopping_poll_interval)
    task = observation.task
    workspace_id = situation.spec.workspace_id
    if task.workspace_id is not None and task.workspace_id != workspace_id:
        return _refuse_adoption(
            draft,
            f"Task {task_id} is in workspace {task.workspace_id}, not in workspaceId "
            f"{workspace_id}",
        )
    # Owned means another resource stands for it now; a task whose resource was deleted with
    # deletionPolicy Orphan carries that resource's start marker and may be adopted.
    owner = situation.owned_elsewhere
    if owner is not None:
        return _refuse_adoption(draft, f"Task {task_id} already belongs to {owner}")
    _retire_current_task(draft)
    draft.update(
        task_id=task_id,
        launch_hash=launch_hash(situation.spec),
        restarts=0,
        started_at=task.started_at or situation.now,
        finished_at=None,
        remote_status=None,
        session_url=task.session_url,
        agent_id=task.agent_id,
        module_id=situation.spec.module_id,
        last_error=None,
        outputs=None,
    )
    verb = "Observing" if _observing(situation) else "Adopted"
    draft.event(EventType.NORMAL, Reason.ADOPTED, f"{verb} task {task_id} (spec.adoptTaskId)")
    return None


def _refuse_adoption(draft: _Draft, message: str) -> Plan:
    """Nothing is started or stopped; the refusal stands until the spec or the task changes."""
    situation = draft.situation
    draft.not_synced(Reason.ADOPTION_REFUSED, message)
    draft.enter(TaskPhase.PENDING, Reason.ADOPTION_REFUSED, message, announce=False)
    return draft.plan(requeue_after=_poll_interval(situation))


def _wait_for_supervisely(draft: _Draft, unavailable: RemoteUnavailable) -> Plan:
    situation = draft.situation
    draft.not_synced(unavailable.reason, unavailable.message)
    since = condition_since(draft.status, SYNCED, ConditionStatus.FALSE) or situation.now
    tuning = situation.tuning
    delay = outage_delay(
        since=since,
        now=situation.now,
        minimum=tuning.unavailable_min_delay,
        maximum=tuning.unavailable_max_delay,
    )
    return draft.plan(requeue_after=max(delay, unavailable.retry_after or 0.0))


def _stop_stray(draft: _Draft, stray: RemoteTask) -> Plan:
    """A start Supervisely carried out after the operator had given up on it: one resource
    stands for one task, so the late one is stopped (the next pass carries on at once)."""
    current = draft.status.task_id
    draft.event(
        EventType.WARNING,
        Reason.STRAY_TASK_STOPPED,
        f"Stopping task {stray.task_id}: Supervisely carried out an earlier start of this "
        "resource after the operator had given up on it"
        + (f"; task {current} stays" if current is not None else ""),
    )
    return draft.plan(requeue_after=0.0, action=StopTask(task_id=stray.task_id))


def _settle_start_request(draft: _Draft) -> Plan | None:
    """A start was recorded but its task id was not: adopt its task, or wait, or forget it."""
    situation = draft.situation
    request = draft.status.start_request
    assert request is not None
    observation = situation.observation
    if isinstance(observation, TaskSeen):
        task = observation.task
        draft.update(
            task_id=task.task_id,
            start_request=None,
            started_at=task.started_at or request.requested_at,
            session_url=task.session_url,
            agent_id=task.agent_id,
            module_id=situation.spec.module_id,
        )
        draft.start_went_through()
        draft.event(
            EventType.NORMAL,
            Reason.ADOPTED,
            f"Found task {task.task_id}, started before the operator could record it",
        )
        return None
    grace_ends = request.requested_at + timedelta(seconds=situation.tuning.start_grace)
    if situation.now < grace_ends:
        # The start may have reached Supervisely without showing up in its lists yet.
        wait = (grace_ends - situation.now).total_seconds()
        return draft.plan(requeue_after=min(wait, situation.tuning.stopping_poll_interval))
    draft.update(start_request=None)
    return None


def _finalize(draft: _Draft, task: RemoteTask | None) -> Plan:
    situation = draft.situation
    tuning = situation.tuning
    if _observing(situation):
        return draft.plan(requeue_after=None, release=True)  # never stops what it observes
    if situation.spec.deletion_policy is DeletionPolicy.ORPHAN:
        if task is not None and task.status not in ENDED_STATUSES:
            draft.event(
                EventType.NORMAL,
                Reason.DELETING,
                f"Leaving task {task.task_id} running (deletionPolicy: Orphan)",
            )
        return draft.plan(requeue_after=None, release=True)
    if task is None or task.status in ENDED_STATUSES:
        return draft.plan(requeue_after=None, release=True)
    # One message while it stops and while it terminates: the wait writes nothing new.
    draft.enter(
        TaskPhase.STOPPING, Reason.DELETING, f"Stopping task {task.task_id}: resource deleted"
    )
    if task.status is RemoteStatus.TERMINATING:
        return draft.plan(requeue_after=tuning.stopping_poll_interval)
    return draft.plan(
        requeue_after=tuning.stopping_poll_interval, action=StopTask(task_id=task.task_id)
    )


def _deadline(draft: _Draft, seconds: int | None) -> datetime | None:
    started = draft.status.started_at
    if seconds is None or started is None:
        return None
    return started + timedelta(seconds=seconds)


def _tend_live_task(draft: _Draft, task: RemoteTask) -> Plan:
    situation = draft.situation
    tuning = situation.tuning
    waiting = task.status in QUEUED_STATUSES
    if not (waiting and draft.status.remote_status in QUEUED_STATUSES):
        # queued -> consumed changes nothing a user acts on: not worth a write.
        draft.update(remote_status=task.raw_status)
    if task.agent_id is not None and not waiting:
        draft.update(agent_id=task.agent_id)
    _copy_outputs(draft, task)
    spec = situation.spec
    observing = _observing(situation)  # mirrors only: nothing is ever stopped
    not_ready = waiting or (task.status in RUNNING_STATUSES and _awaits_readiness(situation, task))
    deadline = None if observing else _deadline(draft, spec.active_deadline_seconds)
    start_deadline = None
    if not_ready and not observing:
        start_deadline = _deadline(draft, spec.start_deadline_seconds)
    stop_because: tuple[str, str] | None = None
    if observing:
        pass
    elif spec.suspend:
        stop_because = (Reason.SUSPENDED, f"Stopping task {task.task_id}: suspended")
    elif launch_hash(spec) != draft.status.launch_hash:
        stop_because = (
            Reason.SPEC_CHANGED,
            f"Stopping task {task.task_id} to start one from the new spec",
        )
    elif _restart_requested(situation, draft.status):
        stop_because = (
            Reason.RESTART_REQUESTED,
            f"Stopping task {task.task_id}: restart requested",
        )
    elif deadline is not None and situation.now >= deadline:
        message = (
            f"Task {task.task_id} ran past activeDeadlineSeconds ({spec.active_deadline_seconds}s)"
        )
        stop_because = (Reason.DEADLINE_EXCEEDED, message)
        if not _error_recorded(draft, Reason.DEADLINE_EXCEEDED, task.task_id):
            draft.record_error(
                reason=Reason.DEADLINE_EXCEEDED, message=message, task_id=task.task_id
            )
    elif start_deadline is not None and situation.now >= start_deadline:
        message = (
            f"Task {task.task_id} was not ready within startDeadlineSeconds "
            f"({spec.start_deadline_seconds}s)"
        )
        stop_because = (Reason.START_DEADLINE_EXCEEDED, message)
        if not _error_recorded(draft, Reason.START_DEADLINE_EXCEEDED, task.task_id):
            draft.record_error(
                reason=Reason.START_DEADLINE_EXCEEDED, message=message, task_id=task.task_id
            )

    if task.status is RemoteStatus.TERMINATING:
        # The message of the stop we asked for stays while it terminates: no write per poll.
        reason, message = stop_because or (Reason.STOPPING, f"Task {task.task_id} is stopping")
        draft.enter(TaskPhase.STOPPING, reason, message)
        return draft.plan(requeue_after=tuning.stopping_poll_interval)
    if stop_because is not None:
        reason, message = stop_because
        warn = reason in (Reason.DEADLINE_EXCEEDED, Reason.START_DEADLINE_EXCEEDED)
        draft.enter(TaskPhase.STOPPING, reason, message, warn=warn)
        return draft.plan(
            requeue_after=tuning.stopping_poll_interval, action=StopTask(task_id=task.task_id)
        )

    requeue = _poll_interval(situation)
    if waiting:
        if draft.status.phase is not TaskPhase.QUEUED:  # the start already said "queued"
            draft.enter(TaskPhase.QUEUED, Reason.QUEUED, f"Task {task.task_id} waits for an agent")
        requeue = tuning.stopping_poll_interval
    elif not_ready:
        draft.enter(
            TaskPhase.RUNNING,
            Reason.AWAITING_READINESS,
            f"Task {task.task_id} is {task.raw_status}; waiting for the app to answer is_ready",
            ready=False,
        )
        requeue = tuning.stopping_poll_interval
    elif task.status in RUNNING_STATUSES:
        draft.enter(TaskPhase.RUNNING, Reason.RUNNING, f"Task {task.task_id} is {task.raw_status}")
    for due in (deadline, start_deadline):
        if due is not None:
            requeue = min(requeue, max((due - situation.now).total_seconds(), 0.0))
    return draft.plan(requeue_after=requeue)


def _copy_outputs(draft: _Draft, task: RemoteTask) -> None:
    """What the task published (a checkpoint's location, metrics) is read from the status by
    pipelines; kept until a new task replaces it, even when a later list shows none."""
    if task.outputs is not None and task.outputs != draft.status.outputs:
        draft.update(outputs=task.outputs)


def _error_recorded(draft: _Draft, reason: str, task_id: int | None) -> bool:
    error = draft.status.last_error
    return error is not None and error.reason == reason and error.task_id == task_id


def _after_task_ended(draft: _Draft, task: RemoteTask | None) -> Plan:
    situation = draft.situation
    spec = situation.spec
    task_id = task.task_id if task is not None else draft.status.task_id
    assert task_id is not None
    finished_at = draft.status.finished_at or (task.finished_at if task else None) or situation.now
    draft.update(finished_at=finished_at)
    if task is not None:
        draft.update(remote_status=task.raw_status)
        _copy_outputs(draft, task)

    if spec.suspend:
        _retire_current_task(draft)
        draft.enter(TaskPhase.SUSPENDED, Reason.SUSPENDED, SUSPENDED_MESSAGE)
        return draft.plan(requeue_after=None)
    observing = _observing(situation)
    if launch_hash(spec) != draft.status.launch_hash and not observing:
        return _start(draft, reason=Reason.SPEC_CHANGED, restarts=0)
    if _restart_requested(situation, draft.status):
        return _start(draft, reason=Reason.RESTART_REQUESTED, restarts=0)
    if task is not None and task.status is RemoteStatus.FINISHED:
        draft.update(last_error=None)
        draft.enter(TaskPhase.SUCCEEDED, Reason.FINISHED, f"Task {task_id} finished")
        return _expire_when_due(draft)
    if _error_recorded(draft, Reason.DEADLINE_EXCEEDED, task_id):
        assert draft.status.last_error is not None
        draft.enter(
            TaskPhase.FAILED, Reason.DEADLINE_EXCEEDED, draft.status.last_error.message, warn=True
        )
        return _expire_when_due(draft)

    failure, message = _why_it_ended(draft, task, task_id)
    fresh_error = not _error_recorded(draft, failure, task_id)
    if fresh_error:
        draft.record_error(reason=failure, message=message, task_id=task_id)
    attach = task_id if fresh_error and failure == Reason.TASK_ERROR else None
    if observing or spec.restart_policy is RestartPolicy.NEVER:
        draft.enter(TaskPhase.FAILED, failure, message, warn=True)
        return _expire_when_due(draft, attach_log_tail_of=attach)

    action, rule = _verdict(draft, task, failure, message)
    if action is FailureAction.FAIL:
        message = f"{message}; failure rule {rule} says Fail"
        draft.enter(TaskPhase.FAILED, Reason.FAILURE_RULE_MATCHED, message, warn=True)
        return _expire_when_due(draft, attach_log_tail_of=attach)
    restarts, limit = draft.status.restarts, spec.backoff.limit
    counted = action is FailureAction.COUNT
    if counted and restarts >= limit:
        message = f"{message}; no restart left ({limit})"
        draft.enter(TaskPhase.FAILED, Reason.BACKOFF_LIMIT_EXCEEDED, message, warn=True)
        return _expire_when_due(draft, attach_log_tail_of=attach)
    assert draft.status.last_error is not None
    due = draft.status.last_error.time + restart_delay(spec.backoff, restarts=restarts)
    if situation.now >= due:
        return _start(
            draft, reason=Reason.RESTARTING, restarts=restarts + 1 if counted else restarts
        )
    which = f"restart {restarts + 1} of {limit}"
    if not counted:
        which = f"restart (not counted: failure rule {rule})"
    draft.enter(
        TaskPhase.PENDING,
        Reason.RESTARTING,
        f"{message}; {which} at {due.isoformat()}",
        warn=True,
    )
    wait = (due - situation.now).total_seconds()
    return draft.plan(requeue_after=wait, attach_log_tail_of=attach)


def _verdict(
    draft: _Draft, task: RemoteTask | None, failure: str, message: str
) -> tuple[FailureAction, int | None]:
    """What the failure rules say of this failure: decided once, then kept in ``lastError`` so
    that later passes (which no longer read the log) follow the same verdict."""
    error = draft.status.last_error
    assert error is not None
    if error.failure_action is not None:
        return error.failure_action, error.failure_rule
    rules = draft.situation.spec.failure_rules
    for number, rule in enumerate(rules, start=1):
        if _rule_matches(rule, task, failure, message, draft.situation.log_tail or ()):
            draft.record_verdict(rule.action, number)
            return rule.action, number
    if rules:  # written only where rules exist, so the status of others stays as it was
        draft.record_verdict(FailureAction.COUNT, None)
    return FailureAction.COUNT, None


def _rule_matches(
    rule: FailureRule,
    task: RemoteTask | None,
    failure: str,
    message: str,
    log: tuple[str, ...],
) -> bool:
    """Every matcher the rule sets matches (a rule sets at least one)."""
    if rule.on_remote_status is not None and (
        task is None or task.raw_status not in rule.on_remote_status
    ):
        return False
    if rule.on_reason is not None and failure not in rule.on_reason:
        return False
    if rule.on_message is not None and re.search(rule.on_message, message) is None:
        return False
    return rule.on_log_line is None or any(re.search(rule.on_log_line, line) for line in log)


def _why_it_ended(draft: _Draft, task: RemoteTask | None, task_id: int) -> tuple[str, str]:
    error = draft.status.last_error
    if _error_recorded(draft, Reason.START_DEADLINE_EXCEEDED, task_id):
        assert error is not None
        return Reason.START_DEADLINE_EXCEEDED, error.message  # no log tail is added to it
    if task is None:
        return Reason.TASK_LOST, f"Task {task_id} no longer exists on Supervisely"
    if task.status is RemoteStatus.ERROR:
        return Reason.TASK_ERROR, f"Task {task_id} ended with status error"
    return Reason.STOPPED_EXTERNALLY, f"Task {task_id} was stopped outside the operator"


def _start_if_wanted(draft: _Draft) -> Plan:
    """No task exists for this resource: start one unless something says not (yet)."""
    situation = draft.situation
    status = draft.status
    if _observing(situation):
        return draft.plan(requeue_after=_poll_interval(situation))  # never starts anything
    if situation.spec.suspend:
        draft.enter(TaskPhase.SUSPENDED, Reason.SUSPENDED, SUSPENDED_MESSAGE)
        return draft.plan(requeue_after=None)
    same_spec = status.launch_hash == launch_hash(situation.spec)
    restart = _restart_requested(situation, status)
    if same_spec and status.phase is TaskPhase.FAILED and not restart:
        return _expire_when_due(draft)  # Supervisely refused this spec; only an edit helps
    failing_since = condition_since(status, SYNCED, ConditionStatus.FALSE)
    if same_spec and failing_since is not None and status.last_error is not None:
        wait = outage_delay(
            since=failing_since,
            now=status.last_error.time,
            minimum=situation.tuning.unavailable_min_delay,
            maximum=situation.tuning.unavailable_max_delay,
        )
        wait = max(wait, status.last_error.retry_after_seconds or 0.0)
        due = status.last_error.time + timedelta(seconds=wait)
        if situation.now < due:
            return draft.plan(requeue_after=(due - situation.now).total_seconds())
    if restart:
        return _start(draft, reason=Reason.RESTART_REQUESTED, restarts=0)
    return _start(draft, reason=Reason.STARTING, restarts=status.restarts if same_spec else 0)


def _retire_current_task(draft: _Draft) -> None:
    """Move the current task id to the bounded history."""
    current = draft.status.task_id
    if current is None:
        return
    history = [*draft.status.previous_task_ids, current][-PREVIOUS_TASK_IDS_LIMIT:]
    draft.update(task_id=None, previous_task_ids=history)


def _start(draft: _Draft, *, reason: str, restarts: int) -> Plan:
    """Record the start request, then ask for the start: the mark lands before the call."""
    situation = draft.situation
    marker = start_marker(situation.resource, at=situation.now)
    previous = draft.status.task_id
    _retire_current_task(draft)
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
        requeue_after=situation.tuning.stopping_poll_interval, action=StartTask(marker=marker)
    )


def _expire_when_due(draft: _Draft, *, attach_log_tail_of: int | None = None) -> Plan:
    """Terminal phase: delete the resource once ttlSecondsAfterFinished has passed."""
    situation = draft.situation
    ttl = situation.spec.ttl_seconds_after_finished
    finished_at = draft.status.finished_at
    if ttl is None or finished_at is None:
        return draft.plan(requeue_after=None, attach_log_tail_of=attach_log_tail_of)
    due = finished_at + timedelta(seconds=ttl)
    if situation.now >= due:
        draft.event(EventType.NORMAL, Reason.EXPIRED, f"Deleting: finished more than {ttl}s ago")
        return draft.plan(
            requeue_after=None, action=DeleteResource(), attach_log_tail_of=attach_log_tail_of
        )
    return draft.plan(
        requeue_after=(due - situation.now).total_seconds(), attach_log_tail_of=attach_log_tail_of
    )
