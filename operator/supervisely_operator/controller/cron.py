"""kopf wiring for SuperviselyCronTask: a daemon per cron task that sleeps until its next tick.

A pass reads the cron task and its runs (from the watch's index), asks the pure decision
(``reconcile.cron``), makes and deletes runs, then writes the status. The runs are made before
the status says so: a run is named after its tick, so a crash in between finds it made (the
create answers "exists") and the runs themselves tell the next pass which ticks are done.

The daemon wakes for its next tick, for an edit or a trigger of the cron task, and when one of
its runs changes (through the registry of wake-ups); the local API server has no garbage
collector, so a deleted cron task's runs are deleted here too (a real cluster's collector does
the same through their ownerReferences).

Like a task's passes, a cron task's passes run only while this replica leads (:mod:`.leadership`):
each act asks the fence first, and a pass is cut off the moment the replica stands down.
"""

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final

import kopf
from pydantic import ValidationError

from supervisely_operator.api import resource
from supervisely_operator.api.cron import SuperviselyCronTaskSpec, SuperviselyCronTaskStatus
from supervisely_operator.controller.directory import Directory
from supervisely_operator.controller.kube import KubeApi, KubeRefused, ObjectGone, StaleObject
from supervisely_operator.controller.leadership import Leadership, NotLeading
from supervisely_operator.controller.loop import IDLE_RECHECK, NOT_LEADING_RECHECK, daemon_sleep
from supervisely_operator.controller.merge_patch import merge_patch
from supervisely_operator.controller.metrics import OperatorMetrics
from supervisely_operator.controller.reconciler import (
    EventPoster,
    Logger,
    describe_invalid_spec,
    tell,
    utc_now,
)
from supervisely_operator.controller.registry import CRON_RESOURCE, registry
from supervisely_operator.controller.wakeups import Wakeups
from supervisely_operator.reconcile.cron import (
    CronPlan,
    CronSituation,
    plan_cron,
    run_object,
    trigger_key,
)
from supervisely_operator.reconcile.situation import ResourceRef

RETRY_DELAY: Final = 2.0
"""Seconds before a pass is tried again after a conflict or a refused call."""


class CronReconciler:
    """Runs a cron task's passes; holds the shared clients, no per-object state."""

    def __init__(
        self,
        *,
        kube: KubeApi,
        directory: Directory,
        post_event: EventPoster,
        metrics: OperatorMetrics,
        fence: Callable[[], None],
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        """``fence`` raises when this replica may not act now; it is asked right before every
        run made or deleted, status write and Event."""
        self._kube = kube
        self._fence = fence
        self._directory = directory
        self._post_event = post_event
        self._metrics = metrics
        self._now = now

    async def run_pass(self, obj: Mapping[str, Any], *, logger: Logger) -> CronPlan:
        """One pass: decide, make and delete runs, write the status. Raises ``StaleObject``
        when the cron task changed meanwhile (the runs made stand: they are facts)."""
        metadata = obj["metadata"]
        cron = ResourceRef(
            namespace=metadata["namespace"], name=metadata["name"], uid=metadata["uid"]
        )
        spec, broken = None, None
        try:
            spec = SuperviselyCronTaskSpec.model_validate(obj["spec"])
        except ValidationError as error:
            broken = describe_invalid_spec(error)
        status = SuperviselyCronTaskStatus.model_validate(obj.get("status") or {})
        annotations = metadata.get("annotations") or {}
        plan = plan_cron(
            CronSituation(
                cron=cron,
                generation=metadata.get("generation", 0),
                created_at=datetime.fromisoformat(metadata["creationTimestamp"]),
                spec=spec,
                status=status,
                runs=self._directory.runs(cron.uid),
                now=self._now(),
                trigger_requested=annotations.get(resource.TRIGGER_ANNOTATION),
                broken_spec=broken,
            )
        )
        if plan.make is not None:
            assert spec is not None, "a broken spec makes no run"
            self._fence()
            made = await self._kube.create(
                namespace=cron.namespace, body=run_object(cron, spec, plan.make)
            )
            if not made:
                logger.debug("Run %s exists already", plan.make.name)
        for run in plan.delete:
            self._fence()
            await self._kube.delete(namespace=cron.namespace, name=run.name, uid=run.uid)
        if plan.status != status:
            self._fence()
            await self._kube.patch_cron_status(
                namespace=cron.namespace,
                name=cron.name,
                resource_version=metadata["resourceVersion"],
                status=merge_patch(status.to_wire(), plan.status.to_wire()),
            )
        tell(plan.events, obj, post=self._post_event, fence=self._fence, logger=logger)
        self._metrics.cron_events(event.reason for event in plan.events)
        return plan


@kopf.daemon(*CRON_RESOURCE, registry=registry, cancellation_timeout=10, backoff=10)
async def keep_on_schedule(
    body: kopf.Body,
    memo: kopf.Memo,
    stopped: kopf.DaemonStopped,
    logger: Logger,
    **_: Any,
) -> None:
    """Run passes for one cron task until it is deleted, sleeping until its next tick."""
    wakeup = asyncio.Event()
    uid = body.metadata["uid"]
    wakeups: Wakeups = memo.wakeups
    wakeups.register(uid, wakeup)
    reconciler: CronReconciler = memo.cron_reconciler
    leadership: Leadership = memo.leadership
    try:
        while not stopped:
            wakeup.clear()
            if not leadership.leading:
                await daemon_sleep(stopped, leadership.acting, NOT_LEADING_RECHECK)
                continue
            try:
                async with leadership.term():
                    plan = await reconciler.run_pass(body, logger=logger)
            except NotLeading:
                continue
            except (StaleObject, KubeRefused):
                delay = RETRY_DELAY
            except ObjectGone:
                return
            else:
                delay = IDLE_RECHECK if plan.requeue_after is None else plan.requeue_after
            await daemon_sleep(stopped, wakeup, delay)
    finally:
        wakeups.forget(uid)


@kopf.on.event(*CRON_RESOURCE, registry=registry)
async def cron_changed(body: kopf.Body, memo: kopf.Memo, type: str | None, **_: Any) -> None:
    """An edit or a trigger wakes the cron task's daemon; its deletion deletes its runs."""
    metadata = body.metadata
    if type == "DELETED":
        leadership: Leadership = memo.leadership
        if not leadership.leading:
            return  # the leader deletes them (or the cluster's garbage collector does)
        directory: Directory = memo.directory
        kube: KubeApi = memo.kube
        for run in directory.runs(metadata["uid"]):
            with contextlib.suppress(ObjectGone, StaleObject, KubeRefused):
                await kube.delete(namespace=metadata["namespace"], name=run.name, uid=run.uid)
        return
    status = body.get("status") or {}
    trigger = (metadata.get("annotations") or {}).get(resource.TRIGGER_ANNOTATION)
    if status.get("observedGeneration") != metadata.get("generation") or (
        trigger is not None and trigger_key(trigger) != status.get("triggerHandled")
    ):
        memo.wakeups.wake(metadata["uid"])
