"""One poll per workspace, not per task: a shared view of a workspace's live tasks.

Every resource used to ask ``tasks.info`` for its own task on every pass; at thousands of
resources that is thousands of calls a minute to one shared server. A :class:`WorkspacePoller`
instead lists the workspace's live tasks (all pages, filtered to live statuses) once per
interval, and every resource in that workspace reads its observation from that list. A resource
whose observation changes is woken; the others sleep.

The rules that keep it correct:

- A list taken before a resource's last action (its start, its stop) never answers for it: the
  resource gets :class:`AwaitingObservation` and is woken after the next list.
- A tracked task that a list taken after its start does not show has left the live statuses (or
  is gone): it is asked for once (several at once by one list filtered by id, a single one or
  one that list misses by ``tasks.info``), and its final state is kept while it is tracked. A
  task the operator itself stopped needs no such call: once it leaves the live list it stopped.
- A start whose task id was never recorded is looked up by its marker in an unfiltered list
  (the task may already have ended), taken only while such a lookup is pending.
- A tracked task that ``tasks.info`` places in another workspace (a task adopted by id) is
  reported as Supervisely describes it, its ``workspace_id`` included, so the decision can
  refuse it; it is not asked for again while tracked, as this poller cannot follow it.
- A live task that carries a resource's start marker but is neither its task nor its pending
  start is a stray: a start Supervisely carried out after the operator had given up on it.
  The poller only reports strays (the decision stops them); it never changes anything.
- Readiness: for each resource that asks for it, an app whose task is started (or deployed)
  and that has not been seen ready is asked ``is_ready`` once per list, after the list, at
  most ``info_concurrency`` at once; a change wakes the resource. Once seen ready it is not
  asked again until its task leaves started/deployed (an app does not become unready while its
  task runs; a server-side restart passes through queued and is asked again). A probe that
  fails leaves the last answer in place; no list says readiness, so the poller adds it.
- Lists come faster while something starts or stops or an app is not ready yet, slower while
  nothing changes, with jitter; never further apart than the shortest ``poll_interval`` a
  resource asks for, nor closer together than ``transition_interval`` (one resource must not
  make the whole workspace's list, shared by all, run faster than the operator allows).
  The poller starts with the first resource that needs it and stops with the last.
"""

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TypeVar

from supervisely_operator.reconcile.launch import marker_in
from supervisely_operator.reconcile.situation import (
    AwaitingObservation,
    NothingToObserve,
    Observation,
    RemoteStatus,
    RemoteTask,
    RemoteUnavailable,
    StartNotFound,
    TaskGone,
    TaskSeen,
)
from supervisely_operator.remote.translate import remote_task, unavailable
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

LIVE_STATUSES = (
    RemoteStatus.QUEUED,
    RemoteStatus.CONSUMED,
    RemoteStatus.STARTED,
    RemoteStatus.DEPLOYED,
    RemoteStatus.TERMINATING,
)
"""What the steady list asks for: tasks that can still change."""

CHANGING_STATUSES = frozenset(
    {RemoteStatus.QUEUED, RemoteStatus.CONSUMED, RemoteStatus.TERMINATING}
)
"""A tracked task in one of these is about to change: list at the fast interval."""

SERVING_STATUSES = frozenset({RemoteStatus.STARTED, RemoteStatus.DEPLOYED})
"""A task whose app can answer ``is_ready``."""


@dataclass(frozen=True)
class PollTiming:
    """How often a workspace is listed, in seconds."""

    interval: float = 10.0
    """Between lists while tasks run and something changed lately."""
    transition_interval: float = 2.0
    """Between lists while a tracked task starts or stops, or a resource waits for a list."""
    idle_interval: float = 30.0
    """The longest gap: the interval stretches towards it while lists show no change."""
    per_page: int = 500
    """Page size asked of ``tasks.list`` (the server may answer with smaller pages)."""
    jitter: float = 0.1
    """Each gap is scaled by a random factor in [1 - jitter, 1 + jitter]."""
    info_concurrency: int = 16
    """``tasks.info`` calls (for tasks that left the live list) or ``is_ready`` probes in
    flight at once."""


@dataclass
class _Interest:
    """What one resource needs from the workspace, and what it was last told."""

    task_id: int | None
    marker: str | None
    since: datetime | None
    wake: Callable[[], None]
    probe_readiness: bool = False
    poll_interval: float | None = None
    seen: Observation | None = None
    strays_seen: tuple[int, ...] = ()


@dataclass(frozen=True)
class _Failure:
    at: datetime
    unavailable: RemoteUnavailable


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
        self._client = client
        self._timing = timing
        self._now = now
        self._on_idle = on_idle
        self._uniform = uniform
        self._interests: dict[str, _Interest] = {}
        self._listed_at: datetime | None = None
        self._complete = False
        self._live: dict[int, RemoteTask] = {}
        self._by_marker: dict[str, RemoteTask] = {}
        self._by_owner: dict[str, list[tuple[str, RemoteTask]]] = {}
        """Live tasks carrying a start marker, by the uid of the resource that made it."""
        self._ended: dict[int, RemoteTask | None] = {}
        """Final state of tracked tasks that left the live list; None: Supervisely has none."""
        self._elsewhere: dict[int, RemoteTask] = {}
        """Tracked tasks that ``tasks.info`` places in another workspace."""
        self._ready: dict[int, bool] = {}
        """What started apps last answered to ``is_ready``, by task id."""
        self._next_list_at: float | None = None
        """When (loop time) the sleeping loop lists next, if nothing pokes it."""
        self._stopped: set[int] = set()
        self._failure: _Failure | None = None
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
        self,
        uid: str,
        *,
        task_id: int | None,
        marker: str | None,
        since: datetime | None,
        wake: Callable[[], None],
        probe_readiness: bool = False,
        poll_interval: float | None = None,
    ) -> Observation:
        """Register what ``uid`` needs and answer from the last list; ``wake`` on a change.

        ``probe_readiness``: ask the app ``is_ready`` while its task is started; ``poll_interval``:
        list the workspace at least this often (seconds).
        """
        interest = _Interest(
            task_id=task_id,
            marker=marker,
            since=since,
            wake=wake,
            probe_readiness=probe_readiness,
            poll_interval=poll_interval,
        )
        self._interests[uid] = interest
        observation = self._observation(interest)
        interest.seen = observation
        interest.strays_seen = self._stray_ids(uid)
        if isinstance(observation, AwaitingObservation) or self._lists_too_late(poll_interval):
            self._poke.set()
        if self._loop_task is None:
            self._loop_task = asyncio.create_task(
                self._run(), name=f"poll workspace {self.workspace_id}"
            )
        return observation

    def _lists_too_late(self, poll_interval: float | None) -> bool:
        """Whether the sleeping loop would list later than ``poll_interval`` from now."""
        if poll_interval is None or self._next_list_at is None:
            return False
        now = asyncio.get_running_loop().time()
        return now + max(poll_interval, self._timing.transition_interval) < self._next_list_at

    def untrack(self, uid: str) -> None:
        """``uid`` no longer needs this workspace; the last one out stops the poller."""
        if self._interests.pop(uid, None) is None or self._interests:
            return
        if self._loop_task is not None:
            self._loop_task.cancel()
            self._loop_task = None
        self._on_idle(self)

    def stop_requested(self, task_id: int) -> None:
        """The operator asked Supervisely to stop this task: its leaving the live list means it
        stopped, and the next list comes soon."""
        self._stopped.add(task_id)
        self._poke.set()

    async def aclose(self) -> None:
        """Stop listing (operator shutdown)."""
        task, self._loop_task = self._loop_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- answering from the cache -------------------------------------------------------------

    def _observation(self, interest: _Interest) -> Observation:
        if interest.task_id is None and interest.marker is None:
            return NothingToObserve()
        failure = self._failure
        since = interest.since
        if failure is not None and (since is None or failure.at >= since):
            return failure.unavailable
        if self._listed_at is None or (since is not None and self._listed_at < since):
            return AwaitingObservation()
        if interest.task_id is not None:
            task = self._live.get(interest.task_id) or self._elsewhere.get(interest.task_id)
            if task is not None:
                return TaskSeen(task)
            if interest.task_id in self._ended:
                ended = self._ended[interest.task_id]
                return TaskSeen(ended) if ended is not None else TaskGone(interest.task_id)
            return AwaitingObservation()  # tasks.info for it is on its way
        assert interest.marker is not None
        task = self._by_marker.get(interest.marker)
        if task is not None:
            return TaskSeen(task)
        return StartNotFound(interest.marker) if self._complete else AwaitingObservation()

    def strays(self, uid: str) -> tuple[RemoteTask, ...]:
        """Live tasks made by an earlier start of ``uid`` that it no longer stands for."""
        interest = self._interests.get(uid)
        owned = self._by_owner.get(uid)
        if interest is None or not owned:
            return ()
        if len(owned) == 1 and owned[0][1].task_id == interest.task_id:
            return ()  # the common case, checked for every resource after every list
        return tuple(
            task
            for marker, task in owned
            if task.task_id != interest.task_id
            and marker != interest.marker
            and task.status is not RemoteStatus.TERMINATING
            and task.task_id not in self._stopped
        )

    def _stray_ids(self, uid: str) -> tuple[int, ...]:
        return tuple(sorted(task.task_id for task in self.strays(uid)))

    def _wake_changed(self) -> int:
        woken = 0
        for uid, interest in self._interests.items():
            if (
                self._observation(interest) != interest.seen
                or self._stray_ids(uid) != interest.strays_seen
            ):
                interest.wake()
                woken += 1
        return woken

    # -- listing ------------------------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self._interests:
            began = loop.time()
            if self._needs_list():
                try:
                    await self._list_once()
                except Exception:
                    # A bug here must not silently stop every resource of the workspace.
                    logger.exception("Listing workspace %s failed", self.workspace_id)
            gap = self._next_gap()
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

    def _needs_list(self) -> bool:
        """Whether any resource needs a list: not when every tracked task has ended (or lives
        in another workspace)."""
        return any(
            interest.task_id is None
            or (interest.task_id not in self._ended and interest.task_id not in self._elsewhere)
            for interest in self._interests.values()
        )

    def _next_gap(self) -> float:
        timing = self._timing
        if self._busy():
            gap = timing.transition_interval
        else:
            asked = [i.poll_interval for i in self._interests.values() if i.poll_interval]
            slowing = timing.interval * 1.5**self._unchanged_lists
            gap = max(timing.transition_interval, min(timing.idle_interval, slowing, *asked))
        return gap * self._uniform(1 - timing.jitter, 1 + timing.jitter)

    def _busy(self) -> bool:
        """Something is starting or stopping, a resource waits for a newer list, or an app it
        asks about is not ready yet."""
        for interest in self._interests.values():
            if isinstance(interest.seen, AwaitingObservation) or interest.marker is not None:
                return True
            task = self._live.get(interest.task_id) if interest.task_id is not None else None
            if task is not None and task.status in CHANGING_STATUSES:
                return True
        return bool(self._stopped & self._live.keys()) or bool(self._readiness_due())

    async def _list_once(self) -> None:
        self._poke.clear()
        taken_at = self._now()
        complete = any(i.task_id is None and i.marker is not None for i in self._interests.values())
        filters = () if complete else (filter_in("status", [s.value for s in LIVE_STATUSES]),)
        try:
            infos = await self._client.list_tasks(
                WorkspaceId(self.workspace_id),
                filters=filters,
                per_page=self._timing.per_page,
                strict=False,
            )
        except SuperviselyError as error:
            if self._failure is None:
                logger.warning(
                    "Cannot list the tasks of workspace %s: %s", self.workspace_id, error.message
                )
            self._failure = _Failure(taken_at, unavailable(error))
            self._wake_changed()
            return
        if self._failure is not None:
            logger.info("Listing the tasks of workspace %s works again", self.workspace_id)
        self._failure = None
        previous = self._live
        before = {task_id: task.raw_status for task_id, task in previous.items()}
        self._live = {}
        self._by_marker = {}
        self._by_owner = {}
        for info in infos:
            task = self._task_of(info)
            if complete and task.status not in LIVE_STATUSES and task.status is not None:
                self._ended[info.id] = task
            else:
                self._live[info.id] = task
                self._ended.pop(info.id, None)  # back in a live status (a server-side restart)
            marker = marker_in(info.description)
            if marker is not None:
                self._by_marker[marker] = task
                if task.marker_owner is not None and info.id in self._live:
                    self._by_owner.setdefault(task.marker_owner, []).append((marker, task))
        self._listed_at = taken_at
        self._complete = complete
        await self._settle_absent(taken_at, previous=previous)
        self._forget_untracked()
        after = {task_id: task.raw_status for task_id, task in self._live.items()}
        woken = self._wake_changed()
        if await self._probe_readiness():
            woken += self._wake_changed()
        self._unchanged_lists = 0 if woken or after != before else self._unchanged_lists + 1

    async def _settle_absent(self, taken_at: datetime, *, previous: dict[int, RemoteTask]) -> None:
        """Learn the final state of tracked tasks this list shows no more (``previous``: the
        live tasks of the list before)."""
        absent = {
            interest.task_id
            for interest in self._interests.values()
            if interest.task_id is not None
            and interest.task_id not in self._live
            and interest.task_id not in self._ended
            and interest.task_id not in self._elsewhere
            and (interest.since is None or interest.since <= taken_at)
        }
        asked = []
        for task_id in absent:
            if task_id in self._stopped:
                self._ended[task_id] = self._stopped_task(previous.get(task_id), task_id=task_id)
            else:
                asked.append(task_id)
        if len(asked) > 1:
            asked = await self._list_by_id(asked)

        async def ask(task_id: int) -> None:
            try:
                info = await self._client.get_task(TaskId(task_id))
            except TaskNotFound:
                self._ended[task_id] = None
                return
            except SuperviselyError:
                return  # asked again after the next list
            self._file(self._task_of(info))

        await self._bounded(ask, asked)

    def _stopped_task(self, last_seen: RemoteTask | None, *, task_id: int) -> RemoteTask:
        """A task the operator stopped, as last listed (its outputs, its agent) but stopped."""
        stopped = RemoteStatus.STOPPED
        if last_seen is not None:
            return replace(last_seen, status=stopped, raw_status=stopped.value, ready=None)
        return RemoteTask(
            task_id=task_id,
            status=stopped,
            raw_status=stopped.value,
            session_url=self._client.session_url(TaskId(task_id)),
            workspace_id=self.workspace_id,
        )

    async def _bounded(
        self, call: Callable[[int], Awaitable[T]], task_ids: Iterable[int]
    ) -> list[T]:
        """``call`` for each task id concurrently, at most ``info_concurrency`` at once."""
        gate = asyncio.Semaphore(self._timing.info_concurrency)

        async def run(task_id: int) -> T:
            async with gate:
                return await call(task_id)

        return await asyncio.gather(*(run(task_id) for task_id in task_ids))

    # -- readiness ----------------------------------------------------------------------------

    def _readiness_due(self) -> list[int]:
        """Started tasks whose resource asks about readiness and whose app was not seen ready."""
        due = set()
        for interest in self._interests.values():
            task_id = interest.task_id
            if not interest.probe_readiness or task_id is None or self._ready.get(task_id):
                continue
            task = self._live.get(task_id)
            if task is not None and task.status in SERVING_STATUSES:
                due.add(task_id)
        return sorted(due)

    async def _probe_readiness(self) -> bool:
        """Ask each due app ``is_ready``; whether any answer changed what the poller knew."""
        due = self._readiness_due()
        answers = await self._bounded(self._probe, due)
        changed = False
        for task_id, ready in zip(due, answers, strict=True):
            task = self._live.get(task_id)
            if ready is None or task is None or task.ready is ready:
                continue
            self._ready[task_id] = ready
            self._live[task_id] = replace(task, ready=ready)
            changed = True
        return changed

    async def _probe(self, task_id: int) -> bool | None:
        """The app's answer, or None when it cannot be had now (asked again after the next
        list; a task that is gone is left to the lists)."""
        try:
            return await self._client.is_app_ready(TaskId(task_id))
        except SuperviselyError as error:
            logger.debug("Cannot ask task %s whether it is ready: %s", task_id, error.message)
            return None

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
            self._file(self._task_of(info))
        return sorted(wanted)

    def _task_of(self, info: TaskInfo) -> RemoteTask:
        """The task as listed, with what its app last said to ``is_ready`` while it serves."""
        task = remote_task(
            info, server=self._client.server, session_url=self._client.session_url(info.id)
        )
        if task.status in SERVING_STATUSES and info.id in self._ready:
            task = replace(task, ready=self._ready[info.id])
        return task

    def _file(self, task: RemoteTask) -> None:
        """Keep a task asked for on its own: in another workspace, still live (a list read
        while tasks moved between its pages) or ended for good."""
        if task.workspace_id is not None and task.workspace_id != self.workspace_id:
            self._elsewhere[task.task_id] = task
        elif task.status in LIVE_STATUSES:
            self._live[task.task_id] = task
        else:
            self._ended[task.task_id] = task

    def _forget_untracked(self) -> None:
        """Drop what no resource needs: final states of untracked tasks, and the readiness of
        apps whose task no longer serves (asked again if it serves again)."""
        tracked = {i.task_id for i in self._interests.values() if i.task_id is not None}
        for known in (self._ended, self._elsewhere):
            for task_id in known.keys() - tracked:
                del known[task_id]
        serving = {t.task_id for t in self._live.values() if t.status in SERVING_STATUSES}
        self._ready = {task_id: r for task_id, r in self._ready.items() if task_id in serving}
        self._stopped &= tracked | self._live.keys()  # a stray asked to stop stays asked
