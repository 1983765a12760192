"""One reconcile pass: observe, decide once, write the status, act.

The order is what makes the operator crash-safe: the plan's status (with the start marker) is
written *before* its action runs, and every write is conflict-checked against the
resourceVersion the decision was based on. What the action did is recorded by the pass right
after it, run at once in the same slot. A crash after any line leaves a status from which the
next pass reaches the same decision, or adopts what the action already did. That is also why a
replica that stops leading may be cut off anywhere in a pass: each write and each action first
asks the fence (:meth:`~supervisely_operator.controller.leadership.Leadership.check`).

A pass asks the decision exactly once: it gathers what the decision needs (one observation from
the resource's remote seam, or the outcome of the last action, or the reason the spec cannot be
acted on) into one value, then carries the plan out. Everything remote goes through the seam
(:class:`~supervisely_operator.remote.TaskRemote`); this module never sees the client.
"""

import dataclasses
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import ValidationError

from supervisely_operator.api import SecretReference, SuperviselyTaskSpec, SuperviselyTaskStatus
from supervisely_operator.api.base import BEYOND_SCHEMA
from supervisely_operator.api.resource import (
    REFRESH_ANNOTATION,
    RESTART_ANNOTATION,
    is_paused,
)
from supervisely_operator.api.status import LAST_ERROR_MESSAGE_LIMIT
from supervisely_operator.controller.kube import KubeApi, StaleObject
from supervisely_operator.controller.merge_patch import merge_patch
from supervisely_operator.controller.metrics import OperatorMetrics
from supervisely_operator.reconcile.decide import plan_next_step
from supervisely_operator.reconcile.situation import (
    ActionTaken,
    BrokenSpec,
    CallFailed,
    DeleteResource,
    Event,
    Given,
    Plan,
    ResourceRef,
    Situation,
    Source,
    StartOutcome,
    StartTask,
    StopTask,
    Timing,
)
from supervisely_operator.remote import TaskRemote

Logger = logging.Logger | logging.LoggerAdapter[Any]
STATUS_WRITE_ATTEMPTS = 3
Outcome = StartOutcome | CallFailed


def describe_invalid_spec(error: ValidationError) -> str:
    """One line naming each broken rule, as a condition message; a rule the CRD could have
    checked means the cluster's CRD is older than the operator, and the message says so."""
    errors = error.errors(include_url=False)
    problems = "; ".join(
        f"{'.'.join(str(part) for part in problem['loc']) or 'spec'}: "
        f"{problem['msg'].removeprefix('Value error, ')}"
        for problem in errors
    )
    stale = any(problem["type"] != BEYOND_SCHEMA for problem in errors)
    why = ", which this cluster's CRD is too old to check (upgrade the CRD)" if stale else ""
    message = (
        f"The spec breaks the operator's rules{why}: {problems}. "
        "Nothing is done until the spec is fixed"
    )
    return message[:LAST_ERROR_MESSAGE_LIMIT]


class SourceDirectory(Protocol):
    """Where a pass finds the tasks paramsFrom names (the watch's index in production)."""

    def sources(
        self, namespace: str, names: Iterable[str]
    ) -> tuple[dict[str, Source | None], dict[str, SecretReference | None]]:
        """The tasks ``names`` reach (their sources too), and the credentials of ``names``."""
        ...


class EventPoster(Protocol):
    """Posts a Kubernetes Event about an object (kopf's ``kopf.event`` in production)."""

    def __call__(self, obj: Mapping[str, Any], event: Event) -> None: ...


def tell(
    events: Iterable[Event],
    about: Mapping[str, Any],
    *,
    post: EventPoster,
    fence: Callable[[], None],
    logger: Logger,
) -> None:
    """Log each Event at its level and post it, each only while this replica may act."""
    for event in events:
        fence()
        level = logging.WARNING if event.type == "Warning" else logging.INFO
        logger.log(level, "%s: %s", event.reason, event.message)
        post(about, event)


def _requests(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """What the object's annotations ask of the operator, as :class:`Snapshot` fields."""
    annotations = metadata.get("annotations") or {}
    return {
        "restart_requested": annotations.get(RESTART_ANNOTATION),
        "refresh_requested": annotations.get(REFRESH_ANNOTATION),
        "paused": is_paused(annotations),
    }


def utc_now() -> datetime:
    """The current time, to the millisecond (the precision status timestamps keep)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


@dataclass(frozen=True)
class Snapshot:
    """The object a pass decides on, read in one step from kopf's live body.

    Read without awaiting anything in between, so spec, status and resourceVersion belong to
    one version of the object; nothing is deep-copied.
    """

    resource: ResourceRef
    api_version: str
    kind: str
    resource_version: str
    generation: int
    finalizers: tuple[str, ...]
    spec: SuperviselyTaskSpec | None
    """None when the stored spec breaks the operator's rules (``broken_spec`` says which)."""
    status: SuperviselyTaskStatus
    restart_requested: str | None = None
    refresh_requested: str | None = None
    paused: bool = False
    broken_spec: str | None = None

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> "Snapshot":
        """The object as a pass reads it; a spec the models refuse is kept as the reason."""
        metadata = obj["metadata"]
        spec, broken = None, None
        try:
            spec = SuperviselyTaskSpec.model_validate(obj["spec"])
        except ValidationError as error:
            broken = describe_invalid_spec(error)
        return cls(
            resource=ResourceRef(
                namespace=metadata["namespace"], name=metadata["name"], uid=metadata["uid"]
            ),
            **_requests(metadata),
            api_version=obj.get("apiVersion", ""),
            kind=obj.get("kind", ""),
            resource_version=metadata["resourceVersion"],
            generation=metadata.get("generation", 0),
            finalizers=tuple(metadata.get("finalizers") or ()),
            spec=spec,
            status=SuperviselyTaskStatus.model_validate(obj.get("status") or {}),
            broken_spec=broken,
        )

    def with_status(self, written: Mapping[str, Any], status: SuperviselyTaskStatus) -> "Snapshot":
        """The snapshot after our own write of ``status`` (the API server's new version)."""
        metadata = written["metadata"]
        return dataclasses.replace(
            self,
            **_requests(metadata),
            resource_version=metadata["resourceVersion"],
            generation=metadata.get("generation", self.generation),
            finalizers=tuple(metadata.get("finalizers") or ()),
            status=status,
        )

    @property
    def reference(self) -> Mapping[str, Any]:
        """Enough of the object for an Event's involvedObject."""
        resource = self.resource
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "metadata": {
                "namespace": resource.namespace,
                "name": resource.name,
                "uid": resource.uid,
            },
        }


@dataclass(frozen=True)
class PassResult:
    """What a pass decided and did, and the object as its own writes left it.

    kopf's body learns of our writes only when the watch delivers them, which under load is
    seconds later. A body still at one of ``superseded`` (the versions this pass wrote over) is
    older than ``snapshot``, and the next pass decides on ``snapshot`` instead.
    """

    plan: Plan
    snapshot: Snapshot
    superseded: frozenset[str] = frozenset()
    taken: Outcome | None = None
    """What the plan's action did, for the pass right after to record (None: nothing to)."""

    def freshest(self, body: Mapping[str, Any]) -> "Mapping[str, Any] | Snapshot":
        """``body``, unless it is a version this pass already wrote over."""
        version = body.get("metadata", {}).get("resourceVersion")
        return self.snapshot if version in self.superseded else body

    def following(self, previous: "PassResult") -> "PassResult":
        """This result, for a pass that decided on ``previous.snapshot``: the body may still lag
        behind every version either pass wrote over, even when this one wrote nothing."""
        superseded = (previous.superseded | self.superseded) - {self.snapshot.resource_version}
        return dataclasses.replace(self, superseded=superseded)


class Reconciler:
    """Runs passes for any resource; holds the shared clients, no per-resource state."""

    def __init__(
        self,
        *,
        kube: KubeApi,
        timing: Timing,
        finalizer: str,
        post_event: EventPoster,
        metrics: OperatorMetrics,
        fence: Callable[[], None],
        directory: SourceDirectory | None = None,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        """``fence`` raises when this replica may not act now; it is asked right before every
        status write, Event, start, stop and deletion."""
        self._kube = kube
        self._directory = directory
        self._timing = timing
        self._finalizer = finalizer
        self._post_event = post_event
        self._metrics = metrics
        self._fence = fence
        self._now = now

    async def run_pass(
        self,
        obj: "Mapping[str, Any] | Snapshot",
        *,
        remote: TaskRemote,
        deleting: bool,
        logger: Logger,
        taken: Outcome | None = None,
    ) -> PassResult:
        """One pass over one object; raises ``StaleObject`` when it changed meanwhile.

        ``taken``: what the last pass's action did; this pass records it and decides nothing
        else (the pass after observes again).
        """
        snapshot = obj if isinstance(obj, Snapshot) else Snapshot.of(obj)
        given = await self._given(snapshot, remote=remote, deleting=deleting, taken=taken)
        plan = plan_next_step(given)
        read_version = snapshot.resource_version
        # A released resource is about to vanish: its last status would be written for nobody.
        status = snapshot.status if plan.release else plan.status
        snapshot = await self._write(
            snapshot,
            status,
            plan.events,
            logger=logger,
            records_facts=isinstance(given, ActionTaken),
        )
        self._metrics.passed(plan.milestones)  # only once the plan's status is written
        done = None
        if plan.action is not None:
            done = await self._act(plan.action, remote, snapshot, logger=logger)
        superseded = frozenset({read_version} - {snapshot.resource_version})
        return PassResult(plan=plan, snapshot=snapshot, superseded=superseded, taken=done)

    async def _given(
        self,
        snapshot: Snapshot,
        *,
        remote: TaskRemote,
        deleting: bool,
        taken: Outcome | None,
    ) -> Given:
        """The one value the decision is asked about in this pass."""
        status, generation = snapshot.status, snapshot.generation
        if taken is not None:
            return ActionTaken(status=status, generation=generation, now=self._now(), outcome=taken)
        if snapshot.spec is None:
            assert snapshot.broken_spec is not None
            self._metrics.reconcile_errors.labels(kind="invalid_spec").inc()
            message = snapshot.broken_spec
            return BrokenSpec(
                status=status, generation=generation, now=self._now(), message=message
            )
        sources: Mapping[str, Source | None] = {}
        credentials: Mapping[str, SecretReference | None] | None = None
        refs = snapshot.spec.params_from
        if refs and self._directory is not None:
            names = [ref.source for ref in refs]
            sources, credentials = self._directory.sources(snapshot.resource.namespace, names)
        observation = await remote.observe(
            spec=snapshot.spec,
            status=status,
            refresh_requested=snapshot.refresh_requested,
            deleting=deleting,
            sources=credentials,
        )
        return Situation(
            resource=snapshot.resource,
            generation=generation,
            spec=snapshot.spec,
            status=status,
            observation=observation,
            restart_requested=snapshot.restart_requested,
            refresh_requested=snapshot.refresh_requested,
            now=self._now(),
            deleting=deleting,
            protected=self._finalizer in snapshot.finalizers,
            timing=self._timing,
            sources=sources,
        )

    def forget(self, resource: ResourceRef) -> None:
        """The resource is gone: it is counted in no phase any more."""
        self._metrics.resources.forget(resource.uid)

    async def _act(
        self,
        action: StartTask | StopTask | DeleteResource,
        remote: TaskRemote,
        snapshot: Snapshot,
        *,
        logger: Logger,
    ) -> Outcome | None:
        """Run the action; what it did, for the next pass to record."""
        self._fence()
        if isinstance(action, StartTask):
            assert snapshot.spec is not None, "a broken spec is never started"
            return await remote.start(snapshot.spec, marker=action.marker, params=action.params)
        if isinstance(action, StopTask):
            return await remote.stop(action.task_id)
        resource = snapshot.resource
        logger.info("Deleting the resource: ttlSecondsAfterFinished has passed")
        await self._kube.delete(namespace=resource.namespace, name=resource.name, uid=resource.uid)
        return None

    async def _write(
        self,
        snapshot: Snapshot,
        new: SuperviselyTaskStatus,
        events: tuple[Event, ...],
        *,
        logger: Logger,
        records_facts: bool = False,
    ) -> Snapshot:
        """Patch the status if anything visible changed; post the Events after the write.

        ``records_facts`` marks a write of what an action did (a task id, a refusal): it must
        land even if the spec changed meanwhile, while a decision must be made again then.
        """
        old = snapshot.status
        if new != old:
            patch = merge_patch(old.to_wire(), new.to_wire())
            snapshot = await self._patch_status(snapshot, new, patch, records_facts=records_facts)
            logger.debug("Status patched: %s", sorted(patch))
        self._metrics.resources.observe(snapshot.resource, new)
        tell(events, snapshot.reference, post=self._post_event, fence=self._fence, logger=logger)
        return snapshot

    async def _patch_status(
        self,
        snapshot: Snapshot,
        new: SuperviselyTaskStatus,
        patch: Mapping[str, Any],
        *,
        records_facts: bool,
    ) -> Snapshot:
        """A conflict-checked status patch, repeated on conflicts that changed nothing of ours.

        kopf writes its own metadata (the finalizer) while a start may be in flight; such a
        metadata-only change must not throw away the record of the start.
        """
        resource = snapshot.resource
        attempts = 0
        while True:
            attempts += 1
            self._fence()
            try:
                written = await self._kube.patch_status(
                    namespace=resource.namespace,
                    name=resource.name,
                    resource_version=snapshot.resource_version,
                    status=patch,
                )
                return snapshot.with_status(written, new)
            except StaleObject:
                if attempts == STATUS_WRITE_ATTEMPTS:
                    raise
                fresh = Snapshot.of(
                    await self._kube.get(namespace=resource.namespace, name=resource.name)
                )
                same_object = fresh.resource.uid == resource.uid and fresh.status == snapshot.status
                same_spec = fresh.generation == snapshot.generation
                if not same_object or not (same_spec or records_facts):
                    raise
                snapshot = dataclasses.replace(
                    snapshot, resource_version=fresh.resource_version, finalizers=fresh.finalizers
                )
