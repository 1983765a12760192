"""Waits between attempts, computed from what the status already records.

Nothing here keeps state: the delay before restart ``n`` comes from the spec's backoff and
the restart count, and the wait after a failure comes from how long the failure has lasted.
So a restarted operator resumes the same schedule it left.
"""

from datetime import datetime, timedelta

from supervisely_operator.api import Backoff


def restart_delay(backoff: Backoff, *, restarts: int) -> timedelta:
    """Delay before the next restart: initial, doubled each restart, capped."""
    seconds = backoff.initial_delay_seconds * 2 ** min(restarts, 30)
    return timedelta(seconds=min(seconds, backoff.max_delay_seconds))


def outage_delay(*, since: datetime, now: datetime, minimum: float, maximum: float) -> float:
    """Seconds to wait after a failure: as long as the failure has lasted, within bounds.

    Retrying after as long as the outage has already lasted doubles the wait each time,
    without a counter to persist.
    """
    lasted = (now - since).total_seconds()
    return max(minimum, min(maximum, lasted))
