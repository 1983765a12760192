"""The desired state of a SuperviselyTask: what to launch on Supervisely, and how to keep it.

The first group of fields mirrors the inputs of the Supervisely SDK's ``TaskApi.start`` /
``AppApi.start`` one to one, so a task declared here launches exactly as the SDK would launch
it. The second group is the operator's own policy: restarts, suspension, deadlines, clean-up.
Field docstrings become the CRD's descriptions (``kubectl explain``), so they speak to users.
"""

import enum
import re
from typing import Annotated, Any

from pydantic import Field

from supervisely_operator.api.base import LAUNCH, POLICY, CrdModel, FieldRule, Rule
from supervisely_operator.api.reasons import Reason

#: Slugs look like ``supervisely-ecosystem/hello-world-app``: an owner and a path.
APP_SLUG_PATTERN = r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+"

#: What Kubernetes accepts as an object name (a DNS-1123 subdomain).
DNS_SUBDOMAIN_PATTERN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"

#: What git refuses in a tag or branch name (``git check-ref-format``): whitespace, control
#: characters and ``~ ^ : ? * [ \``.
GIT_REF_FORBIDDEN_PATTERN = r"[\x00-\x20\x7f~^:?*\[\\]"

#: One line with something to see: no control characters, and not only spaces.
ONE_VISIBLE_LINE_PATTERN = r"[^\x00-\x1f\x7f]*[^\x00-\x20\x7f][^\x00-\x1f\x7f]*"

PositiveId = Annotated[int, Field(ge=1)]


AppSlug = Annotated[
    str,
    Field(max_length=256),
    FieldRule.full_match(
        APP_SLUG_PATTERN,
        "appSlug must look like owner/name, e.g. supervisely-ecosystem/serve-yolo: letters, "
        "digits, '.', '_' or '-', in parts joined by '/'",
    ),
]

AppVersion = Annotated[
    str,
    Field(min_length=1, max_length=256),
    FieldRule.free_of(
        GIT_REF_FORBIDDEN_PATTERN,
        "appVersion must be a release tag or git branch name: no spaces, control characters "
        "or any of ~ ^ : ? * [ \\",
    ),
]

TaskName = Annotated[
    str,
    Field(max_length=256),  # the rule refuses "" too, in its own words
    FieldRule.full_match(
        ONE_VISIBLE_LINE_PATTERN,
        "taskName must be one line with a visible character: no line breaks, tabs or other "
        "control characters",
    ),
]

UsersIds = Annotated[
    list[PositiveId],
    Field(max_length=100),
    FieldRule(
        cel="self.all(u, self.indexOf(u) == self.lastIndexOf(u))",
        message="usersIds must name each user once",
        holds=lambda ids: len(set(ids)) == len(ids),
    ),
]

SecretName = Annotated[
    str,
    Field(min_length=1, max_length=253),
    FieldRule.full_match(
        DNS_SUBDOMAIN_PATTERN,
        "credentialsSecretRef.name must be a Secret's name: lower-case letters, digits, '-' or "
        "'.', starting and ending with a letter or digit",
    ),
]


class LogLevel(enum.StrEnum):
    """Log level of the app session, as the SDK names it."""

    INFO = "info"
    DEBUG = "debug"
    WARNING = "warning"
    ERROR = "error"


class ServerRestartPolicy(enum.StrEnum):
    """Supervisely's own restart policy for the task (the SDK's ``restart_policy``)."""

    NEVER = "never"
    ON_ERROR = "on_error"


class RestartPolicy(enum.StrEnum):
    """When the operator starts a new task after the current one ended."""

    NEVER = "Never"
    ON_ERROR = "OnError"


class DeletionPolicy(enum.StrEnum):
    """What happens to the remote task when the resource is deleted."""

    STOP = "Stop"
    ORPHAN = "Orphan"


class ManagementPolicy(enum.StrEnum):
    """How much the operator may do to the remote task (as Crossplane's management policies)."""

    FULL = "Full"
    OBSERVE_ONLY = "ObserveOnly"


class Readiness(enum.StrEnum):
    """When a running task counts as Ready."""

    APP_READY = "AppReady"
    TASK_STARTED = "TaskStarted"


class FailureAction(enum.StrEnum):
    """What a failure rule does with a task that ended in failure (podFailurePolicy's words)."""

    FAIL = "Fail"
    COUNT = "Count"
    IGNORE = "Ignore"


class FailureReason(enum.StrEnum):
    """The reasons a task ends in failure, as a failure rule may match them (from the one list
    of reasons)."""

    TASK_ERROR = Reason.TASK_ERROR
    TASK_LOST = Reason.TASK_LOST
    STOPPED_EXTERNALLY = Reason.STOPPED_EXTERNALLY
    START_DEADLINE_EXCEEDED = Reason.START_DEADLINE_EXCEEDED


class FailedStatus(enum.StrEnum):
    """Remote statuses a failed task can end in."""

    ERROR = "error"
    STOPPED = "stopped"


#: What Python's ``re`` reads but RE2 (the API server's CEL) refuses: lookarounds and
#: backreferences. The operator refuses them too, so both sides agree on what is a rule.
NOT_RE2 = re.compile(r"\(\?<?[=!]|\\[1-9]|\(\?P=")


def _compiles(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except re.error:
        return False
    return NOT_RE2.search(pattern) is None


RegularExpression = Annotated[
    str,
    Field(min_length=1, max_length=1024),
    # CEL's matches() compiles its argument with RE2 and fails on a broken pattern; that
    # failure is the refusal (the API server adds RE2's own words, e.g. "missing closing )").
    FieldRule(
        cel="type(''.matches(self)) == bool",
        message="must be a regular expression in RE2 syntax (no lookarounds or backreferences)",
        holds=_compiles,
    ),
]


class FailureRule(CrdModel):
    """One rule of failureRules: which failures it matches, and what to do with them.

    Every matcher that is set must match; a rule sets at least one.
    """

    action: FailureAction
    """Fail: the resource fails now. Count: restart and count it against backoff.limit. Ignore:
    restart without counting (e.g. a lost agent)."""

    on_remote_status: list[FailedStatus] | None = Field(default=None, min_length=1, max_length=2)
    """Match a task that ended in one of these Supervisely statuses (error, stopped)."""

    on_reason: list[FailureReason] | None = Field(default=None, min_length=1, max_length=8)
    """Match these failure reasons: TaskError, TaskLost, StoppedExternally,
    StartDeadlineExceeded."""

    on_message: RegularExpression | None = None
    """Match when the failure's message (lastError's, without the log) contains a match."""

    on_log_line: RegularExpression | None = None
    """Match when one of the task's last log lines (the operator's log tail) contains a match:
    e.g. "CUDA out of memory"."""

    cross_field_rules = (
        Rule["FailureRule"](
            cel=(
                "has(self.onRemoteStatus) || has(self.onReason) || has(self.onMessage)"
                " || has(self.onLogLine)"
            ),
            message="a failure rule needs at least one of onRemoteStatus, onReason, onMessage "
            "and onLogLine",
            holds=lambda rule: any(
                matcher is not None
                for matcher in (
                    rule.on_remote_status,
                    rule.on_reason,
                    rule.on_message,
                    rule.on_log_line,
                )
            ),
        ),
    )


class KubernetesSettings(CrdModel):
    """Resource limits for the app's pod on a Kubernetes-backed agent.

    Mirrors the SDK's KubernetesSettings; every field is optional and sent to Supervisely
    only when set.
    """

    use_health_check: bool | None = None
    """Let the agent probe the app's health endpoint and restart an unresponsive pod."""

    request_cpus: int | None = Field(default=None, ge=0)
    """CPU cores requested for the app's pod (a whole number; must not exceed limitCpus)."""

    limit_cpus: int | None = Field(default=None, ge=0)
    """Upper limit of CPU cores for the app's pod (a whole number)."""

    limit_memory_gb: int | None = Field(default=None, ge=0)
    """Memory limit of the app's pod, in GB."""

    limit_shm_gb: int | None = Field(default=None, ge=0)
    """Shared memory (/dev/shm) limit of the app's pod, in GB; data loaders need it."""

    limit_storage_gb: int | None = Field(default=None, ge=0)
    """Ephemeral storage limit of the app's pod, in GB."""

    limit_gpus: int | None = Field(default=None, ge=0)
    """Number of GPUs for the app's pod."""

    limit_gpu_memory_mb: int | None = Field(default=None, ge=0)
    """GPU memory limit of the app's pod, in MB (for shared-GPU agents)."""

    limit_gpu_cores_perc: int | None = Field(default=None, ge=0, le=100)
    """Share of the GPU's cores the app may use, in percent (0-100; for shared-GPU agents)."""

    cross_field_rules = (
        Rule["KubernetesSettings"](
            cel=(
                "!has(self.requestCpus) || !has(self.limitCpus)"
                " || self.requestCpus <= self.limitCpus"
            ),
            message="requestCpus must not exceed limitCpus",
            field_path=".requestCpus",
            holds=lambda s: (
                s.request_cpus is None or s.limit_cpus is None or s.request_cpus <= s.limit_cpus
            ),
        ),
    )


class Backoff(CrdModel):
    """How long the operator waits before each restart, and how many restarts it makes."""

    limit: int = Field(default=3, ge=0)
    """Restarts to make before the resource ends Failed (0: never restart)."""

    initial_delay_seconds: int = Field(default=10, ge=0)
    """Wait before the first restart; each further restart waits twice as long as the last."""

    max_delay_seconds: int = Field(default=300, ge=1)
    """Upper bound of the wait between restarts."""

    cross_field_rules = (
        Rule["Backoff"](
            cel="self.initialDelaySeconds <= self.maxDelaySeconds",
            message="initialDelaySeconds must not exceed maxDelaySeconds",
            field_path=".initialDelaySeconds",
            holds=lambda b: b.initial_delay_seconds <= b.max_delay_seconds,
        ),
    )


class SecretReference(CrdModel):
    """A Secret in the resource's own namespace."""

    name: SecretName
    """Name of the Secret; it must hold the keys SERVER_ADDRESS and API_TOKEN."""


class SourceOutput(enum.StrEnum):
    """An output of another task that may fill a param: a field of its ``status.outputs``.

    experiment.bestCheckpoint is the best checkpoint's Team Files path (artifactsDir, then
    checkpoints/, then its name), which a serving app loads."""

    EXPERIMENT_BEST_CHECKPOINT = "experiment.bestCheckpoint"
    EXPERIMENT_ARTIFACTS_DIR = "experiment.artifactsDir"
    EXPERIMENT_MODEL_NAME = "experiment.modelName"
    EXPERIMENT_METRIC = "experiment.metric"
    PROJECT_ID = "project.id"
    LINK_URL = "link.url"


class SourceFailurePolicy(enum.StrEnum):
    """What a task waiting for a source does when the source fails."""

    WAIT = "Wait"
    FAIL = "Fail"


#: A path into params: dot-separated names, e.g. ``model.checkpoint``.
PARAM_PATH_PATTERN = r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+){0,7}"

TaskReferenceName = Annotated[
    str,
    Field(min_length=1, max_length=253),
    FieldRule.full_match(
        DNS_SUBDOMAIN_PATTERN,
        "source must be the name of a SuperviselyTask in this namespace: lower-case letters, "
        "digits, '-' or '.', starting and ending with a letter or digit",
    ),
]

ParamPath = Annotated[
    str,
    Field(min_length=1, max_length=256),
    FieldRule.full_match(
        PARAM_PATH_PATTERN,
        "path must be a dotted path into params, e.g. model.checkpoint: at most 8 names of "
        "letters, digits, '_' or '-'",
    ),
]


class ParamFrom(CrdModel):
    """One param filled from what another SuperviselyTask of this namespace published, once
    that task has succeeded. No templating: the value is copied as it is."""

    source: TaskReferenceName
    """Name of the SuperviselyTask (in this namespace, reaching the same Supervisely server)
    whose output fills the param."""

    output: SourceOutput
    """Which output: experiment.bestCheckpoint (the best checkpoint's Team Files path),
    experiment.artifactsDir, experiment.modelName, experiment.metric (with metric), project.id
    or link.url."""

    metric: str | None = Field(default=None, min_length=1, max_length=128)
    """The metric's name, for output experiment.metric (e.g. mAP)."""

    path: ParamPath
    """Where the value goes in params, as a dotted path (e.g. model.checkpoint); the mappings
    on the way are made as needed."""

    on_source_failure: SourceFailurePolicy = SourceFailurePolicy.WAIT
    """When the source fails: Wait for a later run of it to succeed, or Fail this task."""

    cross_field_rules = (
        Rule["ParamFrom"](
            cel="(self.output == 'experiment.metric') == has(self.metric)",
            message="metric names the metric of output experiment.metric, and only of it",
            field_path=".metric",
            holds=lambda ref: (
                (ref.output is SourceOutput.EXPERIMENT_METRIC) == (ref.metric is not None)
            ),
        ),
    )


def _distinct_param_paths(spec: "SuperviselyTaskSpec") -> bool:
    paths = [ref.path for ref in spec.params_from or ()]
    return len(paths) == len(set(paths))


def _exactly_one_app(spec: "SuperviselyTaskSpec") -> bool:
    if spec.management_policy is ManagementPolicy.OBSERVE_ONLY:
        return spec.module_id is None or spec.app_slug is None
    return (spec.module_id is None) != (spec.app_slug is None)


def _branch_is_named(spec: "SuperviselyTaskSpec") -> bool:
    return not spec.is_branch or spec.app_version is not None


def _observing_names_a_task(spec: "SuperviselyTaskSpec") -> bool:
    return spec.management_policy is ManagementPolicy.FULL or spec.adopt_task_id is not None


def _observing_never_suspends(spec: "SuperviselyTaskSpec") -> bool:
    return spec.management_policy is ManagementPolicy.FULL or not spec.suspend


def _one_task_per_resource(spec: "SuperviselyTaskSpec") -> bool:
    return len(spec.users_ids) <= 1 or spec.multi_user_session


class SuperviselyTaskSpec(CrdModel):
    """The Supervisely app task to run, and the operator's policy for keeping it running."""

    declares_roles = True

    # What to launch: the inputs of the SDK's TaskApi.start / AppApi.start.

    agent_id: Annotated[PositiveId | None, LAUNCH] = None
    """Supervisely agent to run the task on. Unset: any available agent."""

    module_id: Annotated[PositiveId | None, LAUNCH] = None
    """Ecosystem module id of the app. Set exactly one of moduleId and appSlug."""

    app_slug: Annotated[AppSlug | None, LAUNCH] = None
    """Ecosystem slug of the app, e.g. supervisely-ecosystem/serve-yolo; the operator resolves
    it to a module id. Set exactly one of moduleId and appSlug."""

    app_version: Annotated[AppVersion | None, LAUNCH] = None
    """Release tag (e.g. v1.2.3) or, with isBranch, a git branch. Unset: the server's choice."""

    is_branch: Annotated[bool, LAUNCH] = False
    """Read appVersion as a git branch name instead of a release tag."""

    workspace_id: Annotated[PositiveId, LAUNCH]
    """Workspace the task runs in."""

    task_name: Annotated[TaskName | None, LAUNCH] = None
    """Name of the task session in Supervisely. Unset: namespace/name of this resource."""

    description: Annotated[str | None, LAUNCH] = Field(default=None, max_length=4096)
    """Description of the task session in Supervisely."""

    params: Annotated[dict[str, Any], LAUNCH] = Field(
        default_factory=dict,
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True, "default": {}},
    )
    """App parameters, passed to the app as its state. A mapping without a "state" key is sent
    as {"state": params}, as AppApi.start does."""

    log_level: Annotated[LogLevel, LAUNCH] = LogLevel.INFO
    """Log level of the app session."""

    users_ids: Annotated[UsersIds, LAUNCH] = Field(default_factory=list)
    """Users the session is started for. Empty: the owner of the API token. Several users need
    multiUserSession, because without it Supervisely starts one task per user."""

    multi_user_session: Annotated[bool, LAUNCH] = False
    """Start one shared session for all of usersIds (the SDK's multi_user_session)."""

    limit_by_workspace: Annotated[bool, LAUNCH] = False
    """Show the task only inside workspaceId."""

    server_restart_policy: Annotated[ServerRestartPolicy, LAUNCH] = ServerRestartPolicy.NEVER
    """Supervisely's own restart policy for the task (the SDK's restart_policy), passed through
    unchanged. The operator's restartPolicy works independently of it."""

    kubernetes_settings: Annotated[KubernetesSettings | None, LAUNCH] = None
    """Resource limits of the app's pod on a Kubernetes-backed agent."""

    params_from: Annotated[list[ParamFrom] | None, LAUNCH] = Field(default=None, max_length=16)
    """Params filled from the outputs of other SuperviselyTasks of this namespace (train, then
    serve the best checkpoint). The task waits Pending until every source has succeeded; the
    values are resolved once per generation and recorded in status.paramsFrom, so a later run
    of a source restarts nothing (an edit or a restart request does)."""

    # How to keep it: the operator's own policy.

    restart_policy: Annotated[RestartPolicy, POLICY] = RestartPolicy.ON_ERROR
    """Whether the operator starts a new task when the task ends in error (OnError) or not
    (Never). A task that finishes successfully is never restarted."""

    backoff: Annotated[Backoff, POLICY] = Field(
        default_factory=Backoff,
        # The full object, not {}: the API server checks a default against the CEL rules
        # before it fills in nested defaults.
        json_schema_extra={"default": Backoff().to_wire()},
    )
    """Delays and limit of restarts under restartPolicy OnError."""

    suspend: Annotated[bool, POLICY] = False
    """Stop the task and start none while true; setting it back to false starts a new task."""

    active_deadline_seconds: Annotated[int | None, POLICY] = Field(default=None, ge=1)
    """Longest time a task may run, counted from its start; when exceeded the operator stops
    it and the resource ends Failed with reason DeadlineExceeded."""

    ttl_seconds_after_finished: Annotated[int | None, POLICY] = Field(default=None, ge=0)
    """Delete this resource that many seconds after it succeeded or failed. Unset: keep it."""

    deletion_policy: Annotated[DeletionPolicy, POLICY] = DeletionPolicy.STOP
    """On deletion of this resource, stop the task (Stop) or leave it running (Orphan)."""

    credentials_secret_ref: Annotated[SecretReference | None, POLICY] = None
    """Secret with the Supervisely SERVER_ADDRESS and API_TOKEN for this task. Unset: the
    operator's own credentials."""

    management_policy: Annotated[ManagementPolicy, POLICY] = ManagementPolicy.FULL
    """Full: the operator starts, restarts and stops the task as this spec says. ObserveOnly:
    it mirrors the task adoptTaskId names into the status and never starts, stops or restarts
    anything (not even on deletion)."""

    adopt_task_id: Annotated[PositiveId | None, POLICY] = None
    """Take over this existing Supervisely task instead of starting one, e.g. to move a running
    session under GitOps. Read while the resource has no task yet (ObserveOnly: always). The
    task must be in workspaceId and not belong to another SuperviselyTask."""

    readiness: Annotated[Readiness, POLICY] = Readiness.APP_READY
    """When a running task is Ready. AppReady: once the app answers the SDK's is_ready
    (tasks.request.direct), as serving apps do when their model is loaded. TaskStarted: as soon
    as Supervisely reports it started (for apps that do not answer is_ready)."""

    start_deadline_seconds: Annotated[int | None, POLICY] = Field(default=None, ge=1)
    """Longest time a task may stay queued, starting or not ready, counted from its start; when
    exceeded the operator stops it and handles it as an error (reason StartDeadlineExceeded)
    under restartPolicy and failureRules."""

    failure_rules: Annotated[list[FailureRule], POLICY] = Field(default_factory=list, max_length=16)
    """Ordered rules for a task that ended in failure under restartPolicy OnError; the first
    that matches decides: fail now, restart and count it, or restart without counting. No
    match: backoff decides, as without rules. The verdict is kept in lastError."""

    poll_interval_seconds: Annotated[int | None, POLICY] = Field(default=None, ge=1, le=3600)
    """Look at this resource's task at least this often. Unset: the operator's poll interval.
    The workspace's shared list is taken as often as its most eager resource asks."""

    cross_field_rules = (
        Rule["SuperviselyTaskSpec"](
            cel=(
                "(has(self.managementPolicy) && self.managementPolicy == 'ObserveOnly')"
                " ? !(has(self.moduleId) && has(self.appSlug))"
                " : has(self.moduleId) != has(self.appSlug)"
            ),
            message="set exactly one of moduleId and appSlug (ObserveOnly: at most one)",
            holds=_exactly_one_app,
        ),
        Rule["SuperviselyTaskSpec"](
            cel=(
                "!has(self.managementPolicy) || self.managementPolicy == 'Full'"
                " || has(self.adoptTaskId)"
            ),
            message="managementPolicy ObserveOnly needs adoptTaskId: the task to observe",
            field_path=".adoptTaskId",
            holds=_observing_names_a_task,
        ),
        Rule["SuperviselyTaskSpec"](
            cel=(
                "!has(self.managementPolicy) || self.managementPolicy == 'Full'"
                " || !has(self.suspend) || !self.suspend"
            ),
            message="managementPolicy ObserveOnly cannot suspend: the operator stops nothing",
            field_path=".suspend",
            holds=_observing_never_suspends,
        ),
        Rule["SuperviselyTaskSpec"](
            cel=(
                "!has(self.usersIds) || size(self.usersIds) <= 1"
                " || (has(self.multiUserSession) && self.multiUserSession)"
            ),
            message=(
                "several usersIds need multiUserSession: true; without it Supervisely starts "
                "one task per user, and a SuperviselyTask owns exactly one task"
            ),
            field_path=".usersIds",
            holds=_one_task_per_resource,
        ),
        Rule["SuperviselyTaskSpec"](
            cel=(
                "!has(self.paramsFrom)"
                " || self.paramsFrom.all(p, self.paramsFrom.exists_one(q, q.path == p.path))"
            ),
            message="paramsFrom fills each path once",
            field_path=".paramsFrom",
            holds=_distinct_param_paths,
        ),
        Rule["SuperviselyTaskSpec"](
            cel="!has(self.isBranch) || !self.isBranch || has(self.appVersion)",
            message="isBranch needs appVersion: the name of the git branch to run",
            field_path=".isBranch",
            holds=_branch_is_named,
        ),
    )
