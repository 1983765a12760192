"""Prometheus metrics, scraped from the running operator while tasks run."""

import httpx
from prometheus_client.parser import text_string_to_metric_families

from harness import Operator, SimulatorView, Tasks

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
RESOURCES = "supervisely_operator_resources"
STARTS = (
    "supervisely_operator_supervisely_calls_total",
    (("method", "tasks.run.app"), ("outcome", "ok")),
)
RESTARTS = ("supervisely_operator_task_restarts_total", (("reason", "TaskError"),))
PASSES = ("supervisely_operator_reconcile_duration_seconds_count", ())
INFO_CALLS = (
    "supervisely_operator_supervisely_call_duration_seconds_count",
    (("method", "tasks.info"),),
)


def scrape(operator: Operator) -> Samples:
    text = httpx.get(operator.metrics_url, timeout=5).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_count_resources_calls_and_restarts_while_tasks_run(
    tasks: Tasks, simulator: SimulatorView, operator: Operator
) -> None:
    """Counters grow by what this test caused (the operator may have served others before);
    the gauges count the resources there are now."""
    before = scrape(operator)
    tasks.apply("serve", {"moduleId": 103})
    backoff = {"limit": 1, "initialDelaySeconds": 1, "maxDelaySeconds": 1}
    tasks.apply("fails", {"moduleId": 102, "backoff": backoff})
    tasks.wait_phase("serve", "Running")
    tasks.wait_phase("fails", "Failed", timeout=30)

    samples = scrape(operator)

    def grown(key: tuple[str, tuple[tuple[str, str], ...]]) -> float:
        return samples.get(key, 0) - before.get(key, 0)

    def resources(phase: str, sampled: Samples) -> float:
        """The gauge of this test's namespace (the shared operator serves others too)."""
        return sampled[(RESOURCES, (("namespace", tasks.namespace), ("phase", phase)))]

    assert resources("Running", samples) == 1
    assert resources("Failed", samples) == 1
    assert resources("Succeeded", samples) == 0
    assert grown(STARTS) == len(simulator.calls("tasks.run.app")) == 3
    assert grown(RESTARTS) == 1
    assert grown(PASSES) > 0
    assert grown(INFO_CALLS) > 0

    tasks.delete("serve", wait=True)
    assert resources("Running", scrape(operator)) == 0, "a deleted resource is not counted"
