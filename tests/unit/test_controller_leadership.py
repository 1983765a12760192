"""The leadership gate: a replica acts only until its last renewal plus the renew deadline.

The clock alone shuts the gate, whatever the elector knows, and a pass under way is cut off at
that moment. Durations are tens of milliseconds of the real loop clock.
"""

import asyncio
import logging

import pytest

from supervisely_operator.controller.leadership import Leadership, NotLeading

TICK = 0.05


def in_(seconds: float) -> float:
    return asyncio.get_running_loop().time() + seconds


async def test_a_replica_of_several_does_not_act_before_it_holds_the_claim() -> None:
    leadership = Leadership(standalone=False)

    assert not leadership.leading
    with pytest.raises(NotLeading):
        leadership.check()
    with pytest.raises(NotLeading):
        async with leadership.term():
            pass


async def test_a_standalone_replica_always_acts_and_never_stands_down() -> None:
    leadership = Leadership(standalone=True)

    leadership.end("a standby's reason, which means nothing here")

    assert leadership.leading
    leadership.check()
    async with leadership.term():
        await asyncio.sleep(TICK)


async def test_the_gate_shuts_at_the_deadline_by_the_clock_alone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Nobody tells it: the elector may be stuck in a request to an API server that is gone."""
    leadership = Leadership(standalone=False)
    leadership.extend(in_(2 * TICK), holder="me")
    assert leadership.leading
    leadership.check()

    await asyncio.sleep(3 * TICK)

    assert not leadership.leading
    assert not leadership.acting.is_set()
    with pytest.raises(NotLeading, match="not renewed within the renew deadline"):
        leadership.check()
    assert [r.levelno for r in caplog.records if "Stood down" in r.getMessage()] == [
        logging.WARNING
    ]


async def test_a_pass_under_way_is_cut_off_when_the_term_ends() -> None:
    leadership = Leadership(standalone=False)
    leadership.extend(in_(2 * TICK), holder="me")
    reached_the_end = False

    async def hanging_pass() -> None:
        nonlocal reached_the_end
        async with leadership.term():
            await asyncio.sleep(20 * TICK)  # a Supervisely call that hangs, say
            reached_the_end = True

    began = asyncio.get_running_loop().time()
    with pytest.raises(NotLeading):
        await hanging_pass()

    assert not reached_the_end
    assert asyncio.get_running_loop().time() - began < 10 * TICK


async def test_a_renewal_extends_the_passes_under_way() -> None:
    leadership = Leadership(standalone=False)
    leadership.extend(in_(2 * TICK), holder="me")

    async def renew() -> None:
        await asyncio.sleep(TICK)
        leadership.extend(in_(6 * TICK), holder="me")

    renewal = asyncio.create_task(renew())
    async with leadership.term():
        await asyncio.sleep(4 * TICK)  # past the first deadline, before the second
    await renewal
    assert leadership.leading


async def test_standing_down_cuts_off_the_pass_at_once() -> None:
    """Another replica holds the claim now, or this one is leaving."""
    leadership = Leadership(standalone=False)
    leadership.extend(in_(100 * TICK), holder="me")

    async def another_takes_over() -> None:
        await asyncio.sleep(TICK)
        leadership.end("another holds the claim")

    takeover = asyncio.create_task(another_takes_over())
    with pytest.raises(NotLeading, match="another holds the claim"):
        async with leadership.term():
            await asyncio.sleep(50 * TICK)
    await takeover
    assert not leadership.leading


async def test_an_error_in_the_pass_is_not_taken_for_a_lapse() -> None:
    leadership = Leadership(standalone=False)
    leadership.extend(in_(100 * TICK), holder="me")

    with pytest.raises(TimeoutError):
        async with leadership.term():
            raise TimeoutError("a request timed out, nothing to do with leading")
    assert leadership.leading


async def test_waiters_wake_when_the_replica_comes_to_lead() -> None:
    leadership = Leadership(standalone=False)

    async def elected() -> None:
        await asyncio.sleep(TICK)
        leadership.extend(in_(100 * TICK), holder="me")

    election = asyncio.create_task(elected())
    await asyncio.wait_for(leadership.acting.wait(), timeout=20 * TICK)
    await election
    assert leadership.leading


async def test_a_renewal_answered_after_its_own_deadline_opens_nothing() -> None:
    """The deadline counts from when the renewal was sent; an answer that took longer than the
    deadline proves nothing about now."""
    leadership = Leadership(standalone=False)

    leadership.extend(in_(-TICK), holder="me")

    assert not leadership.leading
