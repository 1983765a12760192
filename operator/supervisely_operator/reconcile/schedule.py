"""The ticks of a cron schedule, in its time zone, from a well-kept cron library (cronsim).

Only two questions are asked of a schedule, and neither iterates over missed ticks: the latest
tick at or before a moment, and the first tick after it. So an operator that was down for a
week looks back one step, not over ten thousand minutes. Daylight saving is cronsim's: as
Debian's cron, a tick in a skipped hour runs once when the clock jumps, one in a repeated hour
runs once. Every moment in and out is an aware datetime; the results are in UTC.
"""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from cronsim import CronSim

from supervisely_operator.api.cron import cron_expression


def _zone(name: str | None) -> ZoneInfo | None:
    """None for UTC: cronsim reads plain UTC without its DST corrections."""
    return None if name in (None, "UTC", "Etc/UTC") else ZoneInfo(name)


def _local(moment: datetime, zone: ZoneInfo | None) -> datetime:
    return moment.astimezone(zone or UTC)


def latest_tick(schedule: str, zone: str | None, at: datetime) -> datetime | None:
    """The latest tick at or before ``at`` (None: none in the last 50 years)."""
    local = _local(at, _zone(zone)).replace(microsecond=0) + timedelta(seconds=1)
    try:
        # Backwards, cronsim first steps one second back, so this finds ticks <= ``at``.
        tick = next(CronSim(cron_expression(schedule), local, reverse=True))
    except StopIteration:
        return None
    return tick.astimezone(UTC)


def next_tick(schedule: str, zone: str | None, after: datetime) -> datetime | None:
    """The first tick strictly after ``after`` (None: none in the next 50 years)."""
    try:
        tick = next(CronSim(cron_expression(schedule), _local(after, _zone(zone))))
    except StopIteration:
        return None
    return tick.astimezone(UTC)
