"""The one seam between the reconciler and Supervisely, as crossplane's ExternalClient is.

The shell never talks to the Supervisely client directly: each resource has a
:class:`TaskRemote`, kept on kopf's per-object memo, that observes (never mutating, answering
with one :class:`~supervisely_operator.reconcile.situation.Observation`), starts, stops, pauses
and releases, and hands back values of the pure core. Tests of the shell need this one fake.
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from supervisely_operator.api import SecretReference, SuperviselyTaskSpec, SuperviselyTaskStatus
from supervisely_operator.reconcile.situation import (
    CallFailed,
    Observation,
    ResourceRef,
    StartOutcome,
)
from supervisely_operator.supervisely import SuperviselyClient


class CredentialsUnavailable(Exception):
    """No usable credentials for a resource; ``reason`` is a condition reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class TaskRemote(Protocol):
    """Everything the operator does on Supervisely for one resource."""

    async def observe(
        self,
        *,
        spec: SuperviselyTaskSpec,
        status: SuperviselyTaskStatus,
        refresh_requested: str | None,
        deleting: bool,
        sources: Mapping[str, SecretReference | None] | None = None,
    ) -> Observation:
        """What exists remotely for the resource, all of it in one value; changes nothing.

        ``deleting``: the resource is being deleted, so credentials last read from a Secret
        that is gone since may still be used to stop its task. ``sources``: the credentials of
        the tasks its paramsFrom names, to tell which reach another server.
        """
        ...

    async def start(
        self, spec: SuperviselyTaskSpec, *, marker: str, params: Mapping[str, Any]
    ) -> StartOutcome:
        """Start a task from the spec with these params (credentials as the last observation
        found them); the marker goes into its description."""
        ...

    async def stop(self, task_id: int) -> CallFailed | None:
        """Ask Supervisely to stop a task; a task that is gone counts as stopped."""
        ...

    def pause(self) -> None:
        """Stop looking at Supervisely for the resource (no calls) and keep what it owns."""
        ...

    def release(self) -> None:
        """The resource is gone: stop looking, and let go of everything it held."""
        ...


class RemoteProvider(Protocol):
    """Hands each resource its :class:`TaskRemote` (the hub in production)."""

    def remote_for(self, resource: ResourceRef, *, wake: Callable[[], None]) -> TaskRemote:
        """A new remote for ``resource``; ``wake`` is called when what it observes changes."""
        ...

    def resource_changed(self, uid: str) -> None:
        """A watch event about resource ``uid`` arrived (or it is gone): a resource that waits
        for it to let go of a task looks again."""
        ...


@dataclass(frozen=True)
class RecordedTask:
    """A resource whose status records a task id: it stands for that task."""

    resource: ResourceRef
    credentials: SecretReference | None
    """Where its credentials come from (None: the operator's own), to tell its server."""


RecordedTasks = Mapping[int, Iterable[RecordedTask]]
"""Every resource's recorded task, by task id, kept current from the watch (kopf's index):
ownership that holds across restarts, credentials and pauses."""


class ClientSource(Protocol):
    """Where a resource's client comes from (the operator's credentials pool)."""

    async def client_for(
        self, *, namespace: str, secret_ref: SecretReference | None, deleting: bool = False
    ) -> SuperviselyClient:
        """The client of these credentials; raises :class:`CredentialsUnavailable`."""
        ...

    def retired(self, client: SuperviselyClient) -> bool:
        """The source hands this client out no more (its token was rotated away)."""
        ...

    async def close_retired(self, client: SuperviselyClient) -> None:
        """Close a retired client; nothing uses it any more."""
        ...
