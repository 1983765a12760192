"""Every expression of the Grafana dashboard and of the alert rules returns data from a real
Prometheus (Debian's ``prometheus`` server) that scrapes the operator while the simulator runs
tasks through a life: served and ready, finished, failed, stopped on deletion, and one call
refused with a 503.

A panel or a rule whose metric, label or arithmetic is wrong shows nothing in production and
passes ``promtool check rules``; here it fails. An alert's expression returns nothing while all
is well, so what is asked of it is its parts (``tests/promql.py``): each side of an ``and``,
left of its threshold, inside ``absent``. The rules are also loaded by the server and must
evaluate without an error.
"""

import math
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from chart_render import DEPLOY_DIR, RULES_FILE
from dashboard import VARIABLES, expressions
from promql import label_values, probes
from supervisely_devkit.demo.process import METRICS_PORT_VARIABLE, free_port

from harness import Operator, SimulatorView, Tasks, wait_until

JOB = "supervisely-operator-metrics"
"""The scrape job's name: the chart's metrics Service's, which the rules select."""
GRAFANA = {"$__rate_interval": "1m", "$job": JOB, "$namespace": ".*"}
"""What Grafana puts in place of the dashboard's variables."""
READY_TIMEOUT = 30.0
DATA_TIMEOUT = 40.0


@pytest.fixture
def metrics_port() -> int:
    return free_port()


@pytest.fixture
def operator_env(operator_env: dict[str, str], metrics_port: int) -> dict[str, str]:
    """The operator serves its metrics where Prometheus, started first, already scrapes."""
    return {**operator_env, METRICS_PORT_VARIABLE: str(metrics_port)}


@pytest.fixture
def prometheus(metrics_port: int, tmp_path: Path) -> Iterator[str]:
    """Debian's Prometheus scraping the operator's port every second, with the alert rules
    loaded. Started before the operator: Prometheus applies new targets only every 5 s, and
    that wait then overlaps the operator's start."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail(
            "prometheus is not installed: run .ci/system-packages (Debian's prometheus package)",
            pytrace=False,
        )
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(DEPLOY_DIR / RULES_FILE)],
        "scrape_configs": [
            {
                "job_name": JOB,
                "honor_labels": True,  # as the chart's ServiceMonitor
                "static_configs": [{"targets": [f"127.0.0.1:{metrics_port}"]}],
            }
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    url = f"http://127.0.0.1:{free_port()}"
    log = (tmp_path / "prometheus.out").open("wb")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address={url.removeprefix('http://')}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(lambda: _ready(url, process), what="Prometheus ready", timeout=READY_TIMEOUT)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


@pytest.fixture
def scraping(prometheus: str, operator: Operator) -> str:
    """Prometheus, once it has scraped the running operator: rates need the counters' values
    from before the life begins."""
    up = f'up{{job="{JOB}"}} == 1'
    wait_until(lambda: bool(query(prometheus, up)), what="scraped", timeout=READY_TIMEOUT)
    return prometheus


def _ready(url: str, process: "subprocess.Popen[bytes]") -> bool:
    assert process.poll() is None, "prometheus exited at start (see prometheus.out)"
    try:
        return httpx.get(f"{url}/-/ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def query(prometheus: str, expr: str) -> list[dict[str, Any]]:
    reply = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=5).json()
    assert reply["status"] == "success", f"{expr}: {reply}"
    result: list[dict[str, Any]] = reply["data"]["result"]
    return result


def has_data(prometheus: str, expr: str) -> bool:
    """At least one series, with a number (a quantile of nothing is NaN: no data to a panel)."""
    return any(math.isfinite(float(series["value"][1])) for series in query(prometheus, expr))


def grafana(expr: str) -> str:
    for variable, value in GRAFANA.items():
        expr = expr.replace(variable, value)
    return expr


def checks() -> dict[str, str]:
    """Each expression to ask Prometheus, named by where it comes from."""
    named = {f"dashboard: {expr}": grafana(expr) for expr in expressions()}
    rules = yaml.safe_load((DEPLOY_DIR / RULES_FILE).read_text())["groups"][0]["rules"]
    for rule in rules:
        for part in probes(rule["expr"]):
            named[f"{rule['alert']}: {part}"] = part
    return named


def test_every_dashboard_and_alert_expression_returns_data_from_a_real_prometheus(
    prometheus: str, scraping: str, tasks: Tasks, simulator: SimulatorView
) -> None:
    simulator.inject_fault("tasks.list", status=503, times=1)  # an error by method
    # Labels of closed sets (outcomes, restart reasons) are exported from the start, so a
    # failure without a restart is enough to exercise the failure panels and the alert.
    tasks.apply("serve", {"moduleId": 103})
    tasks.apply("finishes", {"moduleId": 101})
    tasks.apply("fails", {"moduleId": 102, "restartPolicy": "Never"})
    tasks.wait("serve", lambda o: _ready_condition(o), what="Ready")
    tasks.wait_phase("finishes", "Succeeded")
    tasks.wait_phase("fails", "Failed")
    tasks.delete("serve", wait=True)  # stopped on request: a run that ends Stopped

    pending = checks()
    deadline = time.monotonic() + DATA_TIMEOUT
    while pending and time.monotonic() < deadline:
        pending = {name: expr for name, expr in pending.items() if not has_data(prometheus, expr)}
        if pending:
            time.sleep(1)
    assert not pending, "these return no data:\n" + "\n".join(sorted(pending))

    # The variables Grafana fills its drop-downs from: their labels have the values expected.
    expected = {"job": JOB, "namespace": tasks.namespace}
    for variable in VARIABLES.values():
        selector, label = label_values(variable)
        found = {series["metric"].get(label) for series in query(prometheus, grafana(selector))}
        assert expected[label] in found, variable

    # The server loaded the rules, and each evaluates without an error.
    groups = httpx.get(f"{prometheus}/api/v1/rules", timeout=5).json()["data"]["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    declared = yaml.safe_load((DEPLOY_DIR / RULES_FILE).read_text())["groups"][0]["rules"]
    assert len(rules) == len(declared)
    assert {(rule["name"], rule["health"], rule.get("lastError", "")) for rule in rules} == {
        (rule["name"], "ok", "") for rule in rules
    }


def _ready_condition(obj: dict[str, Any] | None) -> bool:
    conditions = ((obj or {}).get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
