"""The inputs and outputs of the decision, as plain immutable values.

A pass hands the decision one value (:data:`Given`): a :class:`Situation` (the resource's spec
and status, one :class:`Observation` of the remote side, and the time), or the outcome of the
action the last pass took (:class:`ActionTaken`), or a spec the operator cannot act on
(:class:`BrokenSpec`). A :class:`Plan` is everything the decision may ask for: the next status,
at most one remote action, Events, the milestones of the task's life it passed (for metrics),
and when to look again. Nothing here does I/O, so the
decision is a function from one value to another.
"""

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from supervisely_operator.api import (
    SuperviselyTaskSpec,
    SuperviselyTaskStatus,
    TaskOutputs,
    TaskPhase,
)
from supervisely_operator.reconcile.milestones import Milestone


class RemoteStatus(enum.StrEnum):
    """A Supervisely task's status, as the decision knows it.

    The decision keeps its own type, so the pure core depends on no client: the remote adapter
    translates the client's statuses into these.
    """

    QUEUED = "queued"
    CONSUMED = "consumed"
    STARTED = "started"
    DEPLOYED = "deployed"
    TERMINATING = "terminating"
    ERROR = "error"
    FINISHED = "finished"
    STOPPED = "stopped"


@dataclass(frozen=True)
class ResourceRef:
    """Which SuperviselyTask this is; the uid tells two objects of the same name apart."""

    namespace: str
    name: str
    uid: str


@dataclass(frozen=True)
class RemoteTask:
    """One task as Supervisely reported it; ``status`` is None for a status we do not know."""

    task_id: int
    status: RemoteStatus | None
    raw_status: str
    started_at: datetime | None = None
    finished_at: datetime | None = None
    agent_id: int | None = None
    session_url: str | None = None
    ready: bool | None = None
    """Whether the app answers is_ready; None: not asked (not started, or not wanted) yet."""
    outputs: TaskOutputs | None = None
    """What the task published as its result."""
    workspace_id: int | None = None
    """The workspace the task lives in (for a task adopted by id: maybe not the spec's)."""
    marker_owner: str | None = None
    """Uid of the resource whose start marker the task's description ends with, if any."""


@dataclass(frozen=True)
class Source:
    """A SuperviselyTask another one takes params from (spec.paramsFrom), as its status shows."""

    resource: ResourceRef
    phase: TaskPhase | None
    task_id: int | None
    outputs: TaskOutputs | None
    takes_from: tuple[str, ...] = ()
    """The sources its own paramsFrom names (to find circles)."""


@dataclass(frozen=True)
class TaskSeen:
    """The task the status points at (or the one carrying the start marker) exists."""

    task: RemoteTask


@dataclass(frozen=True)
class TaskGone:
    """Supervisely answered 404 for the task id in the status."""

    task_id: int


@dataclass(frozen=True)
class StartNotFound:
    """No task carries the marker of the recorded start request."""

    marker: str


@dataclass(frozen=True)
class NothingToObserve:
    """The status names no task and no start in flight."""


@dataclass(frozen=True)
class RemoteUnavailable:
    """Supervisely could not be asked: unreachable, overloaded, or it refused our credentials."""

    reason: str
    message: str
    retry_after: float | None = None
    """Seconds Supervisely asked to be left alone for (its Retry-After), if it said."""


@dataclass(frozen=True)
class AwaitingObservation:
    """No observation taken after the resource's last action exists yet.

    A shared poller answers from its last list; one older than a start or a stop cannot tell
    whether the task exists. The pass then decides nothing and the observer wakes it later.
    """


Sighting = (
    TaskSeen | TaskGone | StartNotFound | NothingToObserve | RemoteUnavailable | AwaitingObservation
)
"""What the shared lists show of the one task a resource watches (see ``reconcile.watch``)."""


@dataclass(frozen=True)
class Observation:
    """Everything a pass learns of Supervisely, in one value from one call of the remote seam
    (crossplane's ExternalObservation): the decision reads nothing else of the remote side."""

    task: Sighting
    strays: tuple[RemoteTask, ...] = ()
    """Live tasks of earlier starts of this resource that it no longer stands for."""
    owner: ResourceRef | None = None
    """Another resource that already stands for the task the resource asks to adopt."""
    log_tail: tuple[str, ...] | None = None
    """The last log lines of the resource's task that just ended in failure, when the status
    has no verdict on it yet (for lastError and the failure rules); None: not read."""
    foreign_sources: frozenset[str] = frozenset()
    """paramsFrom sources whose credentials reach another Supervisely server."""


@dataclass(frozen=True, kw_only=True)
class Timing:
    """Timings of the control loop, in seconds: operator-wide, not per resource.

    No defaults here: the operator's settings are the one source of them.
    """

    resync_interval: float
    """A resource that nothing woke is decided on again after this long. The shared poller
    wakes a resource on every remote change and a spec edit wakes it too, so this is only a
    safety net and can be long."""
    transition_recheck: float
    """How soon to look again while a task starts or stops, or a start waits to be seen."""
    start_grace: float
    """How long a recorded start may stay invisible on Supervisely before it is made again."""
    outage_min_delay: float
    """First retry after Supervisely was unavailable; later ones wait as long as the outage."""
    outage_max_delay: float
    """Cap of the wait between retries while Supervisely stays unavailable."""


@dataclass(frozen=True, kw_only=True)
class Situation:
    """Everything the decision may look at when it plans a resource's next step."""

    resource: ResourceRef
    generation: int
    spec: SuperviselyTaskSpec
    status: SuperviselyTaskStatus
    observation: Observation
    now: datetime
    timing: Timing
    deleting: bool = False
    protected: bool = True
    """The resource carries the operator's finalizer, so a task started now cannot be orphaned
    by a deletion that races the start."""
    restart_requested: str | None = None
    """The value of the resource's restart-requested-at annotation, if any."""
    refresh_requested: str | None = None
    """The value of the resource's refresh-requested-at annotation, if any."""
    sources: Mapping[str, "Source | None"] = field(default_factory=dict)
    """The tasks spec.paramsFrom reaches, by name (their own sources too); None: no such task."""


@dataclass(frozen=True)
class Started:
    """Supervisely created the task."""

    task_id: int
    module_id: int
    agent_id: int | None
    session_url: str


@dataclass(frozen=True)
class StartRefused:
    """The start did not happen, or may have happened without us learning the task id."""

    reason: str
    message: str
    retryable: bool
    """A later attempt may succeed without a spec change (outage, token, agent offline)."""
    outcome_unknown: bool = False
    """The request may have created a task: look it up by marker before starting again."""
    retry_after: float | None = None
    """Seconds Supervisely asked to be left alone for (its Retry-After), if it said."""


StartOutcome = Started | StartRefused


@dataclass(frozen=True)
class CallFailed:
    """A stop (or another call) Supervisely did not accept; the next pass tries again."""

    reason: str
    message: str


@dataclass(frozen=True, kw_only=True)
class ActionTaken:
    """What the last pass's action did, to be recorded in the status (by the pass right after
    it): a new task id, or why there is none, or why a stop did not go through."""

    status: SuperviselyTaskStatus
    generation: int
    now: datetime
    outcome: StartOutcome | CallFailed


@dataclass(frozen=True, kw_only=True)
class BrokenSpec:
    """The stored spec breaks the operator's rules; ``message`` names each broken rule."""

    status: SuperviselyTaskStatus
    generation: int
    now: datetime
    message: str


Given = Situation | ActionTaken | BrokenSpec
"""What a pass hands the decision: one of these, never more."""


@dataclass(frozen=True)
class StartTask:
    """Start a task from the spec with these params (spec.params, with what paramsFrom filled
    in); the marker goes into its description."""

    marker: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StopTask:
    """Ask Supervisely to stop this task."""

    task_id: int


@dataclass(frozen=True)
class DeleteResource:
    """Delete the SuperviselyTask itself (ttlSecondsAfterFinished ran out)."""


Action = StartTask | StopTask | DeleteResource


class EventType(enum.StrEnum):
    """Kubernetes Event types."""

    NORMAL = "Normal"
    WARNING = "Warning"


@dataclass(frozen=True)
class Event:
    """A Kubernetes Event to post about the resource."""

    type: EventType
    reason: str
    message: str


@dataclass(frozen=True, kw_only=True)
class Plan:
    """What to do next. The shell writes ``status`` (when it changed), then runs ``action``."""

    status: SuperviselyTaskStatus
    action: Action | None = None
    events: tuple[Event, ...] = ()
    requeue_after: float | None
    """Seconds until the next pass, unless an event about the resource comes first; None: only
    an event (a spec edit, a deletion) brings the next pass, as nothing remote will change."""
    release: bool = False
    """Deletion is complete on the remote side: the finalizer may be removed."""
    milestones: tuple[Milestone, ...] = ()
    """Milestones of the task's life this step passed, for the metrics (once the status is
    written)."""
