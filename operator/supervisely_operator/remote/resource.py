"""One resource's remote: the :class:`~.seam.TaskRemote` the shell keeps on kopf's memo.

Everything the operator remembers about one resource's remote side lives here, on one object
that goes when the resource goes: which client serves it (credentials may rotate), which
workspace's poller tracks it, when it last started or stopped something, and its part in
ownership. ``release`` lets go of all of it at once.
"""

from collections.abc import Callable, Hashable, Mapping
from datetime import datetime
from typing import Any, Protocol

from supervisely_operator.api import SecretReference, SuperviselyTaskSpec, SuperviselyTaskStatus
from supervisely_operator.reconcile.situation import (
    CallFailed,
    NothingToObserve,
    Observation,
    RemoteTask,
    RemoteUnavailable,
    ResourceRef,
    Sighting,
    StartOutcome,
)
from supervisely_operator.reconcile.watch import Watch, log_tail_wanted, watch_for
from supervisely_operator.remote.adapter import SuperviselyRemote
from supervisely_operator.remote.ownership import Claimant, Ownership
from supervisely_operator.remote.seam import CredentialsUnavailable


class Hub(Protocol):
    """What a resource's remote needs of the hub that made it (``remote/hub.py``)."""

    ownership: Ownership
    log_tail_lines: int
    now: Callable[[], datetime]

    async def served_by(
        self, resource: ResourceRef, *, secret_ref: SecretReference | None, deleting: bool
    ) -> SuperviselyRemote:
        """The remote of the resource's credentials; raises ``CredentialsUnavailable``."""
        ...

    def serving(self, user: Hashable, remote: SuperviselyRemote) -> None:
        """``user`` is served by ``remote`` now."""
        ...

    def left(self, user: Hashable, remote: SuperviselyRemote) -> None:
        """``user`` no longer uses ``remote``."""
        ...


class ResourceRemote:
    """The seam for one resource (see :class:`~.seam.TaskRemote`)."""

    def __init__(self, hub: Hub, resource: ResourceRef, *, wake: Callable[[], None]) -> None:
        self.resource = resource
        self._hub = hub
        self._claimant = Claimant(key=self, resource=resource, wake=wake)
        self._served: SuperviselyRemote | None = None
        """The remote of the client that served the last observation."""
        self._tracked_in: int | None = None
        """The workspace whose poller tracks this resource."""
        self._acted_at: datetime | None = None
        """When this operator last started or stopped a task for the resource."""

    def __repr__(self) -> str:
        resource = self.resource
        return f"ResourceRemote({resource.namespace}/{resource.name}, in={self._tracked_in})"

    async def observe(
        self,
        *,
        spec: SuperviselyTaskSpec,
        status: SuperviselyTaskStatus,
        refresh_requested: str | None,
        deleting: bool,
        sources: Mapping[str, SecretReference | None] | None = None,
    ) -> Observation:
        """The resource's task, its strays, whose task it asks to adopt, which paramsFrom
        sources reach another server and, when the decision must judge a failure, its log
        tail: one value, from the shared lists and caches."""
        try:
            served = await self._hub.served_by(
                self.resource, secret_ref=spec.credentials_secret_ref, deleting=deleting
            )
        except CredentialsUnavailable as error:
            return Observation(task=RemoteUnavailable(reason=error.reason, message=error.message))
        if served is not self._served:
            self._leave()
            self._served = served
            self._hub.serving(self, served)
        watch = watch_for(
            spec,
            status,
            refresh_requested=refresh_requested,
            acted_at=self._acted_at,
            now=self._hub.now(),
        )
        sighting, strays = self._track(served, watch)
        owner = await self._hub.ownership.owner_of(
            self._claimant,
            server=served.client.server,
            adopting=watch.adopting,
            records=status.task_id,
        )
        tail_of = log_tail_wanted(spec, status, sighting)
        tail = None
        if tail_of is not None and self._hub.log_tail_lines > 0:
            tail = await served.log_tail(tail_of, lines=self._hub.log_tail_lines)
        foreign = await self._foreign(served.client.server, sources or {})
        return Observation(
            task=sighting, strays=strays, owner=owner, log_tail=tail, foreign_sources=foreign
        )

    async def _foreign(
        self, server: str, sources: Mapping[str, SecretReference | None]
    ) -> frozenset[str]:
        namespace = self.resource.namespace
        return frozenset(
            [
                name
                for name, credentials in sources.items()
                if not await self._hub.ownership.same_server(server, namespace, credentials)
            ]
        )

    async def start(
        self, spec: SuperviselyTaskSpec, *, marker: str, params: Mapping[str, Any]
    ) -> StartOutcome:
        """Start a task through the client the last observation used."""
        served = self._serving()
        try:
            return await served.start(spec, resource=self.resource, marker=marker, params=params)
        finally:
            self._acted_at = self._hub.now()

    async def stop(self, task_id: int) -> CallFailed | None:
        """Stop a task through the client the last observation used."""
        served = self._serving()
        try:
            return await served.stop(task_id, workspace_id=self._tracked_in)
        finally:
            self._acted_at = self._hub.now()

    def pause(self) -> None:
        """No lists for a paused resource; what it owns stays its own (its status says so)."""
        self._untrack()

    def release(self) -> None:
        """The resource is gone."""
        self._leave()
        self._hub.ownership.release(self._claimant)

    def _track(
        self, served: SuperviselyRemote, watch: Watch
    ) -> tuple[Sighting, tuple[RemoteTask, ...]]:
        if watch.task_id is None and watch.marker is None:
            self._untrack()
            return NothingToObserve(), ()
        if self._tracked_in not in (None, watch.workspace_id):
            self._untrack()  # the spec moved it to another workspace
        self._tracked_in = watch.workspace_id
        wake = self._claimant.wake
        return served.track(self, uid=self.resource.uid, watch=watch, wake=wake)

    def _serving(self) -> SuperviselyRemote:
        assert self._served is not None, "a pass observes before it acts"
        return self._served

    def _untrack(self) -> None:
        if self._served is not None and self._tracked_in is not None:
            self._served.untrack(self, workspace_id=self._tracked_in)
        self._tracked_in = None

    def _leave(self) -> None:
        """Stop using the current client (gone, or its credentials changed)."""
        self._untrack()
        served, self._served = self._served, None
        if served is not None:
            self._hub.left(self, served)
