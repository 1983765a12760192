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
- A live task that carries a resource's start marker but is neither its task nor its pending
  start is a stray: a start Supervisely carried out after the operator had given up on it.
  The poller only reports strays (the decision stops them); it never changes anything.
- Lists come faster while something starts or stops, slower while nothing changes, with jitter.
  The poller starts with the first resource that needs it and stops with the last.
"""

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from supervisely_operator.reconcile.launch import marker_in, marker_owner
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
    """``tasks.info`` calls in flight at once for tasks that left the live list."""


@dataclass
class _Interest:
    """What one resource needs from the workspace, and what it was last told."""

    task_id: int | None
    marker: str | None
    since: datetime | None
    wake: Callable[[], None]
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
    ) -> Observation:
        """Register what ``uid`` needs and answer from the last list; ``wake`` on a change."""
        interest = _Interest(task_id=task_id, marker=marker, since=since, wake=wake)
        self._interests[uid] = interest
        observation = self._observation(interest)
        interest.seen = observation
        interest.strays_seen = self._stray_ids(uid)
        if isinstance(observation, AwaitingObservation):
            self._poke.set()
        if self._loop_task is None:
            self._loop_task = asyncio.create_task(
                self._run(), name=f"poll workspace {self.workspace_id}"
            )
        return observation

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
            task = self._live.get(interest.task_id)
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
            # Pokes (a resource waiting for a list) never bring lists closer together than the
            # fast interval; without one the gap is the interval for the current state. (A
            # server's Retry-After holds every call at the client's gate already.)
            earliest = began + min(gap, self._timing.transition_interval)
            await asyncio.sleep(max(0.0, earliest - loop.time()))
            remaining = began + gap - loop.time()
            if remaining > 0 and not self._poke.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._poke.wait(), remaining)

    def _needs_list(self) -> bool:
        """Whether any resource needs a list: not when every tracked task has ended."""
        return any(
            interest.task_id is None or interest.task_id not in self._ended
            for interest in self._interests.values()
        )

    def _next_gap(self) -> float:
        timing = self._timing
        if self._busy():
            gap = timing.transition_interval
        else:
            gap = min(timing.idle_interval, timing.interval * 1.5**self._unchanged_lists)
            gap = max(gap, timing.transition_interval)
        return gap * self._uniform(1 - timing.jitter, 1 + timing.jitter)

    def _busy(self) -> bool:
        """Something is starting or stopping, or a resource waits for a newer list."""
        for interest in self._interests.values():
            if isinstance(interest.seen, AwaitingObservation) or interest.marker is not None:
                return True
            task = self._live.get(interest.task_id) if interest.task_id is not None else None
            if task is not None and task.status in CHANGING_STATUSES:
                return True
        return bool(self._stopped & self._live.keys())

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
        before = {task_id: task.raw_status for task_id, task in self._live.items()}
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
                owner = marker_owner(marker)
                if owner is not None and info.id in self._live:
                    self._by_owner.setdefault(owner, []).append((marker, task))
        self._listed_at = taken_at
        self._complete = complete
        await self._settle_absent(taken_at)
        self._forget_untracked()
        after = {task_id: task.raw_status for task_id, task in self._live.items()}
        woken = self._wake_changed()
        self._unchanged_lists = 0 if woken or after != before else self._unchanged_lists + 1

    async def _settle_absent(self, taken_at: datetime) -> None:
        """Learn the final state of tracked tasks this list shows no more."""
        absent = {
            interest.task_id
            for interest in self._interests.values()
            if interest.task_id is not None
            and interest.task_id not in self._live
            and interest.task_id not in self._ended
            and (interest.since is None or interest.since <= taken_at)
        }
        asked = []
        for task_id in absent:
            if task_id in self._stopped:
                self._ended[task_id] = RemoteTask(
                    task_id=task_id,
                    status=RemoteStatus.STOPPED,
                    raw_status=RemoteStatus.STOPPED.value,
                    session_url=self._client.session_url(TaskId(task_id)),
                )
            else:
                asked.append(task_id)
        if len(asked) > 1:
            asked = await self._list_by_id(asked)
        gate = asyncio.Semaphore(self._timing.info_concurrency)

        async def ask(task_id: int) -> None:
            async with gate:
                try:
                    info = await self._client.get_task(TaskId(task_id))
                except TaskNotFound:
                    self._ended[task_id] = None
                    return
                except SuperviselyError:
                    return  # asked again after the next list
            self._file(self._task_of(info))

        await asyncio.gather(*(ask(task_id) for task_id in asked))

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
        return remote_task(info, session_url=self._client.session_url(info.id))

    def _file(self, task: RemoteTask) -> None:
        """Keep a task asked for on its own: still live (a list read while tasks moved between
        its pages) or ended for good."""
        if task.status in LIVE_STATUSES:
            self._live[task.task_id] = task
        else:
            self._ended[task.task_id] = task

    def _forget_untracked(self) -> None:
        tracked = {i.task_id for i in self._interests.values() if i.task_id is not None}
        for task_id in self._ended.keys() - tracked:
            del self._ended[task_id]
        self._stopped &= tracked | self._live.keys()  # a stray asked to stop stays asked
