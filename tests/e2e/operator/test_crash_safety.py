"""SIGKILL the operator at the dangerous points; exactly one remote task per resource survives,
and a tick the operator was down for runs at most once.

The simulator holds a reply after the call took effect (``after_effect``), which opens a window
in which the remote side has acted and the operator has not yet recorded it. The test kills
the operator in that window, as a node failure would, and starts a new one.
"""

import time
from datetime import UTC, datetime

import pytest

from harness import (
    Operator,
    Schedules,
    SimulatorView,
    Tasks,
    live_tasks,
    minute_after,
    parse_time,
    wait_until,
)

SERVE = {"moduleId": 103}


@pytest.fixture
def own_operator() -> str:
    """These tests SIGKILL their operator; they share one that no other test uses."""
    return "killed on purpose"


def test_killed_across_a_tick_makes_one_late_run_within_the_deadline_and_none_past_it(
    tasks: Tasks, schedules: Schedules, operator: Operator
) -> None:
    """Down from just before a tick to past one cron task's startingDeadlineSeconds: after the
    restart that tick runs once, late, for the other one, and is recorded as missed for it."""
    tick = minute_after(8)
    at_the_tick = f"{tick.minute} {tick.hour} * * *"
    template = {"spec": {"moduleId": 101}}
    for name, deadline in (("in-time", 120), ("too-late", 4)):
        schedules.apply(
            name,
            {
                "schedule": at_the_tick,
                "startingDeadlineSeconds": deadline,
                "taskTemplate": template,
            },
        )
        schedules.wait(
            name,
            lambda o: (
                parse_time(o.get("status", {}).get("nextScheduleTime", "1970-01-01T00:00:00Z"))
                == tick
            ),
            what="the tick planned",
        )
    time.sleep(max((tick - datetime.now(UTC)).total_seconds() - 2, 0))
    operator.kill()
    time.sleep(max((tick - datetime.now(UTC)).total_seconds() + 6, 0))
    operator.start()

    ran = schedules.wait(
        "in-time", lambda o: "lastScheduleTime" in o.get("status", {}), what="ran late"
    )
    missed = schedules.wait(
        "too-late", lambda o: "lastSkippedTime" in o.get("status", {}), what="missed"
    )
    assert parse_time(ran["status"]["lastScheduleTime"]) == tick
    assert parse_time(missed["status"]["lastSkippedTime"]) == tick
    time.sleep(2)  # what more an error would make
    assert [r["metadata"]["name"] for r in schedules.runs("in-time")] == [
        f"in-time-{int(tick.timestamp()) // 60}"
    ]
    assert schedules.runs("too-late") == []
    assert "lastScheduleTime" not in schedules.get("too-late")["status"]


def test_killed_after_start_before_recording_the_task_adopts_it(
    tasks: Tasks, simulator: SimulatorView, operator: Operator
) -> None:
    simulator.inject_fault("tasks.run.app", delay=30, after_effect=True, times=1)
    tasks.apply("serve", SERVE)
    wait_until(lambda: bool(simulator.tasks()), what="a task created on Supervisely")
    [created] = [task["id"] for task in simulator.tasks()]
    operator.kill()
    before = tasks.get("serve")
    assert before is not None
    assert "taskId" not in before["status"], "the kill came before the task id was written"
    assert before["status"]["startRequest"]["marker"]

    operator.start()
    obj = tasks.wait_phase("serve", "Running")
    assert obj["status"]["taskId"] == created
    assert "startRequest" not in obj["status"]
    assert live_tasks(simulator) == [created]
    assert len(simulator.tasks()) == 1, "no second task was started"


def test_killed_during_stop_finishes_the_stop_after_restart(
    tasks: Tasks, simulator: SimulatorView, operator: Operator
) -> None:
    tasks.apply("serve", SERVE)
    task_id = tasks.wait_phase("serve", "Running")["status"]["taskId"]
    simulator.inject_fault("tasks.stop", delay=30, after_effect=True, times=1)
    tasks.patch_spec("serve", {"suspend": True})
    wait_until(lambda: simulator.task_status(task_id) != "started", what="stopping")
    operator.kill()

    operator.start()
    tasks.wait_phase("serve", "Suspended")
    assert simulator.task_status(task_id) == "stopped"
    assert live_tasks(simulator) == []
    assert len(simulator.tasks()) == 1


def test_killed_during_deletion_never_leaves_the_task_running(
    tasks: Tasks, simulator: SimulatorView, operator: Operator
) -> None:
    tasks.apply("serve", SERVE)
    task_id = tasks.wait_phase("serve", "Running")["status"]["taskId"]
    simulator.inject_fault("tasks.stop", delay=30, after_effect=True, times=1)
    tasks.delete("serve")
    wait_until(lambda: simulator.task_status(task_id) != "started", what="stopping")
    operator.kill()
    assert tasks.get("serve") is not None, "the finalizer holds the resource"

    operator.start()
    tasks.wait_gone("serve")
    assert simulator.task_status(task_id) == "stopped"
    assert live_tasks(simulator) == []
