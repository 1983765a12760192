"""The Grafana dashboard: current with its source, well-formed for Grafana, every panel on a
declared metric, and shipped by the chart's ConfigMap (off by default) and in deploy/.

Whether each expression returns data is proven in the e2e tier, against a real Prometheus
scraping the operator (tests/e2e/operator/test_monitoring_live.py).
"""

import json
import re

from chart_render import DEPLOY_DIR, load_chart, render_templates
from dashboard import DASHBOARD_FILE, ROWS, VARIABLES, dashboard_text, expressions
from promql import metric_names
from supervisely_operator.controller.metric_list import METRICS

REGENERATE = "regenerate with: .venv/bin/python tests/chart_render.py"


def test_the_charts_dashboard_is_a_fresh_render() -> None:
    assert DASHBOARD_FILE.read_text() == dashboard_text(), REGENERATE


def test_every_panel_reads_declared_metrics_of_the_chosen_release() -> None:
    declared = {metric.name for metric in METRICS}
    for expr in [*expressions(), *VARIABLES.values()]:
        assert set(metric_names(expr)) <= declared, expr
    for expr in expressions():
        assert 'job=~"$job"' in expr, expr
        assert "[5m]" not in expr, "rates use $__rate_interval"


def test_the_dashboard_shows_what_the_issue_asks_for() -> None:
    read = " ".join(expressions())
    for metric in (
        "supervisely_operator_resources",
        "supervisely_operator_start_to_task_id_seconds",
        "supervisely_operator_task_id_to_running_seconds",
        "supervisely_operator_task_id_to_ready_seconds",
        "supervisely_operator_task_run_seconds",
        "supervisely_operator_task_restarts_total",
        "supervisely_operator_supervisely_calls_total",
        "supervisely_operator_supervisely_gate_wait_seconds",
        "supervisely_operator_poll_lag_seconds",
        "supervisely_operator_reconcile_duration_seconds",
        "supervisely_operator_reconcile_errors_total",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
    ):
        assert metric in read, metric


def test_panels_have_unique_ids_and_fit_the_grid() -> None:
    dashboard = json.loads(DASHBOARD_FILE.read_text())
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        for target in panel.get("targets", []):
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
    used = set(re.findall(r"\$(\w+)", json.dumps(dashboard)))
    defined = {variable["name"] for variable in dashboard["templating"]["list"]}
    assert used - {"__rate_interval"} <= defined
    assert sum(len(row.panels) for row in ROWS) == len(ids) - len(ROWS)


def test_the_chart_ships_it_to_grafanas_sidecar_only_when_asked() -> None:
    on = {"metrics": {"grafanaDashboard": {"enabled": True}}}
    with load_chart() as chart:
        assert "grafana-dashboard.yaml" not in render_templates(chart)
        [config_map] = render_templates(chart, on)["grafana-dashboard.yaml"]
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(config_map["data"]["supervisely-operator.json"]) == json.loads(
        DASHBOARD_FILE.read_text()
    )
    assert (DEPLOY_DIR / "monitoring" / "grafana-dashboard.json").read_text() == (
        DASHBOARD_FILE.read_text()
    )
