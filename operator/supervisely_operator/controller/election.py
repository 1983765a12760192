"""Which replica acts: the claim is taken, renewed and released here, as client-go's leader
election does it (the claim itself is kept by :mod:`.claim`; the gate is :mod:`.leadership`).

- A replica takes the claim when nobody holds it, or when its holder has not renewed it for the
  lease duration (``peering_lifetime``) as *this* replica saw it: the wait counts from the
  moment it first read the claim as it is now, on its own clock, so replicas need not agree on
  the time of day.
- The holder renews it every retry period, and leads until the moment it sent its last
  successful renewal plus the renew deadline. The deadline is shorter than the lease duration,
  so the holder has stopped acting before anyone else may take over, provided the replicas'
  clocks tick at about the same rate.
- kopf's peering follows the claim: the holder takes a kopf priority above every other
  replica's and every earlier holder's, so kopf pauses the others' watches and daemons and
  resumes the holder's; a newcomer never outranks a live holder. kopf alone would let a
  replica that cannot see the peering object act on blindly, and would let a newcomer of a
  higher priority act before the old one paused.
"""

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import kopf

from supervisely_operator.controller.claim import Claim, ClaimStore, PeeringObject, micro_time
from supervisely_operator.controller.kube import KubeRefused, ObjectGone, StaleObject
from supervisely_operator.controller.leadership import Leadership

logger = logging.getLogger(__name__)

LEADER_PRIORITY: Final = 1_000_000
"""kopf priority of the holder, plus its claim's transitions; standbys draw theirs below it."""
RELEASE_ATTEMPTS: Final = 3
CONFLICT_RETRY: Final = 0.05
"""Seconds before the claim is read again after another write got in between (kopf's own
keep-alives change the peering object every few seconds)."""


@dataclass(frozen=True)
class ElectionTiming:
    """How long a claim lives, how long its holder may act without renewing, how often."""

    lease_seconds: int
    renew_deadline: float
    retry_period: float


class LeaderElector:
    """Keeps this replica's claim or waits for the holder's to lapse; moves :class:`Leadership`."""

    def __init__(
        self,
        *,
        locate: Callable[[], Awaitable[ClaimStore]],
        peerings: Sequence[PeeringObject],
        leadership: Leadership,
        identity: str,
        timing: ElectionTiming,
        kopf_settings: kopf.OperatorSettings,
    ) -> None:
        self._locate = locate
        self._store: ClaimStore | None = None
        self._peerings = peerings
        self._leadership = leadership
        self._identity = identity
        self._timing = timing
        self._kopf = kopf_settings
        self._standby_priority: int = kopf_settings.peering.priority
        self._observed: Claim | None = None
        self._observed_at = -math.inf
        self._failing = False
        leadership.listen(self._follow)

    @property
    def store(self) -> ClaimStore:
        assert self._store is not None, "the claim is located first"
        return self._store

    async def run(self) -> None:
        """Forever: find where the claim is kept, then take or renew it and wait for the next
        try. Nothing stops it but cancellation: without it this replica would never lead."""
        timing = self._timing
        while self._store is None:
            try:
                self._store = await self._locate()
            except KubeRefused as error:
                self._failed(f"Where to keep the claim cannot be told yet ({error})")
                await asyncio.sleep(timing.retry_period)
        logger.info(
            "Claiming leadership as %s in %s: a claim lives %d s, its holder acts at most "
            "%.1f s after its last renewal and renews every %.1f s",
            self._identity,
            self.store.where,
            timing.lease_seconds,
            timing.renew_deadline,
            timing.retry_period,
        )
        while True:
            failed = True
            try:
                await self._try()
                failed = False
            except StaleObject:
                await asyncio.sleep(CONFLICT_RETRY)
                continue
            except (KubeRefused, ObjectGone) as error:
                self._failed(f"The claim in {self.store.where} cannot be read or written ({error})")
            except Exception:
                logger.exception("Leader election failed unexpectedly; trying again")
            else:
                self._answered()
            await asyncio.sleep(timing.retry_period if failed else self._next_try_in())

    async def _try(self) -> None:
        """One read and, if the claim is free, lapsed or ours, one write of it."""
        loop = asyncio.get_running_loop()
        stored = await self.store.read()
        claim = stored.claim
        if claim != self._observed:
            self._observed, self._observed_at = claim, loop.time()
        if claim is not None and self._held_by_another(claim, now=loop.time()):
            if self._leadership.leading:
                # Only a clock far faster than ours, or a loop stalled for seconds, gets here.
                logger.error(
                    "%s took the claim while this replica still led: the replicas' clocks or "
                    "event loops are further apart than the lifetime minus the renew deadline",
                    claim.holder,
                )
            self._leadership.end(f"{claim.holder} holds the claim")
            return
        mine = claim is not None and claim.holder == self._identity
        now = micro_time()
        renewed = Claim(
            holder=self._identity,
            lease_seconds=self._timing.lease_seconds,
            acquired=claim.acquired if claim is not None and mine else now,
            renewed=now,
            transitions=(0 if claim is None else claim.transitions + (0 if mine else 1)),
        )
        sent = loop.time()
        await self.store.write(renewed, over=stored)
        self._observed, self._observed_at = renewed, loop.time()
        await self._lead(renewed, until=sent + self._timing.renew_deadline)

    def _held_by_another(self, claim: Claim, *, now: float) -> bool:
        """Someone else holds it, and has renewed it within its lease as this replica saw it."""
        if not claim.holder or claim.holder == self._identity:
            return False
        return now < self._observed_at + claim.lease_seconds

    async def _lead(self, claim: Claim, *, until: float) -> None:
        self._leadership.extend(until, holder=f"{self._identity} ({self.store.where})")
        priority = LEADER_PRIORITY + claim.transitions
        if self._kopf.peering.priority != priority:
            self._kopf.peering.priority = priority
            await self._announce(priority)

    def _follow(self, leading: bool) -> None:
        """On standing down, kopf's priority goes back below every holder's at once (kopf then
        pauses this replica when it sees one); the holder's is set as the claim is written."""
        if not leading:
            self._kopf.peering.priority = self._standby_priority

    async def _announce(self, priority: int) -> None:
        """Put the new priority into kopf's keep-alives at once, as kopf's own keep-alive would
        within seconds: the other replicas' kopf pauses, this one's resumes."""
        record = {
            "priority": priority,
            "lifetime": self._timing.lease_seconds,
            "lastseen": datetime.now(UTC).isoformat(),
        }
        for peering in self._peerings:
            try:
                await peering.patch({"status": {self._identity: record}})
            except (KubeRefused, ObjectGone, StaleObject) as error:
                logger.debug("kopf's keep-alive in %s not written (%s)", peering.where, error)

    def _next_try_in(self) -> float:
        """A holder renews every retry period; a standby looks as often, and once more the
        moment the holder's claim would lapse."""
        retry = self._timing.retry_period
        claim = self._observed
        if self._leadership.leading or claim is None or not claim.holder:
            return retry
        lapses_in = self._observed_at + claim.lease_seconds - asyncio.get_running_loop().time()
        return max(0.0, min(retry, lapses_in))

    def _failed(self, what: str) -> None:
        """Said once per outage; the leadership gate says when this replica stops acting."""
        if not self._failing:
            self._failing = True
            logger.warning("%s; trying every %.1f s", what, self._timing.retry_period)

    def _answered(self) -> None:
        if self._failing:
            self._failing = False
            logger.info("The claim in %s can be read and written again", self.store.where)

    async def release(self) -> None:
        """At exit: stop acting, then hand the claim over at once instead of after its lease."""
        self._leadership.end("this replica is shutting down", level=logging.INFO)
        claim = self._observed
        if self._store is None or claim is None or claim.holder != self._identity:
            return
        error: Exception | None = None
        for _ in range(RELEASE_ATTEMPTS):  # kopf's keep-alives may write in between
            try:
                stored = await self._store.read()
                if stored.claim is None or stored.claim.holder != self._identity:
                    return
                released = Claim(
                    holder="",
                    lease_seconds=1,
                    acquired=stored.claim.acquired,
                    renewed=micro_time(),
                    transitions=stored.claim.transitions,
                )
                await self._store.write(released, over=stored)
            except StaleObject as stale:
                error = stale
                continue
            except (KubeRefused, ObjectGone) as failed:
                error = failed
                break
            logger.info("Released the claim in %s", self._store.where)
            return
        logger.info("The claim in %s lapses on its own (%s)", self._store.where, error)
