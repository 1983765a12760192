"""The decision: given spec, status, one observation of Supervisely and the time, what next.

``plan_next_step`` is the whole control logic of the operator and it is pure: no I/O, no
clock, no globals. Every pass of the shell hands it one value (:data:`Given`), writes the
status it returns (when that changed), then runs the one action it asks for; the pass right
after records what the action did. Because the status is written *before* the action, a crash
between any two steps leaves a status from which the next pass finds the same decision again,
or a better one (see ``_settle_start_request``).

The order of concerns, highest first: Supervisely unreachable (wait), a start in flight (find
its task), a task to adopt (take it over, or refuse it), deletion (stop, then release), a live
task (stop it when suspended, edited, asked to restart or past a deadline; otherwise mirror it),
an ended task (succeed, restart or fail, as the failure rules say), no task (start). Under
managementPolicy ObserveOnly the same order only mirrors: nothing is started or stopped.
"""

from datetime import timedelta

from supervisely_operator.api import (
    ConditionStatus,
    DeletionPolicy,
    TaskPhase,
)
from supervisely_operator.reconcile.backoff import outage_delay
from supervisely_operator.reconcile.conditions import SYNCED, Reason, condition_since
from supervisely_operator.reconcile.launch import launch_hash
from supervisely_operator.reconcile.milestones import (
    RunOutcome,
    TaskEnded,
    TaskIdRecorded,
    elapsed,
)
from supervisely_operator.reconcile.outcomes import record_outcome, refuse_spec
from supervisely_operator.reconcile.situation import (
    ActionTaken,
    AwaitingObservation,
    BrokenSpec,
    EventType,
    Given,
    NothingToObserve,
    Plan,
    RemoteStatus,
    RemoteTask,
    RemoteUnavailable,
    Situation,
    StopTask,
    TaskGone,
    TaskSeen,
)
from supervisely_operator.reconcile.steps import (
    ENDED_STATUSES,
    SUSPENDED_MESSAGE,
    Draft,
    expire_when_due,
    only_observes,
    poll_interval,
    restart_requested,
    retire_current_task,
    start,
)
from supervisely_operator.reconcile.task_life import after_task_ended, tend_live_task
from supervisely_operator.reconcile.watch import task_to_adopt

#: How soon to look again when the finalizer is not on the object yet.
FINALIZER_WAIT = 1.0

__all__ = ["ENDED_STATUSES", "FINALIZER_WAIT", "plan_next_step"]


def plan_next_step(given: Given) -> Plan:
    """Decide the next status, the one action (if any), the Events and when to look again.

    Given the outcome of the last pass's action, only records it; given a broken spec, only
    says so; given a situation, decides.
    """
    if isinstance(given, ActionTaken):
        return record_outcome(given)
    if isinstance(given, BrokenSpec):
        return refuse_spec(given)
    return _decide(given)


def _decide(situation: Situation) -> Plan:
    if not situation.protected and not situation.deleting:
        # Until kopf has put the finalizer on, a task started now could be orphaned by a
        # deletion; nothing is decided or written, the pass only waits for it.
        return Plan(status=situation.status, requeue_after=FINALIZER_WAIT)
    observation = situation.observation
    sighting = observation.task
    if isinstance(sighting, AwaitingObservation):
        # Nothing is known that is newer than the last action: decide nothing, write nothing.
        return Plan(status=situation.status, requeue_after=situation.timing.transition_recheck)
    status = situation.status.model_copy(update={"observed_generation": situation.generation})
    draft = Draft.of(situation, status)
    if isinstance(sighting, RemoteUnavailable):
        return _wait_for_supervisely(draft, sighting)
    if not isinstance(sighting, NothingToObserve):
        draft.synced()
    refresh = situation.refresh_requested
    if refresh is not None and refresh != draft.status.refresh_handled:
        draft.update(refresh_handled=refresh)  # this pass saw Supervisely after the request
    if observation.strays and not only_observes(situation):
        return _stop_stray(draft, observation.strays[0])

    if draft.status.start_request is not None:
        waiting = _settle_start_request(draft)
        if waiting is not None:
            return waiting

    task = sighting.task if isinstance(sighting, TaskSeen) else None
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
        return tend_live_task(draft, task)
    if task is None and not isinstance(sighting, TaskGone):
        return _start_if_wanted(draft)
    return after_task_ended(draft, task)


def _adopt(draft: Draft, task_id: int) -> Plan | None:
    """Take over the task adoptTaskId names, or say why not; None: carry on with that task."""
    situation = draft.situation
    sighting = situation.observation.task
    if isinstance(sighting, TaskGone):
        return _refuse_adoption(draft, f"Task {task_id} does not exist on Supervisely")
    if not isinstance(sighting, TaskSeen) or sighting.task.task_id != task_id:
        # Never start instead: wait for the poller to answer for the task to adopt.
        return draft.plan(requeue_after=situation.timing.transition_recheck)
    task = sighting.task
    workspace_id = situation.spec.workspace_id
    if task.workspace_id is not None and task.workspace_id != workspace_id:
        return _refuse_adoption(
            draft,
            f"Task {task_id} is in workspace {task.workspace_id}, not in workspaceId "
            f"{workspace_id}",
        )
    # Owned means another resource stands for it now; a task whose resource was deleted with
    # deletionPolicy Orphan carries that resource's start marker and may be adopted.
    owner = situation.observation.owner
    if owner is not None:
        return _refuse_adoption(
            draft, f"Task {task_id} already belongs to {owner.namespace}/{owner.name}"
        )
    retire_current_task(draft)
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
    verb = "Observing" if only_observes(situation) else "Adopted"
    draft.event(EventType.NORMAL, Reason.ADOPTED, f"{verb} task {task_id} (spec.adoptTaskId)")
    return None


def _refuse_adoption(draft: Draft, message: str) -> Plan:
    """Nothing is started or stopped; the refusal stands until the spec or the task changes."""
    situation = draft.situation
    draft.not_synced(Reason.ADOPTION_REFUSED, message)
    draft.enter(TaskPhase.PENDING, Reason.ADOPTION_REFUSED, message, announce=False)
    return draft.plan(requeue_after=poll_interval(situation))


def _wait_for_supervisely(draft: Draft, unavailable: RemoteUnavailable) -> Plan:
    situation = draft.situation
    draft.not_synced(unavailable.reason, unavailable.message)
    since = condition_since(draft.status, SYNCED, ConditionStatus.FALSE) or situation.now
    timing = situation.timing
    delay = outage_delay(
        since=since,
        now=situation.now,
        minimum=timing.outage_min_delay,
        maximum=timing.outage_max_delay,
    )
    return draft.plan(requeue_after=max(delay, unavailable.retry_after or 0.0))


def _stop_stray(draft: Draft, stray: RemoteTask) -> Plan:
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


def _settle_start_request(draft: Draft) -> Plan | None:
    """A start was recorded but its task id was not: adopt its task, or wait, or forget it."""
    situation = draft.situation
    request = draft.status.start_request
    assert request is not None
    sighting = situation.observation.task
    if isinstance(sighting, TaskSeen):
        task = sighting.task
        draft.passed(TaskIdRecorded(seconds=elapsed(request.requested_at, situation.now)))
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
    grace_ends = request.requested_at + timedelta(seconds=situation.timing.start_grace)
    if situation.now < grace_ends:
        # The start may have reached Supervisely without showing up in its lists yet.
        wait = (grace_ends - situation.now).total_seconds()
        return draft.plan(requeue_after=min(wait, situation.timing.transition_recheck))
    draft.update(start_request=None)
    return None


def _finalize(draft: Draft, task: RemoteTask | None) -> Plan:
    situation = draft.situation
    timing = situation.timing
    if only_observes(situation):
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
        if task is not None and situation.status.finished_at is None:
            _deleted_task_ended(draft, task)
        return draft.plan(requeue_after=None, release=True)
    # One message while it stops and while it terminates: the wait writes nothing new.
    draft.enter(
        TaskPhase.STOPPING, Reason.DELETING, f"Stopping task {task.task_id}: resource deleted"
    )
    if task.status is RemoteStatus.TERMINATING:
        return draft.plan(requeue_after=timing.transition_recheck)
    return draft.plan(
        requeue_after=timing.transition_recheck, action=StopTask(task_id=task.task_id)
    )


def _deleted_task_ended(draft: Draft, task: RemoteTask) -> None:
    """The task of a resource being deleted ended, most often because the deletion stopped it."""
    outcome = RunOutcome.STOPPED
    if task.status is RemoteStatus.FINISHED:
        outcome = RunOutcome.SUCCEEDED
    elif task.status is RemoteStatus.ERROR:
        outcome = RunOutcome.FAILED
    ended = task.finished_at or draft.situation.now
    draft.passed(
        TaskEnded(outcome=outcome, seconds=elapsed(draft.status.started_at or ended, ended))
    )


def _start_if_wanted(draft: Draft) -> Plan:
    """No task exists for this resource: start one unless something says not (yet)."""
    situation = draft.situation
    status = draft.status
    if only_observes(situation):
        return draft.plan(requeue_after=poll_interval(situation))  # never starts anything
    if situation.spec.suspend:
        draft.enter(TaskPhase.SUSPENDED, Reason.SUSPENDED, SUSPENDED_MESSAGE)
        return draft.plan(requeue_after=None)
    same_spec = status.launch_hash == launch_hash(situation.spec)
    restart = restart_requested(situation, status)
    if same_spec and status.phase is TaskPhase.FAILED and not restart:
        return expire_when_due(draft)  # Supervisely refused this spec; only an edit helps
    failing_since = condition_since(status, SYNCED, ConditionStatus.FALSE)
    if same_spec and failing_since is not None and status.last_error is not None:
        wait = outage_delay(
            since=failing_since,
            now=status.last_error.time,
            minimum=situation.timing.outage_min_delay,
            maximum=situation.timing.outage_max_delay,
        )
        wait = max(wait, status.last_error.retry_after_seconds or 0.0)
        due = status.last_error.time + timedelta(seconds=wait)
        if situation.now < due:
            return draft.plan(requeue_after=(due - situation.now).total_seconds())
    if restart:
        return start(draft, reason=Reason.RESTART_REQUESTED, restarts=0)
    return start(draft, reason=Reason.STARTING, restarts=status.restarts if same_spec else 0)
