"""The Supervisely client behind the seam: shared polls, cached lookups, one error map.

:class:`SuperviselyRemote` serves every resource that uses one client (one server and token):
sightings come from one :class:`~.poller.WorkspacePoller` per workspace, slug and agent lookups
from short-lived caches, and every client error leaves as a value of the pure core. It keeps
nothing per resource: what one resource needs (where it is tracked, when it last acted) lives on
that resource's own remote (``remote/resource.py``).
"""

import asyncio
import logging
from collections.abc import Callable, Hashable, Mapping
from datetime import datetime
from typing import Any

from supervisely_operator.api import SuperviselyTaskSpec
from supervisely_operator.reconcile.situation import (
    CallFailed,
    RemoteTask,
    ResourceRef,
    Sighting,
    Started,
    StartOutcome,
)
from supervisely_operator.reconcile.watch import Watch
from supervisely_operator.remote.caches import TtlCache
from supervisely_operator.remote.poller import PollTiming, WorkspacePoller
from supervisely_operator.remote.translate import (
    agent_not_running,
    build_start_request,
    call_failed,
    classify_start_error,
)
from supervisely_operator.supervisely import (
    AgentId,
    AgentInfo,
    AgentStatus,
    ModuleId,
    MultipleTasksStarted,
    StartOutcomeUnknown,
    StartTaskRequest,
    SuperviselyClient,
    SuperviselyError,
    TaskId,
    TaskNotFound,
)

logger = logging.getLogger("supervisely_operator.remote")


class SuperviselyRemote:
    """Everything the resources served by one client do on Supervisely."""

    def __init__(
        self,
        client: SuperviselyClient,
        *,
        timing: PollTiming,
        lookup_ttl: float,
        start_deadline: float,
        now: Callable[[], datetime],
    ) -> None:
        self.client = client
        self._timing = timing
        self._start_deadline = start_deadline
        self._now = now
        self._pollers: dict[int, WorkspacePoller] = {}
        self._modules: TtlCache[str, ModuleId] = TtlCache(lookup_ttl)
        self._agents: TtlCache[int, AgentInfo] = TtlCache(lookup_ttl)

    def __repr__(self) -> str:
        return f"SuperviselyRemote(server={self.client.server!r}, workspaces={len(self._pollers)})"

    def track(
        self, key: Hashable, *, uid: str, watch: Watch, wake: Callable[[], None]
    ) -> tuple[Sighting, tuple[RemoteTask, ...]]:
        """The watched task and the strays of resource ``uid``, from its workspace's shared list
        (no call of its own); ``wake`` when they change."""
        poller = self._pollers.get(watch.workspace_id)
        if poller is None:
            poller = WorkspacePoller(
                client=self.client,
                workspace_id=watch.workspace_id,
                timing=self._timing,
                now=self._now,
                on_idle=self._poller_idle,
            )
            self._pollers[watch.workspace_id] = poller
        return poller.track(key, uid=uid, watch=watch, wake=wake)

    def untrack(self, key: Hashable, *, workspace_id: int) -> None:
        """``key`` watches nothing in the workspace any more."""
        poller = self._pollers.get(workspace_id)
        if poller is not None:
            poller.untrack(key)

    async def start(
        self,
        spec: SuperviselyTaskSpec,
        *,
        resource: ResourceRef,
        marker: str,
        params: Mapping[str, Any] | None = None,
    ) -> StartOutcome:
        """Resolve the app, check the agent, start the task (lookups shared between resources)."""
        try:
            module_id = spec.module_id
            if module_id is None:
                slug = spec.app_slug
                assert slug is not None  # the CRD admits exactly one of the two
                module_id = await self._modules.get(
                    slug, lambda: self.client.resolve_app_slug(slug)
                )
            if spec.agent_id is not None:
                agent_id = AgentId(spec.agent_id)
                agent = await self._agents.get(agent_id, lambda: self.client.get_agent(agent_id))
                if agent.status is not AgentStatus.RUNNING:
                    return agent_not_running(spec.agent_id, agent.raw_status)
            request = build_start_request(
                spec,
                resource=resource,
                marker=marker,
                module_id=module_id,
                params=spec.params if params is None else params,
            )
            try:
                started_id = await self._start_within_deadline(request)
            except MultipleTasksStarted as error:
                started_id = error.task_ids[0]
                await self._stop_extras(error.task_ids[1:])
        except SuperviselyError as error:
            return classify_start_error(error)
        return Started(
            task_id=started_id,
            module_id=ModuleId(module_id),
            agent_id=spec.agent_id,
            session_url=self.client.session_url(started_id),
        )

    async def _start_within_deadline(self, request: StartTaskRequest) -> TaskId:
        """``tasks.run.app``, given up after ``start_deadline`` in all (waits for the server's
        limits included), so a start is never in flight longer than the decision's grace
        assumes; a start given up on is looked for by its marker before it is made again."""
        try:
            async with asyncio.timeout(self._start_deadline):
                return (await self.client.start_task(request)).task_id
        except TimeoutError:
            raise StartOutcomeUnknown(
                method="tasks.run.app",
                cause=f"no reply within {self._start_deadline:g} s",
                attempts=1,
            ) from None

    async def stop(self, task_id: int, *, workspace_id: int | None) -> CallFailed | None:
        """Ask Supervisely to stop a task; a task that is already gone counts as stopped."""
        try:
            await self.client.stop_task(TaskId(task_id))
        except TaskNotFound:
            return None
        except SuperviselyError as error:
            return call_failed(error)
        poller = self._pollers.get(workspace_id) if workspace_id is not None else None
        if poller is not None:
            poller.stop_requested(task_id)
        return None

    async def log_tail(self, task_id: int, *, lines: int) -> tuple[str, ...]:
        """The last lines of a task's log, or a line saying they could not be read."""
        if lines <= 0:
            return ()
        try:
            entries = await self.client.tail_task_logs(TaskId(task_id), lines=lines)
        except SuperviselyError as error:
            return (f"(log unavailable: {error.reason})",)
        text = "\n".join(f"[{entry.level}] {entry.message}" for entry in entries)
        return tuple(text.splitlines())  # one line a match of a failure rule may name

    async def aclose(self) -> None:
        """Stop every poller."""
        for poller in list(self._pollers.values()):
            await poller.aclose()
        self._pollers.clear()

    def _poller_idle(self, poller: WorkspacePoller) -> None:
        if self._pollers.get(poller.workspace_id) is poller:
            del self._pollers[poller.workspace_id]

    async def _stop_extras(self, task_ids: tuple[TaskId, ...]) -> None:
        """Supervisely made more than one task for one start: keep the first, stop the rest."""
        for task_id in task_ids:
            logger.warning("Stopping extra task %s that Supervisely created for one start", task_id)
            try:
                await self.client.stop_task(task_id)
            except SuperviselyError as error:
                logger.error("Could not stop extra task %s: %s", task_id, error)
