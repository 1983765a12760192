"""How the result of an action, or a spec the operator cannot act on, becomes status.

The shell runs the action a plan asked for and hands its result to the pass right after (as
:class:`ActionTaken`), which records it through the same status builder the decision uses. The
remote seam classifies Supervisely's errors into these values (which refusals a retry can cure,
as the one list of reasons says); here they become status, conditions and Events.
"""

from supervisely_operator.api import TaskPhase
from supervisely_operator.reconcile.conditions import SYNCED, Reason
from supervisely_operator.reconcile.draft import StatusDraft
from supervisely_operator.reconcile.milestones import TaskIdRecorded, elapsed
from supervisely_operator.reconcile.situation import (
    ActionTaken,
    BrokenSpec,
    CallFailed,
    EventType,
    Plan,
    Started,
)

RECORDED_REQUEUE = 0.0
"""A recorded start is observed at once: that pass tells the poller which task to look for."""


def record_outcome(given: ActionTaken) -> Plan:
    """Record the new task id, or why there is none, or why a stop did not go through."""
    draft = StatusDraft(before=given.status, generation=given.generation, now=given.now)
    outcome = given.outcome
    if isinstance(outcome, CallFailed):
        draft.not_synced(outcome.reason, outcome.message)
    elif isinstance(outcome, Started):
        request = given.status.start_request
        if request is not None:
            draft.passed(TaskIdRecorded(seconds=elapsed(request.requested_at, given.now)))
        draft.update(
            task_id=outcome.task_id,
            start_request=None,
            module_id=outcome.module_id,
            agent_id=outcome.agent_id,
            session_url=outcome.session_url,
            started_at=given.now,
            finished_at=None,
            remote_status="queued",
        )
        draft.start_went_through()
        message = f"Started Supervisely task {outcome.task_id} (module {outcome.module_id})"
        draft.enter(TaskPhase.QUEUED, Reason.STARTED, message)
        draft.synced()
    elif outcome.outcome_unknown:
        # Keep the start request: the next pass looks the task up by its marker.
        draft.not_synced(outcome.reason, outcome.message)
    else:
        draft.update(start_request=None)
        draft.record_error(
            reason=outcome.reason, message=outcome.message, retry_after=outcome.retry_after
        )
        if outcome.retryable:
            draft.not_synced(outcome.reason, outcome.message)
        else:
            draft.update(finished_at=given.now)
            draft.enter(TaskPhase.FAILED, Reason.START_FAILED, outcome.message, warn=True)
    return Plan(
        status=draft.status,
        events=tuple(draft.events),
        milestones=tuple(draft.milestones),
        requeue_after=RECORDED_REQUEUE,
    )


def refuse_spec(given: BrokenSpec) -> Plan:
    """The stored spec breaks rules the API server did not check (its CRD is older than the
    operator: Helm never upgrades CRDs). Nothing is started or stopped for it until an edit; a
    Warning when the refusal is new, and ``observedGeneration`` so that only an edit wakes it.
    """
    status = given.status
    draft = StatusDraft(before=status, generation=given.generation, now=given.now)
    synced = next((c for c in status.conditions if c.type == SYNCED), None)
    repeated = synced is not None and (synced.reason, synced.message) == (
        Reason.INVALID_SPEC,
        given.message,
    )
    draft.not_synced(Reason.INVALID_SPEC, given.message)
    if not draft.events and not repeated:
        draft.event(EventType.WARNING, Reason.INVALID_SPEC, given.message)
    draft.update(observed_generation=given.generation)
    return Plan(status=draft.status, events=tuple(draft.events), requeue_after=None)
