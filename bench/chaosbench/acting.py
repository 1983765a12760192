"""When each replica acted, read from its log: the windows a two-replica run compares.

A replica acts from the line that says it leads to the line that says it stood down, or to its
death (a SIGKILL leaves no line; the run knows when it killed). Two vocabularies: this
operator's (``Leading as`` / ``Stood down:``, from ``controller/leadership.py``) and kopf's
peering (``Resuming operations`` / ``Pausing operations``), which is how operators from before
the claim acted, so a run of one of those gives the windows to compare with.

Times are the log's own, to the millisecond, in the machine's local time: the replicas of a run
share one machine and one clock, so their windows compare directly.
"""

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

LOG_LINE: Final = re.compile(
    r"^\[(?P<at>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\] \S+\s+\[[A-Z]+\s*\] (?P<message>.*)$"
)
VOCABULARIES: Final = {
    "claim": (("Leading as ",), ("Stood down: ",)),
    "kopf": (("Resuming operations",), ("Pausing operations", "Pausing all operators")),
}
"""Per vocabulary: how a line that starts acting begins, and how one that ends it begins."""


@dataclass(frozen=True)
class Window:
    """One stretch of time in which one replica acted."""

    replica: str
    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


def acting_windows(
    text: str,
    *,
    replica: str,
    until: datetime,
    deaths: Iterable[datetime] = (),
    vocabulary: str = "claim",
) -> list[Window]:
    """The windows in which the replica whose log is ``text`` acted; one still open ends at its
    next death, or at ``until`` (when the run stopped it)."""
    starts, ends = VOCABULARIES[vocabulary]
    marks: list[tuple[datetime, bool]] = [(death, False) for death in deaths]
    for line in text.splitlines():
        match = LOG_LINE.match(line)
        if match is None:
            continue
        message = match["message"]
        if message.startswith(starts) or message.startswith(ends):
            at = datetime.strptime(match["at"], "%Y-%m-%d %H:%M:%S,%f")
            marks.append((at, message.startswith(starts)))
    windows = []
    began: datetime | None = None
    for at, acting in sorted(marks, key=lambda mark: mark[0]):
        if acting and began is None:
            began = at
        elif not acting and began is not None:
            windows.append(Window(replica, began, at))
            began = None
    if began is not None:
        windows.append(Window(replica, began, until))
    return windows


def overlaps(windows: Sequence[Window]) -> list[Window]:
    """Every stretch in which two different replicas acted at once (replica: "a+b")."""
    found = []
    for first, second in itertools.combinations(windows, 2):
        if first.replica == second.replica:
            continue
        start, end = max(first.start, second.start), min(first.end, second.end)
        if start < end:
            found.append(Window(f"{first.replica}+{second.replica}", start, end))
    return sorted(found, key=lambda window: window.start)


def handovers(windows: Sequence[Window]) -> list[timedelta]:
    """Between one replica's window and the next one's (of another replica), how long nobody
    acted: the failover time of a run, from the end of the old leader's acting."""
    ordered = sorted(windows, key=lambda window: window.start)
    return [
        second.start - first.end
        for first, second in itertools.pairwise(ordered)
        if first.replica != second.replica and second.start >= first.end
    ]
