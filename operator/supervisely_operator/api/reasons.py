"""The one list of reasons the operator writes: condition reasons, ``lastError`` reasons, Events.

Reasons are API: ``kubectl wait``, alerts and the Argo CD health check read them. Each is
declared here once, with whether it fixes itself or needs a person, whether the operator tries
again by itself, and a line for users; the
README and docs/operations.md tables and health.lua's self-healing reasons are generated from
this list (``supervisely-operator reference``), and tests fail when code writes a reason that is
not in it. It sits in the lowest layer, so the pure core, the Supervisely client and the
controller all take their reasons from here.

To add a reason: a constant in :class:`Reason`, an entry in :data:`REASONS`, then regenerate.
"""

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final


class Reason:
    """The reasons as plain strings, for code: ``Reason.RUNNING == "Running"``."""

    STARTING: Final = "Starting"
    STARTED: Final = "Started"
    ADOPTED: Final = "Adopted"
    QUEUED: Final = "Queued"
    AWAITING_READINESS: Final = "AwaitingReadiness"
    RUNNING: Final = "Running"
    STOPPING: Final = "Stopping"
    SUSPENDED: Final = "Suspended"
    SPEC_CHANGED: Final = "SpecChanged"
    RESTART_REQUESTED: Final = "RestartRequested"
    RESTARTING: Final = "Restarting"
    FINISHED: Final = "Finished"
    TASK_ERROR: Final = "TaskError"
    TASK_LOST: Final = "TaskLost"
    STOPPED_EXTERNALLY: Final = "StoppedExternally"
    START_DEADLINE_EXCEEDED: Final = "StartDeadlineExceeded"
    BACKOFF_LIMIT_EXCEEDED: Final = "BackoffLimitExceeded"
    DEADLINE_EXCEEDED: Final = "DeadlineExceeded"
    FAILURE_RULE_MATCHED: Final = "FailureRuleMatched"
    START_FAILED: Final = "StartFailed"
    RECONCILED: Final = "Reconciled"
    UNAVAILABLE: Final = "Unavailable"
    START_OUTCOME_UNKNOWN: Final = "StartOutcomeUnknown"
    AGENT_NOT_RUNNING: Final = "AgentNotRunning"
    UNAUTHORIZED: Final = "Unauthorized"
    NOT_FOUND: Final = "NotFound"
    TASK_NOT_FOUND: Final = "TaskNotFound"
    AGENT_NOT_FOUND: Final = "AgentNotFound"
    APP_NOT_FOUND: Final = "AppNotFound"
    AMBIGUOUS_APP: Final = "AmbiguousApp"
    REJECTED: Final = "Rejected"
    PROTOCOL_ERROR: Final = "ProtocolError"
    PAGINATION_MISMATCH: Final = "PaginationMismatch"
    MULTIPLE_TASKS_STARTED: Final = "MultipleTasksStarted"
    ADOPTION_REFUSED: Final = "AdoptionRefused"
    INVALID_SPEC: Final = "InvalidSpec"
    SECRET_NOT_FOUND: Final = "SecretNotFound"  # noqa: S105 - a reason, not a secret
    SECRET_UNREADABLE: Final = "SecretUnreadable"  # noqa: S105 - a reason, not a secret
    SECRET_INVALID: Final = "SecretInvalid"  # noqa: S105 - a reason, not a secret
    CREDENTIALS_MISSING: Final = "CredentialsMissing"
    CREDENTIALS_INVALID: Final = "CredentialsInvalid"
    DELETING: Final = "Deleting"
    EXPIRED: Final = "Expired"
    STRAY_TASK_STOPPED: Final = "StrayTaskStopped"
    PAUSED: Final = "Paused"
    WAITING_FOR_SOURCE: Final = "WaitingForSource"
    SOURCE_NOT_FOUND: Final = "SourceNotFound"
    SOURCE_FAILED: Final = "SourceFailed"
    SOURCE_OUTPUT_MISSING: Final = "SourceOutputMissing"
    SOURCE_ON_ANOTHER_SERVER: Final = "SourceOnAnotherServer"
    REFERENCE_CYCLE: Final = "ReferenceCycle"
    SCHEDULING: Final = "Scheduling"
    SCHEDULED: Final = "Scheduled"
    TRIGGERED: Final = "Triggered"
    SCHEDULE_SKIPPED: Final = "ScheduleSkipped"
    SCHEDULE_MISSED: Final = "ScheduleMissed"
    RUN_REPLACED: Final = "RunReplaced"
    HISTORY_TRIMMED: Final = "HistoryTrimmed"


class Recovery(enum.StrEnum):
    """Whether a reason goes away without anybody acting: what alerting and Argo CD ask."""

    ITSELF = "fixes itself"
    PERSON = "needs a person"


class Site(enum.StrEnum):
    """Where users meet a reason."""

    PHASE = "Ready/Succeeded/Failed"
    """The three conditions that follow ``status.phase``; they always share one reason."""
    READY = "Ready (SuperviselyCronTask)"
    """A SuperviselyCronTask's one condition: whether its ticks make runs."""
    SYNCED = "Synced"
    LAST_ERROR = "lastError"
    EVENT = "Event"
    LOG = "logs only"
    """Never written to the resource (a paused resource gets no writes)."""


@dataclass(frozen=True)
class ReasonInfo:
    """One declared reason: what users need to know about it."""

    name: str
    recovery: Recovery
    sites: frozenset[Site]
    meaning: str
    """One line for users; for a reason that needs a person, it says what to do."""
    retried: bool = False
    """The operator tries again by itself (a start, a list, a Secret read), so the condition
    clears as soon as its cause is gone. Independent of ``recovery``: a refused token needs a
    person to fix the Secret, and is retried so that the fix takes effect without an edit."""

    @property
    def where(self) -> tuple[Site, ...]:
        """The sites in the order :class:`Site` lists them."""
        return tuple(site for site in Site if site in self.sites)

    @property
    def in_conditions(self) -> bool:
        """A condition can carry it, so the Argo CD health check can see it."""
        return bool(self.sites & {Site.PHASE, Site.SYNCED, Site.READY})

    @property
    def heals(self) -> bool:
        """The operator gets over it by itself (Argo CD: Progressing, not Degraded)."""
        return self.recovery is Recovery.ITSELF


ITSELF: Final = Recovery.ITSELF
PERSON: Final = Recovery.PERSON
_PHASE: Final = frozenset({Site.PHASE, Site.EVENT})
"""``StatusDraft.enter`` sets the phase conditions and posts an Event on a change."""
_TASK_ENDED: Final = frozenset({Site.PHASE, Site.LAST_ERROR, Site.EVENT})
"""A task's end is kept in lastError and, with no restart left, is the Failed reason."""
_NOT_SYNCED: Final = frozenset({Site.SYNCED, Site.EVENT})
"""``StatusDraft.not_synced`` sets Synced=False and posts a Warning when the outage begins."""
_CLIENT: Final = frozenset({Site.SYNCED, Site.LAST_ERROR, Site.EVENT})
"""A client error: Synced when a call fails, lastError too when it refused a start."""
_CRON: Final = frozenset({Site.READY, Site.EVENT})
"""A SuperviselyCronTask's Ready condition."""

_DECLARED = (
    ReasonInfo(Reason.STARTING, ITSELF, frozenset({Site.PHASE}), "a task is being started"),
    ReasonInfo(
        Reason.STARTED, ITSELF, _PHASE, "Supervisely accepted the start; the task is queued"
    ),
    ReasonInfo(
        Reason.ADOPTED,
        ITSELF,
        frozenset({Site.EVENT}),
        "a start whose reply was lost was found by its marker, or the task `adoptTaskId` "
        "names was taken over",
    ),
    ReasonInfo(Reason.QUEUED, ITSELF, _PHASE, "the task waits for an agent"),
    ReasonInfo(
        Reason.AWAITING_READINESS,
        ITSELF,
        _PHASE,
        "phase `Running` with `Ready=False`: the task started, its app does not answer "
        "`is_ready` yet",
    ),
    ReasonInfo(Reason.RUNNING, ITSELF, _PHASE, "the task runs (`started` or `deployed`)"),
    ReasonInfo(Reason.STOPPING, ITSELF, _PHASE, "the task is terminating"),
    ReasonInfo(
        Reason.SUSPENDED,
        PERSON,
        _PHASE | {Site.READY},
        "`spec.suspend` is true: no task runs until somebody sets it false",
    ),
    ReasonInfo(
        Reason.SPEC_CHANGED,
        ITSELF,
        _PHASE,
        "a launch field changed; the task is replaced by one from the new spec",
    ),
    ReasonInfo(
        Reason.RESTART_REQUESTED,
        ITSELF,
        _PHASE,
        "`supervisely.com/restart-requested-at` asked for a restart; the task is replaced",
    ),
    ReasonInfo(
        Reason.RESTARTING,
        ITSELF,
        _PHASE,
        "the task ended in error; a new one starts after the backoff",
    ),
    ReasonInfo(Reason.FINISHED, ITSELF, _PHASE, "the task finished; the resource Succeeded"),
    ReasonInfo(
        Reason.TASK_ERROR,
        ITSELF,
        _TASK_ENDED,
        "the task ended with status `error`; restarted while restarts are left "
        "(`Failed` under `restartPolicy: Never`)",
    ),
    ReasonInfo(
        Reason.TASK_LOST,
        ITSELF,
        _TASK_ENDED,
        "the task no longer exists on Supervisely; handled like an error",
    ),
    ReasonInfo(
        Reason.STOPPED_EXTERNALLY,
        ITSELF,
        _TASK_ENDED,
        "somebody stopped the task outside the operator; handled like an error",
    ),
    ReasonInfo(
        Reason.START_DEADLINE_EXCEEDED,
        ITSELF,
        _TASK_ENDED,
        "the task was not ready within `startDeadlineSeconds`; stopped and handled like an error",
    ),
    ReasonInfo(
        Reason.BACKOFF_LIMIT_EXCEEDED,
        PERSON,
        _PHASE,
        "no restart left (`lastError` has the log tail): fix the app or the spec, "
        "then edit the spec",
    ),
    ReasonInfo(
        Reason.DEADLINE_EXCEEDED,
        PERSON,
        _TASK_ENDED,
        "the task ran past `activeDeadlineSeconds` and was stopped; the resource ends `Failed`",
    ),
    ReasonInfo(
        Reason.FAILURE_RULE_MATCHED,
        PERSON,
        _PHASE,
        "a `failureRules` entry with `action: Fail` matched; the resource is `Failed`",
    ),
    ReasonInfo(
        Reason.START_FAILED,
        PERSON,
        _PHASE,
        "Supervisely refused the start for good (`lastError` says why): fix the spec",
    ),
    ReasonInfo(
        Reason.RECONCILED,
        ITSELF,
        frozenset({Site.SYNCED}),
        "`Synced=True`: Supervisely answered the last calls",
    ),
    ReasonInfo(
        Reason.UNAVAILABLE,
        ITSELF,
        _CLIENT,
        "Supervisely cannot be reached or answers 5xx/429 after the client's retries",
        retried=True,
    ),
    ReasonInfo(
        Reason.START_OUTCOME_UNKNOWN,
        ITSELF,
        _CLIENT,
        "the reply to a start was lost; the task is looked for by its marker first",
        retried=True,
    ),
    ReasonInfo(
        Reason.AGENT_NOT_RUNNING,
        ITSELF,
        _CLIENT,
        "the named agent is not running; the task starts when it is",
        retried=True,
    ),
    ReasonInfo(
        Reason.UNAUTHORIZED,
        PERSON,
        _CLIENT,
        "Supervisely refused the API token: fix the Secret or the operator's credentials",
        retried=True,
    ),
    ReasonInfo(
        Reason.NOT_FOUND,
        PERSON,
        _CLIENT,
        "Supervisely has nothing the spec names (a workspace, say): fix the spec",
    ),
    ReasonInfo(
        Reason.TASK_NOT_FOUND,
        ITSELF,
        _CLIENT,
        "Supervisely has no such task; the operator handles it as gone",
    ),
    ReasonInfo(
        Reason.AGENT_NOT_FOUND,
        PERSON,
        _CLIENT,
        "the agent does not exist or the token cannot see it: fix `agentId`",
    ),
    ReasonInfo(
        Reason.APP_NOT_FOUND,
        PERSON,
        _CLIENT,
        "no ecosystem app has this slug or id: fix `appSlug` or `moduleId`",
    ),
    ReasonInfo(
        Reason.AMBIGUOUS_APP,
        PERSON,
        _CLIENT,
        "several ecosystem apps share the slug: name the app by `moduleId`",
    ),
    ReasonInfo(
        Reason.REJECTED,
        PERSON,
        _CLIENT,
        "Supervisely rejected the request (a 4xx; 413: `params` too large): fix the spec",
    ),
    ReasonInfo(
        Reason.PROTOCOL_ERROR,
        PERSON,
        _CLIENT,
        "the reply is not Supervisely's API: check the server address and any proxy",
    ),
    ReasonInfo(
        Reason.PAGINATION_MISMATCH,
        ITSELF,
        _CLIENT,
        "a list changed while it was read page by page; the next poll reads it again",
        retried=True,
    ),
    ReasonInfo(
        Reason.MULTIPLE_TASKS_STARTED,
        ITSELF,
        _CLIENT,
        "one start created several tasks; the operator keeps one and stops the others",
    ),
    ReasonInfo(
        Reason.ADOPTION_REFUSED,
        PERSON,
        _NOT_SYNCED | {Site.PHASE},
        "`adoptTaskId` names a task that does not exist, lives in another workspace "
        "or another resource owns: fix the spec",
        retried=True,
    ),
    ReasonInfo(
        Reason.INVALID_SPEC,
        PERSON,
        _NOT_SYNCED | {Site.READY},
        "the stored spec breaks a rule its CRD did not check (an older CRD, or a schedule only "
        "cron's parser refuses): fix the spec, and upgrade an older CRD",
    ),
    ReasonInfo(
        Reason.SECRET_NOT_FOUND,
        PERSON,
        _NOT_SYNCED,
        "the credentials Secret does not exist: create it",
        retried=True,
    ),
    ReasonInfo(
        Reason.SECRET_UNREADABLE,
        PERSON,
        _NOT_SYNCED,
        "the API server would not hand out the Secret (403: grant the chart's Role)",
        retried=True,
    ),
    ReasonInfo(
        Reason.SECRET_INVALID,
        PERSON,
        _NOT_SYNCED,
        "the Secret lacks `SERVER_ADDRESS` or `API_TOKEN`: add them",
        retried=True,
    ),
    ReasonInfo(
        Reason.CREDENTIALS_MISSING,
        PERSON,
        _NOT_SYNCED,
        "no `credentialsSecretRef` and no operator credentials: set either",
        retried=True,
    ),
    ReasonInfo(
        Reason.CREDENTIALS_INVALID,
        PERSON,
        _NOT_SYNCED,
        "the server address or the token is malformed: fix it",
        retried=True,
    ),
    ReasonInfo(
        Reason.DELETING,
        ITSELF,
        _PHASE,
        "the resource is deleted; its task is stopped (or left running: `deletionPolicy: Orphan`)",
    ),
    ReasonInfo(
        Reason.EXPIRED,
        ITSELF,
        frozenset({Site.EVENT}),
        "`ttlSecondsAfterFinished` passed; the resource is deleted",
    ),
    ReasonInfo(
        Reason.STRAY_TASK_STOPPED,
        ITSELF,
        frozenset({Site.EVENT}),
        "a start Supervisely carried out after the operator gave up on it was stopped",
    ),
    ReasonInfo(
        Reason.PAUSED,
        PERSON,
        frozenset({Site.LOG}),
        '`supervisely.com/paused: "true"`: the operator leaves the resource alone '
        "until the annotation goes",
    ),
    ReasonInfo(
        Reason.WAITING_FOR_SOURCE,
        ITSELF,
        _PHASE,
        "a `paramsFrom` source has not succeeded yet (or failed, under `onSourceFailure: Wait`); "
        "the task starts once it has",
        retried=True,
    ),
    ReasonInfo(
        Reason.SOURCE_NOT_FOUND,
        ITSELF,
        _PHASE,
        "a `paramsFrom` source does not exist in this namespace; the task starts once it does",
        retried=True,
    ),
    ReasonInfo(
        Reason.SOURCE_FAILED,
        PERSON,
        _PHASE,
        "a `paramsFrom` source failed under `onSourceFailure: Fail`: fix the source, then edit "
        "or restart this task",
    ),
    ReasonInfo(
        Reason.SOURCE_OUTPUT_MISSING,
        PERSON,
        _PHASE,
        "a `paramsFrom` source succeeded without publishing the output named: fix the source "
        "app or the reference",
    ),
    ReasonInfo(
        Reason.SOURCE_ON_ANOTHER_SERVER,
        PERSON,
        _PHASE,
        "a `paramsFrom` source runs on another Supervisely server: use a source of this one",
    ),
    ReasonInfo(
        Reason.REFERENCE_CYCLE,
        PERSON,
        _PHASE,
        "`paramsFrom` references go round in a circle; none of the tasks can start: break it",
    ),
    ReasonInfo(
        Reason.SCHEDULING,
        ITSELF,
        _CRON,
        "SuperviselyCronTask `Ready=True`: each tick of the schedule makes a run",
    ),
    ReasonInfo(
        Reason.SCHEDULED,
        ITSELF,
        frozenset({Site.EVENT}),
        "a SuperviselyCronTask made the run of a tick",
    ),
    ReasonInfo(
        Reason.TRIGGERED,
        ITSELF,
        frozenset({Site.EVENT}),
        "`supervisely.com/trigger-requested-at` (Argo CD's action `trigger`) made a run now",
    ),
    ReasonInfo(
        Reason.SCHEDULE_SKIPPED,
        ITSELF,
        frozenset({Site.EVENT}),
        "a tick made no run: an earlier run still lives (`concurrencyPolicy: Forbid`)",
    ),
    ReasonInfo(
        Reason.SCHEDULE_MISSED,
        ITSELF,
        frozenset({Site.EVENT}),
        "a tick came more than `startingDeadlineSeconds` ago (the operator was down): no run",
    ),
    ReasonInfo(
        Reason.RUN_REPLACED,
        ITSELF,
        frozenset({Site.EVENT}),
        "a tick deleted the run that still lived (`concurrencyPolicy: Replace`), stopping its "
        "task, before making its own",
    ),
    ReasonInfo(
        Reason.HISTORY_TRIMMED,
        ITSELF,
        frozenset({Site.EVENT}),
        "finished runs beyond `successfulTasksHistoryLimit` / `failedTasksHistoryLimit` were "
        "deleted",
    ),
)

REASONS: Final[Mapping[str, ReasonInfo]] = MappingProxyType({i.name: i for i in _DECLARED})
"""Every reason by name, in the order the documentation lists them."""
