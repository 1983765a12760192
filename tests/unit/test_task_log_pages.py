"""Reading a log page by page with ``sinceTime`` gives each line once, whether the server reads
``sinceTime`` as inclusive or exclusive (the API brief does not know) and when several lines
share a millisecond at a page's edge.

The server here is a list of lines behind the one method the reader calls; the simulator's own
(exclusive) behaviour is covered in tests/integration/test_task_logs.py.
"""

from datetime import UTC, datetime, timedelta

import pytest

from supervisely_operator.controller.task_logs import TaskLog
from supervisely_operator.supervisely import LogEntry, TaskId

START = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def line(millis: int, message: str) -> LogEntry:
    return LogEntry(level="info", message=message, timestamp=START + timedelta(milliseconds=millis))


class PagedLog:
    """``tasks.log.download`` over ``lines``: oldest first, ``limit`` at most."""

    def __init__(self, lines: list[LogEntry], *, inclusive: bool) -> None:
        self.lines = lines
        self.inclusive = inclusive
        self.calls = 0

    async def get_task_logs(
        self, task_id: TaskId, *, since: datetime | None = None, limit: int | None = None
    ) -> list[LogEntry]:
        self.calls += 1
        assert self.calls < 50, "the reader loops"
        after = [
            entry
            for entry in self.lines
            if since is None
            or entry.timestamp is None
            or (entry.timestamp >= since if self.inclusive else entry.timestamp > since)
        ]
        return after[:limit]


LINES = [
    line(0, "queued"),
    line(1, "a"),
    line(1, "a"),  # the same line twice in one millisecond: both are the app's
    line(1, "b"),
    line(2, "c"),
    line(5, "d"),
    line(5, "e"),
    line(9, "f"),
]


@pytest.mark.parametrize("inclusive", [True, False], ids=["inclusive", "exclusive"])
@pytest.mark.parametrize("page_size", [4, 5, 1000])
async def test_every_line_once_whatever_the_servers_since_and_page_size(
    inclusive: bool, page_size: int
) -> None:
    """Pages of 4 hold the 4 lines of the two fullest adjacent milliseconds (0 and 1)."""
    server = PagedLog(LINES[:5], inclusive=inclusive)
    log = TaskLog(server, 7, page_size=page_size)  # type: ignore[arg-type]
    first = await log.new_lines()
    server.lines = LINES  # the app wrote on
    second = await log.new_lines()
    assert await log.new_lines() == []
    assert [*first, *second] == LINES


@pytest.mark.parametrize("inclusive", [True, False], ids=["inclusive", "exclusive"])
@pytest.mark.parametrize("page_size", [1, 2, 3])
async def test_a_millisecond_fuller_than_a_page_is_skipped_never_looped_on(
    inclusive: bool, page_size: int
) -> None:
    server = PagedLog(LINES, inclusive=inclusive)
    log = TaskLog(server, 7, page_size=page_size)  # type: ignore[arg-type]
    given = await log.new_lines()
    remaining = iter(LINES)
    assert all(entry in remaining for entry in given), "in order, none twice (some skipped)"
    assert given[-1] == LINES[-1], "what comes after the crowded millisecond is read"
    assert await log.new_lines() == []


async def test_lines_without_a_time_are_given_once_and_do_not_move_the_cursor() -> None:
    untimed = LogEntry(level="info", message="no time")
    server = PagedLog([line(0, "a"), untimed], inclusive=False)
    log = TaskLog(server, 7)  # type: ignore[arg-type]
    assert await log.new_lines() == [line(0, "a"), untimed]
