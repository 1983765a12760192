"""The operator's remote side as a whole: one remote per client, ownership across all of them.

:class:`RemoteHub` hands each resource its own :class:`~.resource.ResourceRemote` and serves
them from one :class:`~.adapter.SuperviselyRemote` per client (server and token), so resources
sharing credentials share polls and lookups. A client whose token was rotated away closes once
its last resource has moved off it.
"""

import asyncio
from collections.abc import Callable, Hashable
from datetime import datetime

from supervisely_operator.api import SecretReference
from supervisely_operator.reconcile.situation import ResourceRef
from supervisely_operator.remote.adapter import SuperviselyRemote
from supervisely_operator.remote.ownership import Ownership
from supervisely_operator.remote.poller import PollTiming
from supervisely_operator.remote.resource import ResourceRemote
from supervisely_operator.remote.seam import ClientSource, RecordedTasks


class RemoteHub:
    """Hands out each resource's remote (a :class:`~.seam.RemoteProvider`)."""

    def __init__(
        self,
        clients: ClientSource,
        *,
        timing: PollTiming,
        lookup_ttl: float,
        start_deadline: float,
        log_tail_lines: int,
        recorded: RecordedTasks,
        now: Callable[[], datetime],
    ) -> None:
        self.now = now
        self.log_tail_lines = log_tail_lines
        """Lines of a failed task's log read for lastError and the failure rules (0: none)."""
        self.ownership = Ownership(recorded=recorded, clients=clients)
        self._clients = clients
        self._timing = timing
        self._lookup_ttl = lookup_ttl
        self._start_deadline = start_deadline
        self._remotes: dict[int, SuperviselyRemote] = {}
        """By ``id`` of their client: one remote per client the pool hands out."""
        self._users: dict[int, set[Hashable]] = {}
        """The resource remotes each remote serves, by ``id`` of the remote."""
        self._closing: set[asyncio.Task[None]] = set()

    def remote_for(self, resource: ResourceRef, *, wake: Callable[[], None]) -> ResourceRemote:
        """A new remote for ``resource``, kept by the shell for as long as the resource lives."""
        return ResourceRemote(self, resource, wake=wake)

    def resource_changed(self, uid: str) -> None:
        """A watch event about resource ``uid``: whoever waits for it to let go looks again."""
        self.ownership.changed(uid)

    async def served_by(
        self, resource: ResourceRef, *, secret_ref: SecretReference | None, deleting: bool
    ) -> SuperviselyRemote:
        """The remote of the resource's credentials; raises ``CredentialsUnavailable``."""
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
                now=self.now,
            )
            self._remotes[id(client)] = remote
        return remote

    def left(self, user: Hashable, remote: SuperviselyRemote) -> None:
        """``user`` no longer uses ``remote``: close it with its client once nobody does and the
        pool has retired the client (a rotated token)."""
        users = self._users.setdefault(id(remote), set())
        users.discard(user)
        if users or not self._clients.retired(remote.client):
            return
        del self._users[id(remote)]
        if self._remotes.get(id(remote.client)) is remote:
            del self._remotes[id(remote.client)]
        closing = asyncio.create_task(self._close(remote))
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)

    def serving(self, user: Hashable, remote: SuperviselyRemote) -> None:
        """``user`` is served by ``remote`` now."""
        self._users.setdefault(id(remote), set()).add(user)

    async def _close(self, remote: SuperviselyRemote) -> None:
        await remote.aclose()
        await self._clients.close_retired(remote.client)

    async def aclose(self) -> None:
        """Stop every poller (operator shutdown)."""
        for remote in self._remotes.values():
            await remote.aclose()
        self._remotes.clear()
        self._users.clear()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
