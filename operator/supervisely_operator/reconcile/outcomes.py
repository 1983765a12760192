"""How the result of an action changes the status: the second half of the pure core.

The shell runs the action the plan asked for and hands the result back here, as a value. What
a refusal means (retry later, or wait for the user to change the spec) is decided here, not in
the handler that caught it.
"""

from dataclasses import dataclass
from datetime import datetime

from supervisely_operator.api import ConditionStatus, LastError, SuperviselyTaskStatus, TaskPhase
from supervisely_operator.reconcile.conditions import (
    SYNCED,
    Reason,
    condition_since,
    phase_conditions,
    synced_condition,
)
from supervisely_operator.reconcile.situation import Event, EventType
from supervisely_operator.supervisely import errors

AGENT_NOT_RUNNING = "AgentNotRunning"


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


StartOutcome = Started | StartRefused


def classify_start_error(error: errors.SuperviselyError) -> StartRefused:
    """Which start failures a retry can cure, and which need the user to change the spec."""
    if isinstance(error, errors.StartOutcomeUnknown):
        return StartRefused(error.reason, error.message, retryable=True, outcome_unknown=True)
    retryable = isinstance(error, errors.Transient | errors.Unauthorized)
    return StartRefused(error.reason, error.message, retryable=retryable)


def agent_not_running(agent_id: int, status: str) -> StartRefused:
    """The named agent exists but is not running: it may come back, so retry later."""
    return StartRefused(
        AGENT_NOT_RUNNING,
        f"Agent {agent_id} is not running (status {status!r}); the task starts when it is",
        retryable=True,
    )


@dataclass(frozen=True)
class Outcome:
    """The status after an action, and the Events to post about it."""

    status: SuperviselyTaskStatus
    events: tuple[Event, ...] = ()


def apply_start_outcome(
    status: SuperviselyTaskStatus, outcome: StartOutcome, *, generation: int, now: datetime
) -> Outcome:
    """Record the new task id, or why there is none."""
    if isinstance(outcome, Started):
        return _started(status, outcome, generation=generation, now=now)
    if outcome.outcome_unknown:
        # Keep the start request: the next pass looks the task up by its marker.
        return _not_synced(status, outcome.reason, outcome.message, generation=generation, now=now)
    status = status.model_copy(
        update={
            "start_request": None,
            "last_error": LastError(message=outcome.message, reason=outcome.reason, time=now),
        }
    )
    if outcome.retryable:
        return _not_synced(status, outcome.reason, outcome.message, generation=generation, now=now)
    status = status.model_copy(update={"phase": TaskPhase.FAILED, "finished_at": now})
    conditions = phase_conditions(
        status, reason=Reason.START_FAILED, message=outcome.message, generation=generation, now=now
    )
    status = status.model_copy(update={"conditions": conditions})
    event = Event(EventType.WARNING, Reason.START_FAILED, outcome.message)
    return Outcome(status=status, events=(event,))


def _started(
    status: SuperviselyTaskStatus, started: Started, *, generation: int, now: datetime
) -> Outcome:
    status = status.model_copy(
        update={
            "task_id": started.task_id,
            "start_request": None,
            "module_id": started.module_id,
            "agent_id": started.agent_id,
            "session_url": started.session_url,
            "started_at": now,
            "finished_at": None,
            "remote_status": "queued",
            "phase": TaskPhase.QUEUED,
        }
    )
    message = f"Started Supervisely task {started.task_id} (module {started.module_id})"
    conditions = phase_conditions(
        status, reason=Reason.STARTED, message=message, generation=generation, now=now
    )
    status = status.model_copy(update={"conditions": conditions})
    conditions = synced_condition(
        status,
        ok=True,
        reason=Reason.RECONCILED,
        message="Supervisely answered",
        generation=generation,
        now=now,
    )
    status = status.model_copy(update={"conditions": conditions})
    return Outcome(status=status, events=(Event(EventType.NORMAL, Reason.STARTED, message),))


def apply_call_failure(
    status: SuperviselyTaskStatus, error: errors.SuperviselyError, *, generation: int, now: datetime
) -> Outcome:
    """A stop or delete call failed: say so in Synced; the next pass tries again."""
    return _not_synced(status, error.reason, error.message, generation=generation, now=now)


def _not_synced(
    status: SuperviselyTaskStatus, reason: str, message: str, *, generation: int, now: datetime
) -> Outcome:
    was_synced = condition_since(status, SYNCED, ConditionStatus.FALSE) is None
    status = status.model_copy(
        update={
            "conditions": synced_condition(
                status, ok=False, reason=reason, message=message, generation=generation, now=now
            )
        }
    )
    events = (Event(EventType.WARNING, reason, message),) if was_synced else ()
    return Outcome(status=status, events=events)
