"""kopf's operator-wide wiring: log in, tune kopf, make the shared clients, close them at exit.

Shared clients live on kopf's memo, made in ``on.startup`` and closed in ``on.cleanup`` (each
object's memo is a shallow copy of it, so every handler finds them). A test may hand in its own
config and its own remote provider through the memo.
"""

import asyncio
import secrets
from collections.abc import Mapping
from typing import Any, Final, cast

import kopf

from supervisely_operator.api import resource
from supervisely_operator.controller.credentials import ClientPool, Credentials
from supervisely_operator.controller.cron import CronReconciler
from supervisely_operator.controller.directory import Directory
from supervisely_operator.controller.kube import KubeApi, load_kube_config
from supervisely_operator.controller.leadership import follow_leadership
from supervisely_operator.controller.metrics import OperatorMetrics
from supervisely_operator.controller.reconciler import Reconciler, utc_now
from supervisely_operator.controller.registry import registry
from supervisely_operator.controller.settings import OperatorSettings
from supervisely_operator.controller.storage import NoDiffBase
from supervisely_operator.controller.wakeups import Wakeups
from supervisely_operator.reconcile.situation import Event
from supervisely_operator.remote import RemoteHub, RemoteProvider

FINALIZER: Final = f"{resource.GROUP}/stop-task"
ANNOTATIONS_PREFIX: Final = resource.GROUP


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
async def start_up(settings: kopf.OperatorSettings, memo: kopf.Memo, **kwargs: Any) -> None:
    """Read the settings, make the shared clients, tune kopf."""
    # kopf hands every handler its indices by name: every SuperviselyTask filed for ownership,
    # paramsFrom and cron runs (``handlers.directory``).
    directory = Directory(kwargs["directory"])
    config: OperatorSettings = memo.get("config") or OperatorSettings()
    configure_kopf(settings, config)
    metrics = OperatorMetrics(per_resource=config.metrics_per_resource)
    memo.leadership = follow_leadership(metrics)
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
        observer=metrics,
    )
    metrics.watch_gates(clients.waiting)
    remotes: RemoteProvider = memo.get("remotes") or RemoteHub(
        clients,
        timing=config.poll_timing(),
        lookup_ttl=config.lookup_cache_seconds,
        start_deadline=config.request_timeout,
        log_tail_lines=config.log_tail_lines,
        recorded=directory.recorded_tasks(),
        now=utc_now,
    )
    memo.metrics = metrics
    memo.directory = directory
    memo.wakeups = Wakeups()
    memo.kube = kube
    memo.clients = clients
    memo.remotes = remotes
    memo.reconciler = Reconciler(
        kube=kube,
        timing=config.timing(),
        finalizer=FINALIZER,
        post_event=post_event,
        metrics=metrics,
        directory=directory,
    )
    memo.cron_reconciler = CronReconciler(
        kube=kube, directory=directory, post_event=post_event, metrics=metrics
    )
    memo.passes = asyncio.Semaphore(config.max_concurrent_passes)
    memo.transition_recheck = config.timing().transition_recheck


@kopf.on.cleanup(registry=registry)
async def clean_up(memo: kopf.Memo, **_: Any) -> None:
    """Stop the pollers, close the connection pools and the metrics endpoint."""
    if isinstance(memo.remotes, RemoteHub):
        await memo.remotes.aclose()
    await memo.clients.aclose()
    memo.kube.close()
    memo.leadership.stop()
    memo.metrics.close()
