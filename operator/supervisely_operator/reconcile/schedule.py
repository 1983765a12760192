"""The ticks of a cron schedule, in its time zone, from a well-kept cron library (cronsim).

Only two questions are asked of a schedule, and neither iterates over missed ticks: the latest
tick at or before a moment, and the first tick after it. So an operator that was down for a
week looks back one step, not over ten thousand minutes.

cronsim walks the wall clock here, with no time zone: it matches fields, and it is not asked
about daylight saving (given an aware time it returned, across a fall-back, ticks before the
moment it started from, over and over). Each wall-clock tick then becomes one instant, as
Debian's cron does it: a tick in a skipped hour runs once, when the clock jumps; a tick in a
repeated hour runs once, the first time that hour comes. Every moment in and out is an aware
datetime; the results are in UTC.
"""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from cronsim import CronSim

from supervisely_operator.api.cron import cron_expression

MAX_STEPS: Final = 10_000
"""Wall-clock ticks looked at for one answer, at most. Ticks that map before the moment asked
about (a repeated hour's, a skipped hour's) are stepped over; a schedule that fires every
minute meets at most a few hundred of them, around the longest clock change on record."""
MINUTE: Final = timedelta(minutes=1)


def _zone(name: str | None) -> ZoneInfo | None:
    """None for UTC: no clock change to map."""
    return None if name in (None, "UTC", "Etc/UTC") else ZoneInfo(name)


def _wall(moment: datetime, zone: ZoneInfo | None) -> datetime:
    """The wall-clock reading at ``moment``, without a zone (what cronsim matches)."""
    return moment.astimezone(zone or UTC).replace(tzinfo=None)


def _exists(wall: datetime, zone: ZoneInfo) -> bool:
    """Whether the wall clock reads ``wall`` at some moment (not in a skipped hour). Through
    UTC: ``astimezone`` to a datetime's own zone returns it unchanged."""
    return _wall(wall.replace(tzinfo=zone).astimezone(UTC), zone) == wall


def _instant(wall: datetime, zone: ZoneInfo | None) -> datetime:
    """When a wall-clock tick runs: its first occurrence, or, in a skipped hour, the moment the
    clock jumps (the first wall-clock minute after it that exists)."""
    if zone is None:
        return wall.replace(tzinfo=UTC)
    later = wall
    while not _exists(later, zone):
        later = later.replace(second=0, microsecond=0) + MINUTE
    return later.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _instants(ticks: Iterator[datetime], zone: ZoneInfo | None) -> Iterator[datetime]:
    for count, wall in enumerate(ticks):
        if count == MAX_STEPS:
            return
        yield _instant(wall, zone)


def latest_tick(schedule: str, zone: str | None, at: datetime) -> datetime | None:
    """The latest tick at or before ``at`` (None: none in the last 50 years)."""
    tz = _zone(zone)
    local = at.astimezone(tz or UTC)
    start = _wall(at, tz)
    first_pass, second_pass = local.replace(fold=0).utcoffset(), local.utcoffset()
    if local.fold and first_pass is not None and second_pass is not None:
        # In a repeated hour's second pass, ticks later on the wall clock than ``at`` ran in
        # its first pass, before ``at``: look back from where that pass's ticks end.
        start += first_pass - second_pass
    # Backwards, cronsim first steps one second back, so this finds ticks <= ``start``.
    start = start.replace(microsecond=0) + timedelta(seconds=1)
    ticks = CronSim(cron_expression(schedule), start, reverse=True)
    return next((tick for tick in _instants(ticks, tz) if tick <= at), None)


def next_tick(schedule: str, zone: str | None, after: datetime) -> datetime | None:
    """The first tick strictly after ``after`` (None: none in the next 50 years)."""
    tz = _zone(zone)
    ticks = CronSim(cron_expression(schedule), _wall(after, tz))
    return next((tick for tick in _instants(ticks, tz) if tick > after), None)
