"""Valid and invalid SuperviselyTask specs, shared by the model tests and the admission tests.

Each invalid case names the field or rule the user must fix. pydantic must refuse it with a
message that contains ``mentions``; the real API server must refuse it with exactly the causes in
``admission``, the lines ``kubectl apply`` prints after ``The SuperviselyTask "probe" is
invalid:``, in order. The API server's words are not the model's (it names the field by its
path, shows the value, and words bounds its own way), so each side is checked in its own.
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
    """Every object in examples/ and its folders, in file order."""
    return [
        document
        for path in sorted(EXAMPLES_DIR.rglob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text())
        if document
    ]


def minimal_spec() -> Spec:
    return {"moduleId": 101, "workspaceId": 1}


RULES_NOT_CHECKED = (
    "<nil>: Invalid value: null: some validation rules were not checked because the object was "
    "invalid; correct the existing errors to complete validation"
)
"""The API server's footnote when a schema error (a missing field, a value outside an enum, a
wrong type, too long, too many) kept it from evaluating the CEL rules."""


@dataclass(frozen=True)
class InvalidCase:
    name: str
    why: str
    mutate: Callable[[Spec], None]
    mentions: str
    admission: tuple[str, ...]

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


@dataclass(frozen=True)
class EdgeCase:
    """A spec at the edge of a rule that both pydantic and the API server must accept."""

    name: str
    why: str
    mutate: Callable[[Spec], None]

    def spec(self) -> Spec:
        spec = copy.deepcopy(minimal_spec())
        self.mutate(spec)
        return spec


def _slug(slug: str) -> Callable[[Spec], None]:
    return lambda spec: (spec.pop("moduleId"), spec.update(appSlug=slug))


ADMITTED_EDGES = [
    EdgeCase(
        "slug-with-a-path", "monorepo apps have slugs of three parts", _slug("acme/yolo/serve")
    ),
    EdgeCase("slug-with-dots", "repository names may hold dots", _slug("acme.ai/detector_v2.1")),
    EdgeCase(
        "branch-with-slashes",
        "git branches are often feature/...",
        lambda spec: spec.update(appVersion="feature/new-head", isBranch=True),
    ),
    EdgeCase("prerelease-tag", "tags carry dots and dashes", _set("appVersion", "v1.2.3-rc.1")),
    EdgeCase(
        "unicode-task-name",
        "session names are for people, in their own scripts",
        _set("taskName", "обучение 検出器 🚀"),
    ),
    EdgeCase("task-name-with-inner-spaces", "words are separated", _set("taskName", " a b ")),
    EdgeCase(
        "multi-line-unicode-description",
        "descriptions are prose: several lines, any script",
        _set("description", "Модель — «детектор»\nline two\ttabbed"),
    ),
    EdgeCase(
        "longest-description",
        "4096 characters, each of them four bytes in UTF-8",
        _set("description", "🚀" * 4096),
    ),
    EdgeCase(
        "shared-session-of-distinct-users",
        "each user once",
        lambda spec: spec.update(usersIds=[5, 7, 9], multiUserSession=True),
    ),
    EdgeCase(
        "secret-name-with-dots", "a DNS subdomain", _set("credentialsSecretRef", {"name": "a.b-c"})
    ),
    EdgeCase(
        "observe-only-without-an-app",
        "mirroring a task needs no app to start",
        lambda spec: (
            spec.pop("moduleId"),
            spec.update(managementPolicy="ObserveOnly", adoptTaskId=42),
        ),
    ),
    EdgeCase(
        "failure-rules-with-every-matcher",
        "RE2 classes, alternation and anchors are all fine",
        _set(
            "failureRules",
            [
                {
                    "action": "Ignore",
                    "onRemoteStatus": ["error", "stopped"],
                    "onReason": ["TaskError", "TaskLost"],
                    "onMessage": "^Task [0-9]+",
                    "onLogLine": "agent (lost|disconnected)|[Cc]onnection reset",
                }
            ],
        ),
    ),
]


# The API server's own phrasings, written once; each case still spells out its whole cause.


def _below(path: str, value: object, minimum: int) -> str:
    bound = f"should be greater than or equal to {minimum}"
    return f"{path}: Invalid value: {value}: {path} in body {bound}"


def _above(path: str, value: object, maximum: int) -> str:
    bound = f"should be less than or equal to {maximum}"
    return f"{path}: Invalid value: {value}: {path} in body {bound}"


def _unsupported(path: str, value: str, supported: tuple[str, ...]) -> str:
    listed = ", ".join(f'"{item}"' for item in supported)
    return f'{path}: Unsupported value: "{value}": supported values: {listed}'


def _too_long(path: str, limit: int) -> str:
    return f"{path}: Too long: may not be more than {limit} bytes"


# The messages of the models' own rules (api/spec.py), as the API server quotes them.
ONE_APP = "set exactly one of moduleId and appSlug (ObserveOnly: at most one)"
RE2 = "must be a regular expression in RE2 syntax (no lookarounds or backreferences)"
RULE = "spec.failureRules[0]"
SLUG_FORM = (
    "appSlug must look like owner/name, e.g. supervisely-ecosystem/serve-yolo: letters, digits, "
    "'.', '_' or '-', in parts joined by '/'"
)
GIT_REF = (
    "appVersion must be a release tag or git branch name: no spaces, control characters or any "
    "of ~ ^ : ? * [ \\"
)
ONE_LINE = (
    "taskName must be one line with a visible character: no line breaks, tabs or other control "
    "characters"
)
SECRET_NAME = (
    "credentialsSecretRef.name must be a Secret's name: lower-case letters, digits, '-' or '.', "
    "starting and ending with a letter or digit"
)
K8S = "spec.kubernetesSettings"


INVALID_CASES = [
    InvalidCase(
        "module-and-slug",
        "an app is named once, by module id or by slug",
        _set("appSlug", "supervisely-ecosystem/sim-train-finishes"),
        "exactly one of moduleId and appSlug",
        (f"spec: Invalid value: {ONE_APP}",),
    ),
    InvalidCase(
        "neither-module-nor-slug",
        "without an app there is nothing to start",
        _drop("moduleId"),
        "exactly one of moduleId and appSlug",
        (f"spec: Invalid value: {ONE_APP}",),
    ),
    InvalidCase(
        "missing-workspace",
        "every task runs in a workspace",
        _drop("workspaceId"),
        "workspaceId",
        ("spec.workspaceId: Required value", RULES_NOT_CHECKED),
    ),
    InvalidCase(
        "negative-cpu-limit",
        "resource limits are non-negative",
        _set("kubernetesSettings.limitCpus", -1),
        "limitCpus",
        (_below(f"{K8S}.limitCpus", -1, 0),),
    ),
    InvalidCase(
        "negative-memory-limit",
        "resource limits are non-negative",
        _set("kubernetesSettings.limitMemoryGb", -8),
        "limitMemoryGb",
        (_below(f"{K8S}.limitMemoryGb", -8, 0),),
    ),
    InvalidCase(
        "gpu-percent-over-100",
        "a percentage is at most 100",
        _set("kubernetesSettings.limitGpuCoresPerc", 101),
        "limitGpuCoresPerc",
        (_above(f"{K8S}.limitGpuCoresPerc", 101, 100),),
    ),
    InvalidCase(
        "cpu-request-over-limit",
        "a pod cannot request more than its limit",
        lambda spec: spec.update(kubernetesSettings={"requestCpus": 8, "limitCpus": 4}),
        "requestCpus must not exceed limitCpus",
        (f"{K8S}.requestCpus: Invalid value: requestCpus must not exceed limitCpus",),
    ),
    InvalidCase(
        "unknown-log-level",
        "Supervisely knows four log levels",
        _set("logLevel", "verbose"),
        "logLevel",
        (
            _unsupported("spec.logLevel", "verbose", ("info", "debug", "warning", "error")),
            RULES_NOT_CHECKED,
        ),
    ),
    InvalidCase(
        "several-users-without-shared-session",
        "Supervisely would start one task per user, but a resource owns one task",
        _set("usersIds", [1, 2]),
        "multiUserSession",
        (
            "spec.usersIds: Invalid value: several usersIds need multiUserSession: true; without "
            "it Supervisely starts one task per user, and a SuperviselyTask owns exactly one task",
        ),
    ),
    InvalidCase(
        "backoff-initial-over-max",
        "the first delay cannot exceed the cap",
        _set("backoff", {"initialDelaySeconds": 600, "maxDelaySeconds": 60}),
        "initialDelaySeconds must not exceed maxDelaySeconds",
        (
            "spec.backoff.initialDelaySeconds: Invalid value: initialDelaySeconds must not exceed "
            "maxDelaySeconds",
        ),
    ),
    InvalidCase(
        "slug-without-owner",
        "ecosystem slugs are owner/name",
        lambda spec: (spec.pop("moduleId"), spec.update(appSlug="hello-world-app")),
        "appSlug",
        (f'spec.appSlug: Invalid value: "hello-world-app": {SLUG_FORM}',),
    ),
    InvalidCase(
        "unknown-restart-policy",
        "the operator restarts Never or OnError",
        _set("restartPolicy", "Always"),
        "restartPolicy",
        (_unsupported("spec.restartPolicy", "Always", ("Never", "OnError")), RULES_NOT_CHECKED),
    ),
    InvalidCase(
        "zero-workspace",
        "Supervisely ids start at 1",
        _set("workspaceId", 0),
        "workspaceId",
        (_below("spec.workspaceId", 0, 1),),
    ),
    InvalidCase(
        "zero-agent",
        "Supervisely ids start at 1",
        _set("agentId", 0),
        "agentId",
        (_below("spec.agentId", 0, 1),),
    ),
    InvalidCase(
        "zero-user",
        "Supervisely ids start at 1",
        _set("usersIds", [0]),
        "usersIds",
        (_below("spec.usersIds[0]", 0, 1),),
    ),
    InvalidCase(
        "too-many-users",
        "a shared session is for at most 100 users",
        lambda spec: spec.update(usersIds=list(range(1, 102)), multiUserSession=True),
        "usersIds",
        ("spec.usersIds: Too many: 101: must have at most 100 items", RULES_NOT_CHECKED),
    ),
    InvalidCase(
        "empty-app-version",
        "an empty version names no release",
        _set("appVersion", ""),
        "appVersion",
        (
            'spec.appVersion: Invalid value: "": spec.appVersion in body should be at least 1 '
            "chars long",
        ),
    ),
    InvalidCase(
        "branch-without-a-name",
        "isBranch reads appVersion as the branch; without it there is no branch",
        _set("isBranch", True),
        "isBranch needs appVersion",
        (
            "spec.isBranch: Invalid value: isBranch needs appVersion: the name of the git branch "
            "to run",
        ),
    ),
    InvalidCase(
        "empty-task-name",
        "an empty session name would hide the task in Supervisely's list",
        _set("taskName", ""),
        "taskName",
        (f'spec.taskName: Invalid value: "": {ONE_LINE}',),
    ),
    InvalidCase(
        "overlong-description",
        "Supervisely's descriptions are bounded",
        _set("description", "x" * 4097),
        "description",
        (_too_long("spec.description", 4096), RULES_NOT_CHECKED),
    ),
    InvalidCase(
        "slug-with-empty-name",
        "ecosystem slugs are owner/name",
        lambda spec: (spec.pop("moduleId"), spec.update(appSlug="supervisely-ecosystem/")),
        "appSlug",
        (f'spec.appSlug: Invalid value: "supervisely-ecosystem/": {SLUG_FORM}',),
    ),
    InvalidCase(
        "unknown-server-restart-policy",
        "Supervisely's own policy is never or on_error",
        _set("serverRestartPolicy", "always"),
        "serverRestartPolicy",
        (
            _unsupported("spec.serverRestartPolicy", "always", ("never", "on_error")),
            RULES_NOT_CHECKED,
        ),
    ),
    InvalidCase(
        "unknown-deletion-policy",
        "a deleted resource stops its task or orphans it",
        _set("deletionPolicy", "Delete"),
        "deletionPolicy",
        (_unsupported("spec.deletionPolicy", "Delete", ("Stop", "Orphan")), RULES_NOT_CHECKED),
    ),
    InvalidCase(
        "zero-active-deadline",
        "a deadline of 0 s would stop every task at once",
        _set("activeDeadlineSeconds", 0),
        "activeDeadlineSeconds",
        (_below("spec.activeDeadlineSeconds", 0, 1),),
    ),
    InvalidCase(
        "negative-ttl",
        "a resource cannot be deleted before it finished",
        _set("ttlSecondsAfterFinished", -1),
        "ttlSecondsAfterFinished",
        (_below("spec.ttlSecondsAfterFinished", -1, 0),),
    ),
    InvalidCase(
        "negative-backoff-limit",
        "a restart count is not negative",
        _set("backoff", {"limit": -1}),
        "backoff.limit",
        (_below("spec.backoff.limit", -1, 0),),
    ),
    InvalidCase(
        "zero-backoff-cap",
        "the longest wait between restarts is at least a second",
        _set("backoff", {"initialDelaySeconds": 0, "maxDelaySeconds": 0}),
        "maxDelaySeconds",
        (_below("spec.backoff.maxDelaySeconds", 0, 1),),
    ),
    InvalidCase(
        "negative-gpus",
        "resource limits are non-negative",
        _set("kubernetesSettings.limitGpus", -1),
        "limitGpus",
        (_below(f"{K8S}.limitGpus", -1, 0),),
    ),
    InvalidCase(
        "negative-shm",
        "resource limits are non-negative",
        _set("kubernetesSettings.limitShmGb", -1),
        "limitShmGb",
        (_below(f"{K8S}.limitShmGb", -1, 0),),
    ),
    InvalidCase(
        "fractional-cpus",
        "CPU limits are whole cores, as Supervisely takes them",
        _set("kubernetesSettings.limitCpus", 1.5),
        "limitCpus",
        (
            f'{K8S}.limitCpus: Invalid value: "number": {K8S}.limitCpus in body must be of type '
            'integer: "number"',
            '<nil>: Invalid value: "": Checked value must be of type integer (default format) in '
            f"{K8S}.limitCpus",
            RULES_NOT_CHECKED,
        ),
    ),
    InvalidCase(
        "secret-ref-without-a-name",
        "a Secret is named",
        _set("credentialsSecretRef", {}),
        "credentialsSecretRef.name",
        ("spec.credentialsSecretRef.name: Required value", RULES_NOT_CHECKED),
    ),
    InvalidCase(
        "secret-ref-not-an-object-name",
        "Kubernetes object names are lower-case DNS subdomains",
        _set("credentialsSecretRef", {"name": "Team_Credentials"}),
        "credentialsSecretRef.name",
        (f'spec.credentialsSecretRef.name: Invalid value: "Team_Credentials": {SECRET_NAME}',),
    ),
    InvalidCase(
        "params-not-a-mapping",
        "an app's state is a mapping",
        _set("params", ["lr", 0.01]),
        "params",
        (
            'spec.params: Invalid value: "array": spec.params in body must be of type object: '
            '"array"',
            RULES_NOT_CHECKED,
        ),
    ),
    InvalidCase(
        "version-with-a-space",
        "git refuses spaces in tag and branch names",
        _set("appVersion", "v1.2.3 beta"),
        "appVersion must be a release tag or git branch name",
        (f'spec.appVersion: Invalid value: "v1.2.3 beta": {GIT_REF}',),
    ),
    InvalidCase(
        "branch-with-a-git-special-character",
        "git refuses ~ ^ : ? * [ \\ in branch names (main~1 is a revision, not a branch)",
        lambda spec: spec.update(appVersion="main~1", isBranch=True),
        "appVersion must be a release tag or git branch name",
        (f'spec.appVersion: Invalid value: "main~1": {GIT_REF}',),
    ),
    InvalidCase(
        "blank-task-name",
        "a name of spaces hides the task in Supervisely's list as well as an empty one",
        _set("taskName", "   "),
        "taskName must be one line with a visible character",
        (f'spec.taskName: Invalid value: "   ": {ONE_LINE}',),
    ),
    InvalidCase(
        "task-name-with-a-line-break",
        "a session name is shown on one line",
        _set("taskName", "train\ndetector"),
        "taskName must be one line with a visible character",
        (f'spec.taskName: Invalid value: "train\\ndetector": {ONE_LINE}',),
    ),
    InvalidCase(
        "overlong-task-name",
        "Supervisely's session names are bounded",
        _set("taskName", "t" * 257),
        "taskName",
        (_too_long("spec.taskName", 256), RULES_NOT_CHECKED),
    ),
    InvalidCase(
        "user-listed-twice",
        "a shared session lists each user once; a repeat is a typo",
        lambda spec: spec.update(usersIds=[5, 7, 5], multiUserSession=True),
        "usersIds must name each user once",
        ("spec.usersIds: Invalid value: usersIds must name each user once",),
    ),
    InvalidCase(
        "overlong-slug",
        "ecosystem slugs are bounded",
        lambda spec: (spec.pop("moduleId"), spec.update(appSlug="owner/" + "a" * 251)),
        "appSlug",
        (_too_long("spec.appSlug", 256), RULES_NOT_CHECKED),
    ),
    InvalidCase(
        "negative-cpu-request",
        "resource requests are non-negative",
        _set("kubernetesSettings.requestCpus", -2),
        "requestCpus",
        (_below(f"{K8S}.requestCpus", -2, 0),),
    ),
    InvalidCase(
        "negative-storage",
        "resource limits are non-negative",
        _set("kubernetesSettings.limitStorageGb", -10),
        "limitStorageGb",
        (_below(f"{K8S}.limitStorageGb", -10, 0),),
    ),
    InvalidCase(
        "negative-gpu-memory",
        "resource limits are non-negative",
        _set("kubernetesSettings.limitGpuMemoryMb", -4000),
        "limitGpuMemoryMb",
        (_below(f"{K8S}.limitGpuMemoryMb", -4000, 0),),
    ),
    InvalidCase(
        "negative-initial-delay",
        "a wait is not negative",
        _set("backoff", {"initialDelaySeconds": -5}),
        "initialDelaySeconds",
        (_below("spec.backoff.initialDelaySeconds", -5, 0),),
    ),
    InvalidCase(
        "overlong-secret-name",
        "Kubernetes object names have at most 253 characters",
        _set("credentialsSecretRef", {"name": "s" * 254}),
        "credentialsSecretRef.name",
        (_too_long("spec.credentialsSecretRef.name", 253), RULES_NOT_CHECKED),
    ),
    InvalidCase(
        "observe-only-without-a-task",
        "there is nothing to observe without a task id",
        _set("managementPolicy", "ObserveOnly"),
        "ObserveOnly needs adoptTaskId",
        (
            "spec.adoptTaskId: Invalid value: managementPolicy ObserveOnly needs adoptTaskId: the "
            "task to observe",
        ),
    ),
    InvalidCase(
        "observe-only-suspended",
        "suspending means stopping, which observing never does",
        lambda spec: spec.update(managementPolicy="ObserveOnly", adoptTaskId=42, suspend=True),
        "ObserveOnly cannot suspend",
        (
            "spec.suspend: Invalid value: managementPolicy ObserveOnly cannot suspend: the "
            "operator stops nothing",
        ),
    ),
    InvalidCase(
        "failure-rule-without-a-matcher",
        "a rule that matches everything would hide the restart policy",
        _set("failureRules", [{"action": "Fail"}]),
        "at least one of onRemoteStatus",
        (
            f"{RULE}: Invalid value: a failure rule needs at least one of onRemoteStatus, "
            "onReason, onMessage and onLogLine",
        ),
    ),
    InvalidCase(
        "failure-rule-with-a-broken-expression",
        "a rule that can never be read must not wait for the first failure to show it",
        _set("failureRules", [{"action": "Fail", "onLogLine": "(out of memory"}]),
        RE2,
        (
            f'{RULE}.onLogLine: Invalid value: "string": error parsing regexp: missing closing ): '
            f"`(out of memory` evaluating rule: {RE2}",
        ),
    ),
    InvalidCase(
        "failure-rule-with-a-lookahead",
        "Python reads lookarounds, RE2 does not: both sides refuse them",
        _set("failureRules", [{"action": "Fail", "onMessage": "error(?! 404)"}]),
        RE2,
        (
            f'{RULE}.onMessage: Invalid value: "string": error parsing regexp: invalid or '
            f"unsupported Perl syntax: `(?!` evaluating rule: {RE2}",
        ),
    ),
    InvalidCase(
        "failure-rule-with-an-unknown-action",
        "Fail, Count and Ignore are all a rule can do",
        _set("failureRules", [{"action": "Retry", "onRemoteStatus": ["error"]}]),
        "action",
        (
            _unsupported(f"{RULE}.action", "Retry", ("Fail", "Count", "Ignore")),
            RULES_NOT_CHECKED,
        ),
    ),
    InvalidCase(
        "failure-rule-on-a-status-that-is-no-failure",
        "a finished task succeeded; rules are for failures",
        _set("failureRules", [{"action": "Fail", "onRemoteStatus": ["finished"]}]),
        "onRemoteStatus",
        (
            _unsupported(f"{RULE}.onRemoteStatus[0]", "finished", ("error", "stopped")),
            RULES_NOT_CHECKED,
        ),
    ),
    InvalidCase(
        "zero-poll-interval",
        "a resource cannot be looked at continuously",
        _set("pollIntervalSeconds", 0),
        "pollIntervalSeconds",
        (_below("spec.pollIntervalSeconds", 0, 1),),
    ),
    InvalidCase(
        "zero-start-deadline",
        "no task is ready at the moment it starts",
        _set("startDeadlineSeconds", 0),
        "startDeadlineSeconds",
        (_below("spec.startDeadlineSeconds", 0, 1),),
    ),
]
