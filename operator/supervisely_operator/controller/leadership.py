"""Whether this replica acts, for the ``supervisely_operator_leader`` gauge.

Standalone, a replica always acts. Under kopf peering it acts until it sees a live peer of
higher priority, and again once that peer is gone; kopf keeps that switch to itself and only
says so in its log ("Pausing operations ..." / "Resuming operations ..."), so the gauge follows
those two records of kopf's peering logger. kopf 1.45's wording is pinned by a test; a lease
of our own (leader election) would set the gauge directly instead.
"""

import logging
from typing import Final, Protocol

PEERING_LOGGER: Final = "kopf._core.engines.peering"
PAUSING: Final = "Pausing "
"""kopf's "Pausing operations in favour of ..." and "Pausing all operators, including self"."""
RESUMING: Final = "Resuming operations"


class Leading(Protocol):
    def leading(self, active: bool) -> None: ...


class PeeringFollower(logging.Filter):
    """A filter on kopf's peering logger that turns its pause and resume records into
    ``leading``; it lets every record through."""

    def __init__(self, target: Leading) -> None:
        super().__init__()
        self._target = target

    def stop(self) -> None:
        """Follow kopf's peering no more (at the operator's exit)."""
        logging.getLogger(PEERING_LOGGER).removeFilter(self)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith(PAUSING):
            self._target.leading(False)
        elif message.startswith(RESUMING):
            self._target.leading(True)
        return True


def follow_leadership(target: Leading) -> PeeringFollower:
    """Mark ``target`` as acting (what a replica does until kopf pauses it) and follow kopf's
    peering until the returned follower is stopped."""
    target.leading(True)
    follower = PeeringFollower(target)
    logger = logging.getLogger(PEERING_LOGGER)
    if not logger.isEnabledFor(logging.INFO):
        # A quieter log (kopf's --quiet) would never make the records the gauge follows.
        logger.setLevel(logging.INFO)
    logger.addFilter(follower)
    return follower
