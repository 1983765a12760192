"""One poll per workspace, not per task: the loop that lists a workspace's live tasks.

Every resource used to ask ``tasks.info`` for its own task on every pass; at thousands of
resources that is thousands of calls a minute to one shared server. A :class:`WorkspacePoller`
instead lists the workspace's live tasks (all pages, filtered to live statuses) once per
interval, feeds the answer to its :class:`~.view.WorkspaceView`, and wakes the resources whose
answer changed; the others sleep. The view holds the rules of what each resource is told; this
module holds the I/O and its pace:

- After a list, tracked tasks that left it are asked for once (several by one list filtered by
  id, one or the rest by ``tasks.info``), and started apps that a resource asks about and that
  were not seen ready are asked ``is_ready``, at most ``info_concurrency`` calls at once. Once
  seen ready an app is not asked again until its task leaves started/deployed.
- Lists come faster while something starts or stops or an app is not ready yet, slower while
  nothing changes, with jitter; never further apart than the shortest ``poll_interval`` a
  resource asks for, nor closer together than ``transition_interval`` (one resource must not
  make the whole workspace's list, shared by all, run faster than the operator allows).
- The poller starts with the first resource that needs it and stops with the last.
"""

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from supervisely_operator.reconcile.launch import marker_in
from supervisely_operator.reconcile.situation import AwaitingObservation, RemoteTask, Sighting
from supervisely_operator.reconcile.watch import Watch
from supervisely_operator.remote.translate import remote_task, unavailable
from supervisely_operator.remote.view import LIVE_STATUSES, Listed, WorkspaceView
from supervisely_operator.supervisely import (
    SuperviselyClient,
    SuperviselyError,
    TaskId,
    TaskInfo,
    TaskNotFound,
    WorkspaceId,
    filter_in,
)

logger = logging.getLogger("supervisely_operator.remote")

T = TypeVar("T")

JITTER = 0.1
"""Each gap between lists is scaled by a random factor in [1 - JITTER, 1 + JITTER], so the
workspaces of one server do not list in lockstep."""

INFO_CONCURRENCY = 16
"""``tasks.info`` calls or ``is_ready`` probes one poller has in flight at once."""


@dataclass(frozen=True, kw_only=True)
class PollTiming:
    """How often a workspace is listed, in seconds (from the operator's settings, the one source
    of their defaults)."""

    interval: float
    """Between lists while tasks run and something changed lately."""
    transition_interval: float
    """Between lists while a tracked task starts or stops, or a resource waits for a list."""
    idle_interval: float
    """The longest gap: the interval stretches towards it while lists show no change."""
    per_page: int
    """Page size asked of ``tasks.list`` (the server may answer with smaller pages)."""
    jitter: float = JITTER
    info_concurrency: int = INFO_CONCURRENCY


SLOWING_STEPS = 40
"""Unchanged lists counted at most: far past any idle interval (1.5**40 is about 1e7)."""


def list_gap(
    timing: PollTiming, *, busy: bool, asked: Iterable[float], unchanged_lists: int
) -> float:
    """Seconds until the next list, before jitter: the transition interval while something
    changes; else the interval, stretched by half for each list that showed no change, up to
    the idle interval, and never longer than a resource asks for."""
    if busy:
        return timing.transition_interval
    slowing = timing.interval * 1.5 ** min(unchanged_lists, SLOWING_STEPS)
    return max(timing.transition_interval, min(timing.idle_interval, slowing, *asked))


@dataclass
class _Interest:
    """What one resource needs from the workspace, and what it was last told."""

    uid: str
    watch: Watch
    wake: Callable[[], None]
    seen: Sighting | None = None
    strays_seen: tuple[int, ...] = ()


class WorkspacePoller:
    """Lists one workspace's tasks for every resource that needs them; never changes anything."""

    def __init__(
        self,
        *,
        client: SuperviselyClient,
        workspace_id: int,
        timing: PollTiming,
        now: Callable[[], datetime],
        on_idle: Callable[["WorkspacePoller"], None],
        uniform: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self.workspace_id = workspace_id
        self.view = WorkspaceView(workspace_id=workspace_id, session_url=self._session_url)
        self._client = client
        self._timing = timing
        self._now = now
        self._on_idle = on_idle
        self._uniform = uniform
        self._interests: dict[Hashable, _Interest] = {}
        self._next_list_at: float | None = None
        """When (loop time) the sleeping loop lists next, if nothing pokes it."""
        self._unchanged_lists = 0
        self._poke = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"WorkspacePoller(workspace={self.workspace_id}, resources={len(self._interests)})"

    @property
    def tracked(self) -> int:
        """How many resources read this poller."""
        return len(self._interests)

    def track(
        self, key: Hashable, *, uid: str, watch: Watch, wake: Callable[[], None]
    ) -> tuple[Sighting, tuple[RemoteTask, ...]]:
        """Register what ``key`` (one resource, ``uid``) needs; answer from the last list with
        its sighting and its strays, and ``wake`` it when either changes."""
        interest = _Interest(uid=uid, watch=watch, wake=wake)
        self._interests[key] = interest
        interest.seen = sighting = self.view.sighting(watch)
        strays = self.view.strays(uid, watch)
        interest.strays_seen = _ids(strays)
        if isinstance(sighting, AwaitingObservation) or self._lists_too_late(watch.poll_interval):
            self._poke.set()
        if self._loop_task is None or self._loop_task.done():  # done: it died of a bug
            self._loop_task = asyncio.create_task(
                self._run(), name=f"poll workspace {self.workspace_id}"
            )
        return sighting, strays

    def untrack(self, key: Hashable) -> None:
        """``key`` no longer needs this workspace; the last one out stops the poller."""
        if self._interests.pop(key, None) is None or self._interests:
            return
        if self._loop_task is not None:
            self._loop_task.cancel()
            self._loop_task = None
        self._on_idle(self)

    def stop_requested(self, task_id: int) -> None:
        """The operator asked Supervisely to stop this task: its leaving the live list means it
        stopped, and the next list comes soon."""
        self.view.stop_requested(task_id)
        self._poke.set()

    async def aclose(self) -> None:
        """Stop listing (operator shutdown)."""
        task, self._loop_task = self._loop_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _watches(self) -> list[Watch]:
        return [interest.watch for interest in self._interests.values()]

    def _lists_too_late(self, poll_interval: float | None) -> bool:
        """Whether the sleeping loop would list later than ``poll_interval`` from now."""
        if poll_interval is None or self._next_list_at is None:
            return False
        now = asyncio.get_running_loop().time()
        return now + max(poll_interval, self._timing.transition_interval) < self._next_list_at

    def _wake_changed(self) -> int:
        woken = 0
        for interest in self._interests.values():
            strays = _ids(self.view.strays(interest.uid, interest.watch))
            if (
                self.view.sighting(interest.watch) != interest.seen
                or strays != interest.strays_seen
            ):
                interest.wake()
                woken += 1
        return woken

    # -- pace ---------------------------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self._interests:
            began = loop.time()
            if self.view.needs_list(self._watches()):
                try:
                    await self._list_once()
                except Exception:
                    # A bug here must not silently stop every resource of the workspace.
                    logger.exception("Listing workspace %s failed", self.workspace_id)
            try:
                gap = self._next_gap()
            except Exception:
                logger.exception("Pacing the lists of workspace %s failed", self.workspace_id)
                gap = self._timing.interval
            self._next_list_at = began + gap
            # Pokes (a resource waiting for a list) never bring lists closer together than the
            # fast interval; without one the gap is the interval for the current state. (A
            # server's Retry-After holds every call at the client's gate already.)
            earliest = began + min(gap, self._timing.transition_interval)
            await asyncio.sleep(max(0.0, earliest - loop.time()))
            remaining = began + gap - loop.time()
            if remaining > 0 and not self._poke.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._poke.wait(), remaining)
            self._next_list_at = None

    def _next_gap(self) -> float:
        timing = self._timing
        asked = [w.poll_interval for w in self._watches() if w.poll_interval]
        gap = list_gap(
            timing, busy=self._busy(), asked=asked, unchanged_lists=self._unchanged_lists
        )
        return gap * self._uniform(1 - timing.jitter, 1 + timing.jitter)

    def _busy(self) -> bool:
        """A resource waits for a newer list, or something changes (see the view)."""
        waiting = any(isinstance(i.seen, AwaitingObservation) for i in self._interests.values())
        return waiting or self.view.changing(self._watches())

    # -- listing ------------------------------------------------------------------------------

    async def _list_once(self) -> None:
        self._poke.clear()
        taken_at = self._now()
        complete = self.view.needs_complete_list(self._watches())
        filters = () if complete else (filter_in("status", [s.value for s in LIVE_STATUSES]),)
        try:
            infos = await self._client.list_tasks(
                WorkspaceId(self.workspace_id),
                filters=filters,
                per_page=self._timing.per_page,
                strict=False,
            )
        except SuperviselyError as error:
            if self.view.list_failed(unavailable(error), taken_at=taken_at):
                logger.warning(
                    "Cannot list the tasks of workspace %s: %s", self.workspace_id, error.message
                )
            self._wake_changed()
            return
        before = self.view.live_statuses()
        listed = [Listed(self._task_of(info), marker_in(info.description)) for info in infos]
        if self.view.listed(listed, taken_at=taken_at, complete=complete):
            logger.info("Listing the tasks of workspace %s works again", self.workspace_id)
        await self._settle_absent(taken_at)
        self.view.forget_unwatched(self._watches())
        after = self.view.live_statuses()
        woken = self._wake_changed()
        if await self._probe_readiness():
            woken += self._wake_changed()
        self._unchanged_lists = 0 if woken or after != before else self._unchanged_lists + 1

    async def _settle_absent(self, taken_at: datetime) -> None:
        """Learn the final state of tracked tasks this list shows no more."""
        asked = self.view.absent(self._watches(), taken_at=taken_at)
        if len(asked) > 1:
            asked = await self._list_by_id(asked)

        async def ask(task_id: int) -> None:
            try:
                info = await self._client.get_task(TaskId(task_id))
            except TaskNotFound:
                self.view.gone(task_id)
                return
            except SuperviselyError:
                return  # asked again after the next list
            self.view.file(self._task_of(info))

        await self._bounded(ask, asked)

    async def _list_by_id(self, task_ids: list[int]) -> list[int]:
        """One ``tasks.list`` filtered by id for many tasks that left the live list at once (a
        wave of finishing apps); the ids it does not show are left to ``tasks.info``."""
        try:
            infos = await self._client.list_tasks(
                WorkspaceId(self.workspace_id),
                filters=(filter_in("id", task_ids),),
                per_page=self._timing.per_page,
                strict=False,
            )
        except SuperviselyError:
            return task_ids
        wanted = set(task_ids)
        for info in infos:
            if info.id not in wanted:
                continue  # a server that ignores the filter answers with more
            wanted.discard(info.id)
            self.view.file(self._task_of(info))
        return sorted(wanted)

    async def _probe_readiness(self) -> bool:
        """Ask each due app ``is_ready``; whether any answer changed what the view knew."""
        due = self.view.readiness_due(self._watches())
        answers = await self._bounded(self._probe, due)
        return self.view.answered_ready(zip(due, answers, strict=True))

    async def _probe(self, task_id: int) -> bool | None:
        """The app's answer, or None when it cannot be had now (asked again after the next
        list; a task that is gone is left to the lists)."""
        try:
            return await self._client.is_app_ready(TaskId(task_id))
        except SuperviselyError as error:
            logger.debug("Cannot ask task %s whether it is ready: %s", task_id, error.message)
            return None

    async def _bounded(
        self, call: Callable[[int], Awaitable[T]], task_ids: Iterable[int]
    ) -> list[T]:
        """``call`` for each task id concurrently, at most ``info_concurrency`` at once."""
        gate = asyncio.Semaphore(self._timing.info_concurrency)

        async def run(task_id: int) -> T:
            async with gate:
                return await call(task_id)

        return await asyncio.gather(*(run(task_id) for task_id in task_ids))

    def _task_of(self, info: TaskInfo) -> RemoteTask:
        return remote_task(
            info, server=self._client.server, session_url=self._client.session_url(info.id)
        )

    def _session_url(self, task_id: int) -> str:
        return self._client.session_url(TaskId(task_id))


def _ids(tasks: Iterable[RemoteTask]) -> tuple[int, ...]:
    return tuple(sorted(task.task_id for task in tasks))
