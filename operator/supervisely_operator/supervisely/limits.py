"""The gate every HTTP attempt to one Supervisely server passes: concurrency, rate, shared pauses.

Thousands of SuperviselyTasks share one Supervisely instance, mostly through a handful of tokens.
Unlimited, a burst of reconcile passes (an operator restart, a rollout) becomes a burst of
requests, the server answers 429, and each caller learns about the overload on its own and
retries on its own schedule. One :class:`ServerGate` per server, shared by every client of it
whatever the token, holds each attempt (retries included) until

- fewer than ``max_concurrent_requests`` attempts to that server are in flight,
- the token bucket (``requests_per_second``, ``request_burst``; aiolimiter) has a token, and
- no pause is in effect: when the server answers 429 or 503 with ``Retry-After``, every caller
  of that server waits until that moment, not only the one that was told. The pause is bounded
  by ``max_backoff``, like the client's own sleeps, so a huge Retry-After cannot stall handlers.
"""

import asyncio
import logging
import math
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Self

from aiolimiter import AsyncLimiter

from supervisely_operator.supervisely.retry import Sleep
from supervisely_operator.supervisely.settings import ClientSettings

logger = logging.getLogger("supervisely_operator.supervisely")

Clock = Callable[[], float]


def _loop_time() -> float:
    # The loop's clock, which aiolimiter uses too: one time line for the bucket and the pauses.
    return asyncio.get_running_loop().time()


class ServerGate:
    """Admission of HTTP attempts to one server; share one instance between its clients.

    ``clock`` and ``sleep`` time the pauses (tests replace them); the token bucket always runs
    on the event loop's clock.
    """

    def __init__(
        self,
        *,
        server: str,
        max_concurrent: int,
        rate: float,
        burst: int,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        if max_concurrent < 1 or burst < 1 or not rate > 0:
            raise ValueError("max_concurrent and burst must be at least 1, rate above 0")
        self.server = server
        self._slots = asyncio.Semaphore(max_concurrent)
        # A bucket of `burst` tokens refilled at `rate` per second.
        self._bucket = AsyncLimiter(max_rate=burst, time_period=burst / rate)
        self._clock = clock or _loop_time
        self._sleep = sleep or asyncio.sleep
        self._paused_until = -math.inf
        self.waiting = 0
        """Callers held at the gate right now (for metrics)."""

    @classmethod
    def for_server(cls, server: str, settings: ClientSettings) -> Self:
        """A gate with the limits of ``settings``."""
        return cls(
            server=server,
            max_concurrent=settings.max_concurrent_requests,
            rate=settings.requests_per_second,
            burst=settings.request_burst,
        )

    def __repr__(self) -> str:
        return f"ServerGate(server={self.server!r})"

    @asynccontextmanager
    async def admit(self) -> AsyncIterator[None]:
        """Hold the caller until it may send one attempt; the slot is freed when the block ends."""
        # Tokens are taken inside the slot, just before sending, so that callers queued for a
        # slot do not drain the bucket and then all send at once.
        self.waiting += 1
        admitted = False
        try:
            async with self._slots:
                await self._wait_out_pause()
                await self._bucket.acquire()
                await self._wait_out_pause()  # one that began while it waited for a token
                self.waiting -= 1
                admitted = True
                yield
        finally:
            if not admitted:
                self.waiting -= 1

    def pause(self, seconds: float, *, limit: float, status: int) -> None:
        """Hold every caller for ``seconds`` (at most ``limit``): the server said Retry-After."""
        seconds = min(seconds, limit)
        if not seconds > 0:
            return
        now = self._clock()
        until = now + seconds
        if until <= self._paused_until:
            return
        if self._paused_until <= now:
            logger.warning(
                "%s answered HTTP %d with Retry-After; holding every request to it for %.1f s",
                self.server,
                status,
                seconds,
            )
        else:
            logger.debug("%s: the pause is extended to %.1f s from now", self.server, seconds)
        self._paused_until = until

    async def _wait_out_pause(self) -> None:
        # Sleep again only if the pause was extended meanwhile: a sleep that returns a little
        # early (or a fake one that does not move the clock) must not turn into a busy loop.
        waited_for: float | None = None
        while self._paused_until != waited_for:
            waited_for = self._paused_until
            remaining = waited_for - self._clock()
            if remaining <= 0:
                return
            await self._sleep(remaining)
