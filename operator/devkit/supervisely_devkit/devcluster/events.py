"""Core v1 Events, kept in the discovery front's memory: a stand-in for kube-apiserver's.

``apiextensions-apiserver`` serves no core API, so the Events an operator posts (kopf posts one
for every transition) went nowhere, and no test could see them. The front now answers the
``events`` resource from here: create (``generateName`` included), get, delete, list and watch,
in a namespace or across all, with the field selectors ``kubectl describe`` and
``kubectl get events --field-selector`` use and equality label selectors. Nothing is validated
beyond what a test needs to trust (a namespace that matches the path, a name), nothing expires
(kube-apiserver keeps Events an hour), and everything is gone when the front stops.

Resource versions are this store's own counter; a watch resumes from one it still remembers
(the last ``HISTORY`` changes) and answers ``410 Gone`` for an older one, as the real one does.
"""

import asyncio
import secrets
import string
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

JsonObject = dict[str, Any]

HISTORY: Final = 10_000
"""Changes a watch can resume from."""
FIELDS: Final = {
    "metadata.name": ("metadata", "name"),
    "metadata.namespace": ("metadata", "namespace"),
    "involvedObject.apiVersion": ("involvedObject", "apiVersion"),
    "involvedObject.kind": ("involvedObject", "kind"),
    "involvedObject.name": ("involvedObject", "name"),
    "involvedObject.namespace": ("involvedObject", "namespace"),
    "involvedObject.uid": ("involvedObject", "uid"),
    "involvedObject.resourceVersion": ("involvedObject", "resourceVersion"),
    "involvedObject.fieldPath": ("involvedObject", "fieldPath"),
    "reason": ("reason",),
    "reportingComponent": ("reportingComponent",),
    "source": ("source", "component"),
    "type": ("type",),
}
"""The field selectors kube-apiserver supports for Events, and where each field is."""
_NAME_SUFFIX = string.ascii_lowercase + string.digits


class EventError(Exception):
    """A request the store refuses, as a Kubernetes Status with this code and reason."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Selector:
    """A field or label selector: each term is (key, wanted value, whether it must equal)."""

    terms: tuple[tuple[str, str, bool], ...] = ()

    @classmethod
    def parse(cls, text: str | None, *, fields: bool) -> "Selector":
        terms = []
        for term in (text or "").split(","):
            if not term.strip():
                continue
            key, equal, value = _split_term(term)
            if fields and key not in FIELDS:
                raise EventError(
                    400,
                    "BadRequest",
                    f'"{key}" is not a known field selector: only {", ".join(FIELDS)}',
                )
            terms.append((key, value, equal))
        return cls(tuple(terms))

    def matches(self, value_of: Callable[[str], str]) -> bool:
        return all((value_of(key) == value) == equal for key, value, equal in self.terms)


def _split_term(term: str) -> tuple[str, bool, str]:
    for operator, equal in (("!=", False), ("==", True), ("=", True)):
        if operator in term:
            key, _, value = term.partition(operator)
            return key.strip(), equal, value.strip()
    raise EventError(400, "BadRequest", f"selector term {term!r} is not key=value or key!=value")


def _field(event: Mapping[str, Any], key: str) -> str:
    node: Any = event
    for part in FIELDS[key]:
        node = node.get(part) if isinstance(node, Mapping) else None
    return "" if node is None else str(node)


@dataclass
class _Watcher:
    namespace: str | None
    fields: Selector
    labels: Selector
    queue: "asyncio.Queue[JsonObject]" = field(default_factory=asyncio.Queue)


class EventStore:
    """Events by namespace and name; one store per front, used from the front's loop only."""

    def __init__(self, *, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._now = now
        self._events: dict[tuple[str, str], JsonObject] = {}
        self._revision = 0
        self._history: deque[tuple[int, JsonObject]] = deque(maxlen=HISTORY)
        self._watchers: list[_Watcher] = []

    def create(self, namespace: str, body: Mapping[str, Any]) -> JsonObject:
        """Store a new Event and tell the watchers; the stored object."""
        metadata = dict(body.get("metadata") or {})
        if metadata.get("namespace", namespace) != namespace:
            raise EventError(
                400,
                "BadRequest",
                "the namespace of the provided object does not match the namespace sent on the "
                "request",
            )
        name = metadata.get("name")
        if not name:
            prefix = metadata.get("generateName")
            if not prefix:
                raise EventError(
                    422, "Invalid", "metadata.name or metadata.generateName is required"
                )
            name = prefix + "".join(secrets.choice(_NAME_SUFFIX) for _ in range(5))
        if (namespace, name) in self._events:
            raise EventError(409, "AlreadyExists", f'events "{name}" already exists')
        self._revision += 1
        stamp = self._now().strftime("%Y-%m-%dT%H:%M:%SZ")
        metadata.pop("generateName", None)
        metadata.update(
            name=name,
            namespace=namespace,
            uid=secrets.token_hex(16),
            resourceVersion=str(self._revision),
            creationTimestamp=stamp,
        )
        event = {**body, "apiVersion": "v1", "kind": "Event", "metadata": metadata}
        self._events[(namespace, name)] = event
        self._changed("ADDED", event)
        return event

    def get(self, namespace: str, name: str) -> JsonObject:
        try:
            return self._events[(namespace, name)]
        except KeyError:
            raise EventError(404, "NotFound", f'events "{name}" not found') from None

    def delete(self, namespace: str, name: str) -> JsonObject:
        event = self.get(namespace, name)
        del self._events[(namespace, name)]
        self._revision += 1
        gone = {**event, "metadata": {**event["metadata"], "resourceVersion": str(self._revision)}}
        self._changed("DELETED", gone)
        return gone

    def list(self, namespace: str | None, *, fields: Selector, labels: Selector) -> JsonObject:
        """An ``EventList`` of the Events that match, oldest first."""
        items = [
            event
            for event in self._events.values()
            if _selected(event, namespace=namespace, fields=fields, labels=labels)
        ]
        items.sort(key=lambda event: int(event["metadata"]["resourceVersion"]))
        return {
            "kind": "EventList",
            "apiVersion": "v1",
            "metadata": {"resourceVersion": str(self._revision)},
            "items": items,
        }

    def watch(
        self,
        namespace: str | None,
        *,
        fields: Selector,
        labels: Selector,
        resource_version: str | None,
    ) -> AsyncIterator[JsonObject]:
        """Changes to the Events that match: after ``resource_version``, or (none, "0") first
        the Events there are, as ADDED. A version older than the history is refused (410) here,
        before the stream begins."""
        if resource_version in (None, "", "0"):
            listed = self.list(namespace, fields=fields, labels=labels)["items"]
            backlog = [{"type": "ADDED", "object": event} for event in listed]
        else:
            since = _revision_of(resource_version)
            full = len(self._history) == HISTORY
            if full and since < self._history[0][0] - 1:
                raise EventError(410, "Expired", f"too old resource version: {since}")
            backlog = [
                change
                for revision, change in self._history
                if revision > since
                and _selected(change["object"], namespace=namespace, fields=fields, labels=labels)
            ]
        watcher = _Watcher(namespace, fields, labels)
        self._watchers.append(watcher)
        return self._stream(watcher, backlog)

    async def _stream(
        self, watcher: "_Watcher", backlog: Sequence[JsonObject]
    ) -> AsyncIterator[JsonObject]:
        try:
            for change in backlog:
                yield change
            while True:
                yield await watcher.queue.get()
        finally:
            self._watchers.remove(watcher)

    def _changed(self, kind: str, event: JsonObject) -> None:
        change = {"type": kind, "object": event}
        self._history.append((self._revision, change))
        for watcher in self._watchers:
            if _selected(
                event, namespace=watcher.namespace, fields=watcher.fields, labels=watcher.labels
            ):
                watcher.queue.put_nowait(change)


def _selected(
    event: Mapping[str, Any], *, namespace: str | None, fields: Selector, labels: Selector
) -> bool:
    if namespace is not None and event["metadata"]["namespace"] != namespace:
        return False
    own_labels = event["metadata"].get("labels") or {}
    return fields.matches(lambda key: _field(event, key)) and labels.matches(
        lambda key: str(own_labels.get(key, ""))
    )


def _revision_of(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise EventError(400, "BadRequest", f"resourceVersion {text!r} is not a number") from None
