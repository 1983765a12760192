"""What a spec launches: the fingerprint of its launch fields and the marker of one start.

Only the fields that shape the remote task count for the fingerprint. Editing the restart
policy, the backoff or a deadline must not replace a running task; editing params must.
"""

import hashlib
import json
from datetime import datetime
from typing import Final

from supervisely_operator.api import SuperviselyTaskSpec
from supervisely_operator.reconcile.situation import ResourceRef
from supervisely_operator.supervisely import (
    AgentId,
    KubernetesSettings,
    ModuleId,
    StartTaskRequest,
    UserId,
    WorkspaceId,
)

#: Spec fields that steer the operator rather than describe the remote task.
POLICY_FIELDS: Final = frozenset(
    {
        "restartPolicy",
        "backoff",
        "suspend",
        "activeDeadlineSeconds",
        "ttlSecondsAfterFinished",
        "deletionPolicy",
        "credentialsSecretRef",
    }
)

MARKER_PREFIX: Final = "supervisely-operator:"


def launch_hash(spec: SuperviselyTaskSpec) -> str:
    """A short stable hash of the launch fields: equal specs launch equal tasks."""
    launch = {key: value for key, value in spec.to_wire().items() if key not in POLICY_FIELDS}
    canonical = json.dumps(launch, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def start_marker(resource: ResourceRef, *, at: datetime) -> str:
    """A token unique to one start of one resource, carried in the task's description."""
    return f"{MARKER_PREFIX}{resource.uid}:{int(at.timestamp() * 1000)}"


def describe_with_marker(description: str | None, marker: str) -> str:
    """The task description Supervisely shows, ending with the start marker."""
    suffix = f"[{marker}]"
    return f"{description}\n{suffix}" if description else suffix


def carries_marker(description: str, marker: str) -> bool:
    """Whether a task's description ends with this start's marker."""
    return description.rstrip().endswith(f"[{marker}]")


def task_name(spec: SuperviselyTaskSpec, resource: ResourceRef) -> str:
    """The session name: the spec's, or namespace/name so people can find its resource."""
    return spec.task_name or f"{resource.namespace}/{resource.name}"


def build_start_request(
    spec: SuperviselyTaskSpec, *, resource: ResourceRef, marker: str, module_id: int
) -> StartTaskRequest:
    """The ``tasks.run.app`` request for a spec, as the SDK's ``TaskApi.start`` would send it."""
    kubernetes = None
    if spec.kubernetes_settings is not None:
        kubernetes = KubernetesSettings.model_validate(spec.kubernetes_settings.to_wire())
    return StartTaskRequest(
        module_id=ModuleId(module_id),
        workspace_id=WorkspaceId(spec.workspace_id),
        agent_id=AgentId(spec.agent_id) if spec.agent_id is not None else None,
        task_name=task_name(spec, resource),
        description=describe_with_marker(spec.description, marker),
        params=spec.params,
        log_level=spec.log_level.value,
        users_ids=tuple(UserId(user) for user in spec.users_ids),
        app_version=spec.app_version or "",
        is_branch=spec.is_branch,
        restart_policy=spec.server_restart_policy.value,
        limit_by_workspace=spec.limit_by_workspace,
        kubernetes=kubernetes,
        multi_user=spec.multi_user_session,
    )
