"""What a spec launches: the fingerprint of its launch fields and the marker of one start.

Only the fields that shape the remote task count for the fingerprint: each spec field says on
the model whether it is a launch or a policy field (``FieldRole``). Editing the restart policy,
the backoff or a deadline must not replace a running task; editing params must.
"""

import hashlib
import json
from datetime import datetime
from typing import Final

from supervisely_operator.api import SuperviselyTaskSpec
from supervisely_operator.api.base import LAUNCH, field_roles
from supervisely_operator.reconcile.situation import ResourceRef

LAUNCH_FIELDS: Final = frozenset(
    name for name, role in field_roles(SuperviselyTaskSpec).items() if role is LAUNCH
)
"""Spec fields (wire names) that shape the remote task, as the model declares them."""

MARKER_PREFIX: Final = "supervisely-operator:"


def launch_hash(spec: SuperviselyTaskSpec) -> str:
    """A short stable hash of the launch fields: equal specs launch equal tasks."""
    launch = {key: value for key, value in spec.to_wire().items() if key in LAUNCH_FIELDS}
    canonical = json.dumps(launch, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def start_marker(resource: ResourceRef, *, at: datetime) -> str:
    """A token unique to one start of one resource, carried in the task's description."""
    return f"{MARKER_PREFIX}{resource.uid}:{int(at.timestamp() * 1000)}"


def describe_with_marker(description: str | None, marker: str) -> str:
    """The task description Supervisely shows, ending with the start marker."""
    suffix = f"[{marker}]"
    return f"{description}\n{suffix}" if description else suffix


def marker_in(description: str) -> str | None:
    """The start marker a task's description ends with, if any."""
    text = description.rstrip()
    if not text.endswith("]"):
        return None
    opening = text.rfind("[")
    marker = text[opening + 1 : -1]
    return marker if opening >= 0 and marker.startswith(MARKER_PREFIX) else None


def marker_owner(marker: str) -> str | None:
    """The uid of the resource whose start made this marker."""
    if not marker.startswith(MARKER_PREFIX):
        return None
    owner, found, _ = marker[len(MARKER_PREFIX) :].rpartition(":")
    return owner if found and owner else None


def task_name(spec: SuperviselyTaskSpec, resource: ResourceRef) -> str:
    """The session name: the spec's, or namespace/name so people can find its resource."""
    return spec.task_name or f"{resource.namespace}/{resource.name}"
