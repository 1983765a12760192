"""spec.paramsFrom: params filled from what other tasks published, resolved purely.

A task that takes params from others starts once every source has succeeded; the values are
copied from the sources' ``status.outputs`` as they are (no templating) into the paths the
references name. The rules (docs/operations.md states them for users):

- A source that does not exist yet, or has not succeeded yet, keeps the task Pending
  (``SourceNotFound``, ``WaitingForSource``): both heal by themselves.
- A source that failed keeps it waiting (``onSourceFailure: Wait``) or fails it (``Fail`` on
  any reference to that source).
- References that go round in a circle, a source on another server, or a succeeded source
  without the output named keep it Pending with a reason that needs a person.
- Sources are read in the order the references list them; the first problem is the one told.
"""

import posixpath
from collections.abc import Iterable, Mapping, Sequence
from copy import deepcopy
from dataclasses import dataclass
from typing import Any

from supervisely_operator.api import (
    OutputExperiment,
    ParamFrom,
    ResolvedParam,
    TaskOutputs,
    TaskPhase,
)
from supervisely_operator.api.spec import SourceFailurePolicy, SourceOutput
from supervisely_operator.reconcile.conditions import Reason
from supervisely_operator.reconcile.situation import Source


@dataclass(frozen=True)
class Resolved:
    """Every reference has its value."""

    values: tuple[ResolvedParam, ...]


@dataclass(frozen=True)
class Unresolved:
    """Why the task cannot start yet (or, ``fails``, at all)."""

    reason: str
    message: str
    fails: bool = False


def resolve(
    refs: Sequence[ParamFrom],
    *,
    consumer: str,
    sources: Mapping[str, Source | None],
    foreign: frozenset[str] = frozenset(),
) -> Resolved | Unresolved:
    """The values of ``refs`` of task ``consumer``.

    ``sources``: every task reachable through the references (the sources' sources too), by
    name, None for a name nothing has; ``foreign``: sources whose credentials reach another
    Supervisely server.
    """
    circle = _circle(consumer, [ref.source for ref in refs], sources)
    if circle is not None:
        return Unresolved(
            Reason.REFERENCE_CYCLE, f"paramsFrom goes round in a circle: {' -> '.join(circle)}"
        )
    values: list[ResolvedParam] = []
    strict = {ref.source for ref in refs if ref.on_source_failure is SourceFailurePolicy.FAIL}
    for ref in refs:
        source = sources.get(ref.source)
        found = _value(ref, source, foreign=foreign, fails=ref.source in strict)
        if isinstance(found, Unresolved):
            return found
        assert source is not None
        values.append(
            ResolvedParam(
                path=ref.path,
                value=found,
                source=ref.source,
                source_uid=source.resource.uid,
                source_task_id=source.task_id,
            )
        )
    return Resolved(tuple(values))


def with_values(params: Mapping[str, Any], values: Iterable[ResolvedParam]) -> dict[str, Any]:
    """``params`` with each value at its dotted path; mappings on the way are made as needed,
    and a value replaces whatever was at its path."""
    filled = deepcopy(dict(params))
    for resolved in values:
        *parents, leaf = resolved.path.split(".")
        node = filled
        for name in parents:
            child = node.get(name)
            if not isinstance(child, dict):
                child = node[name] = {}
            node = child
        node[leaf] = resolved.value
    return filled


def _value(ref: ParamFrom, source: Source | None, *, foreign: frozenset[str], fails: bool) -> Any:
    """The output ``ref`` names, or why it cannot be had (``fails``: a reference to this source
    says ``onSourceFailure: Fail``)."""
    name = ref.source
    if source is None:
        return Unresolved(Reason.SOURCE_NOT_FOUND, f"Waiting for {name} to exist (paramsFrom)")
    if source.phase is TaskPhase.FAILED:
        if fails:
            return Unresolved(
                Reason.SOURCE_FAILED, f"{name} failed (paramsFrom, onSourceFailure Fail)", True
            )
        return Unresolved(
            Reason.WAITING_FOR_SOURCE, f"{name} failed; waiting for a run of it to succeed"
        )
    if source.phase is not TaskPhase.SUCCEEDED:
        phase = source.phase.value if source.phase is not None else "new"
        return Unresolved(
            Reason.WAITING_FOR_SOURCE, f"Waiting for {name} to succeed (it is {phase})"
        )
    if name in foreign:
        return Unresolved(
            Reason.SOURCE_ON_ANOTHER_SERVER,
            f"{name} runs on another Supervisely server; paramsFrom reads this server's tasks",
        )
    value = _output(ref, source.outputs)
    if value is None:
        wanted = ref.output.value + (f" {ref.metric}" if ref.metric else "")
        return Unresolved(
            Reason.SOURCE_OUTPUT_MISSING, f"{name} succeeded without publishing {wanted}"
        )
    return value


def _output(ref: ParamFrom, outputs: TaskOutputs | None) -> Any:
    """The one output ``ref`` names, from a source's status.outputs."""
    if outputs is None:
        return None
    experiment, project, link = outputs.experiment, outputs.project, outputs.link
    match ref.output:
        case SourceOutput.EXPERIMENT_BEST_CHECKPOINT:
            return _checkpoint_path(experiment) if experiment else None
        case SourceOutput.EXPERIMENT_ARTIFACTS_DIR:
            return experiment.artifacts_dir if experiment else None
        case SourceOutput.EXPERIMENT_MODEL_NAME:
            return experiment.model if experiment else None
        case SourceOutput.EXPERIMENT_METRIC:
            return experiment.metrics.get(ref.metric or "") if experiment else None
        case SourceOutput.PROJECT_ID:
            return project.id if project else None
        case SourceOutput.LINK_URL:
            return link.url if link else None


def _checkpoint_path(experiment: OutputExperiment) -> str | None:
    """The best checkpoint's Team Files path: a training names it within the checkpoints
    directory of its artifacts (as the SDK's ExperimentInfo does)."""
    best, artifacts = experiment.best_checkpoint, experiment.artifacts_dir
    if best is None or "/" in best or artifacts is None:
        return best
    return posixpath.join(artifacts, "checkpoints", best)


def _circle(
    consumer: str, names: Sequence[str], sources: Mapping[str, Source | None]
) -> list[str] | None:
    """A path from ``consumer`` through the references back to it, if there is one."""
    seen: set[str] = set()
    stack = [(name, [consumer, name]) for name in reversed(names)]
    while stack:
        name, path = stack.pop()
        if name == consumer:
            return path
        if name in seen:
            continue
        seen.add(name)
        source = sources.get(name)
        if source is not None:
            stack.extend((next_, [*path, next_]) for next_ in reversed(source.takes_from))
    return None
