"""Which resource stands for which Supervisely task: one task, one resource.

The rule (docs/operations.md says it for users):

- A task belongs to the resource whose ``status.taskId`` records it. That is read from every
  resource's status as the watch delivers it (kopf's index, complete before any handler runs),
  so it holds across operator restarts, for paused resources, and whatever credentials each
  resource uses, as long as they reach the same server.
- A task no status records yet is held by the first resource whose pass asks to adopt it:
  passes of different resources run concurrently, but a claim is looked up and taken with no
  await in between (one event loop), so of two resources that ask at once exactly one gets
  it. It holds the task until its status records it, or until it lets go (asks for another
  task, or is deleted).
- A resource that only asks to adopt a task never owns it: it is refused while another resource
  owns it or holds it, and looks again as soon as that resource lets go (deleted with
  ``deletionPolicy: Orphan``, suspended out of it, or pointed elsewhere) without waiting for the
  resync.
"""

from collections.abc import Callable, Hashable
from dataclasses import dataclass

from supervisely_operator.api import SecretReference
from supervisely_operator.reconcile.situation import ResourceRef
from supervisely_operator.remote.seam import ClientSource, CredentialsUnavailable, RecordedTasks


@dataclass(frozen=True)
class Claimant:
    """A resource that takes part in ownership: its identity and how to wake it."""

    key: Hashable
    resource: ResourceRef
    wake: Callable[[], None]


class Ownership:
    """Who stands for which task, across every server the operator talks to."""

    def __init__(self, *, recorded: RecordedTasks, clients: ClientSource) -> None:
        self._recorded = recorded
        self._clients = clients
        self._held: dict[tuple[str, int], Claimant] = {}
        """Tasks granted to a resource that asked to adopt them, by (server, task id)."""
        self._waiting: dict[str, dict[Hashable, Claimant]] = {}
        """Resources refused a task, by the uid of the resource that has it."""

    async def owner_of(
        self,
        claimant: Claimant,
        *,
        server: str,
        adopting: int | None,
        records: int | None,
    ) -> ResourceRef | None:
        """Another resource that has the task ``claimant`` asks to adopt, if any; else the task
        is held for ``claimant`` until its status records it.

        ``records``: the task id ``claimant``'s own status records; a task it neither records
        nor asks for any more is let go of.
        """
        self._let_go(claimant, keep={adopting, records})
        if adopting is None:
            return None
        owner = await self._recorded_owner(claimant, server=server, task_id=adopting)
        if owner is None:
            holder = self._held.setdefault((server, adopting), claimant)
            owner = None if holder.key == claimant.key else holder.resource
        if owner is not None:
            self._waiting.setdefault(owner.uid, {})[claimant.key] = claimant
        return owner

    def release(self, claimant: Claimant) -> None:
        """``claimant`` is gone: the tasks it held are free, and it waits for nothing."""
        self._let_go(claimant, keep=set())
        for waiters in self._waiting.values():
            waiters.pop(claimant.key, None)
        self.changed(claimant.resource.uid)

    def changed(self, uid: str) -> None:
        """Resource ``uid`` changed or went: whoever waits for it to let go looks again."""
        for waiter in self._waiting.pop(uid, {}).values():
            waiter.wake()

    def _let_go(self, claimant: Claimant, *, keep: set[int | None]) -> None:
        let_go = [
            key
            for key, holder in self._held.items()
            if holder.key == claimant.key and key[1] not in keep
        ]
        for key in let_go:
            del self._held[key]
        if let_go:
            self.changed(claimant.resource.uid)

    async def _recorded_owner(
        self, claimant: Claimant, *, server: str, task_id: int
    ) -> ResourceRef | None:
        for recorded in self._recorded.get(task_id, ()):
            other = recorded.resource
            if other.uid == claimant.resource.uid:
                continue
            if await self.same_server(server, other.namespace, recorded.credentials):
                return other
        return None

    async def same_server(
        self, server: str, namespace: str, credentials: SecretReference | None
    ) -> bool:
        """Whether another resource's credentials reach ``server``; when they cannot be read,
        assume they do (refusing an adoption is safe, two owners of one task are not)."""
        try:
            client = await self._clients.client_for(namespace=namespace, secret_ref=credentials)
        except CredentialsUnavailable:
            return True
        return client.server == server
