"""The cron decision on a fake clock: ticks, policies, missed runs, history, triggers.

The clock is an argument of the decision, so every case names its moment; the properties hold
the rule for missed ticks against a second, independent cron library (croniter).
"""

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from supervisely_operator.api import TaskPhase
from supervisely_operator.api.cron import SuperviselyCronTaskSpec, SuperviselyCronTaskStatus
from supervisely_operator.reconcile.conditions import READY, Reason
from supervisely_operator.reconcile.cron import (
    REPLACE_RECHECK,
    CronPlan,
    CronSituation,
    Run,
    plan_cron,
    run_name,
    triggered_run_name,
)
from supervisely_operator.reconcile.schedule import latest_tick, next_tick
from supervisely_operator.reconcile.situation import ResourceRef

CRON = ResourceRef(namespace="ml", name="nightly", uid="cron-uid")
MADE = datetime(2026, 12, 1, 0, 0, 30, tzinfo=UTC)
"""When the cron task was made; ticks before it are never due."""


def spec(**fields: Any) -> SuperviselyCronTaskSpec:
    return SuperviselyCronTaskSpec.model_validate(
        {
            "schedule": "*/10 * * * *",
            "taskTemplate": {"spec": {"moduleId": 101, "workspaceId": 1}},
            **fields,
        }
    )


def at(hour: int, minute: int, second: int = 0, *, day: int = 7) -> datetime:
    return datetime(2026, 12, day, hour, minute, second, tzinfo=UTC)


def situation(
    now: datetime,
    *,
    spec_: SuperviselyCronTaskSpec | None = None,
    runs: tuple[Run, ...] = (),
    status: SuperviselyCronTaskStatus | None = None,
    **extra: Any,
) -> CronSituation:
    return CronSituation(
        cron=CRON,
        generation=1,
        created_at=MADE,
        spec=spec_ or spec(),
        status=status or SuperviselyCronTaskStatus(),
        runs=runs,
        now=now,
        **extra,
    )


def run(tick: datetime, phase: TaskPhase | None = None, **fields: Any) -> Run:
    return Run(
        name=run_name(CRON.name, tick),
        uid=f"uid-{tick:%H%M}",
        scheduled_at=tick,
        phase=phase,
        **fields,
    )


def reasons(plan: CronPlan) -> list[str]:
    return [event.reason for event in plan.events]


def test_a_due_tick_makes_its_run_named_after_it_and_records_it() -> None:
    plan = plan_cron(situation(at(10, 0, 5)))
    assert plan.make is not None
    assert (plan.make.name, plan.make.scheduled_at) == ("nightly-29943960", at(10, 0))
    assert plan.status.last_schedule_time == at(10, 0)
    assert plan.status.next_schedule_time == at(10, 10)
    assert reasons(plan) == [Reason.SCHEDULED]
    assert plan.requeue_after == pytest.approx(595)


def test_a_tick_already_made_is_not_made_again_after_a_crash_before_the_status_write() -> None:
    """The run exists (its create went through) though the status never said so."""
    plan = plan_cron(situation(at(10, 0, 5), runs=(run(at(10, 0)),)))
    assert plan.make is None
    assert plan.status.last_schedule_time == at(10, 0)
    assert plan.events == ()


def test_after_downtime_only_the_latest_missed_tick_runs_once() -> None:
    status = SuperviselyCronTaskStatus(last_schedule_time=at(3, 0))
    plan = plan_cron(situation(at(10, 4), status=status))
    assert plan.make is not None
    assert plan.make.scheduled_at == at(10, 0), "the latest tick, not the 41 in between"
    again = plan_cron(situation(at(10, 5), status=plan.status, runs=(run(at(10, 0)),)))
    assert again.make is None, "one late run"


def test_a_tick_past_its_starting_deadline_is_missed_with_a_warning_and_never_run() -> None:
    late = spec(startingDeadlineSeconds=60)
    plan = plan_cron(situation(at(10, 2), spec_=late))
    assert plan.make is None
    assert plan.status.last_skipped_time == at(10, 0)
    assert reasons(plan) == [Reason.SCHEDULE_MISSED]
    assert plan.events[0].type == "Warning"
    again = plan_cron(situation(at(10, 3), spec_=late, status=plan.status))
    assert (again.make, again.events) == (None, ()), "missed once, not again each pass"


def test_a_tick_within_its_starting_deadline_still_runs() -> None:
    plan = plan_cron(situation(at(10, 0, 59), spec_=spec(startingDeadlineSeconds=60)))
    assert plan.make is not None


def test_forbid_skips_a_tick_while_a_run_lives_and_never_runs_it_later() -> None:
    forbid = spec(concurrencyPolicy="Forbid")
    live = run(at(9, 50), TaskPhase.RUNNING)
    plan = plan_cron(situation(at(10, 0, 5), spec_=forbid, runs=(live,)))
    assert plan.make is None
    assert plan.status.last_skipped_time == at(10, 0)
    assert reasons(plan) == [Reason.SCHEDULE_SKIPPED]
    done = run(at(9, 50), TaskPhase.SUCCEEDED, finished_at=at(10, 1))
    later = plan_cron(situation(at(10, 2), spec_=forbid, runs=(done,), status=plan.status))
    assert later.make is None, "the skipped tick stays skipped"


def test_allow_runs_beside_a_live_run() -> None:
    live = run(at(9, 50), TaskPhase.RUNNING)
    plan = plan_cron(situation(at(10, 0, 5), runs=(live,)))
    assert plan.make is not None


def test_replace_deletes_the_live_run_first_and_runs_once_it_is_gone() -> None:
    replace = spec(concurrencyPolicy="Replace")
    live = run(at(9, 50), TaskPhase.RUNNING)
    first = plan_cron(situation(at(10, 0, 5), spec_=replace, runs=(live,)))
    assert (first.make, first.delete) == (None, (live,))
    assert first.requeue_after == REPLACE_RECHECK
    assert reasons(first) == [Reason.RUN_REPLACED]

    going = Run(**{**live.__dict__, "deleting": True})
    waiting = plan_cron(situation(at(10, 0, 8), spec_=replace, runs=(going,), status=first.status))
    assert (waiting.make, waiting.delete, waiting.events) == (None, (), ())

    gone = plan_cron(situation(at(10, 0, 20), spec_=replace, status=waiting.status))
    assert gone.make is not None
    assert gone.make.scheduled_at == at(10, 0)


def test_replace_never_touches_a_live_run_when_no_tick_is_due() -> None:
    replace = spec(concurrencyPolicy="Replace")
    live = run(at(10, 0), TaskPhase.RUNNING)
    status = SuperviselyCronTaskStatus(last_schedule_time=at(10, 0))
    plan = plan_cron(situation(at(10, 5), spec_=replace, runs=(live,), status=status))
    assert (plan.make, plan.delete) == (None, ())


def test_suspended_makes_no_run_and_says_so() -> None:
    plan = plan_cron(situation(at(10, 0, 5), spec_=spec(suspend=True)))
    assert plan.make is None
    assert plan.status.next_schedule_time is None
    ready = next(c for c in plan.status.conditions if c.type == READY)
    assert (ready.status, ready.reason) == ("False", Reason.SUSPENDED)


def test_finished_runs_beyond_the_history_limits_are_deleted_oldest_first() -> None:
    succeeded = tuple(
        run(at(9, m), TaskPhase.SUCCEEDED, finished_at=at(9, m + 1)) for m in range(0, 50, 10)
    )
    failed = tuple(
        run(at(8, m), TaskPhase.FAILED, finished_at=at(8, m + 1)) for m in range(0, 30, 10)
    )
    status = SuperviselyCronTaskStatus(last_schedule_time=at(9, 40))
    plan = plan_cron(situation(at(9, 45), runs=(*succeeded, *failed), status=status))
    assert [r.name for r in plan.delete] == [
        *(r.name for r in failed[:2]),
        *(r.name for r in succeeded[:2]),
    ]
    assert reasons(plan) == [Reason.HISTORY_TRIMMED]
    assert plan.status.last_successful_time == at(9, 41)
    assert plan.status.last_failed_time == at(8, 21)


def test_a_trigger_makes_one_run_now_once_per_value_whatever_the_policy() -> None:
    forbid = spec(concurrencyPolicy="Forbid", suspend=True)
    live = run(at(9, 50), TaskPhase.RUNNING)
    plan = plan_cron(situation(at(9, 55), spec_=forbid, runs=(live,), trigger_requested="t1"))
    assert plan.make is not None
    assert (plan.make.name, plan.make.scheduled_at) == (
        triggered_run_name(CRON.name, "t1"),
        None,
    )
    assert plan.status.trigger_handled == "t1"
    again = plan_cron(
        situation(at(9, 56), spec_=forbid, runs=(live,), status=plan.status, trigger_requested="t1")
    )
    assert again.make is None


def test_a_trigger_too_long_for_the_status_is_recorded_by_its_digest_and_made_once() -> None:
    long_value, suspended = "t" * 300, spec(suspend=True)
    plan = plan_cron(situation(at(9, 55), spec_=suspended, trigger_requested=long_value))
    assert plan.make is not None
    handled = plan.status.trigger_handled
    assert handled is not None
    assert handled.startswith("sha256:")
    SuperviselyCronTaskStatus.model_validate(plan.status.to_wire())  # fits the schema
    again = plan_cron(
        situation(at(9, 56), spec_=suspended, status=plan.status, trigger_requested=long_value)
    )
    assert again.make is None
    other = plan_cron(
        situation(at(9, 57), spec_=suspended, status=plan.status, trigger_requested="t" * 301)
    )
    assert other.make is not None


def test_the_status_names_at_most_100_live_runs_and_counts_them_all() -> None:
    allow = spec(schedule="* * * * *", concurrencyPolicy="Allow", successfulJobsHistoryLimit=200)
    live = tuple(run(at(7, 0) + timedelta(minutes=m), TaskPhase.RUNNING) for m in range(120))
    plan = plan_cron(situation(at(9, 0, 5), spec_=allow, runs=live))
    assert (len(plan.status.active), plan.status.active_count) == (100, 120)
    SuperviselyCronTaskStatus.model_validate(plan.status.to_wire())


def test_a_schedule_is_read_in_its_time_zone() -> None:
    berlin = spec(schedule="0 9 * * *", timeZone="Europe/Berlin")
    plan = plan_cron(situation(at(8, 0, 5), spec_=berlin))  # 09:00 in Berlin, in winter
    assert plan.make is not None
    assert plan.make.scheduled_at == at(8, 0)
    assert plan.status.next_schedule_time == at(8, 0, day=8)


def test_a_broken_spec_is_said_once_and_nothing_runs() -> None:
    broken = situation(at(10, 0, 5), spec_=None, broken_spec="schedule: Bad minute")
    broken = CronSituation(**{**broken.__dict__, "spec": None})
    plan = plan_cron(broken)
    assert (plan.make, plan.requeue_after) == (None, None)
    ready = next(c for c in plan.status.conditions if c.type == READY)
    assert (ready.reason, ready.message) == (Reason.INVALID_SPEC, "schedule: Bad minute")
    again = plan_cron(CronSituation(**{**broken.__dict__, "status": plan.status}))
    assert again.events == ()


def test_ticks_before_the_cron_task_was_made_are_never_due() -> None:
    plan = plan_cron(situation(MADE + timedelta(seconds=5)))
    assert plan.make is None


# -- the rule for missed ticks, against croniter ------------------------------------------------

SCHEDULES = ["*/5 * * * *", "0 * * * *", "15 3 * * *", "0 9 * * 1-5", "30 */2 * * *", "@hourly"]
ZONES = [None, "Asia/Kolkata", "America/Sao_Paulo"]  # zones without DST in these years


def oracle_latest(schedule: str, zone: str | None, now: datetime) -> datetime:
    """croniter's latest tick at or before ``now``."""
    expression = {"@hourly": "0 * * * *"}.get(schedule, schedule)
    local = now.astimezone(ZoneInfo(zone) if zone else UTC) + timedelta(microseconds=1)
    tick: datetime = croniter(expression, local).get_prev(datetime)
    return tick.astimezone(UTC)


@settings(max_examples=300, deadline=None)
@given(
    schedule=st.sampled_from(SCHEDULES),
    zone=st.sampled_from(ZONES),
    down_for=st.integers(0, 60 * 24 * 9),
    considered_ago=st.integers(0, 60 * 24 * 9),
    deadline=st.none() | st.integers(1, 3600),
)
def test_at_most_one_run_for_the_latest_due_tick_within_its_deadline(
    schedule: str, zone: str | None, down_for: int, considered_ago: int, deadline: int | None
) -> None:
    now = datetime(2026, 12, 20, 12, 0, 7, tzinfo=UTC)
    considered = now - timedelta(minutes=considered_ago)
    cron = spec(schedule=schedule, timeZone=zone, startingDeadlineSeconds=deadline)
    created = min(considered, now - timedelta(minutes=down_for))
    plan = plan_cron(
        CronSituation(
            cron=CRON,
            generation=1,
            created_at=created,
            spec=cron,
            status=SuperviselyCronTaskStatus(last_schedule_time=considered),
            runs=(),
            now=now,
        )
    )
    latest = oracle_latest(schedule, zone, now)
    due = latest > considered
    in_time = deadline is None or (now - latest).total_seconds() <= deadline
    if due and in_time:
        assert plan.make is not None
        assert plan.make.scheduled_at == latest
    else:
        assert plan.make is None
    if due and not in_time:
        assert plan.status.last_skipped_time == latest
    assert plan.status.next_schedule_time is not None
    assert plan.status.next_schedule_time > now


@settings(max_examples=200, deadline=None)
@given(
    schedule=st.sampled_from(SCHEDULES),
    considered_ago=st.integers(0, 60 * 24 * 3),
    live_ago=st.integers(1, 60 * 24),
)
def test_replace_deletes_only_when_a_tick_is_really_due(
    schedule: str, considered_ago: int, live_ago: int
) -> None:
    now = datetime(2026, 12, 20, 12, 0, 7, tzinfo=UTC)
    considered = now - timedelta(minutes=considered_ago)
    live = Run("nightly-1", "uid-1", now - timedelta(minutes=live_ago), TaskPhase.RUNNING)
    plan = plan_cron(
        CronSituation(
            cron=CRON,
            generation=1,
            created_at=considered,
            spec=spec(schedule=schedule, concurrencyPolicy="Replace"),
            status=SuperviselyCronTaskStatus(last_schedule_time=considered),
            runs=(live,),
            now=now,
        )
    )
    if plan.delete:
        assert oracle_latest(schedule, None, now) > considered


# -- across daylight-saving changes ---------------------------------------------------------------

CLOCK_CHANGES = [
    ("America/New_York", datetime(2026, 11, 1, 6, 0, tzinfo=UTC)),  # 02:00 EDT -> 01:00 EST
    ("America/New_York", datetime(2026, 3, 8, 7, 0, tzinfo=UTC)),  # 02:00 EST -> 03:00 EDT
    ("Europe/Berlin", datetime(2026, 10, 25, 1, 0, tzinfo=UTC)),  # 03:00 CEST -> 02:00 CET
    ("Australia/Lord_Howe", datetime(2026, 4, 4, 15, 0, tzinfo=UTC)),  # a half-hour change
]
DST_SCHEDULES = ["* * * * *", "*/15 * * * *", "30 1 * * *", "30 2 * * *", "15,45 1,2 * * *"]


@settings(max_examples=400, deadline=None)
@given(
    change=st.sampled_from(CLOCK_CHANGES),
    schedule=st.sampled_from(DST_SCHEDULES),
    offset=st.integers(-3 * 3600, 3 * 3600),
)
def test_across_a_clock_change_ticks_move_forward_and_none_is_skipped(
    change: tuple[str, datetime], schedule: str, offset: int
) -> None:
    """The next tick is always later (a past one made the daemon spin), the latest is never
    later, and no tick lies between the latest and the next."""
    zone, moment = change[0], change[1] + timedelta(seconds=offset)
    latest, upcoming = latest_tick(schedule, zone, moment), next_tick(schedule, zone, moment)
    assert latest is not None
    assert upcoming is not None
    assert latest <= moment < upcoming
    assert next_tick(schedule, zone, latest) == upcoming


@pytest.mark.parametrize(("zone", "change"), CLOCK_CHANGES)
def test_each_wall_clock_tick_runs_once_across_a_clock_change(zone: str, change: datetime) -> None:
    ticks, moment = [], change - timedelta(hours=4)
    while moment < change + timedelta(hours=4):
        moment = next_tick("30 1 * * *", zone, moment) or moment
        ticks.append(moment)
    walls = [tick.astimezone(ZoneInfo(zone)).replace(tzinfo=None) for tick in ticks]
    assert len(walls) == len(set(walls)), f"a wall-clock tick ran twice: {walls}"
    for tick, wall in zip(ticks, walls, strict=True):
        first = wall.replace(tzinfo=ZoneInfo(zone), fold=0).astimezone(UTC)
        assert tick == first, f"{wall} ran at {tick}, not the first time the clock read it"
