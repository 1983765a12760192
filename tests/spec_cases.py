"""Valid and invalid SuperviselyTask specs, shared by the model tests and the admission tests.

Each invalid case names the field or rule the user must fix; both pydantic and the real API
server must refuse it with a message that contains ``mentions``.
"""

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"

Spec = dict[str, Any]


def example_objects() -> list[dict[str, Any]]:
    """Every object in examples/, in file order."""
    return [
        document
        for path in sorted(EXAMPLES_DIR.glob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text())
        if document
    ]


def minimal_spec() -> Spec:
    return {"moduleId": 101, "workspaceId": 1}


@dataclass(frozen=True)
class InvalidCase:
    name: str
    why: str
    mutate: Callable[[Spec], None]
    mentions: str

    def spec(self) -> Spec:
        spec = copy.deepcopy(minimal_spec())
        self.mutate(spec)
        return spec


def _set(path: str, value: Any) -> Callable[[Spec], None]:
    def mutate(spec: Spec) -> None:
        *parents, leaf = path.split(".")
        node = spec
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value

    return mutate


def _drop(key: str) -> Callable[[Spec], None]:
    return lambda spec: spec.pop(key)


INVALID_CASES = [
    InvalidCase(
        "module-and-slug",
        "an app is named once, by module id or by slug",
        _set("appSlug", "supervisely-ecosystem/sim-train-finishes"),
        "exactly one of moduleId and appSlug",
    ),
    InvalidCase(
        "neither-module-nor-slug",
        "without an app there is nothing to start",
        _drop("moduleId"),
        "exactly one of moduleId and appSlug",
    ),
    InvalidCase(
        "missing-workspace",
        "every task runs in a workspace",
        _drop("workspaceId"),
        "workspaceId",
    ),
    InvalidCase(
        "negative-cpu-limit",
        "resource limits are non-negative",
        _set("kubernetesSettings.limitCpus", -1),
        "limitCpus",
    ),
    InvalidCase(
        "negative-memory-limit",
        "resource limits are non-negative",
        _set("kubernetesSettings.limitMemoryGb", -8),
        "limitMemoryGb",
    ),
    InvalidCase(
        "gpu-percent-over-100",
        "a percentage is at most 100",
        _set("kubernetesSettings.limitGpuCoresPerc", 101),
        "limitGpuCoresPerc",
    ),
    InvalidCase(
        "cpu-request-over-limit",
        "a pod cannot request more than its limit",
        lambda spec: spec.update(kubernetesSettings={"requestCpus": 8, "limitCpus": 4}),
        "requestCpus must not exceed limitCpus",
    ),
    InvalidCase(
        "unknown-log-level",
        "Supervisely knows four log levels",
        _set("logLevel", "verbose"),
        "logLevel",
    ),
    InvalidCase(
        "several-users-without-shared-session",
        "Supervisely would start one task per user, but a resource owns one task",
        _set("usersIds", [1, 2]),
        "multiUserSession",
    ),
    InvalidCase(
        "backoff-initial-over-max",
        "the first delay cannot exceed the cap",
        _set("backoff", {"initialDelaySeconds": 600, "maxDelaySeconds": 60}),
        "initialDelaySeconds must not exceed maxDelaySeconds",
    ),
    InvalidCase(
        "slug-without-owner",
        "ecosystem slugs are owner/name",
        lambda spec: (spec.pop("moduleId"), spec.update(appSlug="hello-world-app")),
        "appSlug",
    ),
    InvalidCase(
        "unknown-restart-policy",
        "the operator restarts Never or OnError",
        _set("restartPolicy", "Always"),
        "restartPolicy",
    ),
    InvalidCase(
        "zero-workspace",
        "Supervisely ids start at 1",
        _set("workspaceId", 0),
        "workspaceId",
    ),
    InvalidCase(
        "zero-agent",
        "Supervisely ids start at 1",
        _set("agentId", 0),
        "agentId",
    ),
    InvalidCase(
        "zero-user",
        "Supervisely ids start at 1",
        _set("usersIds", [0]),
        "usersIds",
    ),
    InvalidCase(
        "too-many-users",
        "a shared session is for at most 100 users",
        lambda spec: spec.update(usersIds=list(range(1, 102)), multiUserSession=True),
        "usersIds",
    ),
    InvalidCase(
        "empty-app-version",
        "an empty version names no release",
        _set("appVersion", ""),
        "appVersion",
    ),
    InvalidCase(
        "branch-without-a-name",
        "isBranch reads appVersion as the branch; without it there is no branch",
        _set("isBranch", True),
        "isBranch needs appVersion",
    ),
    InvalidCase(
        "empty-task-name",
        "an empty session name would hide the task in Supervisely's list",
        _set("taskName", ""),
        "taskName",
    ),
    InvalidCase(
        "overlong-description",
        "Supervisely's descriptions are bounded",
        _set("description", "x" * 4097),
        "description",
    ),
    InvalidCase(
        "slug-with-empty-name",
        "ecosystem slugs are owner/name",
        lambda spec: (spec.pop("moduleId"), spec.update(appSlug="supervisely-ecosystem/")),
        "appSlug",
    ),
    InvalidCase(
        "unknown-server-restart-policy",
        "Supervisely's own policy is never or on_error",
        _set("serverRestartPolicy", "always"),
        "serverRestartPolicy",
    ),
    InvalidCase(
        "unknown-deletion-policy",
        "a deleted resource stops its task or orphans it",
        _set("deletionPolicy", "Delete"),
        "deletionPolicy",
    ),
    InvalidCase(
        "zero-active-deadline",
        "a deadline of 0 s would stop every task at once",
        _set("activeDeadlineSeconds", 0),
        "activeDeadlineSeconds",
    ),
    InvalidCase(
        "negative-ttl",
        "a resource cannot be deleted before it finished",
        _set("ttlSecondsAfterFinished", -1),
        "ttlSecondsAfterFinished",
    ),
    InvalidCase(
        "negative-backoff-limit",
        "a restart count is not negative",
        _set("backoff", {"limit": -1}),
        "backoff.limit",
    ),
    InvalidCase(
        "zero-backoff-cap",
        "the longest wait between restarts is at least a second",
        _set("backoff", {"initialDelaySeconds": 0, "maxDelaySeconds": 0}),
        "maxDelaySeconds",
    ),
    InvalidCase(
        "negative-gpus",
        "resource limits are non-negative",
        _set("kubernetesSettings.limitGpus", -1),
        "limitGpus",
    ),
    InvalidCase(
        "negative-shm",
        "resource limits are non-negative",
        _set("kubernetesSettings.limitShmGb", -1),
        "limitShmGb",
    ),
    InvalidCase(
        "fractional-cpus",
        "CPU limits are whole cores, as Supervisely takes them",
        _set("kubernetesSettings.limitCpus", 1.5),
        "limitCpus",
    ),
    InvalidCase(
        "secret-ref-without-a-name",
        "a Secret is named",
        _set("credentialsSecretRef", {}),
        "credentialsSecretRef.name",
    ),
    InvalidCase(
        "secret-ref-not-an-object-name",
        "Kubernetes object names are lower-case DNS subdomains",
        _set("credentialsSecretRef", {"name": "Team_Credentials"}),
        "credentialsSecretRef.name",
    ),
    InvalidCase(
        "params-not-a-mapping",
        "an app's state is a mapping",
        _set("params", ["lr", 0.01]),
        "params",
    ),
]
