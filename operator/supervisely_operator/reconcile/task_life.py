"""A task the resource stands for: tended while it lives, judged when it ends.

While it lives: mirrored into the status, and stopped when the spec is suspended or edited, a
restart is asked for, or a deadline passes. When it ends: succeeded, or failed and restarted
under ``restartPolicy``, ``backoff`` and the failure rules, whose verdict is kept in lastError.
"""

from datetime import datetime, timedelta

from supervisely_operator.api import (
    ConditionStatus,
    FailureAction,
    Readiness,
    RestartPolicy,
    TaskPhase,
)
from supervisely_operator.api.status import LAST_ERROR_MESSAGE_LIMIT
from supervisely_operator.reconcile.backoff import restart_delay
from supervisely_operator.reconcile.conditions import READY, Reason, condition_since
from supervisely_operator.reconcile.failure_rules import first_matching_rule
from supervisely_operator.reconcile.launch import launch_hash
from supervisely_operator.reconcile.milestones import (
    RunOutcome,
    TaskEnded,
    TaskReady,
    TaskRunning,
    elapsed,
)
from supervisely_operator.reconcile.situation import (
    Plan,
    RemoteStatus,
    RemoteTask,
    Situation,
    StopTask,
)
from supervisely_operator.reconcile.steps import (
    QUEUED_STATUSES,
    RUNNING_STATUSES,
    SUSPENDED_MESSAGE,
    Draft,
    copy_outputs,
    error_recorded,
    expire_when_due,
    only_observes,
    poll_interval,
    restart_requested,
    retire_current_task,
    start,
)


def _awaits_readiness(situation: Situation, task: RemoteTask) -> bool:
    return situation.spec.readiness is Readiness.APP_READY and task.ready is not True


def _deadline(draft: Draft, seconds: int | None) -> datetime | None:
    started = draft.status.started_at
    if seconds is None or started is None:
        return None
    return started + timedelta(seconds=seconds)


def tend_live_task(draft: Draft, task: RemoteTask) -> Plan:
    situation = draft.situation
    timing = situation.timing
    waiting = task.status in QUEUED_STATUSES
    if not (waiting and draft.status.remote_status in QUEUED_STATUSES):
        # queued -> consumed changes nothing a user acts on: not worth a write.
        draft.update(remote_status=task.raw_status)
    if task.agent_id is not None and not waiting:
        draft.update(agent_id=task.agent_id)
    copy_outputs(draft, task)
    spec = situation.spec
    observing = only_observes(situation)  # mirrors only: nothing is ever stopped
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
    elif restart_requested(situation, draft.status):
        stop_because = (
            Reason.RESTART_REQUESTED,
            f"Stopping task {task.task_id}: restart requested",
        )
    elif deadline is not None and situation.now >= deadline:
        message = (
            f"Task {task.task_id} ran past activeDeadlineSeconds ({spec.active_deadline_seconds}s)"
        )
        stop_because = (Reason.DEADLINE_EXCEEDED, message)
        if not error_recorded(draft, Reason.DEADLINE_EXCEEDED, task.task_id):
            draft.record_error(
                reason=Reason.DEADLINE_EXCEEDED, message=message, task_id=task.task_id
            )
    elif start_deadline is not None and situation.now >= start_deadline:
        message = (
            f"Task {task.task_id} was not ready within startDeadlineSeconds "
            f"({spec.start_deadline_seconds}s)"
        )
        stop_because = (Reason.START_DEADLINE_EXCEEDED, message)
        if not error_recorded(draft, Reason.START_DEADLINE_EXCEEDED, task.task_id):
            draft.record_error(
                reason=Reason.START_DEADLINE_EXCEEDED, message=message, task_id=task.task_id
            )

    if task.status is RemoteStatus.TERMINATING:
        # The message of the stop we asked for stays while it terminates: no write per poll.
        reason, message = stop_because or (Reason.STOPPING, f"Task {task.task_id} is stopping")
        draft.enter(TaskPhase.STOPPING, reason, message)
        return draft.plan(requeue_after=timing.transition_recheck)
    if stop_because is not None:
        reason, message = stop_because
        warn = reason in (Reason.DEADLINE_EXCEEDED, Reason.START_DEADLINE_EXCEEDED)
        draft.enter(TaskPhase.STOPPING, reason, message, warn=warn)
        return draft.plan(
            requeue_after=timing.transition_recheck, action=StopTask(task_id=task.task_id)
        )

    requeue = poll_interval(situation)
    if waiting:
        if draft.status.phase is not TaskPhase.QUEUED:  # the start already said "queued"
            draft.enter(TaskPhase.QUEUED, Reason.QUEUED, f"Task {task.task_id} waits for an agent")
        requeue = timing.transition_recheck
    elif not_ready:
        _running(draft, task, ready=False)
        draft.enter(
            TaskPhase.RUNNING,
            Reason.AWAITING_READINESS,
            f"Task {task.task_id} is {task.raw_status}; waiting for the app to answer is_ready",
            ready=False,
        )
        requeue = timing.transition_recheck
    elif task.status in RUNNING_STATUSES:
        _running(draft, task, ready=True)
        draft.enter(TaskPhase.RUNNING, Reason.RUNNING, f"Task {task.task_id} is {task.raw_status}")
    for due in (deadline, start_deadline):
        if due is not None:
            requeue = min(requeue, max((due - situation.now).total_seconds(), 0.0))
    return draft.plan(requeue_after=requeue)


def _running(draft: Draft, task: RemoteTask, *, ready: bool) -> None:
    """The milestones of a task that runs: Running the first time, Ready when it turns so.

    Only for a task the status recorded before this pass (the resource started it, or adopted
    it earlier): a task adopted in this very pass has run since long before.
    """
    before = draft.situation.status
    started = before.started_at
    if before.task_id != task.task_id or started is None:
        return
    since = elapsed(started, draft.situation.now)
    if before.phase in (TaskPhase.PENDING, TaskPhase.QUEUED):
        draft.passed(TaskRunning(seconds=since))
    was_ready = condition_since(before, READY, ConditionStatus.TRUE) is not None
    if ready and not was_ready and before.phase is not TaskPhase.STOPPING:
        draft.passed(TaskReady(seconds=since))


def _run_outcome(draft: Draft, task: RemoteTask | None, task_id: int) -> RunOutcome:
    """How the task's run ended: finished, or stopped because somebody asked, or else failed."""
    situation = draft.situation
    if task is not None and task.status is RemoteStatus.FINISHED:
        return RunOutcome.SUCCEEDED
    if task is None or task.status is not RemoteStatus.STOPPED:
        return RunOutcome.FAILED  # an error, or lost
    deadline = (Reason.DEADLINE_EXCEEDED, Reason.START_DEADLINE_EXCEEDED)
    if any(error_recorded(draft, reason, task_id) for reason in deadline):
        return RunOutcome.FAILED
    asked = (
        situation.spec.suspend
        or launch_hash(situation.spec) != draft.status.launch_hash
        or restart_requested(situation, draft.status)
    )
    return RunOutcome.STOPPED if asked and not only_observes(situation) else RunOutcome.FAILED


def after_task_ended(draft: Draft, task: RemoteTask | None) -> Plan:
    situation = draft.situation
    spec = situation.spec
    task_id = task.task_id if task is not None else draft.status.task_id
    assert task_id is not None
    finished_at = draft.status.finished_at or (task.finished_at if task else None) or situation.now
    if situation.status.finished_at is None:  # the first pass that sees this end tells it
        ran = elapsed(draft.status.started_at or finished_at, finished_at)
        draft.passed(TaskEnded(outcome=_run_outcome(draft, task, task_id), seconds=ran))
    draft.update(finished_at=finished_at)
    if task is not None:
        draft.update(remote_status=task.raw_status)
        copy_outputs(draft, task)

    if spec.suspend:
        retire_current_task(draft)
        draft.enter(TaskPhase.SUSPENDED, Reason.SUSPENDED, SUSPENDED_MESSAGE)
        return draft.plan(requeue_after=None)
    observing = only_observes(situation)
    if launch_hash(spec) != draft.status.launch_hash and not observing:
        return start(draft, reason=Reason.SPEC_CHANGED, restarts=0)
    if restart_requested(situation, draft.status):
        return start(draft, reason=Reason.RESTART_REQUESTED, restarts=0)
    if task is not None and task.status is RemoteStatus.FINISHED:
        draft.update(last_error=None)
        draft.enter(TaskPhase.SUCCEEDED, Reason.FINISHED, f"Task {task_id} finished")
        return expire_when_due(draft)
    if error_recorded(draft, Reason.DEADLINE_EXCEEDED, task_id):
        assert draft.status.last_error is not None
        draft.enter(
            TaskPhase.FAILED, Reason.DEADLINE_EXCEEDED, draft.status.last_error.message, warn=True
        )
        return expire_when_due(draft)

    failure, message = _why_it_ended(draft, task, task_id)
    if not error_recorded(draft, failure, task_id):
        kept = message
        tail = situation.observation.log_tail
        if failure == Reason.TASK_ERROR and tail:
            kept = f"{message}\nLast log lines:\n" + "\n".join(tail)
        draft.record_error(
            reason=failure, message=kept[-LAST_ERROR_MESSAGE_LIMIT:], task_id=task_id
        )
    if observing or spec.restart_policy is RestartPolicy.NEVER:
        draft.enter(TaskPhase.FAILED, failure, message, warn=True)
        return expire_when_due(draft)

    action, rule = _verdict(draft, task, failure, message)
    if action is FailureAction.FAIL:
        message = f"{message}; failure rule {rule} says Fail"
        draft.enter(TaskPhase.FAILED, Reason.FAILURE_RULE_MATCHED, message, warn=True)
        return expire_when_due(draft)
    restarts, limit = draft.status.restarts, spec.backoff.limit
    counted = action is FailureAction.COUNT
    if counted and restarts >= limit:
        message = f"{message}; no restart left ({limit})"
        draft.enter(TaskPhase.FAILED, Reason.BACKOFF_LIMIT_EXCEEDED, message, warn=True)
        return expire_when_due(draft)
    assert draft.status.last_error is not None
    due = draft.status.last_error.time + restart_delay(spec.backoff, restarts=restarts)
    if situation.now >= due:
        return start(
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
    return draft.plan(requeue_after=wait)


def _verdict(
    draft: Draft, task: RemoteTask | None, failure: str, message: str
) -> tuple[FailureAction, int | None]:
    """What the failure rules say of this failure: decided once, then kept in ``lastError`` so
    that later passes (which no longer read the log) follow the same verdict."""
    error = draft.status.last_error
    assert error is not None
    if error.failure_action is not None:
        return error.failure_action, error.failure_rule
    rules = draft.situation.spec.failure_rules
    matched = first_matching_rule(
        rules,
        remote_status=task.raw_status if task is not None else None,
        reason=failure,
        message=message,
        log=draft.situation.observation.log_tail or (),
    )
    if matched is not None:
        number, rule = matched
        draft.record_verdict(rule.action, number)
        return rule.action, number
    if rules:  # written only where rules exist, so the status of others stays as it was
        draft.record_verdict(FailureAction.COUNT, None)
    return FailureAction.COUNT, None


def _why_it_ended(draft: Draft, task: RemoteTask | None, task_id: int) -> tuple[str, str]:
    error = draft.status.last_error
    if error_recorded(draft, Reason.START_DEADLINE_EXCEEDED, task_id):
        assert error is not None
        return Reason.START_DEADLINE_EXCEEDED, error.message  # no log tail is added to it
    if task is None:
        return Reason.TASK_LOST, f"Task {task_id} no longer exists on Supervisely"
    if task.status is RemoteStatus.ERROR:
        return Reason.TASK_ERROR, f"Task {task_id} ended with status error"
    return Reason.STOPPED_EXTERNALLY, f"Task {task_id} was stopped outside the operator"
