"""Time for the simulator: one monotonic clock that every state derives from.

Task states, readiness and log lines are computed from the clock when a request arrives instead of
being advanced by background tasks, so a test can swap in a ``FakeClock`` and move time by hand.
Wall-clock timestamps (``startedAt``, log ``timestamp``) are the monotonic reading shifted by an
anchor taken at start-up, so they move with the fake clock too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

Clock = Callable[[], float]
"""Seconds on a monotonic scale; only differences between readings matter."""

DEFAULT_CLOCK: Clock = time.monotonic


class FakeClock:
    """A clock that only moves when told to, for deterministic lifecycle tests."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move time forward and return the new reading."""
        if seconds < 0:
            raise ValueError("a clock never goes backwards")
        with self._lock:
            self._now += seconds
            return self._now


@dataclass(frozen=True)
class WallAnchor:
    """Maps monotonic readings to UTC wall-clock times, fixed once at start-up."""

    monotonic: float
    wall: datetime

    @classmethod
    def now(cls, *, clock: Clock) -> WallAnchor:
        """Anchor the given clock to the current wall-clock time (whole milliseconds)."""
        wall = datetime.now(UTC)
        return cls(
            monotonic=clock(), wall=wall.replace(microsecond=wall.microsecond // 1000 * 1000)
        )

    def to_wall(self, monotonic: float) -> datetime:
        """The wall-clock time of a monotonic reading, in whole milliseconds.

        Both readings are rounded to milliseconds before subtracting, so readings in different
        milliseconds (see ``to_millis``) always map to different timestamps.
        """
        return self.wall_of_millis(to_millis(monotonic))

    def iso(self, monotonic: float) -> str:
        """ISO-8601 UTC with milliseconds and a ``Z``, as the real server writes it."""
        return format_iso(self.to_wall(monotonic))

    def wall_of_millis(self, millis: int) -> datetime:
        """The wall-clock time of a reading already in whole milliseconds."""
        return self.wall + timedelta(milliseconds=millis - to_millis(self.monotonic))


def to_millis(monotonic: float) -> int:
    """A monotonic reading in whole milliseconds (the resolution of wire timestamps)."""
    return round(monotonic * 1000)


def format_iso(moment: datetime) -> str:
    """``2019-12-19T12:13:09.702Z``: the timestamp format of the Supervisely API."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_iso(text: str) -> datetime:
    """Parse an ISO-8601 timestamp; a missing offset means UTC."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
