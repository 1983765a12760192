"""The chaos run's invariant checker finds each kind of violation (so the chaos test can fail)."""

from datetime import UTC, datetime, timedelta
from typing import Any

from chaosbench.run import (
    FAIL,
    SERVE,
    RemoteRecord,
    Tracked,
    find_violations,
    tasks_of,
)

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def task(
    task_id: int, owner: str | None, live: tuple[float, float | None], status: str
) -> RemoteRecord:
    start, end = live
    return RemoteRecord(task_id, owner, status, at(start), None if end is None else at(end))


def stored(uid: str, task_id: int | None) -> dict[str, dict[str, Any]]:
    return {uid: {"status": {"taskId": task_id}}}


def test_a_clean_history_has_no_violations() -> None:
    fleet = {"a": Tracked("a", SERVE, "u-a", edits=1)}
    tasks = [task(1, "u-a", (0, 5), "stopped"), task(2, "u-a", (5, None), "started")]
    assert find_violations(tasks, fleet, stored("u-a", 2)) == []


def test_overlapping_live_tasks_of_one_resource_are_found() -> None:
    fleet = {"a": Tracked("a", SERVE, "u-a", edits=1)}
    tasks = [task(1, "u-a", (0, 6), "stopped"), task(2, "u-a", (5, None), "started")]
    assert find_violations(tasks, fleet, stored("u-a", 2)) == ["a: tasks 1 and 2 were live at once"]


def test_too_many_starts_a_task_left_behind_and_orphans_are_found() -> None:
    fleet = {
        "a": Tracked("a", SERVE, "u-a"),
        "b": Tracked("b", FAIL, "u-b", deleted=True),
    }
    tasks = [
        task(1, "u-a", (0, 1), "error"),
        task(2, "u-a", (2, None), "started"),
        task(3, "u-b", (0, None), "started"),
        task(4, "u-gone", (0, None), "started"),
        task(5, None, (0, None), "started"),
    ]
    assert find_violations(tasks, fleet, stored("u-a", 1)) == [
        "task 5 carries no start marker",
        "a: 2 starts, at most 1 allowed (resumes 0, edits 0)",
        "a: task 2 is started but the resource points at 1",
        "b was deleted but task 3 is started",
        "tasks [4] belong to no resource",
    ]


def test_a_failing_app_may_be_restarted_up_to_its_limit_after_each_start() -> None:
    assert Tracked("f", FAIL, "u-f", resumes=1).allowed_starts() == 6


def test_records_are_read_from_the_simulator_s_tasks_and_timelines() -> None:
    rendered = [{"id": 7, "description": "train\n[supervisely-operator:u-a:1700000000000]"}]
    timelines = [
        {
            "id": 7,
            "status": "stopped",
            "transitions": [
                {"status": "queued", "at": at(0).isoformat()},
                {"status": "started", "at": at(1).isoformat()},
                {"status": "terminating", "at": at(3).isoformat()},
                {"status": "stopped", "at": at(4).isoformat()},
            ],
        }
    ]
    assert tasks_of(rendered, timelines) == [RemoteRecord(7, "u-a", "stopped", at(0), at(3))]
