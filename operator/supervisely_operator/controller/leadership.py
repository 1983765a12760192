"""Whether this replica may act now: the gate every start, stop and write of a pass goes through.

With several replicas, one holds the claim (:mod:`.election` keeps it) and the others wait. The
holder may act only until its last renewal plus the renew deadline, which is shorter than the
lifetime the others wait before they take over. Past that moment the gate is shut by the clock
alone, whether or not the elector has heard back from the API server, and a pass under way is
cancelled as if the process had died there: the order of a pass makes that safe (see
:mod:`.reconciler`). A standalone replica always acts.

Times are the event loop's (monotonic) clock, never the wall clock: they are compared only on
this machine, so clocks of different machines need only tick at about the same rate.
"""

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterator, Callable

logger = logging.getLogger(__name__)


class NotLeading(Exception):
    """This replica may not act now: its claim lapsed, or another replica holds it."""


class Leadership:
    """Until when this replica may act; the elector moves that moment, the clock ends it."""

    def __init__(self, *, standalone: bool) -> None:
        self._until = math.inf if standalone else -math.inf
        self._acting = asyncio.Event()
        if standalone:
            self._acting.set()
        self._terms: set[asyncio.Timeout] = set()
        self._lapse: asyncio.TimerHandle | None = None
        self._reason = "not leading yet"
        self._listeners: list[Callable[[bool], None]] = []

    def listen(self, listener: Callable[[bool], None]) -> None:
        """Call ``listener`` with True when this replica comes to lead, False when it stops."""
        self._listeners.append(listener)

    @property
    def leading(self) -> bool:
        """Whether this replica may act at this moment."""
        self._lapse_if_due()
        return self._acting.is_set()

    @property
    def acting(self) -> asyncio.Event:
        """Set while this replica leads; a loop waiting to act waits for it."""
        self._lapse_if_due()
        return self._acting

    def check(self) -> None:
        """Raise :class:`NotLeading` unless this replica may act now (right before each act)."""
        if not self.leading:
            raise NotLeading(self._reason)

    def extend(self, until: float, *, holder: str) -> None:
        """The claim was renewed: act until ``until`` (loop time) unless renewed again."""
        loop = asyncio.get_running_loop()
        if until <= loop.time():
            return  # renewed too long ago to act on (the write took longer than the deadline)
        began = not self.leading
        self._until = until
        for term in self._terms:
            if not term.expired():
                term.reschedule(until)
        if self._lapse is not None:
            self._lapse.cancel()
        self._lapse = loop.call_at(until, self._lapse_if_due)
        if began:
            self._acting.set()
            logger.info("Leading as %s: starting, stopping and writing from now on", holder)
            for listener in self._listeners:
                listener(True)

    def end(self, reason: str, *, level: int = logging.WARNING) -> None:
        """Stop acting at once (another replica holds the claim, or this one is leaving)."""
        if self._until == math.inf:
            return  # standalone: nobody to hand over to
        self._until = -math.inf
        self._stand_down(reason, level=level)

    def _lapse_if_due(self) -> None:
        if self._acting.is_set() and asyncio.get_running_loop().time() >= self._until:
            self._stand_down("the claim was not renewed within the renew deadline")

    def _stand_down(self, reason: str, *, level: int = logging.WARNING) -> None:
        if self._lapse is not None:
            self._lapse.cancel()
            self._lapse = None
        for term in self._terms:
            if not term.expired():
                term.reschedule(-math.inf)  # cancels the body at the next turn of the loop
        if self._acting.is_set():
            self._acting.clear()
            self._reason = reason
            logger.log(level, "Stood down: %s; starting, stopping and writing nothing", reason)
            for listener in self._listeners:
                listener(False)

    @contextlib.asynccontextmanager
    async def term(self) -> AsyncIterator[None]:
        """Run the body only while leading: refused at once (:class:`NotLeading`) when this
        replica does not lead, and cancelled the moment it stops leading."""
        self.check()
        timeout = asyncio.timeout_at(None if math.isinf(self._until) else self._until)
        self._terms.add(timeout)
        try:
            async with timeout:
                yield
        except TimeoutError:
            if timeout.expired():
                raise NotLeading(self._reason) from None
            raise
        finally:
            self._terms.discard(timeout)
