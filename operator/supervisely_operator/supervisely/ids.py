"""Typed identifiers for Supervisely objects.

Supervisely numbers every object with a plain integer. Mixing a workspace id with a task id type
checks fine as ``int`` and fails at runtime as a 404 somewhere far away; ``NewType`` makes mypy
catch the swap at no runtime cost. The rest of the operator imports these from here.
"""

from typing import NewType

TaskId = NewType("TaskId", int)
"""An app session (``tasks.*``)."""

ModuleId = NewType("ModuleId", int)
"""An ecosystem module, the thing ``tasks.run.app`` starts (``ecosystem.*``)."""

AgentId = NewType("AgentId", int)
"""A Supervisely agent, the machine a task runs on (``agents.*``)."""

WorkspaceId = NewType("WorkspaceId", int)
"""A workspace inside a team (``workspaces.*``)."""

TeamId = NewType("TeamId", int)
"""A team (``teams.*``)."""

UserId = NewType("UserId", int)
"""A user; ``usersIds`` in a start request lists these."""

AppId = NewType("AppId", int)
"""A team app (``apps.*``); the deprecated alternative to a module id, only ever read here."""
