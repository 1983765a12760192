"""Prometheus metrics, scraped from the running operator while tasks run."""

import httpx
from prometheus_client.parser import text_string_to_metric_families

from supervisely_devkit.simulator.runner import ThreadedSimulator

from harness import OperatorProcess, Tasks


def scrape(operator: OperatorProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(operator.metrics_url, timeout=5).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_count_resources_calls_and_restarts_while_tasks_run(
    tasks: Tasks, simulator: ThreadedSimulator, operator: OperatorProcess
) -> None:
    tasks.apply("serve", {"moduleId": 103, "workspaceId": 1})
    backoff = {"limit": 1, "initialDelaySeconds": 1, "maxDelaySeconds": 1}
    tasks.apply("fails", {"moduleId": 102, "workspaceId": 1, "backoff": backoff})
    tasks.wait_phase("serve", "Running")
    tasks.wait_phase("fails", "Failed", timeout=30)

    samples = scrape(operator)
    phase = "supervisely_operator_resources"
    namespace = ("namespace", tasks.namespace)
    assert samples[(phase, (namespace, ("phase", "Running")))] == 1
    assert samples[(phase, (namespace, ("phase", "Failed")))] == 1
    assert samples[(phase, (namespace, ("phase", "Succeeded")))] == 0
    starts = samples[
        (
            "supervisely_operator_supervisely_calls_total",
            (("method", "tasks.run.app"), ("outcome", "ok")),
        )
    ]
    assert starts == len(simulator.calls("tasks.run.app")) == 3
    restarts = "supervisely_operator_task_restarts_total"
    assert samples[(restarts, (("reason", "TaskError"),))] == 1
    assert samples[("supervisely_operator_reconcile_duration_seconds_count", ())] > 0
    info_calls = "supervisely_operator_supervisely_call_duration_seconds_count"
    assert samples[(info_calls, (("method", "tasks.info"),))] > 0

    tasks.delete("serve", wait=True)
    after = scrape(operator)
    assert after[(phase, (namespace, ("phase", "Running")))] == 0, "a deleted one is not counted"
