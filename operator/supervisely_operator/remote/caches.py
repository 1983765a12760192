"""A short-lived cache for lookups many resources repeat: slug to module id, agent status.

A thousand resources of one app start within seconds of each other; each would otherwise ask
Supervisely for the same slug and the same agent. Entries live ``ttl`` seconds, and concurrent
misses for one key share one lookup (single flight). Failures are never cached: the next
caller asks again.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """Values kept for ``ttl`` seconds; one lookup in flight per key."""

    def __init__(self, ttl: float, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._monotonic = monotonic
        self._values: dict[K, tuple[float, V]] = {}
        self._pending: dict[K, asyncio.Future[V]] = {}

    async def get(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        """The cached value, or the result of ``load()`` (shared with concurrent callers)."""
        entry = self._values.get(key)
        if entry is not None and self._monotonic() - entry[0] < self._ttl:
            return entry[1]
        pending = self._pending.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._load(key, load))
            # Retrieve the outcome even if every caller was cancelled (no "never retrieved").
            pending.add_done_callback(lambda done: done.cancelled() or done.exception())
            self._pending[key] = pending
        # A cancelled caller must not cancel the lookup the others wait for.
        return await asyncio.shield(pending)

    async def _load(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        try:
            value = await load()
        finally:
            self._pending.pop(key, None)
        self._values[key] = (self._monotonic(), value)
        return value
