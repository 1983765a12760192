"""The one status builder: how a pass or an action's result changes phase, conditions and Events.

Both halves of the pure core build the next status through :class:`StatusDraft`: the decision
(:mod:`.decide`) before an action, and the outcome of an action (:mod:`.outcomes`) after it. So
"enter a phase", "Supervisely answered" and "Supervisely did not answer" each mean one thing,
with one rule for when an Event is posted (on a change, never on a repeat).
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from supervisely_operator.api import (
    ConditionStatus,
    FailureAction,
    LastError,
    SuperviselyTaskStatus,
    TaskPhase,
)
from supervisely_operator.reconcile.conditions import (
    READY,
    SYNCED,
    Reason,
    condition_since,
    phase_conditions,
    synced_condition,
)
from supervisely_operator.reconcile.milestones import Milestone
from supervisely_operator.reconcile.situation import Event, EventType


@dataclass
class StatusDraft:
    """The status, Events and milestones one step builds up from ``before``; local to one call,
    never shared."""

    before: SuperviselyTaskStatus
    generation: int
    now: datetime
    status: SuperviselyTaskStatus = field(init=False)
    events: list[Event] = field(default_factory=list, init=False)
    milestones: list[Milestone] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.status = self.before

    def update(self, **changes: Any) -> None:
        """Set status fields (pydantic field names)."""
        self.status = self.status.model_copy(update=changes)

    def event(self, type_: EventType, reason: str, message: str) -> None:
        """Post this Event after the status is written."""
        self.events.append(Event(type=type_, reason=reason, message=message))

    def passed(self, milestone: Milestone) -> None:
        """Tell the metrics, once the status is written, that the task's life passed this."""
        self.milestones.append(milestone)

    def enter(
        self,
        phase: TaskPhase,
        reason: str,
        message: str,
        *,
        warn: bool = False,
        announce: bool = True,
        ready: bool = True,
    ) -> None:
        """Move to ``phase``; post an Event only when phase or reason changed (and ``announce``:
        a step whose outcome is told at once, such as a first start, needs no Event of its own).
        ``ready`` False keeps Ready False in a Running phase (the app does not answer yet).
        """
        was = next((c for c in self.before.conditions if c.type == READY), None)
        changed = self.before.phase != phase or was is None or was.reason != reason
        self.update(phase=phase)
        self.update(
            conditions=phase_conditions(
                self.status,
                reason=reason,
                message=message,
                generation=self.generation,
                now=self.now,
                ready=ready,
            )
        )
        if changed and announce:
            self.event(EventType.WARNING if warn else EventType.NORMAL, reason, message)

    def synced(self) -> None:
        """Supervisely answered."""
        self.update(
            conditions=synced_condition(
                self.status,
                ok=True,
                reason=Reason.RECONCILED,
                message="Supervisely answered",
                generation=self.generation,
                now=self.now,
            )
        )

    def not_synced(self, reason: str, message: str) -> None:
        """Supervisely could not be asked, or refused; a Warning only when this begins."""
        was_synced = condition_since(self.before, SYNCED, ConditionStatus.FALSE) is None
        self.update(
            conditions=synced_condition(
                self.status,
                ok=False,
                reason=reason,
                message=message,
                generation=self.generation,
                now=self.now,
            )
        )
        if was_synced:
            self.event(EventType.WARNING, reason, message)

    def start_went_through(self) -> None:
        """A task exists for the start: an error that refused an earlier start (no task id: an
        agent not running, an outage, a refused token) is over, and ``lastError`` no longer
        shows it beside a running task. A task's own error stays until a later task succeeds.
        """
        error = self.status.last_error
        if error is not None and error.task_id is None:
            self.update(last_error=None)

    def record_error(
        self,
        *,
        reason: str,
        message: str,
        task_id: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Keep the latest error in ``status.lastError``."""
        self.update(
            last_error=LastError(
                message=message,
                reason=reason,
                time=self.now,
                task_id=task_id,
                retry_after_seconds=retry_after,
            )
        )

    def record_verdict(self, action: FailureAction, rule: int | None) -> None:
        """Keep what the failure rules said of ``lastError``, so later passes follow it."""
        error = self.status.last_error
        assert error is not None, "a verdict is about a recorded error"
        self.update(
            last_error=error.model_copy(update={"failure_action": action, "failure_rule": rule})
        )
