"""The remote seam: everything the operator does on Supervisely, behind one Protocol.

Between the kopf shell (``controller/``) and the client (``supervisely/``): each resource gets
its own :class:`~.resource.ResourceRemote` from the :class:`~.hub.RemoteHub`; it translates the
pure core's requests into client calls and the client's replies and errors into the core's
values, shares one list per workspace between all resources, and caches repeated lookups.
"""

from supervisely_operator.remote.adapter import SuperviselyRemote
from supervisely_operator.remote.hub import RemoteHub
from supervisely_operator.remote.poller import PollTiming, WorkspacePoller
from supervisely_operator.remote.resource import ResourceRemote
from supervisely_operator.remote.seam import (
    ClientSource,
    CredentialsUnavailable,
    RecordedTask,
    RecordedTasks,
    RemoteProvider,
    TaskRemote,
)

__all__ = [
    "ClientSource",
    "CredentialsUnavailable",
    "PollTiming",
    "RecordedTask",
    "RecordedTasks",
    "RemoteHub",
    "RemoteProvider",
    "ResourceRemote",
    "SuperviselyRemote",
    "TaskRemote",
    "WorkspacePoller",
]
