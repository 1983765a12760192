"""The operator's metrics: exactly the one list, bounded labels, and values that follow the
passes, the clients' calls and the replica's leadership; the docs' table is current.

A fresh :class:`OperatorMetrics` is scraped through prometheus-client's own exposition and
parser, as Prometheus would read it.
"""

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from supervisely_operator.api import SuperviselyTaskStatus
from supervisely_operator.cli import generated_blocks, main
from supervisely_operator.controller import metric_list
from supervisely_operator.controller.leadership import Leadership
from supervisely_operator.controller.metrics import STATE_TTL, OperatorMetrics
from supervisely_operator.reconcile.milestones import (
    RunOutcome,
    TaskEnded,
    TaskIdRecorded,
    TaskReady,
    TaskReplaced,
    TaskRunning,
)
from supervisely_operator.reconcile.situation import ResourceRef

from argocd_lua import REPO

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
GENERATED = {"docs/operations.md"}
REGENERATE = "regenerate with: supervisely-operator reference docs/operations.md"
SERVER = "https://sly.example.com"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def scrape(metrics: OperatorMetrics) -> Samples:
    text = generate_latest(metrics.registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def families(metrics: OperatorMetrics) -> dict[str, tuple[str, str, set[str]]]:
    """name -> (type, help, label names) of every family, as exposed."""
    text = generate_latest(metrics.registry).decode()
    found = {}
    for family in text_string_to_metric_families(text):
        labels = {
            name
            for sample in family.samples
            for name in sample.labels
            if name not in {"le", "quantile"}
        }
        name = f"{family.name}_total" if family.type == "counter" else family.name
        found[name] = (family.type, family.documentation, labels)
    return found


def busy(metrics: OperatorMetrics) -> OperatorMetrics:
    """Metrics with a value in every family: a resource seen, calls made, milestones passed."""
    status = SuperviselyTaskStatus.model_validate({"phase": "Running", "restarts": 2})
    metrics.resources.observe(ResourceRef(namespace="ml", name="train", uid="u1"), status)
    metrics.on_call(server=SERVER, credentials="a", method="tasks.info", outcome="ok", seconds=0.1)
    metrics.on_wait(method="tasks.info", seconds=0.0)
    metrics.watch_gates(lambda: {SERVER: 0})
    metrics.leading(True)
    return metrics


def test_the_registry_exports_exactly_the_declared_metrics_with_their_types_and_labels() -> None:
    exported = families(busy(OperatorMetrics(per_resource=True)))
    own = {name: family for name, family in exported.items() if not name.startswith("process_")}
    declared = {metric.name: metric for metric in metric_list.METRICS}
    assert own.keys() == declared.keys()
    for name, (kind, documentation, labels) in own.items():
        metric = declared[name]
        assert kind == metric.kind, name
        assert documentation == metric.meaning, name
        assert labels == set(metric.label_names), name
    assert "process_cpu_seconds_total" in exported, "the process collector is on the registry"
    assert "process_resident_memory_bytes" in exported


def test_labels_that_name_one_object_are_only_on_metrics_a_setting_turns_on() -> None:
    per_object = {"name", "uid", "task_id", "taskId", "marker"}
    for metric in metric_list.METRICS:
        if not metric.per_resource:
            assert not per_object & set(metric.label_names), metric.name
    exported = families(busy(OperatorMetrics()))
    assert not any(per_object & labels for _, _, labels in exported.values())


def test_closed_label_sets_are_exported_at_zero_before_anything_happened() -> None:
    samples = scrape(OperatorMetrics())
    for kind in metric_list.RECONCILE_ERROR_KINDS:
        assert samples[("supervisely_operator_reconcile_errors_total", (("kind", kind),))] == 0
    for reason in metric_list.RESTART_REASONS:
        assert samples[("supervisely_operator_task_restarts_total", (("reason", reason),))] == 0
    for outcome in RunOutcome:
        key = ("supervisely_operator_task_run_seconds_count", (("outcome", outcome.value),))
        assert samples[key] == 0


def test_resources_are_counted_by_namespace_and_phase_with_the_oldest_in_each(
    clock: Clock,
) -> None:
    metrics = OperatorMetrics(clock=clock)
    pending = SuperviselyTaskStatus.model_validate({"phase": "Pending"})
    running = SuperviselyTaskStatus.model_validate({"phase": "Running"})
    a, b, c = (ResourceRef(namespace="ml", name=n, uid=n) for n in "abc")
    metrics.resources.observe(a, pending)
    clock.now += 30
    metrics.resources.observe(b, pending)
    metrics.resources.observe(c, SuperviselyTaskStatus())
    clock.now += 10
    metrics.resources.observe(a, pending)  # the same phase again: its age goes on
    samples = scrape(metrics)

    def resources(phase: str) -> float:
        return samples[("supervisely_operator_resources", (("namespace", "ml"), ("phase", phase)))]

    def oldest(phase: str) -> float:
        key = (("namespace", "ml"), ("phase", phase))
        return samples[("supervisely_operator_oldest_phase_age_seconds", key)]

    assert (resources("Pending"), resources("Unknown"), resources("Running")) == (2, 1, 0)
    assert (oldest("Pending"), oldest("Running")) == (40, 0)

    metrics.resources.observe(a, running)
    clock.now += 5
    metrics.resources.forget("b")
    samples = scrape(metrics)
    assert (resources("Pending"), resources("Running")) == (0, 1)
    assert oldest("Running") == 5, "a new phase starts its age afresh"


def test_per_resource_series_name_each_resource_only_when_turned_on() -> None:
    status = SuperviselyTaskStatus.model_validate({"phase": "Failed", "restarts": 3})
    ref = ResourceRef(namespace="ml", name="train", uid="u1")
    on, off = OperatorMetrics(per_resource=True), OperatorMetrics()
    for metrics in (on, off):
        metrics.resources.observe(ref, status)
    samples = scrape(on)
    key = (("name", "train"), ("namespace", "ml"))
    assert samples[("supervisely_operator_resource_phase", (*key, ("phase", "Failed")))] == 1
    assert samples[("supervisely_operator_resource_restarts", key)] == 3
    assert not any(name.startswith("supervisely_operator_resource_") for name, _ in scrape(off))


def test_milestones_become_the_start_latencies_run_times_and_restarts() -> None:
    metrics = OperatorMetrics()
    metrics.passed(
        [
            TaskIdRecorded(seconds=0.3),
            TaskRunning(seconds=4.0),
            TaskReady(seconds=20.0),
            TaskEnded(outcome=RunOutcome.FAILED, seconds=120.0),
            TaskReplaced(reason="TaskError"),
        ]
    )
    samples = scrape(metrics)
    prefix = "supervisely_operator"
    assert samples[(f"{prefix}_start_to_task_id_seconds_sum", ())] == 0.3
    assert samples[(f"{prefix}_task_id_to_running_seconds_sum", ())] == 4.0
    assert samples[(f"{prefix}_task_id_to_ready_seconds_sum", ())] == 20.0
    assert samples[(f"{prefix}_task_run_seconds_sum", (("outcome", "Failed"),))] == 120.0
    assert samples[(f"{prefix}_task_run_seconds_count", (("outcome", "Succeeded"),))] == 0
    assert samples[(f"{prefix}_task_restarts_total", (("reason", "TaskError"),))] == 1


def up_and_accepted(metrics: OperatorMetrics) -> tuple[float | None, float | None]:
    samples = scrape(metrics)
    key = (("server", SERVER),)
    return (
        samples.get(("supervisely_operator_supervisely_up", key)),
        samples.get(("supervisely_operator_supervisely_credentials_accepted", key)),
    )


def test_a_server_is_up_while_it_answers_and_its_tokens_accepted_until_one_is_refused(
    clock: Clock,
) -> None:
    metrics = OperatorMetrics(clock=clock)
    assert up_and_accepted(metrics) == (None, None), "nothing known before the first call"

    def call(outcome: str, credentials: str = "a") -> None:
        metrics.on_call(
            server=SERVER, credentials=credentials, method="tasks.list", outcome=outcome, seconds=1
        )

    call("ok")
    assert up_and_accepted(metrics) == (1, 1)
    call("timeout")
    assert up_and_accepted(metrics) == (0, 1), "no answer says nothing of the token"
    call("unauthorized", credentials="b")
    assert up_and_accepted(metrics) == (1, 0), "a refusal is an answer; one token is refused"
    call("ok")
    assert up_and_accepted(metrics) == (1, 0), "another token's success does not cure it"
    call("rejected", credentials="b")
    assert up_and_accepted(metrics) == (1, 1), "the server read the token and went on"
    call("unauthorized", credentials="b")
    metrics.credentials_gone(server=SERVER, credentials="b")
    assert up_and_accepted(metrics) == (1, 1), "a rotated token's refusal counts no more"
    call("server_error")
    clock.now += STATE_TTL + 1
    assert up_and_accepted(metrics) == (None, None), "a server nobody calls any more goes stale"


def test_an_app_still_starting_behind_the_proxy_does_not_make_the_server_down() -> None:
    """The readiness probe goes through Supervisely to the app; its 502 is the app's."""
    metrics = OperatorMetrics()

    def call(method: str, outcome: str) -> None:
        metrics.on_call(server=SERVER, credentials="a", method=method, outcome=outcome, seconds=1)

    call("tasks.list", "ok")
    call("tasks.request.direct", "server_error")
    assert up_and_accepted(metrics)[0] == 1
    call("tasks.request.direct", "timeout")
    assert up_and_accepted(metrics)[0] == 1
    call("tasks.list", "server_error")
    assert up_and_accepted(metrics)[0] == 0
    call("tasks.request.direct", "ok")
    assert up_and_accepted(metrics)[0] == 1, "an answer through the proxy is an answer"


def test_requests_held_at_each_gate_are_read_at_scrape_time() -> None:
    metrics = OperatorMetrics()
    held = {SERVER: 0}
    metrics.watch_gates(lambda: held)
    key = ("supervisely_operator_supervisely_requests_waiting", (("server", SERVER),))
    assert scrape(metrics)[key] == 0
    held[SERVER] = 3
    assert scrape(metrics)[key] == 3


async def test_the_leader_gauge_follows_the_gate_the_passes_obey() -> None:
    """Wired as start-up wires it: a standby reads 0, a renewed claim 1, its lapse 0."""
    metrics = OperatorMetrics()
    leadership = Leadership(standalone=False)
    metrics.leading(leadership.leading)
    leadership.listen(metrics.leading)
    assert scrape(metrics)[("supervisely_operator_leader", ())] == 0
    loop = asyncio.get_running_loop()
    leadership.extend(loop.time() + 0.05, holder="a (Lease ns/x)")
    assert scrape(metrics)[("supervisely_operator_leader", ())] == 1
    await asyncio.sleep(0.1)
    assert scrape(metrics)[("supervisely_operator_leader", ())] == 0, "the claim lapsed"
    leadership.extend(loop.time() + 10, holder="a (Lease ns/x)")
    leadership.end("b holds the claim")
    assert scrape(metrics)[("supervisely_operator_leader", ())] == 0


async def test_a_standalone_replica_always_leads() -> None:
    metrics = OperatorMetrics()
    leadership = Leadership(standalone=True)
    metrics.leading(leadership.leading)
    assert scrape(metrics)[("supervisely_operator_leader", ())] == 1


@pytest.mark.parametrize("path", sorted(GENERATED))
def test_the_metrics_table_in_the_docs_is_current(path: str) -> None:
    from supervisely_operator.api.reference import refresh

    text = (REPO / path).read_text()
    assert "<!-- metrics:begin" in text
    assert refresh(text, generated_blocks()) == text, REGENERATE


def test_the_table_documents_every_metric_and_every_label_value() -> None:
    table = "\n".join(metric_list.metrics_table())
    for metric in metric_list.METRICS:
        assert f"| `{metric.name}` | {metric.kind} |" in table
        for label in metric.labels:
            assert f"`{label.name}`: {label.meaning}" in table.replace("\\|", "|")
            for value in label.values:
                assert f"`{value}`" in table
    assert "process_" in table


def test_reference_refreshes_a_stale_metrics_table(tmp_path: Path) -> None:
    block = generated_blocks()[-1]
    target = tmp_path / "ops.md"
    target.write_text(f"# Ops\n{block.begin}\n| stale |\n{block.end}\n")
    result = CliRunner().invoke(main, ["reference", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_text() == f"# Ops\n{block.text()}\n"
