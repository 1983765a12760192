"""kopf's operator-wide wiring: log in, tune kopf, make the shared clients, close them at exit.

Shared clients live on kopf's memo, made in ``on.startup`` and closed in ``on.cleanup`` (each
object's memo is a shallow copy of it, so every handler finds them), and so does the leadership
gate with, under peering, the election that keeps it. A test may hand in its own config and its
own remote provider through the memo.
"""

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Mapping
from typing import Any, Final, cast

import kopf

from supervisely_operator.api import resource
from supervisely_operator.controller.claim import (
    Calls,
    ClaimStore,
    LeaseStore,
    PeeringObject,
    PeeringStore,
    own_namespace,
    serves_leases,
)
from supervisely_operator.controller.credentials import ClientPool, Credentials
from supervisely_operator.controller.cron import CronReconciler
from supervisely_operator.controller.directory import Directory
from supervisely_operator.controller.election import (
    LEADER_PRIORITY,
    ElectionTiming,
    LeaderElector,
)
from supervisely_operator.controller.kube import KubeApi, load_kube_config
from supervisely_operator.controller.leadership import Leadership
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
WATCH_CLIENT_MARGIN: Final = 30
"""Seconds past the server's own end of a watch request after which kopf ends it whatever
happens: a backstop for a server that ignores ``timeoutSeconds`` while data flows."""
WATCH_CONNECT_TIMEOUT: Final = 30
"""Seconds to open a watch connection, as for any other request to the API server."""

logger = logging.getLogger(__name__)


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
    # A stream can go silent without closing (a proxy or load balancer drops the flow), and
    # until it is given up no edit is seen. The API server ends every watch request after the
    # server timeout (kopf then watches again from the last resourceVersion, a request that
    # replays nothing on a quiet resource), so a healthy stream never goes silent for longer;
    # bookmarks are no bound: a quiet stream here went 120 s without one. The inactivity
    # timeout is a little longer: what passes it is silent, is given up and is logged (see
    # runner.SilentWatchWarning). kopf's 70 s default sat below that 120 s.
    settings.watching.server_timeout = config.watch_server_timeout
    settings.watching.inactivity_timeout = config.watch_inactivity_timeout
    settings.watching.client_timeout = config.watch_server_timeout + WATCH_CLIENT_MARGIN
    settings.watching.connect_timeout = WATCH_CONNECT_TIMEOUT
    # With a namespace list, patterns are exact names: no cluster-wide scanning, so the operator
    # needs no cluster-scoped RBAC (see controller/permissions.py).
    settings.scanning.disabled = bool(config.namespaces)
    settings.posting.reporting_component = "supervisely-operator"
    # kopf cancels a daemon that does not exit within ten loop cycles of a deletion; one asleep
    # exits in a few, one in the middle of a pass gets this long to finish it instead.
    settings.background.instant_exit_timeout = 1.0
    settings.peering.mandatory = config.peering is not None
    # kopf's record lives as long as the claim (controller/election.py): kopf's default of 60 s
    # would keep a new leader's kopf paused for most of a minute after the old one died.
    settings.peering.lifetime = config.peering_lifetime
    if config.peering is not None:
        # A standby's priority: below every holder's (the election raises the holder's), and
        # random, as replicas of equal priority would all freeze on seeing each other.
        settings.peering.priority = secrets.randbelow(LEADER_PRIORITY - 1) + 1


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
    leadership = memo.leadership = Leadership(standalone=config.peering is None)
    # The gauge follows the gate itself: what it reads is what the passes obey.
    metrics.leading(leadership.leading)
    leadership.listen(metrics.leading)
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
        fence=leadership.check,
        directory=directory,
    )
    memo.cron_reconciler = CronReconciler(
        kube=kube,
        directory=directory,
        post_event=post_event,
        metrics=metrics,
        fence=leadership.check,
    )
    memo.passes = asyncio.Semaphore(config.max_concurrent_passes)
    memo.transition_recheck = config.timing().transition_recheck
    memo.election = None
    if config.peering is not None:
        memo.election = start_election(config, settings, leadership, identity=memo.identity)


def start_election(
    config: OperatorSettings,
    settings: kopf.OperatorSettings,
    leadership: Leadership,
    *,
    identity: str,
) -> "Election":
    """The elector, running: it keeps the claim where the cluster allows (see claim.py)."""
    assert config.peering is not None
    # No retries below ours: a request to an unreachable server must fail within its timeout,
    # not four times over, so the elector tries again and says so within the retry period.
    calls = Calls(load_kube_config(retries=0), timeout=config.peering_retry_period)
    name, namespaces = config.peering, config.namespaces
    peerings = (
        [PeeringObject(calls, namespace=None, name=name)]
        if not namespaces
        else [PeeringObject(calls, namespace=namespace, name=name) for namespace in namespaces]
    )

    async def locate() -> ClaimStore:
        if await serves_leases(calls):
            return LeaseStore(calls, namespace=own_namespace(), name=name)
        return PeeringStore(peerings[0])

    elector = LeaderElector(
        locate=locate,
        peerings=peerings,
        leadership=leadership,
        identity=identity,
        timing=ElectionTiming(
            lease_seconds=config.peering_lifetime,
            renew_deadline=config.peering_renew_deadline,
            retry_period=config.peering_retry_period,
        ),
        kopf_settings=settings,
    )
    return Election(elector, calls, asyncio.create_task(elector.run(), name="leader election"))


class Election:
    """The running elector, what it calls through, and its task."""

    def __init__(self, elector: LeaderElector, calls: Calls, task: "asyncio.Task[None]") -> None:
        self.elector = elector
        self.calls = calls
        self.task = task

    async def close(self) -> None:
        """Stop renewing, stop acting, hand the claim over."""
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await self.elector.release()
        self.calls.close()


@kopf.on.cleanup(registry=registry)
async def clean_up(memo: kopf.Memo, **_: Any) -> None:
    """Hand leadership over, stop the pollers, close the connection pools and the metrics
    endpoint."""
    if memo.get("election") is not None:
        await memo.election.close()
    if isinstance(memo.remotes, RemoteHub):
        await memo.remotes.aclose()
    await memo.clients.aclose()
    memo.kube.close()
    memo.metrics.close()
