"""What the API server shows of each object over time, seen through one watch.

The watch is the judge, not the operator's log: it timestamps when each status became visible,
counts MODIFIED events per object (status changed, or only metadata such as finalizers and
annotations), and keeps a short history per object (only the moments its task id, remote status
or phase changed), so memory stays a few records per object at 10,000 objects.
"""

import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from scalebench.kube import Kube, collection_path
from scalebench.workload import LIFECYCLE_LABEL, RUNNING_LIFECYCLES

ENDED_PHASES = frozenset({"Succeeded", "Failed"})
WATCH_SECONDS = 300
"""Server-side timeout of one watch request; the stream is re-opened where it left off."""
RECONNECT_PAUSE = 0.2


@dataclass(frozen=True)
class Observation:
    """The status fields that matter, from the moment (wall clock) the watch saw them."""

    at: float
    task_id: int | None
    remote_status: str | None
    phase: str | None


@dataclass
class ObjectHistory:
    """One object as the watch saw it."""

    lifecycle: str
    added_at: float
    status_writes: int = 0
    metadata_writes: int = 0
    observations: list[Observation] = field(default_factory=list)
    task_id_at: float | None = None
    running_at: float | None = None
    deleted_at: float | None = None
    last_status: Any = None


class WatchRecorder:
    """Lists, then watches the SuperviselyTask objects of one namespace until cancelled."""

    def __init__(
        self, kube: Kube, namespace: str, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._kube = kube
        self._path = collection_path(namespace)
        self._clock = clock
        self.objects: dict[str, ObjectHistory] = {}
        self.with_task_id = 0
        self.running = 0
        """Objects of a lifecycle that must run that have been Running at least once."""
        self.ended: Counter[str] = Counter()
        """Objects whose phase is now Succeeded or Failed, by lifecycle."""
        self.deleted = 0
        self.events = 0
        self.reconnects = 0
        self.ready = asyncio.Event()
        self._version = ""

    async def run(self) -> None:
        """List (so the watch starts from a known version), then follow the stream."""
        self._version = await self._relist()
        self.ready.set()
        while True:
            try:
                await self._follow()
            except (aiohttp.ClientError, TimeoutError):
                self.reconnects += 1
                await asyncio.sleep(RECONNECT_PAUSE)

    async def _follow(self) -> None:
        """One watch request from the last version seen, until the server ends it."""
        params = {
            "watch": "1",
            "resourceVersion": self._version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(WATCH_SECONDS),
        }
        async with self._kube.session.get(self._kube.url(self._path), params=params) as reply:
            if reply.status == 410:  # the version is too old: start over from a list
                self._version = await self._relist()
                return
            reply.raise_for_status()
            pending = b""
            async for chunk in reply.content.iter_any():
                lines = (pending + chunk).split(b"\n")
                pending = lines.pop()
                for line in lines:
                    if not line.strip():
                        continue
                    seen = self._event(json.loads(line))
                    if seen is None:
                        self._version = await self._relist()
                        return
                    self._version = seen

    def _event(self, event: dict[str, Any]) -> str | None:
        """Record one event; its resource version, or None when the watch must relist (410)."""
        obj = event["object"]
        if event["type"] == "ERROR":
            return None
        self.events += 1
        version: str = obj["metadata"]["resourceVersion"]
        if event["type"] != "BOOKMARK":
            self.apply(event["type"], obj, self._clock())
        return version

    async def _relist(self) -> str:
        async with self._kube.session.get(self._kube.url(self._path)) as reply:
            reply.raise_for_status()
            listed = await reply.json()
        now = self._clock()
        present = set()
        for obj in listed["items"]:
            present.add(obj["metadata"]["name"])
            self.apply("ADDED", obj, now)
        for name, history in self.objects.items():
            if history.deleted_at is None and name not in present:  # deleted while not watching
                self.apply("DELETED", {"metadata": {"name": name}}, now)
        version: str = listed["metadata"]["resourceVersion"]
        return version

    def apply(self, kind: str, obj: dict[str, Any], at: float) -> None:
        """Account for one event of ``kind`` (ADDED, MODIFIED, DELETED) seen at ``at``."""
        metadata = obj["metadata"]
        history = self.objects.get(metadata["name"])
        if history is None:
            if kind == "DELETED":
                return
            lifecycle = (metadata.get("labels") or {}).get(LIFECYCLE_LABEL, "unknown")
            history = ObjectHistory(lifecycle=lifecycle, added_at=at)
            self.objects[metadata["name"]] = history
        if history.deleted_at is not None:
            return
        status = obj.get("status") or {}
        if kind == "DELETED":
            history.deleted_at = at
            history.last_status = None
            self.deleted += 1
            return
        if kind == "MODIFIED":
            if status != history.last_status:
                history.status_writes += 1
            else:
                history.metadata_writes += 1
        history.last_status = status
        self._observe(history, status, at)

    def _observe(self, history: ObjectHistory, status: dict[str, Any], at: float) -> None:
        before = history.observations[-1].phase if history.observations else None
        ended = status.get("phase") in ENDED_PHASES
        if ended != (before in ENDED_PHASES):
            self.ended[history.lifecycle] += 1 if ended else -1
        seen = Observation(
            at, status.get("taskId"), status.get("remoteStatus"), status.get("phase")
        )
        last = history.observations[-1] if history.observations else None
        if last is None or (last.task_id, last.remote_status, last.phase) != (
            seen.task_id,
            seen.remote_status,
            seen.phase,
        ):
            history.observations.append(seen)
        if seen.task_id is not None and history.task_id_at is None:
            history.task_id_at = at
            self.with_task_id += 1
        if seen.phase == "Running" and history.running_at is None:
            history.running_at = at
            if history.lifecycle in RUNNING_LIFECYCLES:
                self.running += 1

    def count(self, lifecycles: frozenset[str] | None = None) -> int:
        """Objects seen, optionally only those of some lifecycles."""
        return sum(
            1 for h in self.objects.values() if lifecycles is None or h.lifecycle in lifecycles
        )

    def latest(self, moment: Callable[[ObjectHistory], float | None]) -> float | None:
        """The latest ``moment`` over all objects, or None while any object lacks it."""
        moments = [moment(h) for h in self.objects.values()]
        if not moments or any(m is None for m in moments):
            return None
        return max(m for m in moments if m is not None)

    def writes_by_lifecycle(self) -> dict[str, dict[str, float]]:
        """Average MODIFIED events per object over its life, status and metadata-only."""
        totals: dict[str, list[int]] = {}
        for history in self.objects.values():
            entry = totals.setdefault(history.lifecycle, [0, 0, 0])
            entry[0] += 1
            entry[1] += history.status_writes
            entry[2] += history.metadata_writes
        return {
            lifecycle: {
                "objects": objects,
                "status_writes": status / objects,
                "metadata_only_writes": metadata / objects,
            }
            for lifecycle, (objects, status, metadata) in sorted(totals.items())
        }


@contextlib.asynccontextmanager
async def watching(kube: Kube, namespace: str) -> AsyncIterator[WatchRecorder]:
    """A running ``WatchRecorder`` (its list done), cancelled on exit."""
    recorder = WatchRecorder(kube, namespace)
    task = asyncio.create_task(recorder.run())
    ready = asyncio.create_task(recorder.ready.wait())
    await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        ready.cancel()
        task.result()  # the list failed: raise its error here
    try:
        yield recorder
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
