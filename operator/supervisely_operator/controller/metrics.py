"""Prometheus metrics: what an on-call engineer asks of the operator, answered per scrape.

Resources by phase are computed at scrape time from what the passes last saw (a collector, not
a gauge kept in step by hand), so a resource that is deleted simply stops being counted.
"""

from collections.abc import Iterator
from typing import Final
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from supervisely_operator.api import TaskPhase

NAMESPACE: Final = "supervisely_operator"
LATENCY_BUCKETS: Final = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class PhaseCollector(Collector):
    """``supervisely_operator_resources{phase}``: how many resources are in each phase."""

    def __init__(self) -> None:
        self._phases: dict[str, str] = {}

    def observe(self, uid: str, phase: TaskPhase | None) -> None:
        """Record the phase a pass left a resource in."""
        self._phases[uid] = phase.value if phase is not None else "Unknown"

    def forget(self, uid: str) -> None:
        """The resource is gone (or no longer ours)."""
        self._phases.pop(uid, None)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            f"{NAMESPACE}_resources", "SuperviselyTask resources by phase", labels=["phase"]
        )
        counts = dict.fromkeys([phase.value for phase in TaskPhase], 0)
        for phase in list(self._phases.values()):
            counts[phase] = counts.get(phase, 0) + 1
        for phase, count in sorted(counts.items()):
            family.add_metric([phase], count)
        yield family


class OperatorMetrics:
    """Every metric the operator exports, on its own registry (no process-global state)."""

    def __init__(self) -> None:
        self._server: WSGIServer | None = None
        self.registry = CollectorRegistry()
        self.phases = PhaseCollector()
        self.registry.register(self.phases)
        self.calls = Counter(
            f"{NAMESPACE}_supervisely_calls",
            "HTTP attempts to Supervisely by RPC method and outcome",
            ["method", "outcome"],
            registry=self.registry,
        )
        self.call_seconds = Histogram(
            f"{NAMESPACE}_supervisely_call_duration_seconds",
            "Duration of HTTP attempts to Supervisely",
            ["method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.restarts = Counter(
            f"{NAMESPACE}_task_restarts",
            "Tasks started again after an earlier one ended in error",
            registry=self.registry,
        )
        self.reconcile_errors = Counter(
            f"{NAMESPACE}_reconcile_errors",
            "Reconcile passes that did not complete, by kind",
            ["kind"],
            registry=self.registry,
        )
        self.reconcile_seconds = Histogram(
            f"{NAMESPACE}_reconcile_duration_seconds",
            "Duration of reconcile passes, Supervisely and Kubernetes calls included",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.poll_lag = Histogram(
            f"{NAMESPACE}_poll_lag_seconds",
            "How much later than planned a pass started (queueing behind the concurrency limit)",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def on_call(self, method: str, outcome: str, seconds: float) -> None:
        """The Supervisely client's per-attempt hook."""
        self.calls.labels(method=method, outcome=outcome).inc()
        self.call_seconds.labels(method=method).observe(seconds)

    def serve(self, port: int) -> None:
        """Expose ``/metrics`` on all interfaces in a background thread."""
        self._server, _ = start_http_server(port, registry=self.registry)

    def close(self) -> None:
        """Stop serving ``/metrics``."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
