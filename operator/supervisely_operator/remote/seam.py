"""The one seam between the reconciler and Supervisely, as crossplane's ExternalClient is.

The shell never talks to the Supervisely client directly: it asks a :class:`TaskRemote` to
observe (never mutating), start, stop or read a log tail, and gets values of the pure core
back. Tests of the shell need this one fake and nothing else.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from supervisely_operator.api import SuperviselyTaskSpec
from supervisely_operator.reconcile.outcomes import CallFailed, StartOutcome
from supervisely_operator.reconcile.situation import Observation, RemoteTask, ResourceRef


@dataclass(frozen=True)
class Watch:
    """What one resource asks to see: its task, or the task carrying its start marker."""

    resource: ResourceRef
    workspace_id: int
    task_id: int | None
    marker: str | None
    since: datetime | None
    """Observations taken before this (the resource's last recorded action) do not count."""
    wake: Callable[[], None]
    """Called when the observation changes, so the resource's loop can sleep until then."""
    probe_readiness: bool = False
    """Ask the task's app ``is_ready`` while the task is started (``RemoteTask.ready``)."""
    poll_interval: float | None = None
    """List the workspace at least this often, in seconds (never faster than the operator's
    transition interval); None: the operator's intervals alone."""


class TaskRemote(Protocol):
    """Everything the operator does on Supervisely for its resources."""

    async def observe(self, watch: Watch) -> Observation:
        """What exists remotely for the resource; never changes anything."""
        ...

    def owner_of(self, task_id: int, resource: ResourceRef) -> ResourceRef | None:
        """Another resource (not ``resource``, by uid) that watches this task id now, if any:
        a task is owned by one resource only, so ``resource`` must not adopt it."""
        ...

    def strays(self, resource: ResourceRef) -> tuple[RemoteTask, ...]:
        """Live tasks an earlier start of the resource made, that it no longer stands for (a
        start Supervisely carried out after the operator gave up on it); from the last list."""
        ...

    async def start(
        self, spec: SuperviselyTaskSpec, *, resource: ResourceRef, marker: str
    ) -> StartOutcome:
        """Start a task from the spec; the marker goes into its description."""
        ...

    async def stop(self, task_id: int, *, resource: ResourceRef) -> CallFailed | None:
        """Ask Supervisely to stop a task; a task that is gone counts as stopped."""
        ...

    async def log_tail(self, task_id: int, *, lines: int) -> str:
        """The last lines of a task's log, or a note that they could not be read."""
        ...

    def forget(self, resource: ResourceRef) -> None:
        """The resource is gone: stop watching anything for it."""
        ...
