"""The one list of metrics: every metric the operator exports, its labels and what they mean.

:mod:`.metrics` makes the Prometheus objects from these declarations (names, help texts, labels,
buckets) and nothing else, and the table in the README and docs/operations.md is generated from
them (``supervisely-operator reference``), so the docs cannot drift from ``/metrics``.

Labels are bounded: their values come from a closed set (a phase, an outcome, a reason from the
one list of reasons, an RPC method of the client) or from what an installation has few of (its
namespaces, its Supervisely servers). Labels that name one object (a resource's ``name``) exist
only on the metrics a setting turns on. Label values known in advance are exported at 0 from the
start, so ``rate()`` and ``increase()`` see a counter's first increment.
"""

from dataclasses import dataclass
from typing import Final, Literal

from supervisely_operator.api import TaskPhase
from supervisely_operator.api.reasons import Reason
from supervisely_operator.reconcile.milestones import RunOutcome
from supervisely_operator.supervisely import CallOutcome

PREFIX: Final = "supervisely_operator"
PER_RESOURCE_SETTING: Final = "SUPERVISELY_OPERATOR_METRICS_PER_RESOURCE"

LATENCY_BUCKETS: Final = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
"""One call or one pass: milliseconds to tens of seconds."""
START_BUCKETS: Final = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
"""A task's start: an agent may take a second or an hour to take it."""
RUN_BUCKETS: Final = (1, 10, 60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 259200, 604800)
"""A task's run: seconds (a crash at start) to a week (a long training)."""
WAIT_BUCKETS: Final = (0.001, 0.01, 0.1, 0.5, 1, 2.5, 5, 10, 30)
"""A wait at a server's gate: none, a token of the bucket, or a Retry-After of up to 30 s."""

UNKNOWN_PHASE: Final = "Unknown"
"""The phase of a resource no pass has written a phase for yet."""
RECONCILE_ERROR_KINDS: Final = ("conflict", "kube_unavailable", "invalid_spec", "unexpected")
CRON_RUN_REASONS: Final = (Reason.SCHEDULED, Reason.TRIGGERED)
CRON_SKIP_REASONS: Final = (Reason.SCHEDULE_SKIPPED, Reason.SCHEDULE_MISSED)
RESTART_REASONS: Final = (
    Reason.TASK_ERROR,
    Reason.TASK_LOST,
    Reason.STOPPED_EXTERNALLY,
    Reason.START_DEADLINE_EXCEEDED,
    Reason.SPEC_CHANGED,
    Reason.RESTART_REQUESTED,
)


@dataclass(frozen=True)
class Label:
    """A label of a metric: what it tells, and its values when they are a closed set."""

    name: str
    meaning: str
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class Metric:
    """One metric as ``/metrics`` shows it."""

    name: str
    """The exported name (a counter's ends in ``_total``)."""
    kind: Literal["counter", "gauge", "histogram"]
    meaning: str
    labels: tuple[Label, ...] = ()
    buckets: tuple[float, ...] = ()
    per_resource: bool = False
    """Exported only with the per-resource setting on: it has a label per object."""

    @property
    def label_names(self) -> list[str]:
        return [label.name for label in self.labels]

    @property
    def base_name(self) -> str:
        """The name prometheus-client is given (it adds ``_total`` to a counter itself)."""
        return self.name.removesuffix("_total") if self.kind == "counter" else self.name


NAMESPACE = Label("namespace", "the resource's namespace")
NAME = Label("name", "the resource's name")
PHASE = Label("phase", "the resource's phase", (*(p.value for p in TaskPhase), UNKNOWN_PHASE))
METHOD = Label("method", "the Supervisely RPC method, e.g. `tasks.info` (the client's, a few)")
SERVER = Label(
    "server", "a Supervisely server's address: scheme, host and port (no path, no credentials)"
)

RESOURCES = Metric(
    f"{PREFIX}_resources",
    "gauge",
    "SuperviselyTask resources this replica serves, by namespace and phase (0 for a phase none "
    "is in)",
    (NAMESPACE, PHASE),
)
OLDEST_IN_PHASE = Metric(
    f"{PREFIX}_oldest_phase_age_seconds",
    "gauge",
    "How long the longest-waiting resource of the namespace has been in the phase, since this "
    "replica saw it enter (or since it started); 0 when none is in it",
    (NAMESPACE, PHASE),
)
START_TO_TASK_ID = Metric(
    f"{PREFIX}_start_to_task_id_seconds",
    "histogram",
    "From a start request (`status.startRequest.requestedAt`) to the task id Supervisely gave "
    "it, or that its marker found",
    buckets=START_BUCKETS,
)
TASK_ID_TO_RUNNING = Metric(
    f"{PREFIX}_task_id_to_running_seconds",
    "histogram",
    "From the task id (`status.startedAt`) to the first `Running` phase of the task",
    buckets=START_BUCKETS,
)
TASK_ID_TO_READY = Metric(
    f"{PREFIX}_task_id_to_ready_seconds",
    "histogram",
    "From the task id to `Ready=True` (the app answers `is_ready`, or the task started under "
    "`readiness: TaskStarted`)",
    buckets=START_BUCKETS,
)
TASK_RUN = Metric(
    f"{PREFIX}_task_run_seconds",
    "histogram",
    "Run time of each task that ended, from its task id to its end, by how it ended; its "
    "`_count` is the tasks that ended",
    (
        Label(
            "outcome",
            "finished; failed (an error, lost, stopped outside the operator or for a deadline); "
            "or stopped on request (suspend, an edit, a restart request, deletion)",
            tuple(RunOutcome),
        ),
    ),
    buckets=RUN_BUCKETS,
)
RESTARTS = Metric(
    f"{PREFIX}_task_restarts_total",
    "counter",
    "New tasks started in place of an earlier one of the resource, by why",
    (
        Label(
            "reason",
            "the failure that ended the earlier task, or the request that replaced it",
            RESTART_REASONS,
        ),
    ),
)
CALLS = Metric(
    f"{PREFIX}_supervisely_calls_total",
    "counter",
    "HTTP attempts to Supervisely (retries included) by RPC method and outcome",
    (METHOD, Label("outcome", "how the attempt ended", tuple(CallOutcome))),
)
CALL_SECONDS = Metric(
    f"{PREFIX}_supervisely_call_duration_seconds",
    "histogram",
    "Duration of HTTP attempts to Supervisely, from the moment the server's gate let them go",
    (METHOD,),
    LATENCY_BUCKETS,
)
GATE_WAIT = Metric(
    f"{PREFIX}_supervisely_gate_wait_seconds",
    "histogram",
    "How long each HTTP attempt waited at its server's gate (the concurrency limit, the rate "
    'limit\'s token bucket, a Retry-After pause) before it was sent; `method="tasks.run.app"` '
    "shows starts held by the rate limit",
    (METHOD,),
    WAIT_BUCKETS,
)
WAITING = Metric(
    f"{PREFIX}_supervisely_requests_waiting",
    "gauge",
    "HTTP attempts waiting at the server's gate right now",
    (SERVER,),
)
SERVER_UP = Metric(
    f"{PREFIX}_supervisely_up",
    "gauge",
    "1 when the last attempt to the server got an answer from it (any status but a 5xx), 0 "
    "after a timeout, a refused connection, a 5xx or a reply that is not Supervisely's (a "
    "readiness probe's failure is the app's, and does not count)",
    (SERVER,),
)
CREDENTIALS_ACCEPTED = Metric(
    f"{PREFIX}_supervisely_credentials_accepted",
    "gauge",
    "1 when the server accepted the last call of each API token the operator uses for it, 0 "
    "while it refuses one (401/403)",
    (SERVER,),
)
RECONCILE_ERRORS = Metric(
    f"{PREFIX}_reconcile_errors_total",
    "counter",
    "Reconcile passes that did not complete, by kind",
    (
        Label(
            "kind",
            "`conflict`: the object changed meanwhile (decided again); `kube_unavailable`: the "
            "API server refused or missed a call; `invalid_spec`: a spec the CRD let through "
            "breaks the operator's rules; `unexpected`: a bug",
            RECONCILE_ERROR_KINDS,
        ),
    ),
)
RECONCILE_SECONDS = Metric(
    f"{PREFIX}_reconcile_duration_seconds",
    "histogram",
    "Duration of reconcile passes, Supervisely and Kubernetes calls included; its `_count` is "
    "the passes",
    buckets=LATENCY_BUCKETS,
)
POLL_LAG = Metric(
    f"{PREFIX}_poll_lag_seconds",
    "histogram",
    "How much later than planned a pass started (queueing behind the concurrency limit)",
    buckets=LATENCY_BUCKETS,
)
LEADER = Metric(
    f"{PREFIX}_leader",
    "gauge",
    "1 while this replica may act on resources (standalone, or the holder of a renewed claim "
    "under peering), 0 while it stands by or its claim has lapsed",
)
CRON_RUNS = Metric(
    f"{PREFIX}_cron_runs_total",
    "counter",
    "Runs SuperviselyCronTasks made, by why: a tick of the schedule, or a trigger",
    (Label("reason", "`Scheduled`: a tick; `Triggered`: a trigger", CRON_RUN_REASONS),),
)
CRON_TICKS_SKIPPED = Metric(
    f"{PREFIX}_cron_ticks_skipped_total",
    "counter",
    "Ticks of SuperviselyCronTasks that made no run, by why",
    (
        Label(
            "reason",
            "`ScheduleSkipped`: a run still lived (`Forbid`); `ScheduleMissed`: the tick came past "
            "`startingDeadlineSeconds` (the operator was down)",
            CRON_SKIP_REASONS,
        ),
    ),
)
RESOURCE_PHASE = Metric(
    f"{PREFIX}_resource_phase",
    "gauge",
    "1 for each resource, labelled with its phase",
    (NAMESPACE, NAME, PHASE),
    per_resource=True,
)
RESOURCE_RESTARTS = Metric(
    f"{PREFIX}_resource_restarts",
    "gauge",
    "`status.restarts` of each resource",
    (NAMESPACE, NAME),
    per_resource=True,
)

METRICS: Final = (
    RESOURCES,
    OLDEST_IN_PHASE,
    START_TO_TASK_ID,
    TASK_ID_TO_RUNNING,
    TASK_ID_TO_READY,
    TASK_RUN,
    RESTARTS,
    CALLS,
    CALL_SECONDS,
    GATE_WAIT,
    WAITING,
    SERVER_UP,
    CREDENTIALS_ACCEPTED,
    RECONCILE_ERRORS,
    RECONCILE_SECONDS,
    POLL_LAG,
    LEADER,
    CRON_RUNS,
    CRON_TICKS_SKIPPED,
    RESOURCE_PHASE,
    RESOURCE_RESTARTS,
)
"""Every metric of the operator's own, in the order the docs list them."""

PROCESS_METRICS: Final = "process_"
"""prometheus-client's process collector: the operator's CPU, memory, open files, start time."""


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _labels_cell(metric: Metric) -> str:
    parts = []
    for label in metric.labels:
        values = f" (`{'`, `'.join(label.values)}`)" if label.values else ""
        parts.append(f"`{label.name}`: {label.meaning}{values}")
    return _cell("; ".join(parts)) or "-"


def metrics_table() -> list[str]:
    """The docs' table of every metric and label (a generated block, see api/reference.py)."""
    rows = []
    for metric in METRICS:
        meaning = metric.meaning
        if metric.per_resource:
            meaning += f"; only with `{PER_RESOURCE_SETTING}=true`"
        rows.append(
            f"| `{metric.name}` | {metric.kind} | {_labels_cell(metric)} | {_cell(meaning)} |"
        )
    rows.append(
        f"| `{PROCESS_METRICS}*` | gauge, counter | - | the operator process's CPU "
        "(`process_cpu_seconds_total`), memory (`process_resident_memory_bytes`), open files "
        "and start time, from prometheus-client's process collector |"
    )
    return ["", "| metric | type | labels | meaning |", "|---|---|---|---|", *rows, ""]
