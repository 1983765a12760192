"""SuperviselyCronTask on the real API server with the simulator, on the wall clock.

A tick comes once a minute at most, so what needs one shares one: a schedule read in its time
zone, Forbid skipping beside a live run, and Replace stopping the old task before the new one
starts all wait for the same minute. Everything else about schedules (missed ticks, deadlines,
the catch-up rule against croniter) is proven on a fake clock in the fast tiers.
"""

import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from supervisely_operator.api.resource import SCHEDULED_AT_ANNOTATION

from harness import (
    Operator,
    Schedules,
    SimulatorView,
    Tasks,
    condition,
    minute_after,
    parse_time,
    phase_of,
)

TRAIN = {"moduleId": 101}
SERVE = {"moduleId": 103}
SETUP_SECONDS = 12.0
"""What the test needs before its tick: the cron tasks applied and two runs triggered live."""
KATHMANDU = ZoneInfo("Asia/Kathmandu")
"""UTC+05:45: a schedule read in UTC, or with a whole-hour offset, fires at another minute."""

Obj = dict[str, Any]


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def live_run(schedules: Schedules, name: str) -> Obj:
    """Trigger a run of a serving template and wait for its task to run."""
    schedules.trigger(name, f"{name}-before-the-tick")
    schedules.wait(name, lambda _: bool(schedules.runs(name)), what="a triggered run")
    [run] = schedules.runs(name)
    return schedules.tasks.wait_phase(run["metadata"]["name"], "Running")


def status_of(obj: Obj | None) -> Obj:
    return ((obj or {}).get("status")) or {}


def test_one_tick_fires_in_its_time_zone_forbid_skips_it_and_replace_stops_before_it_starts(
    tasks: Tasks, schedules: Schedules, simulator: SimulatorView, operator: Operator
) -> None:
    tick = minute_after(SETUP_SECONDS)
    local = tick.astimezone(KATHMANDU)
    schedules.apply(
        "zoned",
        {
            "schedule": f"{local.minute} {local.hour} * * *",
            "timeZone": "Asia/Kathmandu",
            "taskTemplate": {"spec": TRAIN},
        },
    )
    at_the_tick = {"schedule": f"{tick.minute} {tick.hour} * * *", "taskTemplate": {"spec": SERVE}}
    schedules.apply("forbid", {**at_the_tick, "concurrencyPolicy": "Forbid"})
    schedules.apply("replace", {**at_the_tick, "concurrencyPolicy": "Replace"})
    before = schedules.wait("zoned", lambda o: bool(status_of(o).get("nextScheduleTime")), what="")
    assert parse_time(status_of(before)["nextScheduleTime"]) == tick
    forbidden = live_run(schedules, "forbid")
    replaced = live_run(schedules, "replace")
    assert datetime.now(UTC) < tick, f"the setup took longer than {SETUP_SECONDS}s"
    old_task = status_of(replaced)["taskId"]

    # The tick: the zoned cron task makes its one run, named and annotated after it.
    minutes = int(tick.timestamp()) // 60
    zoned = schedules.wait(
        "zoned", lambda o: status_of(o).get("lastScheduleTime") is not None, what="ran",
        timeout=SETUP_SECONDS + 60,
    )  # fmt: skip
    assert parse_time(status_of(zoned)["lastScheduleTime"]) == tick
    assert parse_time(status_of(zoned)["nextScheduleTime"]) == tick + timedelta(days=1)
    [run] = schedules.runs("zoned")
    assert run["metadata"]["name"] == f"zoned-{minutes}"
    assert run["metadata"]["annotations"][SCHEDULED_AT_ANNOTATION] == rfc3339(tick)
    assert parse_time(run["metadata"]["creationTimestamp"]) >= tick, "not before its minute"
    [owner] = run["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["controller"]) == (
        "SuperviselyCronTask",
        "zoned",
        True,
    )

    # Forbid: the live run goes on, the tick is skipped and recorded, never run later.
    skipped = schedules.wait(
        "forbid", lambda o: status_of(o).get("lastSkippedTime") is not None, what="skipped"
    )
    assert parse_time(status_of(skipped)["lastSkippedTime"]) == tick
    assert [r["metadata"]["name"] for r in schedules.runs("forbid")] == [
        forbidden["metadata"]["name"]
    ]
    assert phase_of(tasks.get(forbidden["metadata"]["name"])) == "Running"

    # Replace: the live run is deleted, its task stopped, and only then the tick's run made.
    new_run = f"replace-{minutes}"
    serving = tasks.wait_phase(new_run, "Running", timeout=30)
    tasks.wait_gone(replaced["metadata"]["name"])
    by_id = {task["id"]: task for task in simulator.tasks()}
    new_task = status_of(serving)["taskId"]
    assert by_id[old_task]["status"] == "stopped"
    assert parse_time(by_id[old_task]["finishedAt"]) <= parse_time(by_id[new_task]["createdAt"])
    assert [r["metadata"]["name"] for r in schedules.runs("replace")] == [new_run]
    active = status_of(schedules.get("replace"))["active"]
    assert [reference["name"] for reference in active] == [new_run]


def test_finished_runs_beyond_the_history_limits_are_deleted_oldest_first(
    tasks: Tasks, schedules: Schedules, simulator: SimulatorView, operator: Operator
) -> None:
    """Runs made by triggers, so no minute is waited for."""
    schedules.apply(
        "trained",
        {
            "schedule": "0 0 1 1 *",
            "successfulTasksHistoryLimit": 1,
            "failedTasksHistoryLimit": 1,
            "taskTemplate": {"spec": TRAIN},
        },
    )
    names = []
    for value in ("first", "second"):
        schedules.trigger("trained", value)
        schedules.wait(
            "trained", lambda o, v=value: status_of(o).get("triggerHandled") == v, what=value
        )
        [newest] = [r for r in schedules.runs("trained") if r["metadata"]["name"] not in names]
        names.append(newest["metadata"]["name"])
        tasks.wait_phase(names[-1], "Succeeded")
    tasks.wait_gone(names[0])
    kept = schedules.wait(
        "trained", lambda o: status_of(o).get("lastSuccessfulTime") is not None, what="told"
    )
    assert [r["metadata"]["name"] for r in schedules.runs("trained")] == [names[1]]
    assert condition(kept, "Ready")["reason"] == "Scheduling"
    assert len(simulator.calls("tasks.run.app")) == 2
    time.sleep(1)  # nothing more follows: the kept run stays
    assert [r["metadata"]["name"] for r in schedules.runs("trained")] == [names[1]]
