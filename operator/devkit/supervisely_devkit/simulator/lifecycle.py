"""A task's life as a pure function of time.

When a task is created, everything that will happen to it (each attempt's phases, whether it
errors, every log line, what it publishes as its result) is laid out as a ``Timeline`` of timed
events. A stop request or a forced
end cuts the timeline at that moment and appends the new ending. A request then only asks "what
was true at ``now``", so state is exact at whatever moment a request arrives, a fake clock can
drive it, and nothing runs in the background.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from supervisely_devkit.simulator.clock import to_millis
from supervisely_devkit.simulator.scenario import PhaseDurations


class TaskStatus(StrEnum):
    """The 8 values of the SDK's ``TaskApi.Status``; the simulator never uses ``deployed``."""

    QUEUED = "queued"
    CONSUMED = "consumed"
    STARTED = "started"
    DEPLOYED = "deployed"
    TERMINATING = "terminating"
    ERROR = "error"
    FINISHED = "finished"
    STOPPED = "stopped"

    @property
    def is_terminal(self) -> bool:
        """No further transition will happen on its own."""
        return self in (TaskStatus.ERROR, TaskStatus.FINISHED, TaskStatus.STOPPED)


class LogLevel(StrEnum):
    """Log levels of the ``logLevel`` start option and of log entries, least severe first."""

    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        """Position in severity order, for filtering by the task's ``logLevel``."""
        return list(LogLevel).index(self)


@dataclass(frozen=True)
class Transition:
    """The task entered ``status`` at ``at`` (monotonic seconds) during attempt ``attempt``."""

    at: float
    status: TaskStatus
    attempt: int


@dataclass(frozen=True)
class LogLine:
    """One line the app (or the agent) wrote at ``at``, stamped ``millis`` on the wire."""

    at: float
    level: LogLevel
    message: str
    millis: int = 0
    """Set by ``_stamped``: unique per task and increasing with ``at``."""


@dataclass(frozen=True)
class Publication:
    """At ``at``, the app published ``output``: top-level keys of ``meta.output`` (the SDK's
    ``set_output_*`` calls each send one)."""

    at: float
    output: dict[str, Any]


@dataclass(frozen=True)
class AppIdentity:
    """What log lines mention about a task."""

    task_id: int
    app_name: str
    version: str
    agent_name: str


@dataclass(frozen=True)
class TaskPlan:
    """What was decided at creation: timings and, per attempt, whether that attempt errors."""

    created_at: float
    durations: PhaseDurations
    attempt_errors: tuple[bool, ...]
    serves: bool
    error_message: str
    output: dict[str, Any]
    """Published when a finishing app finishes or a serving app is ready; empty: nothing."""


@dataclass(frozen=True)
class Timeline:
    """All transitions and log lines of a task, in time order."""

    transitions: tuple[Transition, ...]
    logs: tuple[LogLine, ...]
    ready_delay: float
    publications: tuple[Publication, ...] = ()

    def _last_index(self, now: float) -> int:
        return bisect.bisect_right([t.at for t in self.transitions], now) - 1

    def current(self, now: float) -> Transition:
        """The transition in force at ``now`` (the first one if ``now`` is earlier)."""
        return self.transitions[max(self._last_index(now), 0)]

    def ended_at(self, now: float) -> float | None:
        """When the task reached a terminal status, if it had by ``now``."""
        current = self.current(now)
        return current.at if current.status.is_terminal else None

    def is_ready(self, now: float) -> bool:
        """Whether the app answers ``is_ready``: started at least ``ready_delay`` ago."""
        current = self.current(now)
        return current.status is TaskStatus.STARTED and now >= current.at + self.ready_delay

    def logs_until(self, now: float) -> list[LogLine]:
        """The log lines written up to ``now``."""
        return [line for line in self.logs if line.at <= now]

    def output_at(self, now: float) -> dict[str, Any]:
        """``meta.output`` at ``now``: each publication replaces the top-level keys it sends.

        How the real server combines ``tasks.output.set`` calls is not documented. The SDK's
        training app publishes its experiment and then its directory, and readers of the task
        still find ``meta.output.experiment.data``, so a later call cannot wipe the earlier ones.
        """
        output: dict[str, Any] = {}
        for publication in self.publications:
            if publication.at <= now:
                output.update(publication.output)
        return output

    def published(self, *, at: float, output: dict[str, Any]) -> Timeline:
        """The timeline with one more publication (after any others at the same moment)."""
        publications = [*self.publications, Publication(at, output)]
        return replace(self, publications=tuple(sorted(publications, key=lambda p: p.at)))

    def cut(
        self, *, at: float, ending: list[tuple[float, TaskStatus]], lines: list[LogLine]
    ) -> Timeline:
        """Drop everything after ``at`` and append a new ending (stop or forced end)."""
        kept = [t for t in self.transitions if t.at <= at]
        attempt = kept[-1].attempt if kept else 1
        transitions = [*kept, *(Transition(when, status, attempt) for when, status in ending)]
        logs = [line for line in self.logs if line.at <= at]
        return replace(
            self,
            transitions=tuple(transitions),
            logs=_stamped([*logs, *lines]),
            publications=tuple(p for p in self.publications if p.at <= at),
        )


def build_timeline(*, plan: TaskPlan, app: AppIdentity) -> Timeline:
    """Lay out a task's whole natural life: attempts, phases and log lines."""
    d = plan.durations
    transitions: list[Transition] = []
    logs: list[LogLine] = []
    publications: list[Publication] = []
    at = plan.created_at
    attempts = len(plan.attempt_errors)
    for index, errors in enumerate(plan.attempt_errors):
        attempt = index + 1
        transitions.append(Transition(at, TaskStatus.QUEUED, attempt))
        if attempt == 1:
            logs.append(_info(at, f"Task {app.task_id} queued: {app.app_name} {app.version}"))
        consumed_at = at + d.queued
        transitions.append(Transition(consumed_at, TaskStatus.CONSUMED, attempt))
        logs.append(_info(consumed_at, f"Agent '{app.agent_name}' took the task"))
        logs.append(LogLine(consumed_at, LogLevel.DEBUG, f"Pulling image for {app.app_name}"))
        started_at = consumed_at + d.consumed
        transitions.append(Transition(started_at, TaskStatus.STARTED, attempt))
        logs.append(_info(started_at, f"Application started (attempt {attempt})"))
        ends_at = started_at + d.running
        if plan.serves and (not errors or d.ready_delay < d.running):
            ready_at = started_at + d.ready_delay
            logs.append(_info(ready_at, "Model is deployed and ready to serve"))
            publications.append(Publication(ready_at, plan.output))
        if not plan.serves:
            logs.extend(_progress(started_at=started_at, running=d.running))
        if errors:
            transitions.append(Transition(ends_at, TaskStatus.ERROR, attempt))
            logs.append(LogLine(ends_at, LogLevel.ERROR, f"Task failed: {plan.error_message}"))
            if attempt < attempts:
                note = f"Restart policy on_error: re-queued (attempt {attempt + 1} of {attempts})"
                logs.append(LogLine(ends_at, LogLevel.WARNING, note))
                at = ends_at
                continue
        elif not plan.serves:
            transitions.append(Transition(ends_at, TaskStatus.FINISHED, attempt))
            logs.append(_info(ends_at, "Application finished successfully"))
            publications.append(Publication(ends_at, plan.output))
        break
    return Timeline(
        transitions=_restarts_skip_error(transitions),
        logs=_stamped(logs),
        ready_delay=d.ready_delay,
        publications=tuple(p for p in publications if p.output),
    )


def _restarts_skip_error(transitions: list[Transition]) -> tuple[Transition, ...]:
    """An error followed by a re-queue at the same moment is never observable as ``error``."""
    kept: list[Transition] = []
    for transition in transitions:
        if kept and kept[-1].status is TaskStatus.ERROR and kept[-1].at == transition.at:
            kept.pop()
        kept.append(transition)
    return tuple(kept)


def _progress(*, started_at: float, running: float) -> list[LogLine]:
    epochs = 3
    return [
        _info(
            started_at + running * epoch / (epochs + 1),
            f"Epoch {epoch}/{epochs}: loss={1.0 / (epoch + 1):.3f}",
        )
        for epoch in range(1, epochs + 1)
    ]


def _info(at: float, message: str) -> LogLine:
    return LogLine(at, LogLevel.INFO, message)


def _stamped(lines: list[LogLine]) -> tuple[LogLine, ...]:
    """Sort lines and give each its own millisecond stamp.

    Timestamps go out with millisecond precision and ``sinceTime`` is exclusive, so two lines in
    the same millisecond could make a tail-follower skip one. A line that would share a
    millisecond gets the next one; it stays visible from its own ``at``, so a stamp may lie up
    to a few milliseconds ahead of the moment the line appears, never out of order.
    """
    ordered = sorted(lines, key=lambda line: line.at)
    stamped: list[LogLine] = []
    last: int | None = None
    for line in ordered:
        millis = to_millis(line.at)
        if last is not None and millis <= last:
            millis = last + 1
        stamped.append(replace(line, millis=millis))
        last = millis
    return tuple(stamped)


def stop_ending(*, at: float, terminating: float) -> list[tuple[float, TaskStatus]]:
    """The transitions that a stop request adds."""
    return [(at, TaskStatus.TERMINATING), (at + terminating, TaskStatus.STOPPED)]


def stop_lines(*, at: float, terminating: float) -> list[LogLine]:
    """The log lines that a stop request adds."""
    return [
        _info(at, "Stop requested: terminating the application"),
        _info(at + terminating, "Application stopped"),
    ]
