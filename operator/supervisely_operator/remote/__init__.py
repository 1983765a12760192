"""The remote seam: everything the operator does on Supervisely, behind one Protocol.

Between the kopf shell (``controller/``) and the client (``supervisely/``): it translates the
pure core's requests into client calls and the client's replies and errors into the core's
values, shares one list per workspace between all resources, and caches repeated lookups.
"""

from supervisely_operator.remote.adapter import ClientSource, RemoteHub, SuperviselyRemote
from supervisely_operator.remote.poller import PollTiming, WorkspacePoller
from supervisely_operator.remote.seam import TaskRemote, Watch

__all__ = [
    "ClientSource",
    "PollTiming",
    "RemoteHub",
    "SuperviselyRemote",
    "TaskRemote",
    "Watch",
    "WorkspacePoller",
]
