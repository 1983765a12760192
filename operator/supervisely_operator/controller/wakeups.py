"""Wake-up events of the objects whose loops run here, by uid: one object's change wakes another.

A paramsFrom source that succeeds wakes the tasks waiting for it; a run of a
SuperviselyCronTask that finishes or goes wakes its cron task. Each loop keeps its event on
kopf's per-object memo; this registry only lets another object's handler find it.
"""

import asyncio


class Wakeups:
    """The wake-up events of the live loops, by the uid of their object."""

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}

    def register(self, uid: str, event: asyncio.Event) -> None:
        """The loop of object ``uid`` sleeps on ``event``."""
        self._events[uid] = event

    def forget(self, uid: str) -> None:
        """Object ``uid`` is gone."""
        self._events.pop(uid, None)

    def wake(self, uid: str) -> None:
        """Wake the loop of object ``uid``, if one runs here."""
        event = self._events.get(uid)
        if event is not None:
            event.set()
