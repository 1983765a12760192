"""The lookup cache: one lookup per key and interval, shared by concurrent callers."""

import asyncio

import pytest

from supervisely_operator.remote.caches import TtlCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Lookups:
    """Counts lookups; each takes a moment, so concurrent callers overlap."""

    def __init__(self, *, fail: bool = False) -> None:
        self.calls = 0
        self.fail = fail

    async def __call__(self) -> int:
        self.calls += 1
        await asyncio.sleep(0.01)
        if self.fail:
            raise LookupError("refused")
        return self.calls


async def test_concurrent_misses_share_one_lookup() -> None:
    cache: TtlCache[str, int] = TtlCache(10.0, monotonic=Clock())
    lookup = Lookups()

    values = await asyncio.gather(*(cache.get("slug", lookup) for _ in range(50)))

    assert (lookup.calls, set(values)) == (1, {1})


async def test_a_value_is_reused_until_the_ttl_passes() -> None:
    clock = Clock()
    cache: TtlCache[str, int] = TtlCache(10.0, monotonic=clock)
    lookup = Lookups()

    first = await cache.get("slug", lookup)
    clock.now = 9.9
    again = await cache.get("slug", lookup)
    clock.now = 10.0
    fresh = await cache.get("slug", lookup)

    assert (first, again, fresh, lookup.calls) == (1, 1, 2, 2)


async def test_a_failure_reaches_every_waiter_and_is_not_cached() -> None:
    cache: TtlCache[str, int] = TtlCache(10.0, monotonic=Clock())
    failing = Lookups(fail=True)

    results = await asyncio.gather(
        *(cache.get("slug", failing) for _ in range(3)), return_exceptions=True
    )
    assert failing.calls == 1
    assert all(isinstance(result, LookupError) for result in results)

    assert await cache.get("slug", Lookups()) == 1, "the next caller asks again"


async def test_a_cancelled_caller_does_not_cancel_the_others_lookup() -> None:
    cache: TtlCache[str, int] = TtlCache(10.0, monotonic=Clock())
    lookup = Lookups()
    impatient = asyncio.ensure_future(cache.get("slug", lookup))
    patient = asyncio.ensure_future(cache.get("slug", lookup))
    await asyncio.sleep(0)

    impatient.cancel()

    assert await patient == 1
    with pytest.raises(asyncio.CancelledError):
        await impatient
