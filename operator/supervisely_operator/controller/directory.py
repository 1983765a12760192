"""What the operator knows of every SuperviselyTask from the watch, in one kopf index.

kopf fills its indices before any handler runs and updates them before the handlers of each
event, so what is read here is never older than what a handler sees. One index handler files
each object under a few keys, so one call per watch event serves four readers:

- ownership: which resource's status records a task id (``recorded_tasks``);
- paramsFrom: a task's sources, their sources in turn (``sources``), and the tasks that take
  params from a task, to wake them when it changes (``consumers``);
- SuperviselyCronTask: its runs (``runs``).

The entries hold the object's raw fields only: nothing is validated on a watch event, the
readers parse what they use when they use it.
"""

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from supervisely_operator.api import SecretReference, TaskOutputs, TaskPhase, resource
from supervisely_operator.reconcile.cron import Run
from supervisely_operator.reconcile.situation import ResourceRef, Source
from supervisely_operator.reconcile.watch import moment_of
from supervisely_operator.remote import RecordedTask

Key = tuple[str, ...] | tuple[str, int]


@dataclass(frozen=True)
class Entry:
    """One SuperviselyTask as the watch last showed it."""

    resource: ResourceRef
    credentials: str | None
    """The name of its credentials Secret (None: the operator's own)."""
    task_id: int | None
    phase: str | None
    outputs: Any
    takes_from: tuple[str, ...]
    cron_uid: str | None
    """uid of the SuperviselyCronTask that made it (its controller ownerReference)."""
    scheduled_at: str | None
    finished_at: str | None
    deleting: bool

    @property
    def secret_ref(self) -> SecretReference | None:
        return None if self.credentials is None else SecretReference(name=self.credentials)


def index_entries(body: Mapping[str, Any]) -> dict[Key, Entry]:
    """The keys one object is filed under (the kopf index handler's answer)."""
    metadata = body.get("metadata") or {}
    spec = body.get("spec") or {}
    status = body.get("status") or {}
    annotations = metadata.get("annotations") or {}
    namespace, name = metadata.get("namespace", ""), metadata.get("name", "")
    entry = Entry(
        resource=ResourceRef(namespace=namespace, name=name, uid=metadata.get("uid", "")),
        credentials=(spec.get("credentialsSecretRef") or {}).get("name"),
        task_id=status.get("taskId"),
        phase=status.get("phase"),
        outputs=status.get("outputs"),
        takes_from=tuple(ref.get("source", "") for ref in spec.get("paramsFrom") or ()),
        cron_uid=controller_cron(metadata),
        scheduled_at=annotations.get(resource.SCHEDULED_AT_ANNOTATION),
        finished_at=status.get("finishedAt"),
        deleting=bool(metadata.get("deletionTimestamp")),
    )
    keys: dict[Key, Entry] = {("task", namespace, name): entry}
    if entry.task_id is not None:
        keys[("recorded", entry.task_id)] = entry
    for source in entry.takes_from:
        keys[("consumer", namespace, source)] = entry
    if entry.cron_uid is not None:
        keys[("run", entry.cron_uid)] = entry
    return keys


def controller_cron(metadata: Mapping[str, Any]) -> str | None:
    """uid of the SuperviselyCronTask that made this object (its controller owner), if any."""
    for owner in metadata.get("ownerReferences") or ():
        if owner.get("controller") and owner.get("kind") == resource.CRON_KIND:
            uid: str = owner.get("uid", "")
            return uid
    return None


class Directory:
    """Typed readers over the index (kopf's ``Index``: a mapping of key to entries)."""

    def __init__(self, index: Mapping[Key, Iterable[Entry]]) -> None:
        self._index = index

    def recorded_tasks(self) -> "RecordedTasksView":
        """Ownership's view: the resources whose status records each task id."""
        return RecordedTasksView(self._index)

    def consumers(self, namespace: str, name: str) -> list[ResourceRef]:
        """The tasks whose paramsFrom names this one."""
        return [entry.resource for entry in self._index.get(("consumer", namespace, name), ())]

    def runs(self, cron_uid: str) -> tuple[Run, ...]:
        """The runs a SuperviselyCronTask made (its controller ownerReference)."""
        return tuple(_run(entry) for entry in self._index.get(("run", cron_uid), ()))

    def sources(
        self, namespace: str, names: Iterable[str]
    ) -> tuple[dict[str, Source | None], dict[str, SecretReference | None]]:
        """The tasks ``names`` reach, their sources' sources too (for circles), and the
        credentials of the ones ``names`` list directly."""
        direct = list(names)
        found: dict[str, Source | None] = {}
        pending = list(direct)
        while pending:
            name = pending.pop()
            if name in found:
                continue
            entry = next(iter(self._index.get(("task", namespace, name), ())), None)
            found[name] = None if entry is None else _source(entry)
            if entry is not None:
                pending.extend(entry.takes_from)
        credentials = {}
        for name in direct:
            entry = next(iter(self._index.get(("task", namespace, name), ())), None)
            if entry is not None:
                credentials[name] = entry.secret_ref
        return found, credentials


class RecordedTasksView(Mapping[int, Iterable[RecordedTask]]):
    """The index as ownership reads it: task id to the resources that record it."""

    def __init__(self, index: Mapping[Key, Iterable[Entry]]) -> None:
        self._index = index

    def __getitem__(self, task_id: int) -> Iterable[RecordedTask]:
        entries = self._index.get(("recorded", task_id))
        if entries is None:
            raise KeyError(task_id)
        return [RecordedTask(resource=e.resource, credentials=e.secret_ref) for e in entries]

    def __iter__(self) -> Iterator[int]:
        return (key[1] for key in self._index if key[0] == "recorded" and isinstance(key[1], int))

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _source(entry: Entry) -> Source:
    outputs = None
    if entry.outputs:
        with contextlib.suppress(ValidationError):  # another writer's: no outputs to hand on
            outputs = TaskOutputs.model_validate(entry.outputs)
    return Source(
        resource=entry.resource,
        phase=_phase(entry.phase),
        task_id=entry.task_id,
        outputs=outputs,
        takes_from=entry.takes_from,
    )


def _run(entry: Entry) -> Run:
    return Run(
        name=entry.resource.name,
        uid=entry.resource.uid,
        scheduled_at=_moment(entry.scheduled_at),
        phase=_phase(entry.phase),
        finished_at=_moment(entry.finished_at),
        deleting=entry.deleting,
    )


def _moment(value: str | None) -> datetime | None:
    return moment_of(value) if value else None


def _phase(value: str | None) -> TaskPhase | None:
    """A phase this operator knows; another writer's value (a newer operator's) reads as none
    yet, rather than failing every pass that reads the index."""
    try:
        return TaskPhase(value) if value else None
    except ValueError:
        return None
