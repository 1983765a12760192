"""The alert rules pass Prometheus' own checks, fire and resolve as their unit tests say, read
only declared metrics, and link to their section of docs/operations.md.

``promtool`` comes from Debian's ``prometheus`` package, which ``.ci/system-packages`` installs
(the test command runs it): these tests fail, never skip, without it.
"""

import re
import shutil
import subprocess
from typing import Any

import helm_python
import pytest
import yaml

from chart_render import DEPLOY_DIR, REPO, RULES_FILE, load_chart, render_templates
from promql import metric_names, probes
from supervisely_operator.controller.metric_list import METRICS

RULES = DEPLOY_DIR / RULES_FILE
RULE_TESTS = REPO / "tests" / "prometheus" / "alerts.test.yaml"
OPERATIONS = REPO / "docs" / "operations.md"


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail(
            "promtool is not installed: run .ci/system-packages (Debian's prometheus package)",
            pytrace=False,
        )
    return found


def rules() -> list[dict[str, Any]]:
    [group] = yaml.safe_load(RULES.read_text())["groups"]
    found: list[dict[str, Any]] = group["rules"]
    return found


def test_promtool_checks_the_rules() -> None:
    done = subprocess.run(
        [promtool(), "check", "rules", str(RULES)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(rules())} rules found" in done.stdout


def test_promtool_unit_tests_fire_and_resolve_each_alert() -> None:
    done = subprocess.run(
        [promtool(), "test", "rules", RULE_TESTS.name],
        cwd=RULE_TESTS.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_each_alert_has_a_unit_test_where_it_fires_and_a_later_one_where_it_is_gone() -> None:
    """promtool passes a file that tests nothing; this holds every rule to a firing case."""
    fires: dict[str, list[str]] = {}
    resolves: dict[str, list[str]] = {}
    for case in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        times: dict[str, list[tuple[int, bool]]] = {}
        for check in case["alert_rule_test"]:
            minutes = int(check["eval_time"].removesuffix("m"))
            times.setdefault(check["alertname"], []).append((minutes, bool(check["exp_alerts"])))
        for alert, seen in times.items():
            first_firing = min((t for t, firing in seen if firing), default=None)
            if first_firing is not None:
                fires.setdefault(alert, []).append(case["name"])
                if any(t > first_firing and not firing for t, firing in seen):
                    resolves.setdefault(alert, []).append(case["name"])
    names = {rule["alert"] for rule in rules()}
    assert names - fires.keys() == set(), "alerts no unit test fires"
    assert names - resolves.keys() == set(), "alerts no unit test sees resolve"


def test_every_metric_a_rule_reads_is_declared() -> None:
    declared = {metric.name for metric in METRICS}
    for rule in rules():
        assert set(metric_names(rule["expr"])) <= declared, rule["alert"]


@pytest.mark.parametrize(
    ("expr", "parts"),
    [
        ('absent(up{job="a"} == 1)', ['up{job="a"} == 1']),
        ('max by (job) (x{a=~"p|q"}) < 1', ['max by (job) (x{a=~"p|q"})']),
        ("(a / b > 0.5) and c >= 3", ["a / b", "c"]),
        ("sum(rate(x[5m])) / sum(rate(y[5m])) > bool 0.1", ["sum(rate(x[5m])) / sum(rate(y[5m]))"]),
        ("(a) / (b)", ["(a) / (b)"]),
    ],
)
def test_the_probes_of_an_alert_are_what_returns_data_while_all_is_well(
    expr: str, parts: list[str]
) -> None:
    """What the e2e test asks of every alert (tests/e2e/operator/test_monitoring_live.py)."""
    assert probes(expr) == parts


def github_anchors(markdown: str) -> set[str]:
    """Heading anchors as GitHub makes them: lower case, punctuation dropped, spaces to -."""
    anchors = set()
    for heading in re.findall(r"^#+ (.+)$", markdown, flags=re.MULTILINE):
        text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
        anchors.add(text.replace(" ", "-"))
    return anchors


def test_each_alert_links_to_its_own_section_of_the_operations_page() -> None:
    anchors = github_anchors(OPERATIONS.read_text())
    for rule in rules():
        url = rule["annotations"]["runbook_url"]
        page, _, anchor = url.partition("#")
        assert page == "docs/operations.md"
        assert anchor == rule["alert"].lower()
        assert anchor in anchors, f"docs/operations.md has no section for {rule['alert']}"


def test_the_thresholds_and_alert_labels_come_from_the_values() -> None:
    values = {
        "metrics": {
            "prometheusRule": {
                "enabled": True,
                "alertLabels": {"team": "ml-platform"},
                "runbookBaseUrl": "https://git.example.com/ops/blob/main/docs/operations.md",
                "reconcileErrorRatio": 0.25,
                "failingRatio": 0.75,
                "failingMin": 5,
                "startSlowSeconds": 1200,
                "stuckSeconds": 3600,
            }
        }
    }
    with load_chart() as chart:
        [rule] = render_templates(chart, values, name="vision")["prometheusrule.yaml"]
    by_name = {r["alert"]: r for r in rule["spec"]["groups"][0]["rules"]}
    assert by_name["SuperviselyOperatorReconcileErrors"]["expr"].endswith("> 0.25")
    assert "> 0.75" in by_name["SuperviselyTasksFailing"]["expr"]
    assert by_name["SuperviselyTasksFailing"]["expr"].endswith(">= 5")
    assert by_name["SuperviselyStartsSlow"]["expr"].endswith("> 1200")
    assert by_name["SuperviselyResourcesStuck"]["expr"].endswith("> 3600")
    assert 'job="vision-supervisely-operator-metrics"' in by_name["SuperviselyOperatorDown"]["expr"]
    for alert in by_name.values():
        assert alert["labels"]["team"] == "ml-platform"
        assert alert["annotations"]["runbook_url"].startswith("https://git.example.com/ops/")


def test_the_rules_are_off_by_default() -> None:
    with load_chart() as chart:
        assert "prometheusrule.yaml" not in render_templates(chart)
        on = {"metrics": {"enabled": False, "prometheusRule": {"enabled": True}}}
        assert "prometheusrule.yaml" not in render_templates(chart, on), "no metrics, no rules"


def test_a_wrong_threshold_is_refused_by_the_schema() -> None:
    with load_chart() as chart, pytest.raises(helm_python.HelmValuesError, match="failingRatio"):
        chart.validate_schema({"metrics": {"prometheusRule": {"failingRatio": 2}}})
