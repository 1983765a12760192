"""Condition types, the constants users script against, and how conditions are set.

Condition types and reasons are API: ``kubectl wait --for=condition=Succeeded`` and Argo CD
health checks read them, so they are constants rather than strings scattered around. The reasons
are declared in the one list of :mod:`supervisely_operator.api.reasons`; ``Reason`` is re-exported
here for the pure core.
"""

from datetime import datetime
from typing import Final

from supervisely_operator.api import Condition, ConditionStatus, SuperviselyTaskStatus, TaskPhase
from supervisely_operator.api.reasons import Reason as Reason

READY: Final = "Ready"
"""True while the task runs (started or deployed on Supervisely)."""
SUCCEEDED: Final = "Succeeded"
"""True once the task finished successfully."""
FAILED: Final = "Failed"
"""True once the resource gave up: error with no restart left, or a start Supervisely refused."""
SYNCED: Final = "Synced"
"""True when the last pass could talk to Supervisely; False says why not."""


def set_condition(
    conditions: list[Condition],
    *,
    type: str,
    status: ConditionStatus,
    reason: str,
    message: str,
    generation: int,
    now: datetime,
) -> list[Condition]:
    """A new list with ``type`` set; the transition time moves only when the status does."""
    previous = next((c for c in conditions if c.type == type), None)
    since = previous.last_transition_time if previous and previous.status == status else now
    updated = Condition(
        type=type,
        status=status,
        reason=reason,
        message=message,
        observed_generation=generation,
        last_transition_time=since,
    )
    kept = [c for c in conditions if c.type != type]
    return sorted([*kept, updated], key=lambda c: c.type)


def _truth(value: bool) -> ConditionStatus:
    return ConditionStatus.TRUE if value else ConditionStatus.FALSE


def phase_conditions(
    status: SuperviselyTaskStatus,
    *,
    reason: str,
    message: str,
    generation: int,
    now: datetime,
    ready: bool = True,
) -> list[Condition]:
    """Ready, Succeeded and Failed as the phase implies, all with the same reason and message;
    a running task whose app does not answer yet is not ``ready``."""
    conditions = status.conditions
    for type_, holds in (
        (READY, status.phase is TaskPhase.RUNNING and ready),
        (SUCCEEDED, status.phase is TaskPhase.SUCCEEDED),
        (FAILED, status.phase is TaskPhase.FAILED),
    ):
        conditions = set_condition(
            conditions,
            type=type_,
            status=_truth(holds),
            reason=reason,
            message=message,
            generation=generation,
            now=now,
        )
    return conditions


def synced_condition(
    status: SuperviselyTaskStatus,
    *,
    ok: bool,
    reason: str,
    message: str,
    generation: int,
    now: datetime,
) -> list[Condition]:
    """The Synced condition: whether this pass could talk to Supervisely."""
    return set_condition(
        status.conditions,
        type=SYNCED,
        status=_truth(ok),
        reason=reason,
        message=message,
        generation=generation,
        now=now,
    )


def condition_since(
    status: SuperviselyTaskStatus, type_: str, value: ConditionStatus
) -> datetime | None:
    """When ``type_`` last turned ``value``, if it is ``value`` now."""
    for condition in status.conditions:
        if condition.type == type_ and condition.status == value:
            return condition.last_transition_time
    return None
