"""One reconcile pass: observe, decide, write the status, act, write the outcome.

The order is what makes the operator crash-safe: the plan's status (with the start marker) is
written *before* its action runs, and every write is conflict-checked against the
resourceVersion the decision was based on. A crash after any line leaves a status from which
the next pass reaches the same decision, or adopts what the action already did.

Everything remote goes through one seam (:class:`~supervisely_operator.remote.TaskRemote`);
this module never sees the Supervisely client.
"""

import dataclasses
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import ValidationError

from supervisely_operator.api import (
    LastError,
    Readiness,
    SecretReference,
    SuperviselyTaskSpec,
    SuperviselyTaskStatus,
)
from supervisely_operator.api.resource import (
    REFRESH_ANNOTATION,
    RESTART_ANNOTATION,
    is_paused,
)
from supervisely_operator.controller.credentials import CredentialsUnavailable
from supervisely_operator.controller.kube import KubeApi, StaleObject
from supervisely_operator.controller.merge_patch import merge_patch
from supervisely_operator.controller.metrics import OperatorMetrics
from supervisely_operator.reconcile.decide import log_tail_wanted, plan_next_step, task_to_adopt
from supervisely_operator.reconcile.outcomes import (
    apply_call_failure,
    apply_invalid_spec,
    apply_start_outcome,
)
from supervisely_operator.reconcile.situation import (
    DeleteResource,
    Event,
    Observation,
    Plan,
    RemoteTask,
    RemoteUnavailable,
    ResourceRef,
    Situation,
    StartTask,
    StopTask,
    Tuning,
)
from supervisely_operator.remote import TaskRemote, Watch

Logger = logging.Logger | logging.LoggerAdapter[Any]
LAST_ERROR_LIMIT = 32768
STATUS_WRITE_ATTEMPTS = 3


class InvalidSpec(Exception):
    """The stored spec breaks the operator's rules; the message says which, for the user."""


def describe_invalid_spec(error: ValidationError) -> str:
    """One line naming each broken rule, as a condition message."""
    problems = "; ".join(
        f"{'.'.join(str(part) for part in problem['loc']) or 'spec'}: "
        f"{problem['msg'].removeprefix('Value error, ')}"
        for problem in error.errors(include_url=False)
    )
    message = (
        f"The spec breaks the operator's rules, which this cluster's CRD is too old to check "
        f"(upgrade the CRD): {problems}. Nothing is done until the spec is fixed"
    )
    return message[:LAST_ERROR_LIMIT]


class EventPoster(Protocol):
    """Posts a Kubernetes Event about an object (kopf's ``kopf.event`` in production)."""

    def __call__(self, obj: Mapping[str, Any], event: Event) -> None: ...


class RemoteProvider(Protocol):
    """Hands each resource the remote seam of its credentials (the hub in production)."""

    async def remote_for(
        self, resource: ResourceRef, *, secret_ref: SecretReference | None, deleting: bool = False
    ) -> TaskRemote: ...

    def forget(self, resource: ResourceRef) -> None: ...


def _requests(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """What the object's annotations ask of the operator, as :class:`Snapshot` fields."""
    annotations = metadata.get("annotations") or {}
    return {
        "restart_requested": annotations.get(RESTART_ANNOTATION),
        "refresh_requested": annotations.get(REFRESH_ANNOTATION),
        "paused": is_paused(annotations),
    }


def _moment(value: str) -> datetime | None:
    """An annotation's value as a moment, if it is an RFC 3339 time (as Argo CD's action
    writes it); another value still asks for a pass, just not for a fresher list."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


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
    spec: SuperviselyTaskSpec
    status: SuperviselyTaskStatus
    restart_requested: str | None = None
    refresh_requested: str | None = None
    paused: bool = False

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> "Snapshot":
        """Raises ``InvalidSpec`` for a spec the models refuse."""
        metadata = obj["metadata"]
        try:
            spec = SuperviselyTaskSpec.model_validate(obj["spec"])
        except ValidationError as error:
            raise InvalidSpec(describe_invalid_spec(error)) from None
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
    """What a pass decided, and the object as its own writes left it.

    kopf's body learns of our writes only when the watch delivers them, which under load is
    seconds later. A body still at one of ``superseded`` (the versions this pass wrote over) is
    older than ``snapshot``, and the next pass decides on ``snapshot`` instead.
    """

    plan: Plan
    snapshot: Snapshot
    superseded: frozenset[str] = frozenset()

    def freshest(self, body: Mapping[str, Any]) -> "Mapping[str, Any] | Snapshot":
        """``body``, unless it is a version this pass already wrote over."""
        version = body.get("metadata", {}).get("resourceVersion")
        return self.snapshot if version in self.superseded else body


class Reconciler:
    """Runs passes for any resource; holds the shared clients, no per-resource state."""

    def __init__(
        self,
        *,
        kube: KubeApi,
        remotes: RemoteProvider,
        tuning: Tuning,
        finalizer: str,
        log_tail_lines: int,
        post_event: EventPoster,
        metrics: OperatorMetrics,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self._kube = kube
        self._remotes = remotes
        self._tuning = tuning
        self._finalizer = finalizer
        self._log_tail_lines = log_tail_lines
        self._post_event = post_event
        self._metrics = metrics
        self._now = now

    async def run_pass(
        self,
        obj: "Mapping[str, Any] | Snapshot",
        *,
        deleting: bool,
        logger: Logger,
        wake: Callable[[], None],
    ) -> PassResult:
        """One pass over one object; raises ``StaleObject`` when it changed meanwhile.

        ``wake`` is called when the remote side changes, so the caller may sleep until then.
        """
        if isinstance(obj, Snapshot):
            snapshot = obj
        else:
            try:
                snapshot = Snapshot.of(obj)
            except InvalidSpec as error:
                await self._refuse_spec(obj, str(error), logger=logger)
                raise
        read_version = snapshot.resource_version
        spec, status = snapshot.spec, snapshot.status
        remote: TaskRemote | None = None
        observation: Observation
        strays: tuple[RemoteTask, ...] = ()
        log_tail: tuple[str, ...] | None = None
        owned_elsewhere: str | None = None
        adopting = task_to_adopt(spec, status)
        try:
            remote = await self._remotes.remote_for(
                snapshot.resource, secret_ref=spec.credentials_secret_ref, deleting=deleting
            )
        except CredentialsUnavailable as error:
            observation = RemoteUnavailable(reason=error.reason, message=error.message)
        else:
            observation = await remote.observe(self._watch(snapshot, wake, adopting=adopting))
            strays = remote.strays(snapshot.resource)
            if adopting is not None:
                owner = remote.owner_of(adopting, resource=snapshot.resource)
                owned_elsewhere = None if owner is None else f"{owner.namespace}/{owner.name}"
            ended = log_tail_wanted(spec, status, observation)
            if ended is not None:
                tail = await remote.log_tail(ended, lines=self._log_tail_lines)
                log_tail = tuple(tail.splitlines())

        plan = plan_next_step(
            Situation(
                resource=snapshot.resource,
                generation=snapshot.generation,
                spec=spec,
                status=status,
                observation=observation,
                strays=strays,
                restart_requested=snapshot.restart_requested,
                refresh_requested=snapshot.refresh_requested,
                log_tail=log_tail,
                owned_elsewhere=owned_elsewhere,
                now=self._now(),
                deleting=deleting,
                protected=self._finalizer in snapshot.finalizers,
                tuning=self._tuning,
            )
        )
        # A released resource is about to vanish: its last status would be written for nobody.
        planned = snapshot.status if plan.release else plan.status
        if plan.attach_log_tail_of is not None and remote is not None:
            planned = await self._with_log_tail(remote, planned, plan.attach_log_tail_of)
        snapshot = await self._write(snapshot, planned, plan.events, logger=logger)
        superseded = {read_version, snapshot.resource_version}
        if plan.action is not None:
            assert remote is not None, "the decision acts only after observing Supervisely"
            snapshot = await self._act(plan.action, remote, snapshot, logger=logger)
        superseded.discard(snapshot.resource_version)
        return PassResult(plan=plan, snapshot=snapshot, superseded=frozenset(superseded))

    async def _refuse_spec(self, obj: Mapping[str, Any], message: str, *, logger: Logger) -> None:
        """Say in the status and an Event why nothing is done for this spec."""
        metadata = obj["metadata"]
        status = SuperviselyTaskStatus.model_validate(obj.get("status") or {})
        outcome = apply_invalid_spec(
            status, message=message, generation=metadata.get("generation", 0), now=self._now()
        )
        if outcome.status != status:
            await self._kube.patch_status(
                namespace=metadata["namespace"],
                name=metadata["name"],
                resource_version=metadata["resourceVersion"],
                status=merge_patch(status.to_wire(), outcome.status.to_wire()),
            )
        for event in outcome.events:
            logger.warning("%s: %s", event.reason, event.message)
            self._post_event(obj, event)

    def forget(self, resource: ResourceRef) -> None:
        """The resource is gone: nothing remote is watched for it any more."""
        self._remotes.forget(resource)
        self._metrics.phases.forget(resource.uid)

    def _watch(
        self, snapshot: Snapshot, wake: Callable[[], None], *, adopting: int | None
    ) -> Watch:
        """What the resource needs to see, and since when (its last recorded action, or a
        refresh it asked for: an observation older than the request does not answer it)."""
        spec, status = snapshot.spec, snapshot.status
        request = status.start_request
        now = self._now()
        acted = request.requested_at if request is not None else status.started_at
        # (an adopted task's startedAt is the server's clock; it may run ahead of ours)
        known = [min(acted, now)] if acted is not None else []
        refresh = snapshot.refresh_requested
        if refresh is not None and refresh != status.refresh_handled:
            asked = _moment(refresh)
            if asked is not None and asked <= now:  # a moment ahead of us would never come
                known.append(asked)
        return Watch(
            resource=snapshot.resource,
            workspace_id=spec.workspace_id,
            # ObserveOnly follows an edited adoptTaskId away from the task it showed so far.
            task_id=adopting or status.task_id,
            marker=request.marker if request is not None else None,
            since=max(known) if known else None,
            wake=wake,
            probe_readiness=spec.readiness is Readiness.APP_READY,
            poll_interval=spec.poll_interval_seconds,
        )

    async def _act(
        self,
        action: StartTask | StopTask | DeleteResource,
        remote: TaskRemote,
        snapshot: Snapshot,
        *,
        logger: Logger,
    ) -> Snapshot:
        """Run the action and record its outcome; the object as the last write left it."""
        status = snapshot.status
        if isinstance(action, StartTask):
            outcome = await remote.start(
                snapshot.spec, resource=snapshot.resource, marker=action.marker
            )
            result = apply_start_outcome(
                status, outcome, generation=snapshot.generation, now=self._now()
            )
            return await self._write(
                snapshot, result.status, result.events, logger=logger, records_facts=True
            )
        if isinstance(action, StopTask):
            failed = await remote.stop(action.task_id, resource=snapshot.resource)
            if failed is not None:
                result = apply_call_failure(
                    status, failed, generation=snapshot.generation, now=self._now()
                )
                return await self._write(
                    snapshot, result.status, result.events, logger=logger, records_facts=True
                )
            return snapshot
        resource = snapshot.resource
        logger.info("Deleting the resource: ttlSecondsAfterFinished has passed")
        await self._kube.delete(namespace=resource.namespace, name=resource.name, uid=resource.uid)
        return snapshot

    async def _with_log_tail(
        self, remote: TaskRemote, status: SuperviselyTaskStatus, task_id: int
    ) -> SuperviselyTaskStatus:
        error = status.last_error
        if error is None or self._log_tail_lines <= 0:
            return status
        tail = await remote.log_tail(task_id, lines=self._log_tail_lines)
        if not tail:
            return status
        message = f"{error.message}\nLast log lines:\n{tail}"[-LAST_ERROR_LIMIT:]
        updated = LastError.model_validate({**error.to_wire(), "message": message})
        return status.model_copy(update={"last_error": updated})

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
            if new.restarts > old.restarts:
                self._metrics.restarts.inc(new.restarts - old.restarts)
        self._metrics.phases.observe(snapshot.resource.uid, new.phase)
        for event in events:
            logger.log(
                logging.WARNING if event.type == "Warning" else logging.INFO,
                "%s: %s",
                event.reason,
                event.message,
            )
            self._post_event(snapshot.reference, event)
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
