"""One reconcile pass: observe, decide, write the status, act, write the outcome.

The order is what makes the operator crash-safe: the plan's status (with the start marker) is
written *before* its action runs, and every write is conflict-checked against the
resourceVersion the decision was based on. A crash after any line leaves a status from which
the next pass reaches the same decision, or adopts what the action already did.
"""

import copy
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from supervisely_operator.api import LastError, SuperviselyTaskSpec, SuperviselyTaskStatus
from supervisely_operator.controller import actions
from supervisely_operator.controller.credentials import ClientPool, CredentialsUnavailable
from supervisely_operator.controller.kube import KubeApi, StaleObject
from supervisely_operator.controller.merge_patch import merge_patch
from supervisely_operator.controller.metrics import OperatorMetrics
from supervisely_operator.controller.observe import TaskObserver
from supervisely_operator.reconcile.decide import plan_next_step
from supervisely_operator.reconcile.outcomes import apply_call_failure, apply_start_outcome
from supervisely_operator.reconcile.situation import (
    DeleteResource,
    Event,
    Observation,
    Plan,
    RemoteUnavailable,
    ResourceRef,
    Situation,
    StartTask,
    StopTask,
    Tuning,
)
from supervisely_operator.supervisely import SuperviselyClient

Logger = logging.Logger | logging.LoggerAdapter[Any]
LAST_ERROR_LIMIT = 32768
STATUS_WRITE_ATTEMPTS = 3


class EventPoster(Protocol):
    """Posts a Kubernetes Event about an object (kopf's ``kopf.event`` in production)."""

    def __call__(self, obj: Mapping[str, Any], event: Event) -> None: ...


def utc_now() -> datetime:
    """The current time, to the millisecond (the precision status timestamps keep)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


@dataclass(frozen=True)
class Snapshot:
    """The object a pass decides on, and the resourceVersion its writes are checked against."""

    obj: Mapping[str, Any]

    @property
    def metadata(self) -> Mapping[str, Any]:
        metadata: Mapping[str, Any] = self.obj["metadata"]
        return metadata

    @property
    def resource(self) -> ResourceRef:
        return ResourceRef(
            namespace=self.metadata["namespace"],
            name=self.metadata["name"],
            uid=self.metadata["uid"],
        )

    @property
    def status(self) -> SuperviselyTaskStatus:
        return SuperviselyTaskStatus.model_validate(self.obj.get("status") or {})


class Reconciler:
    """Runs passes for any resource; holds the shared clients, no per-resource state."""

    def __init__(
        self,
        *,
        kube: KubeApi,
        clients: ClientPool,
        observer: TaskObserver,
        tuning: Tuning,
        finalizer: str,
        log_tail_lines: int,
        post_event: EventPoster,
        metrics: OperatorMetrics,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self._kube = kube
        self._clients = clients
        self._observer = observer
        self._tuning = tuning
        self._finalizer = finalizer
        self._log_tail_lines = log_tail_lines
        self._post_event = post_event
        self._metrics = metrics
        self._now = now

    async def run_pass(self, obj: Mapping[str, Any], *, deleting: bool, logger: Logger) -> Plan:
        """One pass over one object; raises ``StaleObject`` when it changed meanwhile."""
        # kopf's daemon body is live (updated in place as events arrive); decide on a copy so
        # the resourceVersion written against is the one the decision was made from.
        obj = copy.deepcopy(dict(obj))
        snapshot = Snapshot(obj)
        spec = SuperviselyTaskSpec.model_validate(obj["spec"])
        status = snapshot.status
        client: SuperviselyClient | None = None
        observation: Observation
        try:
            client = await self._clients.client_for(
                namespace=snapshot.resource.namespace, secret_ref=spec.credentials_secret_ref
            )
        except CredentialsUnavailable as error:
            observation = RemoteUnavailable(reason=error.reason, message=error.message)
        else:
            observation = await self._observer.observe(client, spec=spec, status=status)

        plan = plan_next_step(
            Situation(
                resource=snapshot.resource,
                generation=snapshot.metadata.get("generation", 0),
                spec=spec,
                status=status,
                observation=observation,
                now=self._now(),
                deleting=deleting,
                protected=self._finalizer in snapshot.metadata.get("finalizers", ()),
                tuning=self._tuning,
            )
        )
        planned = plan.status
        if plan.attach_log_tail_of is not None and client is not None:
            planned = await self._with_log_tail(client, planned, plan.attach_log_tail_of)
        snapshot = await self._write(snapshot, status, planned, plan.events, logger=logger)
        if plan.action is not None:
            assert client is not None, "the decision acts only after observing Supervisely"
            await self._act(plan.action, client, spec, snapshot, logger=logger)
        return plan

    async def _act(
        self,
        action: StartTask | StopTask | DeleteResource,
        client: SuperviselyClient,
        spec: SuperviselyTaskSpec,
        snapshot: Snapshot,
        *,
        logger: Logger,
    ) -> None:
        status = snapshot.status
        generation = snapshot.metadata.get("generation", 0)
        if isinstance(action, StartTask):
            outcome = await actions.start_task(
                client, spec=spec, resource=snapshot.resource, marker=action.marker, logger=logger
            )
            result = apply_start_outcome(status, outcome, generation=generation, now=self._now())
            await self._write(
                snapshot, status, result.status, result.events, logger=logger, records_facts=True
            )
        elif isinstance(action, StopTask):
            failed = await actions.stop_task(client, action.task_id)
            if failed is not None:
                result = apply_call_failure(
                    status, failed.error, generation=generation, now=self._now()
                )
                await self._write(
                    snapshot,
                    status,
                    result.status,
                    result.events,
                    logger=logger,
                    records_facts=True,
                )
        else:
            resource = snapshot.resource
            logger.info("Deleting the resource: ttlSecondsAfterFinished has passed")
            await self._kube.delete(
                namespace=resource.namespace, name=resource.name, uid=resource.uid
            )

    async def _with_log_tail(
        self, client: SuperviselyClient, status: SuperviselyTaskStatus, task_id: int
    ) -> SuperviselyTaskStatus:
        error = status.last_error
        if error is None or self._log_tail_lines <= 0:
            return status
        tail = await actions.log_tail(client, task_id, lines=self._log_tail_lines)
        if not tail:
            return status
        message = f"{error.message}\nLast log lines:\n{tail}"[-LAST_ERROR_LIMIT:]
        updated = LastError.model_validate({**error.to_wire(), "message": message})
        return status.model_copy(update={"last_error": updated})

    async def _write(
        self,
        snapshot: Snapshot,
        old: SuperviselyTaskStatus,
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
        if new != old:
            patch = merge_patch(old.to_wire(), new.to_wire())
            snapshot = await self._patch_status(snapshot, old, patch, records_facts=records_facts)
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
            self._post_event(snapshot.obj, event)
        return snapshot

    async def _patch_status(
        self,
        snapshot: Snapshot,
        old: SuperviselyTaskStatus,
        patch: Mapping[str, Any],
        *,
        records_facts: bool,
    ) -> Snapshot:
        """A conflict-checked status patch, repeated on conflicts that changed nothing of ours.

        kopf writes its own annotations right after adding the finalizer, typically while a start
        is in flight; such a metadata-only change must not throw away the record of the start.
        """
        resource = snapshot.resource
        attempts = 0
        while True:
            attempts += 1
            try:
                written = await self._kube.patch_status(
                    namespace=resource.namespace,
                    name=resource.name,
                    resource_version=snapshot.metadata["resourceVersion"],
                    status=patch,
                )
                return Snapshot(written)
            except StaleObject:
                if attempts == STATUS_WRITE_ATTEMPTS:
                    raise
                fresh = Snapshot(
                    await self._kube.get(namespace=resource.namespace, name=resource.name)
                )
                same_object = fresh.resource.uid == resource.uid and fresh.status == old
                same_spec = fresh.metadata.get("generation") == snapshot.metadata.get("generation")
                if not same_object or not (same_spec or records_facts):
                    raise
                snapshot = fresh
