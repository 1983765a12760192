"""The remote seam over the Supervisely client: shared polling, cached lookups, one error map.

:class:`SuperviselyRemote` serves every resource that uses one client (one server and token):
observations come from one :class:`~.poller.WorkspacePoller` per workspace, slug and agent
lookups from short-lived caches, and every client error leaves as a value of the pure core.
:class:`RemoteHub` hands each resource the remote of its credentials.
"""

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from supervisely_operator.api import SecretReference, SuperviselyTaskSpec
from supervisely_operator.reconcile.outcomes import CallFailed, Started, StartOutcome
from supervisely_operator.reconcile.situation import (
    NothingToObserve,
    Observation,
    RemoteTask,
    ResourceRef,
)
from supervisely_operator.remote.caches import TtlCache
from supervisely_operator.remote.poller import PollTiming, WorkspacePoller
from supervisely_operator.remote.seam import Watch
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

Logger = logging.Logger | logging.LoggerAdapter[Any]
logger = logging.getLogger("supervisely_operator.remote")


class SuperviselyRemote:
    """The seam (:class:`~.seam.TaskRemote`) for all resources served by one client."""

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
        self._workspace_of: dict[str, int] = {}
        self._watchers: dict[int, dict[str, ResourceRef]] = {}
        """The resources watching each task id, by uid (for ``owner_of``)."""
        self._task_of: dict[str, int] = {}
        self._acted_at: dict[str, datetime] = {}
        self._modules: TtlCache[str, ModuleId] = TtlCache(lookup_ttl)
        self._agents: TtlCache[int, AgentInfo] = TtlCache(lookup_ttl)

    def __repr__(self) -> str:
        return f"SuperviselyRemote(server={self.client.server!r}, workspaces={len(self._pollers)})"

    async def observe(self, watch: Watch) -> Observation:
        """Read the resource's task from its workspace's shared list (no call of its own)."""
        uid = watch.resource.uid
        marker = watch.marker if watch.task_id is None else None
        if watch.task_id is None and marker is None:
            self._untrack(uid)
            return NothingToObserve()
        moved_from = self._workspace_of.get(uid)
        if moved_from is not None and moved_from != watch.workspace_id:
            self._untrack(uid)
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
        self._workspace_of[uid] = watch.workspace_id
        self._watching(watch.resource, watch.task_id)
        moments = [t for t in (watch.since, self._acted_at.get(uid)) if t is not None]
        return poller.track(
            uid,
            task_id=watch.task_id,
            marker=marker,
            since=max(moments) if moments else None,
            wake=watch.wake,
            probe_readiness=watch.probe_readiness,
            poll_interval=watch.poll_interval,
        )

    def owner_of(self, task_id: int, resource: ResourceRef) -> ResourceRef | None:
        """Another resource this remote watches the task id for, if any (the one that
        observed it first)."""
        watchers = self._watchers.get(task_id, {})
        return next((ref for uid, ref in watchers.items() if uid != resource.uid), None)

    def _watching(self, resource: ResourceRef, task_id: int | None) -> None:
        """Index the task id the resource watches now (none: it watches a marker)."""
        previous = self._task_of.get(resource.uid)
        if previous == task_id:
            return
        self._unwatch(resource.uid)
        if task_id is not None:
            self._task_of[resource.uid] = task_id
            self._watchers.setdefault(task_id, {})[resource.uid] = resource

    def _unwatch(self, uid: str) -> None:
        task_id = self._task_of.pop(uid, None)
        if task_id is None:
            return
        watchers = self._watchers[task_id]
        del watchers[uid]
        if not watchers:
            del self._watchers[task_id]

    def strays(self, resource: ResourceRef) -> tuple[RemoteTask, ...]:
        """Strays of the resource in its workspace's last list."""
        poller = self._pollers.get(self._workspace_of.get(resource.uid, -1))
        return () if poller is None else poller.strays(resource.uid)

    async def start(
        self, spec: SuperviselyTaskSpec, *, resource: ResourceRef, marker: str
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
                spec, resource=resource, marker=marker, module_id=module_id
            )
            try:
                started_id = await self._start_within_deadline(request)
            except MultipleTasksStarted as error:
                started_id = error.task_ids[0]
                await self._stop_extras(error.task_ids[1:])
        except SuperviselyError as error:
            return classify_start_error(error)
        finally:
            self._acted_at[resource.uid] = self._now()
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

    async def stop(self, task_id: int, *, resource: ResourceRef) -> CallFailed | None:
        """Ask Supervisely to stop a task; a task that is already gone counts as stopped."""
        try:
            await self.client.stop_task(TaskId(task_id))
        except TaskNotFound:
            return None
        except SuperviselyError as error:
            return call_failed(error)
        finally:
            self._acted_at[resource.uid] = self._now()
        poller = self._pollers.get(self._workspace_of.get(resource.uid, -1))
        if poller is not None:
            poller.stop_requested(task_id)
        return None

    async def log_tail(self, task_id: int, *, lines: int) -> str:
        """The last lines of a task's log, or a note that they could not be read."""
        if lines <= 0:
            return ""
        try:
            entries = await self.client.tail_task_logs(TaskId(task_id), lines=lines)
        except SuperviselyError as error:
            return f"(log unavailable: {error.reason})"
        return "\n".join(f"[{entry.level}] {entry.message}" for entry in entries)

    def forget(self, resource: ResourceRef) -> None:
        """The resource is gone: drop it from its poller (the last one out stops the poller)."""
        self._untrack(resource.uid)
        self._acted_at.pop(resource.uid, None)

    async def aclose(self) -> None:
        """Stop every poller."""
        for poller in list(self._pollers.values()):
            await poller.aclose()
        self._pollers.clear()

    def _untrack(self, uid: str) -> None:
        self._unwatch(uid)
        workspace_id = self._workspace_of.pop(uid, None)
        poller = self._pollers.get(workspace_id) if workspace_id is not None else None
        if poller is not None:
            poller.untrack(uid)

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


class ClientSource(Protocol):
    """Where a resource's client comes from (the operator's credentials pool)."""

    async def client_for(
        self, *, namespace: str, secret_ref: SecretReference | None, deleting: bool = False
    ) -> SuperviselyClient: ...

    def retired(self, client: SuperviselyClient) -> bool:
        """The source hands this client out no more (its token was rotated away)."""
        ...

    async def close_retired(self, client: SuperviselyClient) -> None:
        """Close a retired client; nothing uses it any more."""
        ...


class RemoteHub:
    """One :class:`SuperviselyRemote` per client, so resources sharing credentials share polls."""

    def __init__(
        self,
        clients: ClientSource,
        *,
        timing: PollTiming,
        lookup_ttl: float,
        start_deadline: float,
        now: Callable[[], datetime],
    ) -> None:
        self._clients = clients
        self._timing = timing
        self._lookup_ttl = lookup_ttl
        self._start_deadline = start_deadline
        self._now = now
        self._remotes: dict[int, SuperviselyRemote] = {}
        self._remote_of: dict[str, SuperviselyRemote] = {}
        self._closing: set[asyncio.Task[None]] = set()

    async def remote_for(
        self, resource: ResourceRef, *, secret_ref: SecretReference | None, deleting: bool = False
    ) -> SuperviselyRemote:
        """The remote for a resource's credentials; raises what the client source raises."""
        client = await self._clients.client_for(
            namespace=resource.namespace, secret_ref=secret_ref, deleting=deleting
        )
        remote = self._remotes.get(id(client))
        if remote is None or remote.client is not client:
            remote = SuperviselyRemote(
                client,
                timing=self._timing,
                lookup_ttl=self._lookup_ttl,
                start_deadline=self._start_deadline,
                now=self._now,
            )
            self._remotes[id(client)] = remote
        previous = self._remote_of.get(resource.uid)
        self._remote_of[resource.uid] = remote
        if previous is not None and previous is not remote:
            previous.forget(resource)  # its credentials changed (a rotated token)
            await self._close_if_abandoned(previous)
        return remote

    def forget(self, resource: ResourceRef) -> None:
        """The resource is gone."""
        remote = self._remote_of.pop(resource.uid, None)
        if remote is not None:
            remote.forget(resource)
            if self._clients.retired(remote.client):
                closing = asyncio.create_task(self._close_if_abandoned(remote))
                self._closing.add(closing)
                closing.add_done_callback(self._closing.discard)

    async def _close_if_abandoned(self, remote: SuperviselyRemote) -> None:
        """The remote of a rotated token, with its client, closes when its last resource left."""
        if not self._clients.retired(remote.client):
            return
        if any(other is remote for other in self._remote_of.values()):
            return
        if self._remotes.get(id(remote.client)) is remote:
            del self._remotes[id(remote.client)]
        await remote.aclose()
        await self._clients.close_retired(remote.client)

    async def aclose(self) -> None:
        """Stop every poller (operator shutdown)."""
        for remote in self._remotes.values():
            await remote.aclose()
        self._remotes.clear()
        self._remote_of.clear()
