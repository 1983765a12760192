"""kopf wiring: one daemon per SuperviselyTask runs passes; deletion runs them behind a finalizer.

Why a daemon and not a timer: the decision says when it wants to look again (a backoff, a
deadline, a grace period), and a daemon can sleep exactly that long. Everything else wakes it:
the workspace's shared poller when its task changes, and an ``on.event`` handler on spec edits
and deletions. A resource whose task runs quietly costs nothing between changes.

kopf's own bookkeeping is kept small: no diff-base annotation (no handler reads diffs), progress
under our own prefix (status holds only what users read), and the deletion handler waits for
the task to stop inside one invocation, so kopf writes nothing per retry.
"""

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Mapping
from typing import Any, Final, cast

import kopf

from supervisely_operator.api import resource
from supervisely_operator.api.reasons import Reason
from supervisely_operator.api.resource import (
    PAUSED_ANNOTATION,
    REFRESH_ANNOTATION,
    RESTART_ANNOTATION,
    is_paused,
)
from supervisely_operator.controller.credentials import ClientPool, Credentials
from supervisely_operator.controller.kube import (
    KubeApi,
    KubeRefused,
    ObjectGone,
    StaleObject,
    load_kube_config,
)
from supervisely_operator.controller.metrics import OperatorMetrics
from supervisely_operator.controller.reconciler import (
    InvalidSpec,
    Logger,
    PassResult,
    Reconciler,
    RemoteProvider,
    Snapshot,
    utc_now,
)
from supervisely_operator.controller.settings import OperatorSettings
from supervisely_operator.controller.storage import NoDiffBase
from supervisely_operator.reconcile.situation import Event, Plan, ResourceRef
from supervisely_operator.remote import RemoteHub

FINALIZER: Final = f"{resource.GROUP}/stop-task"
ANNOTATIONS_PREFIX: Final = resource.GROUP
STALE_RETRY_DELAY: Final = 0.5
KUBE_RETRY_DELAY: Final = 2.0
"""Seconds before a pass is tried again after the Kubernetes API refused or missed a call."""
INVALID_SPEC_RECHECK: Final = 60.0
"""Seconds a deletion waits for an edit of a spec the operator cannot read, then reads again."""
PAUSED_DELETION_RECHECK: Final = 5.0
"""Seconds between reads of a paused resource whose deletion waits for it to be unpaused."""
IDLE_RECHECK: Final = 3600.0
"""A resource whose decision waits for nothing (a finished task) is still re-checked this often."""

RESOURCE = (resource.GROUP, resource.VERSION, resource.PLURAL)

registry = kopf.OperatorRegistry()
"""The operator's own registry, so importing this module never touches kopf's global one."""


def post_event(obj: Mapping[str, Any], event: Event) -> None:
    """Post a Kubernetes Event through kopf's queue (it never blocks the pass)."""
    body = kopf.Body(cast(kopf.RawBody, dict(obj)))
    kopf.event(body, type=event.type.value, reason=event.reason, message=event.message)


def configure_kopf(settings: kopf.OperatorSettings, config: OperatorSettings) -> None:
    """kopf settings that matter for this operator, each for a reason."""
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
        prefix=ANNOTATIONS_PREFIX
    )
    settings.persistence.diffbase_storage = NoDiffBase()
    # Watch streams can go silent behind load balancers; bound them so they are re-opened.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 30
    # With a namespace list, patterns are exact names: no cluster-wide scanning, so the operator
    # needs no cluster-scoped RBAC (see controller/permissions.py).
    settings.scanning.disabled = bool(config.namespaces)
    settings.posting.reporting_component = "supervisely-operator"
    # kopf cancels a daemon that does not exit within ten loop cycles of a deletion; one asleep
    # exits in a few, one in the middle of a pass gets this long to finish it instead.
    settings.background.instant_exit_timeout = 1.0
    settings.peering.mandatory = config.peering is not None
    # kopf's default of 60 s left a dead replica's resources unserved for most of a minute;
    # kopf renews a record 5 to 10 s before it expires (at least every second).
    settings.peering.lifetime = config.peering_lifetime
    if config.peering is not None:
        # kopf's peering is not leader election: replicas of equal priority all freeze on
        # seeing each other. A random priority per replica makes exactly one of them active.
        settings.peering.priority = secrets.randbelow(1_000_000) + 1


@kopf.on.login(registry=registry)
def log_in(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """The same credentials the official client would use: in-cluster, else kubeconfig."""
    return kopf.login_via_client(**kwargs)


@kopf.on.startup(registry=registry)
async def start_up(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Read the settings, make the shared clients, tune kopf."""
    config: OperatorSettings = memo.get("config") or OperatorSettings()
    configure_kopf(settings, config)
    metrics = OperatorMetrics()
    if config.metrics_port:
        metrics.serve(config.metrics_port)
    kube = KubeApi(load_kube_config(), threads=config.kube_threads)
    default = None
    if config.server_address and config.api_token:
        default = Credentials(server_address=config.server_address, api_token=config.api_token)
    clients = ClientPool(
        kube=kube,
        default=default,
        settings=config.client_settings(),
        secret_cache_seconds=config.secret_cache_seconds,
        on_call=metrics.on_call,
    )
    # A test may hand in its own remote seam through the memo, as it hands in the config.
    remotes: RemoteProvider = memo.get("remotes") or RemoteHub(
        clients,
        timing=config.poll_timing(),
        lookup_ttl=config.lookup_cache_seconds,
        start_deadline=config.request_timeout,
        now=utc_now,
    )
    memo.metrics = metrics
    memo.kube = kube
    memo.clients = clients
    memo.remotes = remotes
    memo.reconciler = Reconciler(
        kube=kube,
        remotes=remotes,
        tuning=config.tuning(),
        finalizer=FINALIZER,
        log_tail_lines=config.log_tail_lines,
        post_event=post_event,
        metrics=metrics,
    )
    memo.passes = asyncio.Semaphore(config.max_concurrent_passes)
    memo.transition_recheck = config.tuning().stopping_poll_interval


@kopf.on.cleanup(registry=registry)
async def clean_up(memo: kopf.Memo, **_: Any) -> None:
    """Stop the pollers, close the connection pools and the metrics endpoint."""
    if isinstance(memo.remotes, RemoteHub):
        await memo.remotes.aclose()
    await memo.clients.aclose()
    memo.kube.close()
    memo.metrics.close()


def wakeup_of(memo: kopf.Memo) -> asyncio.Event:
    """The object's wake-up event, on kopf's per-object memo (dropped with the object)."""
    wakeup: asyncio.Event | None = memo.get("wakeup")
    if wakeup is None:
        wakeup = memo["wakeup"] = asyncio.Event()
    return wakeup


def lock_of(memo: kopf.Memo) -> asyncio.Lock:
    """Serialises the object's passes (its daemon and its deletion handler), per object."""
    lock: asyncio.Lock | None = memo.get("lock")
    if lock is None:
        lock = memo["lock"] = asyncio.Lock()
    return lock


async def run_pass(
    memo: kopf.Memo,
    body: Mapping[str, Any] | Snapshot,
    *,
    deleting: bool,
    logger: Logger,
    previous: PassResult | None = None,
) -> PassResult | None:
    """One pass, serialised per object and bounded overall; None if the object changed.

    ``previous`` is the object's last pass: its writes count even before the watch shows them.
    """
    metrics: OperatorMetrics = memo.metrics
    async with lock_of(memo), memo.passes:
        if previous is not None and not isinstance(body, Snapshot):
            body = previous.freshest(body)  # read once the queue lets this pass run
        try:
            with metrics.reconcile_seconds.time():
                result: PassResult = await memo.reconciler.run_pass(
                    body, deleting=deleting, logger=logger, wake=wakeup_of(memo).set
                )
        except StaleObject:
            metrics.reconcile_errors.labels(kind="conflict").inc()
            logger.debug("The object changed during the pass; deciding again")
            return None
        except KubeRefused:
            # Logged once per outage by KubeApi; the caller waits and tries again.
            metrics.reconcile_errors.labels(kind="kube_unavailable").inc()
            raise
        except InvalidSpec:
            # Told in the status and an Event; the caller waits for an edit.
            metrics.reconcile_errors.labels(kind="invalid_spec").inc()
            raise
        except ObjectGone:
            raise
        except Exception:
            metrics.reconcile_errors.labels(kind="unexpected").inc()
            raise
    return result


@kopf.daemon(*RESOURCE, registry=registry, cancellation_timeout=60, backoff=10)
async def keep_in_sync(
    body: kopf.Body,
    memo: kopf.Memo,
    stopped: kopf.DaemonStopped,
    logger: Logger,
    **_: Any,
) -> None:
    """Run passes for one object for as long as it exists and is not being deleted."""
    wakeup = wakeup_of(memo)
    metrics: OperatorMetrics = memo.metrics
    loop = asyncio.get_running_loop()
    due = loop.time()
    previous: PassResult | None = None
    while not stopped:
        wakeup.clear()
        if is_paused(body.metadata.annotations):
            pause(memo, _ref(body), logger)
            previous = None
            await _sleep(stopped, wakeup, IDLE_RECHECK)  # unpausing wakes it
            due = loop.time()
            continue
        unpause(memo, logger)
        metrics.poll_lag.observe(max(0.0, loop.time() - due))
        try:
            result = await run_pass(memo, body, deleting=False, logger=logger, previous=previous)
        except ObjectGone:
            return
        except KubeRefused:
            previous = None  # what our writes left is unknown: decide on kopf's body again
            await _sleep(stopped, wakeup, KUBE_RETRY_DELAY)
            continue
        except InvalidSpec:
            previous = None
            await _sleep(stopped, wakeup, IDLE_RECHECK)  # an edit wakes it
            continue
        previous = result
        delay = next_pass_in(result.plan if result is not None else None)
        due = loop.time() + delay
        await _sleep(stopped, wakeup, delay)
        due = min(due, loop.time())  # woken early by a change: the pass is due now


def pause(memo: kopf.Memo, ref: ResourceRef, logger: Logger) -> None:
    """Leave a paused resource alone: its task is no longer watched and nothing is written;
    the first pass after unpausing starts from the status as it was."""
    if not memo.get("paused"):
        memo["paused"] = True
        memo.reconciler.forget(ref)
        logger.info(
            "%s (%s): the operator leaves this resource alone", Reason.PAUSED, PAUSED_ANNOTATION
        )


def unpause(memo: kopf.Memo, logger: Logger) -> None:
    """The pause annotation is gone (or not "true" any more)."""
    if memo.get("paused"):
        memo["paused"] = False
        logger.info("Unpaused: reconciling again")


def next_pass_in(plan: Plan | None) -> float:
    """Seconds until the next pass. Right after an action, at once: that pass registers what
    the action changed with the poller, which then wakes the resource when the task moves."""
    if plan is None:
        return STALE_RETRY_DELAY
    if plan.action is not None:
        return 0.0
    return IDLE_RECHECK if plan.requeue_after is None else plan.requeue_after


async def _sleep(stopped: kopf.DaemonStopped, wakeup: asyncio.Event, delay: float) -> None:
    """Sleep ``delay`` seconds, or less if the object changes or the daemon is stopped.

    The time limit is ours, not ``stopped.wait(delay)``'s: kopf runs that wait in a helper task
    that ends in TimeoutError, and at exit kopf re-raises the outcome of every task still alive
    when it stopped its own; a daemon asleep then (kopf may respawn one for a late watch event)
    made the whole operator exit with that TimeoutError.
    """
    waiters = {
        asyncio.ensure_future(stopped.wait()),
        asyncio.ensure_future(wakeup.wait()),
    }
    try:
        await asyncio.wait(waiters, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)


@kopf.on.event(*RESOURCE, registry=registry)
async def wake_on_change(body: kopf.Body, memo: kopf.Memo, type: str | None, **_: Any) -> None:
    """A spec edit or a deletion wakes the object's daemon; our own status writes do not.

    Async on purpose: kopf runs a sync handler in a thread for every watch event, and an
    ``asyncio.Event`` must be set from its own loop.
    """
    if type == "DELETED":  # gone, whether or not our finalizer saw it go
        memo.reconciler.forget(_ref(body))
        return
    if wants_a_pass(body, paused=bool(memo.get("paused"))):
        wakeup_of(memo).set()


def wants_a_pass(body: Mapping[str, Any], *, paused: bool) -> bool:
    """A spec edit, a deletion, a restart or refresh request not answered yet, or a change of
    the pause switch; not our own status writes, which would wake every object on each."""
    metadata = body.get("metadata") or {}
    status = body.get("status") or {}
    annotations = metadata.get("annotations") or {}
    if is_paused(annotations) != paused:
        return True
    asked = (
        (annotations.get(RESTART_ANNOTATION), status.get("restartRequestHandled")),
        (annotations.get(REFRESH_ANNOTATION), status.get("refreshHandled")),
    )
    return (
        status.get("observedGeneration") != metadata.get("generation")
        or bool(metadata.get("deletionTimestamp"))
        or any(value is not None and value != handled for value, handled in asked)
    )


@kopf.on.delete(*RESOURCE, registry=registry, backoff=2)
async def stop_before_deletion(body: kopf.Body, memo: kopf.Memo, logger: Logger, **_: Any) -> None:
    """Keep the finalizer until the task is stopped (or orphaned, as the spec says).

    The wait happens inside this one invocation, woken by the poller when the task changes:
    kopf would write its progress annotations on every retry of a handler that raised.
    """
    kube: KubeApi = memo.kube
    wakeup = wakeup_of(memo)
    obj: Mapping[str, Any] | Snapshot = body
    ref = _ref(body)
    while True:
        wakeup.clear()
        if _paused(obj):
            # As Crossplane does: a paused resource keeps its finalizer, and its task, until it
            # is unpaused or the finalizer is removed. kopf hands one object's events over one
            # at a time, so the unpausing edit does not reach us while this handler runs: the
            # object is read again instead.
            pause(memo, ref, logger)
            await asyncio.sleep(PAUSED_DELETION_RECHECK)
        else:
            unpause(memo, logger)
            try:
                result = await run_pass(memo, obj, deleting=True, logger=logger)
            except ObjectGone:
                break
            except KubeRefused:
                await asyncio.sleep(KUBE_RETRY_DELAY)
                continue  # with the same object: a write on a stale one is refused, then read
            except InvalidSpec:
                # The task cannot be stopped on a spec the operator cannot read; the finalizer
                # stays until the spec is fixed (read again after the wait) or removed by hand.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wakeup.wait(), INVALID_SPEC_RECHECK)
                result = None
            if result is not None and result.plan.release:
                break
            delay = next_pass_in(result.plan if result is not None else None)
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wakeup.wait(), min(delay, memo.transition_recheck))
            if result is not None:
                # This handler's body is the deletion event's; the object our own writes left
                # is newer. Anybody else's write since shows as a conflict, and then we read it.
                obj = result.snapshot
                continue
        try:
            obj = await kube.get(namespace=ref.namespace, name=ref.name)
        except ObjectGone:
            break
        except KubeRefused:
            await asyncio.sleep(KUBE_RETRY_DELAY)
            continue
        if obj["metadata"].get("uid") != ref.uid:
            break
    memo.reconciler.forget(ref)


def _paused(obj: Mapping[str, Any] | Snapshot) -> bool:
    if isinstance(obj, Snapshot):
        return obj.paused
    return is_paused(obj["metadata"].get("annotations"))


def _ref(body: kopf.Body) -> ResourceRef:
    metadata = body.metadata
    return ResourceRef(namespace=metadata["namespace"], name=metadata["name"], uid=metadata["uid"])


class QuietHandlerSuccess(logging.Filter):
    """Drops kopf's "Handler 'wake_on_change' succeeded." line, logged on every watch event."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        return "'wake_on_change'" not in message or "succeeded" not in message
