"""What the lists of one workspace showed, and what each resource is told from them.

The pure half of the shared poll (``remote/poller.py`` is the I/O half): no client, no clock,
no loop. The poller feeds it what Supervisely answered; it answers each resource's
:class:`~supervisely_operator.reconcile.watch.Watch` with a sighting and its strays. The rules:

- A list taken before a resource's last action (its start, its stop) never answers for it: the
  resource gets :class:`AwaitingObservation` until a newer list exists.
- A tracked task that a list taken after its start does not show has left the live statuses
  (or is gone): the poller asks for it once, and its final state is kept while it is tracked.
  A task the operator itself stopped needs no such call: once it leaves the live list it
  stopped.
- A start whose task id was never recorded is looked up by its marker in an unfiltered list
  (the task may already have ended), taken only while such a lookup is pending.
- A tracked task that ``tasks.info`` places in another workspace (a task adopted by id) is
  reported as Supervisely describes it, its ``workspace_id`` included, so the decision can
  refuse it; it is not asked for again while tracked, as this workspace's lists cannot follow it.
- A live task that carries a resource's start marker but is neither its task nor its pending
  start is a stray: a start Supervisely carried out after the operator had given up on it.
- Readiness: an app whose task is started (or deployed) is asked ``is_ready`` until it
  answers ready; no list says readiness, so the view adds the last answer to the listed task.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from supervisely_operator.reconcile.situation import (
    AwaitingObservation,
    NothingToObserve,
    RemoteStatus,
    RemoteTask,
    RemoteUnavailable,
    Sighting,
    StartNotFound,
    TaskGone,
    TaskSeen,
)
from supervisely_operator.reconcile.watch import Watch

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
class Listed:
    """One task as a list (or ``tasks.info``) showed it, with the marker its description ends
    with (the view files it by marker and by the resource that made it)."""

    task: RemoteTask
    marker: str | None


@dataclass(frozen=True)
class _Failure:
    at: datetime
    unavailable: RemoteUnavailable


class WorkspaceView:
    """The last lists of one workspace, as the resources that read them need them."""

    def __init__(self, *, workspace_id: int, session_url: Callable[[int], str]) -> None:
        self.workspace_id = workspace_id
        self._session_url = session_url
        self.listed_at: datetime | None = None
        """When the last successful list was taken (before its first request)."""
        self._complete = False
        """The last list showed ended tasks too (a marker lookup was pending)."""
        self._failure: _Failure | None = None
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
        self._stopped: set[int] = set()
        """Tasks the operator asked to stop: leaving the live list means they stopped."""
        self._previous_live: dict[int, RemoteTask] = {}
        """The live tasks of the list before the last one (a stopped task's last known state)."""

    # -- answering ----------------------------------------------------------------------------

    def sighting(self, watch: Watch) -> Sighting:
        """What the last list says of the watched task (or of the start in flight)."""
        if watch.task_id is None and watch.marker is None:
            return NothingToObserve()
        failure = self._failure
        since = watch.since
        if failure is not None and (since is None or failure.at >= since):
            return failure.unavailable
        if self.listed_at is None or (since is not None and self.listed_at < since):
            return AwaitingObservation()
        if watch.task_id is not None:
            task = self._live.get(watch.task_id) or self._elsewhere.get(watch.task_id)
            if task is not None:
                return TaskSeen(task)
            if watch.task_id in self._ended:
                ended = self._ended[watch.task_id]
                return TaskSeen(ended) if ended is not None else TaskGone(watch.task_id)
            return AwaitingObservation()  # tasks.info for it is on its way
        assert watch.marker is not None
        task = self._by_marker.get(watch.marker)
        if task is not None:
            return TaskSeen(task)
        return StartNotFound(watch.marker) if self._complete else AwaitingObservation()

    def strays(self, uid: str, watch: Watch) -> tuple[RemoteTask, ...]:
        """Live tasks made by an earlier start of resource ``uid`` that it no longer stands for."""
        owned = self._by_owner.get(uid)
        if not owned:
            return ()
        if len(owned) == 1 and owned[0][1].task_id == watch.task_id:
            return ()  # the common case, checked for every resource after every list
        return tuple(
            task
            for marker, task in owned
            if task.task_id != watch.task_id
            and marker != watch.marker
            and task.status is not RemoteStatus.TERMINATING
            and task.task_id not in self._stopped
        )

    # -- what the loop should do next ---------------------------------------------------------

    def needs_list(self, watches: Iterable[Watch]) -> bool:
        """Whether any watch needs a list: not when every watched task has ended (or lives in
        another workspace)."""
        return any(
            watch.marker is not None
            if watch.task_id is None
            else watch.task_id not in self._ended and watch.task_id not in self._elsewhere
            for watch in watches
        )

    def needs_complete_list(self, watches: Iterable[Watch]) -> bool:
        """A start is looked up by its marker: the list must show ended tasks too."""
        return any(watch.task_id is None and watch.marker is not None for watch in watches)

    def changing(self, watches: Iterable[Watch]) -> bool:
        """Something starts or stops, or an app a watch asks about is not ready yet."""
        for watch in watches:
            if watch.marker is not None:
                return True
            task = self._live.get(watch.task_id) if watch.task_id is not None else None
            if task is not None and task.status in CHANGING_STATUSES:
                return True
        return bool(self._stopped & self._live.keys()) or bool(self.readiness_due(watches))

    def readiness_due(self, watches: Iterable[Watch]) -> list[int]:
        """Started tasks whose resource asks about readiness and whose app was not seen ready."""
        due = set()
        for watch in watches:
            task_id = watch.task_id
            if not watch.probe_readiness or task_id is None or self._ready.get(task_id):
                continue
            task = self._live.get(task_id)
            if task is not None and task.status in SERVING_STATUSES:
                due.add(task_id)
        return sorted(due)

    def absent(self, watches: Iterable[Watch], *, taken_at: datetime) -> list[int]:
        """Watched tasks the last list showed no more, whose final state must be asked for; a
        task the operator stopped is filed as stopped at once, with no call."""
        absent = {
            watch.task_id
            for watch in watches
            if watch.task_id is not None
            and watch.task_id not in self._live
            and watch.task_id not in self._ended
            and watch.task_id not in self._elsewhere
            and (watch.since is None or watch.since <= taken_at)
        }
        asked = []
        for task_id in sorted(absent):
            if task_id in self._stopped:
                self._ended[task_id] = self._stopped_task(task_id)
            else:
                asked.append(task_id)
        return asked

    # -- taking in what Supervisely said ------------------------------------------------------

    def list_failed(self, unavailable: RemoteUnavailable, *, taken_at: datetime) -> bool:
        """A list failed; whether this begins an outage (it is logged once)."""
        began = self._failure is None
        self._failure = _Failure(taken_at, unavailable)
        return began

    def listed(self, listed: Iterable[Listed], *, taken_at: datetime, complete: bool) -> bool:
        """A list succeeded; whether it ends an outage."""
        ended_outage = self._failure is not None
        self._failure = None
        previous = self._live
        self._live = {}
        self._by_marker = {}
        self._by_owner = {}
        for entry in listed:
            task = self._with_readiness(entry.task)
            if complete and task.status not in LIVE_STATUSES and task.status is not None:
                self._ended[task.task_id] = task
            else:
                self._live[task.task_id] = task
                self._ended.pop(task.task_id, None)  # back in a live status (a server restart)
            if entry.marker is not None:
                self._by_marker[entry.marker] = task
                if task.marker_owner is not None and task.task_id in self._live:
                    self._by_owner.setdefault(task.marker_owner, []).append((entry.marker, task))
        self._previous_live = previous
        self.listed_at = taken_at
        self._complete = complete
        return ended_outage

    def live_statuses(self) -> dict[int, str]:
        """The raw status of each live task, to tell whether a list changed anything."""
        return {task_id: task.raw_status for task_id, task in self._live.items()}

    def file(self, task: RemoteTask) -> None:
        """Keep a task asked for on its own: in another workspace, still live (a list read
        while tasks moved between its pages) or ended for good."""
        if task.workspace_id is not None and task.workspace_id != self.workspace_id:
            self._elsewhere[task.task_id] = task
        elif task.status in LIVE_STATUSES:
            self._live[task.task_id] = self._with_readiness(task)
        else:
            self._ended[task.task_id] = task

    def gone(self, task_id: int) -> None:
        """Supervisely has no such task."""
        self._ended[task_id] = None

    def stop_requested(self, task_id: int) -> None:
        """The operator asked Supervisely to stop this task."""
        self._stopped.add(task_id)

    def answered_ready(self, answers: Iterable[tuple[int, bool | None]]) -> bool:
        """What apps answered to ``is_ready`` (None: no answer); whether anything changed."""
        changed = False
        for task_id, ready in answers:
            task = self._live.get(task_id)
            if ready is None or task is None or task.ready is ready:
                continue
            self._ready[task_id] = ready
            self._live[task_id] = replace(task, ready=ready)
            changed = True
        return changed

    def forget_unwatched(self, watches: Iterable[Watch]) -> None:
        """Drop what no watch needs: final states of unwatched tasks, and the readiness of apps
        whose task no longer serves (asked again if it serves again)."""
        watched = {watch.task_id for watch in watches if watch.task_id is not None}
        for known in (self._ended, self._elsewhere):
            for task_id in known.keys() - watched:
                del known[task_id]
        serving = {t.task_id for t in self._live.values() if t.status in SERVING_STATUSES}
        self._ready = {task_id: r for task_id, r in self._ready.items() if task_id in serving}
        self._stopped &= watched | self._live.keys()  # a stray asked to stop stays asked

    def _with_readiness(self, task: RemoteTask) -> RemoteTask:
        """The task as listed, with what its app last said to ``is_ready`` while it serves."""
        if task.status in SERVING_STATUSES and task.task_id in self._ready:
            return replace(task, ready=self._ready[task.task_id])
        return task

    def _stopped_task(self, task_id: int) -> RemoteTask:
        """A task the operator stopped, as last listed (its outputs, its agent) but stopped."""
        stopped = RemoteStatus.STOPPED
        last_seen = self._previous_live.get(task_id)
        if last_seen is not None:
            return replace(last_seen, status=stopped, raw_status=stopped.value, ready=None)
        return RemoteTask(
            task_id=task_id,
            status=stopped,
            raw_status=stopped.value,
            session_url=self._session_url(task_id),
            workspace_id=self.workspace_id,
        )
