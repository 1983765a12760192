"""Milestones of a task's life, as the decision sees them pass: what the metrics are made of.

The decision knows why a task ended and when a start got its task id; the status alone does not
say (a task that ends and is restarted in one pass leaves no trace of its end in the status). So
each step that passes a milestone says so in its plan, and the shell turns milestones into
metrics once the plan's status is written. Durations are computed here from the status' own
timestamps and the pass's ``now``: no clock is read.
"""

import enum
from dataclasses import dataclass
from datetime import datetime


class RunOutcome(enum.StrEnum):
    """How a task's run ended, as a bounded metric label."""

    SUCCEEDED = "Succeeded"
    """The task finished."""
    FAILED = "Failed"
    """It ended in error, was lost, was stopped outside the operator or for a deadline."""
    STOPPED = "Stopped"
    """The operator stopped it because somebody asked: suspend, an edit, a restart request or
    the resource's deletion."""


@dataclass(frozen=True)
class TaskIdRecorded:
    """A start got its task id (from the reply, or found by its marker)."""

    seconds: float
    """Since the start was requested (``status.startRequest.requestedAt``)."""


@dataclass(frozen=True)
class TaskRunning:
    """The resource's own task reached phase Running for the first time."""

    seconds: float
    """Since the task id was recorded (``status.startedAt``)."""


@dataclass(frozen=True)
class TaskReady:
    """The resource's own task became Ready (its app answers, or it started)."""

    seconds: float
    """Since the task id was recorded (``status.startedAt``)."""


@dataclass(frozen=True)
class TaskEnded:
    """The resource's task ended; told once, by the pass that first sees the end."""

    outcome: RunOutcome
    seconds: float
    """From the task id to its end (0 if the status does not say when it started, which it
    always does for a task the operator started or adopted)."""


@dataclass(frozen=True)
class TaskReplaced:
    """A new task starts in place of an earlier one of the resource."""

    reason: str
    """Why, as a reason of the one list: the failure that ended the earlier task (TaskError,
    TaskLost, StoppedExternally, StartDeadlineExceeded), or SpecChanged, RestartRequested."""


Milestone = TaskIdRecorded | TaskRunning | TaskReady | TaskEnded | TaskReplaced
"""What a plan may tell the metrics about a task's life."""


def elapsed(start: datetime, end: datetime) -> float:
    """``end - start`` in seconds, never negative (the clocks of two replicas, or of Supervisely
    and the operator, may disagree a little)."""
    return max((end - start).total_seconds(), 0.0)
