"""values.schema.json refuses what would install a broken or surprising operator.

Every object in the schema is closed (``additionalProperties: false``), so a misspelt key fails
``helm install`` instead of being ignored; objects that go to Kubernetes unchanged are closed at
their first level with exactly Kubernetes' field names, checked here against the Kubernetes
schemas so the chart never refuses a valid field. The chart's operator settings default to the
operator's own defaults and name real settings.
"""

import re
import tomllib
from collections.abc import Iterator
from typing import Any

import helm_python
import pytest
import yaml
from kubernetes_validate.utils import schema_contents

from chart_render import CHART_DIR, REPO, load_chart, render_objects
from supervisely_operator.controller.settings import OperatorSettings

SCHEMA_KUBE_VERSION = "1.37.0"
VALUES = yaml.safe_load((CHART_DIR / "values.yaml").read_text())

# Values handed to Kubernetes as they are, and the Kubernetes type each one is.
KUBERNETES_TYPES = {
    "podSecurityContext": "io.k8s.api.core.v1.PodSecurityContext",
    "containerSecurityContext": "io.k8s.api.core.v1.SecurityContext",
    "affinity": "io.k8s.api.core.v1.Affinity",
    "resources": "io.k8s.api.core.v1.ResourceRequirements",
    "tolerations": "io.k8s.api.core.v1.Toleration",
    "extraEnv": "io.k8s.api.core.v1.EnvVar",
    "imagePullSecrets": "io.k8s.api.core.v1.LocalObjectReference",
    "topologySpreadConstraints": "io.k8s.api.core.v1.TopologySpreadConstraint",
}

# Operator settings the chart sets through dedicated values rather than `settings`.
DEDICATED = {
    "server_address": "credentials",
    "api_token": "credentials",
    "namespaces": "namespaces",
    "peering": "peering",
    "peering_lifetime": "peering.lifetime",
    "peering_renew_deadline": "peering.renewDeadline",
    "peering_retry_period": "peering.retryPeriod",
    "liveness_endpoint": "the --liveness argument",
    "metrics_port": "metrics",
    "metrics_per_resource": "metrics.perResource",
    "log_format": "logFormat",
}


@pytest.fixture(scope="module")
def chart() -> Iterator[helm_python.Chart]:
    with load_chart() as loaded:
        yield loaded


@pytest.fixture(scope="module")
def schema(chart: helm_python.Chart) -> dict[str, Any]:
    loaded = chart.schema
    assert loaded is not None
    return loaded


def walk(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from walk(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from walk(node["items"], f"{path}[]")


def snake(name: str) -> str:
    """pollInterval -> poll_interval, as the template's `snakecase` makes the variable name."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@pytest.mark.parametrize(
    ("values", "where"),
    [
        ({"replica": 2}, "'replica'"),
        ({"image": {"pullpolicy": "Always"}}, "'pullpolicy'"),
        ({"metrics": {"serviceMonitor": {"enable": True}}}, "'enable'"),
        ({"settings": {"pollIntervall": 5}}, "'pollIntervall'"),
        (
            {"containerSecurityContext": {"readOnlyRootFileSystem": True}},
            "'readOnlyRootFileSystem'",
        ),
        ({"tolerations": [{"key": "a", "efect": "NoSchedule"}]}, "'efect'"),
        ({"extraEnv": [{"name": "A", "vaule": "1"}]}, "'vaule'"),
    ],
)
def test_a_misspelt_key_is_refused(
    chart: helm_python.Chart, values: dict[str, Any], where: str
) -> None:
    with pytest.raises(helm_python.HelmValuesError, match=f"additional properties {where}"):
        chart.render(values, name="r", namespace="n")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"credentials": {"apiToken": "t"}}, "serverAddress"),
        (
            {"credentials": {"existingSecret": "s", "apiToken": "t", "serverAddress": "https://a"}},
            "apiToken",
        ),
        ({"namespaces": ["Team_A"]}, "namespaces"),
        ({"namespaces": ["a", "a"]}, "namespaces"),
        ({"logFormat": "yaml"}, "logFormat"),
        ({"image": {"repository": ""}}, "repository"),
        ({"settings": {"pollInterval": 0}}, "pollInterval"),
        ({"podDisruptionBudget": {"minAvailable": "half"}}, "minAvailable"),
        ({"topologySpreadConstraints": [{"maxSkew": 1}]}, "topologyKey"),
        (
            {
                "topologySpreadConstraints": [
                    {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "Maybe"}
                ]
            },
            "whenUnsatisfiable",
        ),
        ({"metrics": {"prometheusRule": {"failingMin": 0}}}, "failingMin"),
        ({"metrics": {"grafanaDashboard": {"labels": {"grafana_dashboard": 1}}}}, "labels"),
    ],
)
def test_inconsistent_values_are_refused(
    chart: helm_python.Chart, values: dict[str, Any], message: str
) -> None:
    with pytest.raises(helm_python.HelmValuesError, match=message):
        chart.validate_schema(values)


def test_several_replicas_need_peering(chart: helm_python.Chart) -> None:
    with pytest.raises(helm_python.HelmRenderError, match=r"needs peering\.enabled"):
        chart.render({"replicas": 2}, name="r", namespace="n")
    render_objects(chart, {"replicas": 2, "peering": {"enabled": True}})


@pytest.mark.parametrize(
    "peering",
    [
        pytest.param({"renewDeadline": 10}, id="deadline-as-long-as-the-lifetime"),
        pytest.param({"renewDeadline": 3, "retryPeriod": 3}, id="no-renewal-before-the-deadline"),
    ],
)
def test_an_acting_replica_must_stop_before_it_may_be_replaced(
    chart: helm_python.Chart, peering: dict[str, Any]
) -> None:
    with pytest.raises(helm_python.HelmRenderError, match=r"retryPeriod .* < renewDeadline"):
        chart.render({"peering": {"enabled": True, **peering}}, name="r", namespace="n")


def test_default_values_pass_the_schema(chart: helm_python.Chart) -> None:
    chart.validate_schema(VALUES)
    assert chart.values == VALUES


def test_every_schema_object_is_closed_and_documented(schema: dict[str, Any]) -> None:
    for path, node in walk(schema):
        # Array items are no values of their own: their array says what they are.
        assert node.get("description") or path.endswith("[]"), f"{path or 'root'}: no description"
        if "properties" in node:
            assert node.get("additionalProperties") is False, f"{path} is open"


def test_every_value_is_in_the_schema(schema: dict[str, Any]) -> None:
    def missing(values: dict[str, Any], node: dict[str, Any], path: str) -> Iterator[str]:
        for key, value in values.items():
            child = node.get("properties", {}).get(key)
            if child is None:
                if not isinstance(node.get("additionalProperties"), dict):
                    yield f"{path}.{key}"
            elif isinstance(value, dict) and "properties" in child:
                yield from missing(value, child, f"{path}.{key}")

    assert list(missing(VALUES, schema, "")) == []


@pytest.mark.parametrize("value", list(KUBERNETES_TYPES))
def test_kubernetes_objects_are_closed_with_kubernetes_field_names(
    schema: dict[str, Any], value: str
) -> None:
    definitions = schema_contents(
        f"kubernetes-json-schema/v{SCHEMA_KUBE_VERSION}-local-strict/_definitions.json",
        SCHEMA_KUBE_VERSION,
    )["$defs"]
    node = schema["properties"][value]
    node = node.get("items", node)
    kubernetes = definitions[KUBERNETES_TYPES[value]]["properties"]
    assert sorted(node["properties"]) == sorted(kubernetes)


def test_settings_name_real_operator_settings_with_their_defaults() -> None:
    fields = OperatorSettings.model_fields
    for key, default in VALUES["settings"].items():
        field = snake(key)
        assert field in fields, f"settings.{key}: OperatorSettings has no {field}"
        assert default == fields[field].default, f"settings.{key} differs from the operator's"


def test_every_operator_setting_can_be_set_from_the_chart() -> None:
    """A new OperatorSettings field fails this until the chart exposes it (or says why not)."""
    from_chart = {snake(key) for key in VALUES["settings"]} | set(DEDICATED)
    assert set(OperatorSettings.model_fields) == from_chart


def test_app_version_is_the_operator_release() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    chart = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())
    assert chart["appVersion"] == project["version"]


def test_image_is_a_plain_name() -> None:
    """The image is a plain name: users prefix their own registry."""
    assert re.fullmatch(r"[a-z0-9-]+", VALUES["image"]["repository"])


def test_values_yaml_comments_every_value() -> None:
    """cert-manager's habit: a comment right above each value in values.yaml. A group of values
    (image:, metrics:) needs none of its own; an object handed to Kubernetes whole (resources,
    security contexts) has one comment that covers its fields."""
    undocumented = []
    ancestors: list[tuple[int, str]] = []  # (indent, key) of the keys enclosing this line
    previous = ""
    for number, line in enumerate((CHART_DIR / "values.yaml").read_text().splitlines(), 1):
        match = re.match(r"^( *)([A-Za-z][\w-]*):(.*)$", line)
        if match:
            indent, key, rest = len(match.group(1)), match.group(2), match.group(3).strip()
            ancestors = [(i, k) for i, k in ancestors if i < indent]
            inside_kubernetes_object = any(k in KUBERNETES_TYPES for _, k in ancestors)
            is_value = bool(rest) or key in KUBERNETES_TYPES
            if is_value and not inside_kubernetes_object and not previous.startswith("#"):
                undocumented.append(f"{number}: {line.strip()}")
            ancestors.append((indent, key))
        if line.strip():
            previous = line.strip()
    assert undocumented == []
