"""kopf wiring: one daemon per SuperviselyTask runs passes; deletion runs them behind a finalizer.

Why a daemon and not a timer: the decision says when it wants to look again (2 s while a task
starts, the poll interval while it runs, the rest of a backoff delay, never for a finished
task), and a daemon can sleep exactly that long. Spec edits and deletions wake it early through
an ``on.event`` handler, so GitOps changes act within a second, not a poll interval later.

kopf's own bookkeeping is kept small: progress and diff-base live in annotations under our own
prefix (status holds only what users read), and only the deletion handler uses them at all.
"""

import asyncio
import secrets
from collections.abc import Mapping
from typing import Any, Final, cast

import kopf

from supervisely_operator.api import resource
from supervisely_operator.controller.credentials import ClientPool, Credentials
from supervisely_operator.controller.kube import KubeApi, ObjectGone, StaleObject, load_kube_config
from supervisely_operator.controller.metrics import OperatorMetrics
from supervisely_operator.controller.observe import PollingObserver
from supervisely_operator.controller.reconciler import Logger, Reconciler
from supervisely_operator.controller.settings import OperatorSettings
from supervisely_operator.reconcile.situation import Event, Plan

FINALIZER: Final = f"{resource.GROUP}/stop-task"
ANNOTATIONS_PREFIX: Final = resource.GROUP
STALE_RETRY_DELAY: Final = 0.5
IDLE_RECHECK: Final = 300.0
"""A daemon with nothing to wait for still re-checks this often, as a safety net."""

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
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=ANNOTATIONS_PREFIX, key="last-handled-configuration"
    )
    # Watch streams can go silent behind load balancers; bound them so they are re-opened.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 30
    # With a namespace list, patterns are exact names: no cluster-wide scanning, so the operator
    # needs no cluster-scoped RBAC (see controller/permissions.py).
    settings.scanning.disabled = bool(config.namespaces)
    settings.posting.reporting_component = "supervisely-operator"
    settings.peering.mandatory = config.peering is not None
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
    memo.metrics = metrics
    memo.kube = kube
    memo.clients = clients
    memo.tuning = config.tuning()
    memo.reconciler = Reconciler(
        kube=kube,
        clients=clients,
        observer=PollingObserver(),
        tuning=memo.tuning,
        finalizer=FINALIZER,
        log_tail_lines=config.log_tail_lines,
        post_event=post_event,
        metrics=metrics,
    )
    memo.passes = asyncio.Semaphore(config.max_concurrent_passes)
    memo.locks = {}
    memo.wakeups = {}


@kopf.on.cleanup(registry=registry)
async def clean_up(memo: kopf.Memo, **_: Any) -> None:
    """Close the connection pools and the metrics endpoint."""
    await memo.clients.aclose()
    memo.kube.close()
    memo.metrics.close()


async def run_pass(
    memo: kopf.Memo, body: kopf.Body, *, deleting: bool, logger: Logger
) -> Plan | None:
    """One pass, serialised per object and bounded overall; None if the object changed."""
    uid = body.metadata.uid
    metrics: OperatorMetrics = memo.metrics
    lock = memo.locks.setdefault(uid, asyncio.Lock())
    async with lock, memo.passes:
        try:
            with metrics.reconcile_seconds.time():
                plan: Plan = await memo.reconciler.run_pass(body, deleting=deleting, logger=logger)
        except StaleObject:
            metrics.reconcile_errors.labels(kind="conflict").inc()
            logger.debug("The object changed during the pass; deciding again")
            return None
        except ObjectGone:
            raise
        except Exception:
            metrics.reconcile_errors.labels(kind="unexpected").inc()
            raise
    return plan


@kopf.daemon(*RESOURCE, registry=registry, cancellation_timeout=60, backoff=10)
async def keep_in_sync(
    body: kopf.Body,
    memo: kopf.Memo,
    stopped: kopf.DaemonStopped,
    logger: Logger,
    uid: str,
    **_: Any,
) -> None:
    """Run passes for one object for as long as it exists and is not being deleted."""
    wakeup = memo.wakeups.setdefault(uid, asyncio.Event())
    metrics: OperatorMetrics = memo.metrics
    loop = asyncio.get_running_loop()
    due = loop.time()
    try:
        while not stopped:
            wakeup.clear()
            metrics.poll_lag.observe(max(0.0, loop.time() - due))
            try:
                plan = await run_pass(memo, body, deleting=False, logger=logger)
            except ObjectGone:
                return
            delay = STALE_RETRY_DELAY if plan is None else plan.requeue_after
            delay = IDLE_RECHECK if delay is None else delay
            due = loop.time() + delay
            await _sleep(stopped, wakeup, delay)
            due = min(due, loop.time())  # woken early by a change: the pass is due now
    finally:
        memo.wakeups.pop(uid, None)
        memo.locks.pop(uid, None)
        metrics.phases.forget(uid)


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
def wake_on_change(body: kopf.Body, memo: kopf.Memo, uid: str, **_: Any) -> None:
    """A spec edit or a deletion wakes the object's daemon; our own status writes do not."""
    observed = (body.get("status") or {}).get("observedGeneration")
    if observed != body.metadata.get("generation") or body.metadata.get("deletionTimestamp"):
        wakeup = memo.wakeups.get(uid)
        if wakeup is not None:
            wakeup.set()


@kopf.on.delete(*RESOURCE, registry=registry, backoff=2)
async def stop_before_deletion(body: kopf.Body, memo: kopf.Memo, logger: Logger, **_: Any) -> None:
    """Keep the finalizer until the task is stopped (or orphaned, as the spec says)."""
    try:
        plan = await run_pass(memo, body, deleting=True, logger=logger)
    except ObjectGone:
        return
    if plan is None or not plan.release:
        delay = memo.tuning.stopping_poll_interval if plan is None else plan.requeue_after
        raise kopf.TemporaryError(
            "Waiting for the Supervisely task to stop before deletion",
            delay=delay or memo.tuning.stopping_poll_interval,
        )
    memo.locks.pop(body.metadata.uid, None)
