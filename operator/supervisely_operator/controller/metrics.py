"""Prometheus metrics: what an on-call engineer asks of the operator, answered per scrape.

Every metric is declared in :mod:`.metric_list` (the one list the docs' table is generated from);
this module makes them and keeps them current. What can be read off state at scrape time is a
collector rather than a gauge kept in step by hand: the resources by phase (from what the passes
last wrote), the servers' health (from the last calls), the requests held at each gate. So a
resource that is deleted simply stops being counted.
"""

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Final, cast
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from supervisely_operator.api import SuperviselyTaskStatus, TaskPhase
from supervisely_operator.controller import metric_list as declared
from supervisely_operator.reconcile.milestones import (
    Milestone,
    TaskEnded,
    TaskIdRecorded,
    TaskReady,
    TaskReplaced,
    TaskRunning,
)
from supervisely_operator.reconcile.situation import ResourceRef
from supervisely_operator.supervisely import CallOutcome

Clock = Callable[[], float]

STATE_TTL: Final = 600.0
"""Seconds a server's last answer (or a token's last refusal) counts. A server in use is called
at least every idle poll interval, and a refused token retried at least every outage delay (both
well under this), so only a server or token nobody uses any more goes stale and stops showing."""

_ANSWERED = frozenset(
    {
        CallOutcome.OK,
        CallOutcome.UNAUTHORIZED,
        CallOutcome.NOT_FOUND,
        CallOutcome.REJECTED,
        CallOutcome.RATE_LIMITED,
    }
)
"""Outcomes that mean the server itself answered (anything else: no answer, a 5xx, a proxy)."""
_TOKEN_ACCEPTED = frozenset({CallOutcome.OK, CallOutcome.NOT_FOUND, CallOutcome.REJECTED})
"""Outcomes that mean the server read the token and went on to the request."""
APP_PROXY_METHODS: Final = frozenset({"tasks.request.direct"})
"""Calls Supervisely passes on to an app (the readiness probe): a 502 there is an app still
starting behind the platform's proxy, and tells nothing of whether Supervisely answers."""


def _gauge(metric: declared.Metric) -> GaugeMetricFamily:
    return GaugeMetricFamily(metric.name, metric.meaning, labels=metric.label_names)


@dataclass
class _Seen:
    """What the last pass wrote of one resource, and since when it is in that phase."""

    namespace: str
    name: str
    phase: str
    since: float
    restarts: int


class ResourceCollector(Collector):
    """The resources by namespace and phase, the oldest in each phase, and (when turned on) one
    series per resource."""

    def __init__(self, *, per_resource: bool, clock: Clock = time.monotonic) -> None:
        self._per_resource = per_resource
        self._clock = clock
        self._seen: dict[str, _Seen] = {}

    def observe(self, resource: ResourceRef, status: SuperviselyTaskStatus) -> None:
        """Record the status a pass left a resource with."""
        phase = status.phase.value if status.phase is not None else declared.UNKNOWN_PHASE
        seen = self._seen.get(resource.uid)
        if seen is None or seen.phase != phase:
            seen = _Seen(resource.namespace, resource.name, phase, self._clock(), 0)
            self._seen[resource.uid] = seen
        seen.restarts = status.restarts

    def forget(self, uid: str) -> None:
        """The resource is gone (or no longer ours)."""
        self._seen.pop(uid, None)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        seen = list(self._seen.values())
        now = self._clock()
        phases = [*(phase.value for phase in TaskPhase), declared.UNKNOWN_PHASE]
        counts: dict[tuple[str, str], int] = {}
        oldest: dict[tuple[str, str], float] = {}
        for namespace in {resource.namespace for resource in seen}:
            for phase in phases:
                counts[(namespace, phase)] = 0
                oldest[(namespace, phase)] = 0.0
        for resource in seen:
            key = (resource.namespace, resource.phase)
            counts[key] += 1
            oldest[key] = max(oldest[key], now - resource.since)
        resources, age = _gauge(declared.RESOURCES), _gauge(declared.OLDEST_IN_PHASE)
        for key in sorted(counts):
            resources.add_metric(list(key), counts[key])
            age.add_metric(list(key), oldest[key])
        yield resources
        yield age
        if self._per_resource:
            phase_of, restarts = _gauge(declared.RESOURCE_PHASE), _gauge(declared.RESOURCE_RESTARTS)
            for resource in sorted(seen, key=lambda r: (r.namespace, r.name)):
                phase_of.add_metric([resource.namespace, resource.name, resource.phase], 1)
                restarts.add_metric([resource.namespace, resource.name], resource.restarts)
            yield phase_of
            yield restarts


class ServerCollector(Collector):
    """Whether each Supervisely server answers and accepts the operator's tokens, and how many
    requests its gate holds, from the clients' last calls."""

    def __init__(self, *, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._answered: dict[str, tuple[bool, float]] = {}
        self._refused: dict[tuple[str, str], float] = {}
        self._accepted: dict[str, float] = {}
        self.waiting: Callable[[], Mapping[str, int]] = dict

    def on_call(self, *, server: str, credentials: str, method: str, outcome: str) -> None:
        now = self._clock()
        if method not in APP_PROXY_METHODS or outcome in _ANSWERED:
            self._answered[server] = (outcome in _ANSWERED, now)
        if outcome == CallOutcome.UNAUTHORIZED:
            self._refused[(server, credentials)] = now
        elif outcome in _TOKEN_ACCEPTED:
            self._refused.pop((server, credentials), None)
            self._accepted[server] = now

    def credentials_gone(self, *, server: str, credentials: str) -> None:
        self._refused.pop((server, credentials), None)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        fresh = self._clock() - STATE_TTL
        up = _gauge(declared.SERVER_UP)
        for server, (answered, when) in sorted(self._answered.items()):
            if when >= fresh:
                up.add_metric([server], 1 if answered else 0)
        refusing = {server for (server, _), when in self._refused.items() if when >= fresh}
        known = refusing | {server for server, when in self._accepted.items() if when >= fresh}
        accepted = _gauge(declared.CREDENTIALS_ACCEPTED)
        for server in sorted(known):
            accepted.add_metric([server], 0 if server in refusing else 1)
        waiting = _gauge(declared.WAITING)
        for server, held in sorted(self.waiting().items()):
            waiting.add_metric([server], held)
        yield up
        yield accepted
        yield waiting


def _counter(metric: declared.Metric, registry: CollectorRegistry) -> Counter:
    counter = Counter(metric.base_name, metric.meaning, metric.label_names, registry=registry)
    _initialise(counter, metric)
    return counter


def _histogram(metric: declared.Metric, registry: CollectorRegistry) -> Histogram:
    histogram = Histogram(
        metric.name, metric.meaning, metric.label_names, buckets=metric.buckets, registry=registry
    )
    _initialise(histogram, metric)
    return histogram


def _initialise(made: Counter | Histogram, metric: declared.Metric) -> None:
    """Export every value of a closed label set at 0 from the start (one label at most)."""
    if len(metric.labels) == 1 and metric.labels[0].values:
        for value in metric.labels[0].values:
            made.labels(value)


class OperatorMetrics:
    """Every metric the operator exports, on its own registry (no process-global state)."""

    def __init__(self, *, per_resource: bool = False, clock: Clock = time.monotonic) -> None:
        # prometheus-client's `*_created` series (one per counter and histogram child) tell a
        # Prometheus nothing it uses and double the series; the switch is the library's own.
        cast(Callable[[], None], disable_created_metrics)()  # the library's is unannotated
        self._server: WSGIServer | None = None
        self.registry = registry = CollectorRegistry()
        self.resources = ResourceCollector(per_resource=per_resource, clock=clock)
        self.servers = ServerCollector(clock=clock)
        registry.register(self.resources)
        registry.register(self.servers)
        ProcessCollector(registry=registry)
        self.start_to_task_id = _histogram(declared.START_TO_TASK_ID, registry)
        self.task_id_to_running = _histogram(declared.TASK_ID_TO_RUNNING, registry)
        self.task_id_to_ready = _histogram(declared.TASK_ID_TO_READY, registry)
        self.task_run = _histogram(declared.TASK_RUN, registry)
        self.restarts = _counter(declared.RESTARTS, registry)
        self.calls = _counter(declared.CALLS, registry)
        self.call_seconds = _histogram(declared.CALL_SECONDS, registry)
        self.gate_wait = _histogram(declared.GATE_WAIT, registry)
        self.reconcile_errors = _counter(declared.RECONCILE_ERRORS, registry)
        self.reconcile_seconds = _histogram(declared.RECONCILE_SECONDS, registry)
        self.poll_lag = _histogram(declared.POLL_LAG, registry)
        self.cron_runs = _counter(declared.CRON_RUNS, registry)
        self.cron_ticks_skipped = _counter(declared.CRON_TICKS_SKIPPED, registry)
        leader = declared.LEADER
        self.leader = Gauge(leader.name, leader.meaning, registry=registry)

    # The client pool's observer (controller.credentials.ClientObserver).

    def on_call(
        self, *, server: str, credentials: str, method: str, outcome: str, seconds: float
    ) -> None:
        """One HTTP attempt of a client of the pool."""
        self.calls.labels(method=method, outcome=outcome).inc()
        self.call_seconds.labels(method=method).observe(seconds)
        self.servers.on_call(server=server, credentials=credentials, method=method, outcome=outcome)

    def on_wait(self, *, method: str, seconds: float) -> None:
        """One HTTP attempt let go by its server's gate after ``seconds``."""
        self.gate_wait.labels(method=method).observe(seconds)

    def credentials_gone(self, *, server: str, credentials: str) -> None:
        """A rotated token: its refusals no longer count against the server."""
        self.servers.credentials_gone(server=server, credentials=credentials)

    def watch_gates(self, waiting: Callable[[], Mapping[str, int]]) -> None:
        """Where to read the requests each server's gate holds (the pool's ``waiting``)."""
        self.servers.waiting = waiting

    # What the passes tell.

    def passed(self, milestones: Iterable[Milestone]) -> None:
        """Milestones of a task's life, from a plan whose status was written."""
        for milestone in milestones:
            if isinstance(milestone, TaskIdRecorded):
                self.start_to_task_id.observe(milestone.seconds)
            elif isinstance(milestone, TaskRunning):
                self.task_id_to_running.observe(milestone.seconds)
            elif isinstance(milestone, TaskReady):
                self.task_id_to_ready.observe(milestone.seconds)
            elif isinstance(milestone, TaskReplaced):
                self.restarts.labels(reason=milestone.reason).inc()
            elif isinstance(milestone, TaskEnded):
                self.task_run.labels(outcome=milestone.outcome.value).observe(milestone.seconds)

    def cron_events(self, reasons: Iterable[str]) -> None:
        """What a cron task's pass did: the runs it made and the ticks that made none."""
        for reason in reasons:
            if reason in declared.CRON_RUN_REASONS:
                self.cron_runs.labels(reason=reason).inc()
            elif reason in declared.CRON_SKIP_REASONS:
                self.cron_ticks_skipped.labels(reason=reason).inc()

    def leading(self, active: bool) -> None:
        """Whether this replica acts on resources now."""
        self.leader.set(1 if active else 0)

    def serve(self, port: int) -> None:
        """Expose ``/metrics`` on all interfaces in a background thread."""
        self._server, _ = start_http_server(port, registry=self.registry)

    def close(self) -> None:
        """Stop serving ``/metrics``."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
