"""The decision for a SuperviselyCronTask: given its spec, status, runs and the time, what next.

Pure, like the task's decision: the time is an argument and every tick comes from
``reconcile.schedule``. The rules (docs/operations.md states them for users):

- Each tick is considered once: it makes a run, or is skipped for good (``Forbid`` while a run
  lives, or ``startingDeadlineSeconds`` passed). A tick at or before the last tick considered,
  or before the cron task was made, is never due.
- After downtime only the latest missed tick is due, so there is at most one late run; the
  ticks between are neither run nor looked at.
- A run is named after its tick, so making it twice (a crash after the create, two replicas)
  finds the first one; the runs themselves tell which ticks were scheduled.
- ``Replace`` deletes the runs that live (their deletion stops their tasks) and makes the new
  run only once they are gone; the tick stays due meanwhile and is never replaced twice.
- Finished runs beyond the history limits are deleted, oldest first.
- A requested trigger makes one run now, once per value, whatever the policy (as
  ``kubectl create job --from=cronjob/...`` does).
"""

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from supervisely_operator.api import ConditionStatus, TaskPhase, resource
from supervisely_operator.api.cron import (
    ACTIVE_LISTED,
    TRIGGER_HANDLED_LIMIT,
    ConcurrencyPolicy,
    RunReference,
    SuperviselyCronTaskSpec,
    SuperviselyCronTaskStatus,
)
from supervisely_operator.reconcile.conditions import READY, Reason, set_condition
from supervisely_operator.reconcile.schedule import latest_tick, next_tick
from supervisely_operator.reconcile.situation import Event, EventType, ResourceRef

FINISHED_PHASES = frozenset({TaskPhase.SUCCEEDED, TaskPhase.FAILED})
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
REPLACE_RECHECK = 2.0
"""Seconds between looks while replaced runs stop (their going wakes the cron task sooner)."""


@dataclass(frozen=True)
class Run:
    """One run of a cron task, as its SuperviselyTask shows it."""

    name: str
    uid: str
    scheduled_at: datetime | None
    """The tick it was made for; None: made by a trigger."""
    phase: TaskPhase | None = None
    finished_at: datetime | None = None
    deleting: bool = False

    @property
    def finished(self) -> bool:
        return self.phase in FINISHED_PHASES


@dataclass(frozen=True, kw_only=True)
class CronSituation:
    """Everything the cron decision may look at."""

    cron: ResourceRef
    generation: int
    created_at: datetime
    spec: SuperviselyCronTaskSpec | None
    """None when the stored spec breaks the operator's rules (``broken_spec`` says which)."""
    status: SuperviselyCronTaskStatus
    runs: tuple[Run, ...]
    now: datetime
    trigger_requested: str | None = None
    broken_spec: str | None = None


@dataclass(frozen=True)
class MakeRun:
    """Make a run: a SuperviselyTask from the template, named ``name``."""

    name: str
    scheduled_at: datetime | None
    """The tick it is made for; None: a trigger."""


@dataclass(frozen=True, kw_only=True)
class CronPlan:
    """What to do next: make at most one run, delete runs, then write ``status``."""

    status: SuperviselyCronTaskStatus
    make: MakeRun | None = None
    delete: tuple[Run, ...] = ()
    events: tuple[Event, ...] = ()
    requeue_after: float | None


def run_name(cron: str, tick: datetime) -> str:
    """The run of a tick: the cron task's name and the tick in minutes since the epoch (as
    CronJob names its Jobs)."""
    return f"{cron}-{int(tick.timestamp()) // 60}"


def trigger_key(trigger: str) -> str:
    """What ``status.triggerHandled`` records of a trigger: its value, or for a value longer
    than the field holds, its digest (any value is a new trigger)."""
    if len(trigger) <= TRIGGER_HANDLED_LIMIT:
        return trigger
    return f"sha256:{hashlib.sha256(trigger.encode()).hexdigest()}"


def triggered_run_name(cron: str, trigger: str) -> str:
    """The run of a trigger: one name per value of the annotation."""
    return f"{cron}-m{hashlib.sha256(trigger.encode()).hexdigest()[:10]}"


def run_object(cron: ResourceRef, spec: SuperviselyCronTaskSpec, make: MakeRun) -> dict[str, Any]:
    """The SuperviselyTask of a run: the template, named after its tick, owned by its cron task
    (as its controller, so a real cluster's garbage collector deletes it with the cron task)."""
    template = spec.task_template
    scheduled = "manual"
    if make.scheduled_at is not None:  # RFC 3339 in UTC, as CronJob's scheduled-timestamp
        scheduled = make.scheduled_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": resource.API_VERSION,
        "kind": resource.KIND,
        "metadata": {
            "name": make.name,
            "namespace": cron.namespace,
            "labels": {**template.metadata.labels, resource.CRON_LABEL: cron.name},
            "annotations": {
                **template.metadata.annotations,
                resource.SCHEDULED_AT_ANNOTATION: scheduled,
            },
            "ownerReferences": [
                {
                    "apiVersion": resource.API_VERSION,
                    "kind": resource.CRON_KIND,
                    "name": cron.name,
                    "uid": cron.uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": template.spec.to_wire(),
    }


def plan_cron(situation: CronSituation) -> CronPlan:
    """Decide the runs to make and delete, the status and when to look again."""
    status = situation.status.model_copy(update={"observed_generation": situation.generation})
    events: list[Event] = []
    spec = situation.spec
    if spec is None:
        assert situation.broken_spec is not None
        status = _ready(
            situation,
            status,
            events,
            ok=False,
            reason=Reason.INVALID_SPEC,
            message=situation.broken_spec,
        )
        return CronPlan(status=status, events=tuple(events), requeue_after=None)

    runs = situation.runs
    live = [run for run in runs if not run.finished]
    status = _facts(status, runs)
    delete = _beyond_history(spec, runs)
    if delete:
        names = ", ".join(run.name for run in delete)
        events.append(Event(EventType.NORMAL, Reason.HISTORY_TRIMMED, f"Deleted {names}"))

    make: MakeRun | None = None
    requeue: float | None = None
    trigger = situation.trigger_requested
    if trigger is not None and trigger_key(trigger) != status.trigger_handled:
        make = MakeRun(triggered_run_name(situation.cron.name, trigger), scheduled_at=None)
        status = status.model_copy(update={"trigger_handled": trigger_key(trigger)})
        events.append(Event(EventType.NORMAL, Reason.TRIGGERED, f"Made run {make.name} now"))
        requeue = 0.0  # a tick due meanwhile is decided on in the next pass
    elif not spec.suspend:
        tick = latest_tick(spec.schedule, spec.time_zone, situation.now)
        if tick is not None and tick > _considered(situation, status):
            status, make, replacing = _on_tick(situation, spec, status, live, tick, events)
            if replacing is not None:
                delete = (*delete, *replacing)
                requeue = REPLACE_RECHECK

    # A run made now joins ``active`` in the pass its appearance wakes (its uid known then).
    upcoming = None if spec.suspend else next_tick(spec.schedule, spec.time_zone, situation.now)
    status = status.model_copy(
        update={
            "active": [RunReference(name=r.name, uid=r.uid) for r in sorted(live, key=_by_name)][
                :ACTIVE_LISTED
            ],
            "active_count": len(live),
            "next_schedule_time": upcoming,
        }
    )
    ready: tuple[bool, str, str]
    if spec.suspend:
        ready = (False, Reason.SUSPENDED, "Suspended: ticks make no runs")
    else:
        ready = (True, Reason.SCHEDULING, f"Runs on {spec.schedule} ({spec.time_zone or 'UTC'})")
    ok, reason, message = ready
    status = _ready(situation, status, events, ok=ok, reason=reason, message=message)
    if upcoming is not None:
        until = max((upcoming - situation.now).total_seconds(), 0.0)
        requeue = until if requeue is None else min(requeue, until)
    return CronPlan(
        status=status, make=make, delete=delete, events=tuple(events), requeue_after=requeue
    )


def _facts(status: SuperviselyCronTaskStatus, runs: tuple[Run, ...]) -> SuperviselyCronTaskStatus:
    """What the runs tell: the latest tick scheduled (a run made before a crash let its status
    write happen counts), the latest success and failure."""
    scheduled = [run.scheduled_at for run in runs if run.scheduled_at is not None]
    succeeded = [r.finished_at for r in runs if r.phase is TaskPhase.SUCCEEDED and r.finished_at]
    failed = [r.finished_at for r in runs if r.phase is TaskPhase.FAILED and r.finished_at]
    return status.model_copy(
        update={
            "last_schedule_time": _latest(status.last_schedule_time, *scheduled),
            "last_successful_time": _latest(status.last_successful_time, *succeeded),
            "last_failed_time": _latest(status.last_failed_time, *failed),
        }
    )


def _beyond_history(spec: SuperviselyCronTaskSpec, runs: tuple[Run, ...]) -> tuple[Run, ...]:
    """Finished runs beyond the limits, oldest first (those already going are not asked again)."""
    beyond: list[Run] = []
    for phase, limit in (
        (TaskPhase.SUCCEEDED, spec.successful_tasks_history_limit),
        (TaskPhase.FAILED, spec.failed_tasks_history_limit),
    ):
        kept = sorted((run for run in runs if run.phase is phase), key=_age, reverse=True)
        beyond.extend(run for run in kept[limit:] if not run.deleting)
    return tuple(sorted(beyond, key=_age))


def _considered(situation: CronSituation, status: SuperviselyCronTaskStatus) -> datetime:
    """Ticks at or before this were decided on already (or came before the cron task)."""
    moments = [situation.created_at, status.last_schedule_time, status.last_skipped_time]
    latest = _latest(*moments)
    assert latest is not None
    return latest


def _on_tick(
    situation: CronSituation,
    spec: SuperviselyCronTaskSpec,
    status: SuperviselyCronTaskStatus,
    live: list[Run],
    tick: datetime,
    events: list[Event],
) -> tuple[SuperviselyCronTaskStatus, MakeRun | None, tuple[Run, ...] | None]:
    """A due tick: its run, or the skip recorded in status, or the live runs to delete before
    it runs (``Replace``; an empty tuple while they are already going)."""
    when = f"{tick:%Y-%m-%d %H:%M}Z"
    late = (situation.now - tick).total_seconds()
    deadline = spec.starting_deadline_seconds
    if deadline is not None and late > deadline:
        message = f"Missed the tick of {when}: {late:.0f}s late, past startingDeadlineSeconds"
        events.append(Event(EventType.WARNING, Reason.SCHEDULE_MISSED, message))
        return status.model_copy(update={"last_skipped_time": tick}), None, None
    if live and spec.concurrency_policy is ConcurrencyPolicy.FORBID:
        names = ", ".join(run.name for run in live)
        message = f"Skipped the tick of {when}: {names} still runs (concurrencyPolicy Forbid)"
        events.append(Event(EventType.NORMAL, Reason.SCHEDULE_SKIPPED, message))
        return status.model_copy(update={"last_skipped_time": tick}), None, None
    if live and spec.concurrency_policy is ConcurrencyPolicy.REPLACE:
        going = tuple(run for run in live if not run.deleting)
        if going:
            names = ", ".join(run.name for run in going)
            message = f"Deleting {names}, which still runs, before the run of {when}"
            events.append(Event(EventType.NORMAL, Reason.RUN_REPLACED, message))
        return status, None, going
    make = MakeRun(run_name(situation.cron.name, tick), scheduled_at=tick)
    events.append(Event(EventType.NORMAL, Reason.SCHEDULED, f"Made run {make.name} for {when}"))
    return status.model_copy(update={"last_schedule_time": tick}), make, None


def _ready(
    situation: CronSituation,
    status: SuperviselyCronTaskStatus,
    events: list[Event],
    *,
    ok: bool,
    reason: str,
    message: str,
) -> SuperviselyCronTaskStatus:
    """The Ready condition; an Event when its reason changes to one that needs a person."""
    was = next((c for c in situation.status.conditions if c.type == READY), None)
    conditions = set_condition(
        status.conditions,
        type=READY,
        status=ConditionStatus.TRUE if ok else ConditionStatus.FALSE,
        reason=reason,
        message=message,
        generation=situation.generation,
        now=situation.now,
    )
    if not ok and (was is None or (was.reason, was.message) != (reason, message)):
        kind = EventType.WARNING if reason == Reason.INVALID_SPEC else EventType.NORMAL
        events.append(Event(kind, reason, message))
    return status.model_copy(update={"conditions": conditions})


def _latest(*moments: datetime | None) -> datetime | None:
    known = [moment for moment in moments if moment is not None]
    return max(known) if known else None


def _age(run: Run) -> tuple[datetime, str]:
    """Oldest first: by finish (or tick), then name."""
    return (run.finished_at or run.scheduled_at or EPOCH, run.name)


def _by_name(run: Run) -> str:
    return run.name
