"""The Grafana dashboard of the operator, written as code and rendered to the chart's JSON.

Grafana's JSON is long and repetitive; what a reader needs to review is the panels and their
PromQL, which is what this module holds. ``write_dashboard()`` writes
``charts/supervisely-operator/files/grafana-dashboard.json`` (the chart's ConfigMap and
``deploy/monitoring/`` take it from there); a test fails when the committed JSON is stale, and the
e2e tier runs every expression below against a real Prometheus scraping the operator. Regenerate
with ``.venv/bin/python tests/chart_render.py`` (it writes this first).

Expressions use Grafana's variables ``$job``, ``$namespace`` and ``$__rate_interval``;
:data:`VARIABLES` says what the e2e test substitutes for them.
"""

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

REPO = Path(__file__).resolve().parents[1]
DASHBOARD_FILE = REPO / "charts" / "supervisely-operator" / "files" / "grafana-dashboard.json"
UID: Final = "supervisely-operator"
DATASOURCE: Final = {"type": "prometheus", "uid": "${datasource}"}

J = 'job=~"$job"'
"""Every query is about the chosen operator release (its metrics Service is the scrape job)."""
NS = f'{J}, namespace=~"$namespace"'
"""...and per-namespace metrics about the chosen namespaces of resources."""
RATE = "[$__rate_interval]"

VARIABLES: Final = {
    "job": "label_values(supervisely_operator_leader, job)",
    "namespace": f"label_values(supervisely_operator_resources{{{J}}}, namespace)",
}
"""The dashboard's query variables: Grafana's ``label_values(selector, label)``."""


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str


@dataclass(frozen=True)
class Panel:
    title: str
    queries: tuple[Query, ...]
    unit: str = "short"
    kind: str = "timeseries"
    width: int = 12
    description: str = ""
    stacked: bool = False


@dataclass(frozen=True)
class Row:
    title: str
    panels: tuple[Panel, ...] = field(default_factory=tuple)


def _quantile(q: float, metric: str, by: str = "", selector: str = J) -> str:
    keys = ", ".join(["le", *([by] if by else [])])
    return f"histogram_quantile({q}, sum by ({keys}) (rate({metric}_bucket{{{selector}}}{RATE})))"


ROWS: Final = (
    Row(
        "Overview",
        (
            Panel(
                "Acting replicas",
                (Query(f"sum(supervisely_operator_leader{{{J}}})", "acting"),),
                kind="stat",
                width=6,
                description="Replicas that act on resources: 1 is right, 0 is an outage, "
                "2 means two replicas act at once.",
            ),
            Panel(
                "Supervisely answers",
                (
                    Query(
                        f"min by (server) (supervisely_operator_supervisely_up{{{J}}})",
                        "{{server}}",
                    ),
                ),
                kind="stat",
                width=6,
                description="1: the last call got an answer; 0: timeouts, refused connections "
                "or 5xx.",
            ),
            Panel(
                "Tokens accepted",
                (
                    Query(
                        "min by (server) "
                        f"(supervisely_operator_supervisely_credentials_accepted{{{J}}})",
                        "{{server}}",
                    ),
                ),
                kind="stat",
                width=6,
                description="0: Supervisely refuses one of the API tokens in use (401/403).",
            ),
            Panel(
                "Resources",
                (Query(f"sum(supervisely_operator_resources{{{NS}}})", "resources"),),
                kind="stat",
                width=6,
            ),
        ),
    ),
    Row(
        "Resources",
        (
            Panel(
                "Resources by phase",
                (Query(f"sum by (phase) (supervisely_operator_resources{{{NS}}})", "{{phase}}"),),
                stacked=True,
            ),
            Panel(
                "Longest time in phase",
                (
                    Query(
                        f"max by (phase) (supervisely_operator_oldest_phase_age_seconds{{{NS}}})",
                        "{{phase}}",
                    ),
                ),
                unit="s",
                description="How long the longest-waiting resource has been in each phase; "
                "Pending or Stopping for long is what the stuck-resources alert watches.",
            ),
        ),
    ),
    Row(
        "Task life",
        (
            Panel(
                "Start latency (p90)",
                (
                    Query(
                        _quantile(0.9, "supervisely_operator_start_to_task_id_seconds"),
                        "start request → task id",
                    ),
                    Query(
                        _quantile(0.9, "supervisely_operator_task_id_to_running_seconds"),
                        "task id → Running",
                    ),
                    Query(
                        _quantile(0.9, "supervisely_operator_task_id_to_ready_seconds"),
                        "task id → Ready",
                    ),
                ),
                unit="s",
            ),
            Panel(
                "Run time by outcome (p50)",
                (
                    Query(
                        _quantile(0.5, "supervisely_operator_task_run_seconds", by="outcome"),
                        "{{outcome}}",
                    ),
                ),
                unit="s",
            ),
            Panel(
                "Tasks ended per hour",
                (
                    Query(
                        "sum by (outcome) "
                        f"(rate(supervisely_operator_task_run_seconds_count{{{J}}}{RATE})) * 3600",
                        "{{outcome}}",
                    ),
                ),
                stacked=True,
            ),
            Panel(
                "Restarts per hour by reason",
                (
                    Query(
                        "sum by (reason) "
                        f"(rate(supervisely_operator_task_restarts_total{{{J}}}{RATE})) * 3600",
                        "{{reason}}",
                    ),
                ),
                stacked=True,
            ),
        ),
    ),
    Row(
        "Supervisely",
        (
            Panel(
                "Calls by method",
                (
                    Query(
                        "sum by (method) "
                        f"(rate(supervisely_operator_supervisely_calls_total{{{J}}}{RATE}))",
                        "{{method}}",
                    ),
                ),
                unit="reqps",
            ),
            Panel(
                "Errors by method",
                (
                    Query(
                        "sum by (method, outcome) (rate(supervisely_operator_supervisely_calls_"
                        f'total{{{J}, outcome!="ok"}}{RATE}))',
                        "{{method}} {{outcome}}",
                    ),
                ),
                unit="reqps",
            ),
            Panel(
                "Call latency by method (p90)",
                (
                    Query(
                        _quantile(
                            0.9, "supervisely_operator_supervisely_call_duration_seconds", "method"
                        ),
                        "{{method}}",
                    ),
                ),
                unit="s",
            ),
            Panel(
                "Rate-limit waits",
                (
                    Query(
                        _quantile(
                            0.9, "supervisely_operator_supervisely_gate_wait_seconds", "method"
                        ),
                        "p90 {{method}}",
                    ),
                    Query(
                        "sum by (server) "
                        f"(supervisely_operator_supervisely_requests_waiting{{{J}}})",
                        "waiting now {{server}}",
                    ),
                ),
                unit="s",
                description="How long calls wait at the server's gate (the concurrency limit, "
                "the requests-per-second bucket, a Retry-After pause) before they are sent; "
                "tasks.run.app is the starts.",
            ),
        ),
    ),
    Row(
        "Operator",
        (
            Panel(
                "Poll lag (p90)",
                (Query(_quantile(0.9, "supervisely_operator_poll_lag_seconds"), "poll lag"),),
                unit="s",
                description="How much later than planned passes start: queueing behind the "
                "concurrency limit of passes.",
            ),
            Panel(
                "Passes and conflicts",
                (
                    Query(
                        "sum(rate(supervisely_operator_reconcile_duration_seconds_count"
                        f"{{{J}}}{RATE}))",
                        "passes",
                    ),
                    Query(
                        "sum by (kind) "
                        f"(rate(supervisely_operator_reconcile_errors_total{{{J}}}{RATE}))",
                        "{{kind}}",
                    ),
                ),
                unit="ops",
            ),
            Panel(
                "CPU",
                (Query(f"rate(process_cpu_seconds_total{{{J}}}{RATE})", "{{instance}}"),),
                unit="percentunit",
            ),
            Panel(
                "Memory",
                (Query(f"process_resident_memory_bytes{{{J}}}", "{{instance}}"),),
                unit="bytes",
            ),
        ),
    ),
)


def expressions() -> list[str]:
    """Every PromQL expression of the panels, in order."""
    return [query.expr for row in ROWS for panel in row.panels for query in panel.queries]


def _panel(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    height = 4 if panel.kind == "stat" else 8
    targets = [
        {"datasource": DATASOURCE, "expr": query.expr, "legendFormat": query.legend, "refId": ref}
        for query, ref in zip(panel.queries, "ABCDEFGH", strict=False)
    ]
    custom: dict[str, Any] = {}
    if panel.kind == "timeseries":
        custom = {"fillOpacity": 30 if panel.stacked else 0, "showPoints": "never"}
        if panel.stacked:
            custom["stacking"] = {"group": "A", "mode": "normal"}
    return {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": height, "w": panel.width, "x": x, "y": y},
        "targets": targets,
        "fieldConfig": {"defaults": {"unit": panel.unit, "custom": custom}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}}
        if panel.kind == "timeseries"
        else {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}},
    }


def _variable(name: str, query: str, *, all_values: bool) -> dict[str, Any]:
    return {
        "name": name,
        "label": name,
        "type": "query",
        "datasource": DATASOURCE,
        "definition": query,
        "query": {"query": query, "refId": name},
        "refresh": 2,
        "sort": 1,
        "multi": all_values,
        "includeAll": all_values,
        **({"allValue": ".*"} if all_values else {}),
        "current": {},
        "hide": 0,
    }


def render_dashboard() -> dict[str, Any]:
    """The dashboard as Grafana imports it."""
    panels: list[dict[str, Any]] = []
    next_id, y = 1, 0
    for row in ROWS:
        panels.append(
            {
                "id": next_id,
                "type": "row",
                "title": row.title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
                "panels": [],
            }
        )
        next_id, y, x, row_height = next_id + 1, y + 1, 0, 0
        for panel in row.panels:
            if x + panel.width > 24:
                x, y, row_height = 0, y + row_height, 0
            made = _panel(panel, next_id, x, y)
            panels.append(made)
            next_id, x = next_id + 1, x + panel.width
            row_height = max(row_height, made["gridPos"]["h"])
        y += row_height
    datasource = {
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "refresh": 1,
        "regex": "",
    }
    return {
        "uid": UID,
        "title": "supervisely-operator",
        "description": "SuperviselyTask resources, their tasks' life, Supervisely's answers and "
        "the operator process (docs/operations.md#monitoring).",
        "tags": ["supervisely", "kubernetes-operator"],
        "editable": True,
        "graphTooltip": 1,
        "refresh": "30s",
        "schemaVersion": 39,
        "time": {"from": "now-6h", "to": "now"},
        "timezone": "browser",
        "annotations": {"list": []},
        "templating": {
            "list": [
                datasource,
                _variable("job", VARIABLES["job"], all_values=False),
                _variable("namespace", VARIABLES["namespace"], all_values=True),
            ]
        },
        "panels": panels,
    }


def dashboard_text() -> str:
    return json.dumps(render_dashboard(), indent=2, ensure_ascii=False) + "\n"


def write_dashboard() -> Path:
    DASHBOARD_FILE.parent.mkdir(parents=True, exist_ok=True)
    DASHBOARD_FILE.write_text(dashboard_text())
    return DASHBOARD_FILE


if __name__ == "__main__":
    sys.stdout.write(f"wrote {write_dashboard().relative_to(REPO)}\n")
