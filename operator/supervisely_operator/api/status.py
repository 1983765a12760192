"""The observed state of a SuperviselyTask, as the operator writes it to the status subresource.

Every field the operator writes is described here, because the API server prunes status fields
that the schema does not know (kopf's "Patching failed with inconsistencies").
"""

import enum
from datetime import datetime
from typing import Any

from pydantic import Field

from supervisely_operator.api.base import CrdModel
from supervisely_operator.api.spec import FailureAction

#: How many earlier task ids a resource remembers; bounded so the object stays small.
PREVIOUS_TASK_IDS_LIMIT = 10

#: The longest condition or lastError message (metav1.Condition's bound); a log tail is cut to it.
LAST_ERROR_MESSAGE_LIMIT = 32768

#: metav1.Condition's reason format: CamelCase words, machine-readable.
CONDITION_REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"

#: Bounds of status.outputs, a copy of what the app published: the app controls that input, and
#: the status must stay small whatever it holds.
OUTPUT_NAME_LIMIT = 256
OUTPUT_PATH_LIMIT = 1024
OUTPUT_URL_LIMIT = 2048
OUTPUT_MESSAGE_LIMIT = 1024
OUTPUT_METRICS_LIMIT = 32
OUTPUT_METRIC_NAME_LIMIT = 128


class TaskPhase(enum.StrEnum):
    """Where the resource is in its life, summarised for people and tools."""

    PENDING = "Pending"
    """Accepted; no task is running yet, or the operator waits before a restart."""
    QUEUED = "Queued"
    """The task is queued on Supervisely or being taken by an agent."""
    RUNNING = "Running"
    """The task runs (or, for a serving app, is deployed)."""
    STOPPING = "Stopping"
    """The operator asked Supervisely to stop the task and waits for it to end."""
    SUSPENDED = "Suspended"
    """spec.suspend is true: no task runs."""
    SUCCEEDED = "Succeeded"
    """The task finished successfully."""
    FAILED = "Failed"
    """The task ended in error with no restart left, or could not be started."""


class ConditionStatus(enum.StrEnum):
    """The status of a condition, as metav1.Condition spells it."""

    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(CrdModel):
    """One aspect of the resource's state, in the shape of metav1.Condition."""

    type: str = Field(max_length=316)
    """Kind of condition: Ready, Succeeded, Failed, ..."""

    status: ConditionStatus
    """Whether the condition holds: True, False or Unknown."""

    observed_generation: int | None = Field(default=None, ge=0)
    """metadata.generation of the spec the condition was computed from."""

    last_transition_time: datetime
    """When the condition last changed its status."""

    reason: str = Field(min_length=1, max_length=1024, pattern=CONDITION_REASON_PATTERN)
    """Why the condition is in its status: one CamelCase word for programs."""

    message: str = Field(default="", max_length=LAST_ERROR_MESSAGE_LIMIT)
    """Why the condition is in its status, for people."""


class LastError(CrdModel):
    """The most recent error: one that refused a start until a start goes through, a task's own
    error (with its taskId) until a later task succeeds."""

    message: str = Field(max_length=LAST_ERROR_MESSAGE_LIMIT)
    """What went wrong, with the Supervisely server's own words and the tail of the task's log
    when there is one."""

    reason: str = Field(max_length=1024)
    """Why, as one CamelCase word (e.g. TaskError, Rejected, Unauthorized)."""

    time: datetime
    """When the error was observed."""

    task_id: int | None = None
    """The Supervisely task the error belongs to, if any."""

    retry_after_seconds: float | None = Field(None, ge=0)
    """How long Supervisely asked to be left alone (its Retry-After); the next attempt waits at
    least this long."""

    failure_action: FailureAction | None = None
    """What the operator does about this failure under restartPolicy OnError: Count (restart,
    counted), Ignore (restart, not counted) or Fail."""

    failure_rule: int | None = Field(None, ge=1)
    """The failure rule (1 for the first of spec.failureRules) that chose failureAction; unset
    when no rule matched and the default, Count, applies."""


class StartRequest(CrdModel):
    """A start the operator is about to make, recorded before the call to Supervisely.

    The marker also goes into the new task's description. If the operator dies before it can
    record the task id, it finds the task by this marker instead of starting a second one.
    """

    marker: str = Field(min_length=1, max_length=256)
    """Token that identifies this start; the new task's description ends with it."""

    requested_at: datetime
    """When the start was requested."""


class OutputProject(CrdModel):
    """A project the task published as its result (the SDK's set_output_project)."""

    id: int = Field(ge=1)
    """Id of the project in Supervisely."""

    name: str | None = Field(default=None, max_length=OUTPUT_NAME_LIMIT)
    """Name of the project when it was published."""


class OutputLinkKind(enum.StrEnum):
    """What a published link points at, as the SDK's set_output_* call that made it says."""

    DIRECTORY = "Directory"
    """A Team Files directory (set_output_directory)."""
    FILE = "File"
    """A file to open or download (set_output_file_download, or a custom file link)."""
    ARCHIVE = "Archive"
    """An archive to download (set_output_archive)."""
    REPORT = "Report"
    """A report file (set_output_report)."""


class OutputLink(CrdModel):
    """A file or directory in Team Files the task published as its result."""

    kind: OutputLinkKind
    """Directory, File, Archive or Report."""

    title: str = Field(max_length=OUTPUT_PATH_LIMIT)
    """The Team Files path of a directory, or the name of a file."""

    url: str | None = Field(default=None, max_length=OUTPUT_URL_LIMIT)
    """Where to open or download it."""


class OutputExperiment(CrdModel):
    """A training run the task published (the SDK's set_output_experiment)."""

    name: str | None = Field(default=None, max_length=OUTPUT_NAME_LIMIT)
    """Name of the experiment."""

    framework: str | None = Field(default=None, max_length=OUTPUT_NAME_LIMIT)
    """Framework the model was trained with, e.g. RT-DETRv2."""

    model: str | None = Field(default=None, max_length=OUTPUT_NAME_LIMIT)
    """Name of the trained model, e.g. RT-DETRv2-M."""

    artifacts_dir: str | None = Field(default=None, max_length=OUTPUT_PATH_LIMIT)
    """Team Files directory holding the checkpoints, logs and configs of the run."""

    best_checkpoint: str | None = Field(default=None, max_length=OUTPUT_PATH_LIMIT)
    """File name of the best checkpoint, in the checkpoints directory under artifactsDir."""

    primary_metric: str | None = Field(default=None, max_length=OUTPUT_METRIC_NAME_LIMIT)
    """Name of the metric the app ranks models by, e.g. mAP."""

    metrics: dict[str, float] = Field(default_factory=dict, max_length=OUTPUT_METRICS_LIMIT)
    """Evaluation metrics by name (numbers only; at most 32, the primary metric first)."""

    report_url: str | None = Field(default=None, max_length=OUTPUT_URL_LIMIT)
    """Link to the evaluation report."""


class TaskOutputs(CrdModel):
    """What the task published as its result (its meta.output in Supervisely), typed and
    bounded: parts the operator does not know are left out, long texts are cut."""

    project: OutputProject | None = None
    """The project the task made or changed."""

    link: OutputLink | None = None
    """A directory or file in Team Files the task made."""

    experiment: OutputExperiment | None = None
    """The training run the task made."""

    error: str | None = Field(default=None, max_length=OUTPUT_MESSAGE_LIMIT)
    """An error the app reported as its result (the SDK's set_output_error)."""

    text: str | None = Field(default=None, max_length=OUTPUT_MESSAGE_LIMIT)
    """A message the app reported as its result (the SDK's set_output_text)."""


class ResolvedParam(CrdModel):
    """One param filled from another task's output: what was copied, and from which run."""

    path: str = Field(max_length=256)
    """Where the value went in params."""

    value: Any = Field(json_schema_extra={"x-kubernetes-preserve-unknown-fields": True})
    """The value copied (a path, a name, a number)."""

    source: str = Field(max_length=253)
    """Name of the SuperviselyTask it came from."""

    source_uid: str = Field(max_length=128)
    """uid of that SuperviselyTask (a task of the same name made again is another source)."""

    source_task_id: int | None = None
    """The source's Supervisely task that published the value."""


class ParamsResolution(CrdModel):
    """The values of spec.paramsFrom, resolved once for one generation of the spec."""

    generation: int = Field(ge=0)
    """metadata.generation they were resolved for; an edit resolves them again."""

    values: list[ResolvedParam] = Field(default_factory=list, max_length=16)
    """One per entry of spec.paramsFrom."""


class SuperviselyTaskStatus(CrdModel):
    """What the operator last observed of the task on Supervisely."""

    observed_generation: int | None = Field(default=None, ge=0)
    """metadata.generation of the spec the operator last acted on."""

    phase: TaskPhase | None = None
    """Summary of the resource's state: Pending, Queued, Running, Stopping, Suspended,
    Succeeded or Failed."""

    task_id: int | None = None
    """Id of the current (or last) Supervisely task."""

    remote_status: str | None = Field(default=None, max_length=64)
    """Status of that task as Supervisely reports it: queued, consumed, started, deployed,
    terminating, finished, error or stopped."""

    session_url: str | None = Field(default=None, max_length=2048)
    """Link to the task's session in the Supervisely web UI."""

    agent_id: int | None = None
    """Agent the task runs on."""

    module_id: int | None = None
    """Ecosystem module id of the app (resolved from spec.appSlug when that is set)."""

    started_at: datetime | None = None
    """When the current task was started."""

    finished_at: datetime | None = None
    """When the current task ended."""

    launch_hash: str | None = Field(default=None, max_length=64)
    """Hash of the launch fields of the spec the current task was started from. When they
    change, the operator replaces the task; policy fields do not count (each spec field's
    description says which it is)."""

    start_request: StartRequest | None = None
    """Set while a start is in flight; cleared once its task id is recorded."""

    restart_request_handled: str | None = Field(default=None, max_length=256)
    """The last value of the supervisely.com/restart-requested-at annotation the operator acted
    on; a new value restarts the task once."""

    refresh_handled: str | None = Field(default=None, max_length=256)
    """The last value of the supervisely.com/refresh-requested-at annotation the operator
    honoured with a pass and a fresh look at Supervisely."""

    restarts: int = Field(default=0, ge=0)
    """Tasks the operator started after an earlier one ended in error."""

    last_error: LastError | None = None
    """The most recent error."""

    previous_task_ids: list[int] = Field(default_factory=list, max_length=PREVIOUS_TASK_IDS_LIMIT)
    """Ids of earlier tasks of this resource, oldest first (the last 10)."""

    conditions: list[Condition] = Field(
        default_factory=list,
        max_length=16,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    """Current conditions: Ready (the task runs), Succeeded, Failed, and Synced (whether the
    operator could talk to Supervisely, and if not, why)."""

    params_from: ParamsResolution | None = None
    """The values spec.paramsFrom filled in, and the runs of the sources they came from."""

    outputs: TaskOutputs | None = None
    """What the current (or last) task published as its result: a project, a Team Files link,
    an experiment with its checkpoints and metrics, or a message."""
