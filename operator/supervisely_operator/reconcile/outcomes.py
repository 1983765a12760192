"""How the result of an action changes the status: the second half of the pure core.

The shell runs the action the plan asked for and hands the result back here, as a value. The
remote adapter classifies Supervisely's errors into these values (which refusals a retry can
cure); here they become status, through the same builder the decision uses.
"""

from dataclasses import dataclass
from datetime import datetime

from supervisely_operator.api import SuperviselyTaskStatus, TaskPhase
from supervisely_operator.reconcile.conditions import SYNCED, Reason
from supervisely_operator.reconcile.draft import StatusDraft
from supervisely_operator.reconcile.situation import Event, EventType


@dataclass(frozen=True)
class Started:
    """Supervisely created the task."""

    task_id: int
    module_id: int
    agent_id: int | None
    session_url: str


@dataclass(frozen=True)
class StartRefused:
    """The start did not happen, or may have happened without us learning the task id."""

    reason: str
    message: str
    retryable: bool
    """A later attempt may succeed without a spec change (outage, token, agent offline)."""
    outcome_unknown: bool = False
    """The request may have created a task: look it up by marker before starting again."""
    retry_after: float | None = None
    """Seconds Supervisely asked to be left alone for (its Retry-After), if it said."""


StartOutcome = Started | StartRefused


@dataclass(frozen=True)
class CallFailed:
    """A stop (or another call) Supervisely did not accept; the next pass tries again."""

    reason: str
    message: str


@dataclass(frozen=True)
class Outcome:
    """The status after an action, and the Events to post about it."""

    status: SuperviselyTaskStatus
    events: tuple[Event, ...] = ()


def apply_start_outcome(
    status: SuperviselyTaskStatus, outcome: StartOutcome, *, generation: int, now: datetime
) -> Outcome:
    """Record the new task id, or why there is none."""
    draft = StatusDraft(before=status, generation=generation, now=now)
    if isinstance(outcome, Started):
        draft.update(
            task_id=outcome.task_id,
            start_request=None,
            module_id=outcome.module_id,
            agent_id=outcome.agent_id,
            session_url=outcome.session_url,
            started_at=now,
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
            draft.update(finished_at=now)
            draft.enter(TaskPhase.FAILED, Reason.START_FAILED, outcome.message, warn=True)
    return Outcome(status=draft.status, events=tuple(draft.events))


def apply_call_failure(
    status: SuperviselyTaskStatus, failed: CallFailed, *, generation: int, now: datetime
) -> Outcome:
    """A stop or delete call failed: say so in Synced; the next pass tries again."""
    draft = StatusDraft(before=status, generation=generation, now=now)
    draft.not_synced(failed.reason, failed.message)
    return Outcome(status=draft.status, events=tuple(draft.events))


def apply_invalid_spec(
    status: SuperviselyTaskStatus, *, message: str, generation: int, now: datetime
) -> Outcome:
    """The stored spec breaks rules the API server did not check (its CRD is older than the
    operator: Helm never upgrades CRDs). Nothing is started or stopped for it until an edit; a
    Warning when the refusal is new, and ``observedGeneration`` so that only an edit wakes it.
    """
    draft = StatusDraft(before=status, generation=generation, now=now)
    synced = next((c for c in status.conditions if c.type == SYNCED), None)
    repeated = synced is not None and (synced.reason, synced.message) == (
        Reason.INVALID_SPEC,
        message,
    )
    draft.not_synced(Reason.INVALID_SPEC, message)
    if not draft.events and not repeated:
        draft.event(EventType.WARNING, Reason.INVALID_SPEC, message)
    draft.update(observed_generation=generation)
    return Outcome(status=draft.status, events=tuple(draft.events))
