"""The Helm chart renders valid, hardened manifests that start the operator as intended.

Every values set below is linted by Helm and every object it renders is validated against the
Kubernetes JSON schemas (strict: unknown fields fail) for the newest version kubernetes-validate
knows and for the oldest one the chart supports. The pod's command line and environment are then
handed to the real ``supervisely-operator run`` (its kopf start replaced), so a flag or variable
the operator does not understand fails here rather than in a crash-looping pod.
"""

import base64
import re
from collections.abc import Iterator
from typing import Any

import helm_python
import kubernetes_validate
import pytest
import yaml
from click.testing import CliRunner

from chart_render import CHART_DIR, NAMESPACE, load_chart, render_notes, render_objects
from supervisely_operator.cli import main
from supervisely_operator.controller import runner
from supervisely_operator.controller.settings import OperatorSettings

# The newest schemas kubernetes-validate ships, and the chart's floor (Chart.yaml kubeVersion).
KUBE_VERSIONS = ("1.37.0", "1.29.0")
# Objects of custom resources kubernetes-validate has no schema for: the Prometheus Operator's
# ServiceMonitor and PrometheusRule (its rules pass promtool instead, test_alert_rules.py) and
# kopf's peering objects. Only these groups are skipped; anything else without
# a schema fails the test.
UNKNOWN_TO_VALIDATOR = {"monitoring.coreos.com", "kopf.dev"}

VALUE_SETS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "namespaced": {"namespaces": ["team-a", "team-b"]},
    "peering-replicas-3": {"replicas": 3, "peering": {"enabled": True}},
    "namespaced-peering": {"namespaces": ["team-a", "team-b"], "peering": {"enabled": True}},
    "existing-secret": {"credentials": {"existingSecret": "supervisely-credentials"}},
    "chart-secret": {
        "credentials": {"serverAddress": "https://sly.example.com", "apiToken": "t0ken"}
    },
    "service-monitor": {
        "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}}}
    },
    "metrics-off": {"metrics": {"enabled": False}},
    # Every optional part on, and every one off: the packaging checks hold for both.
    "everything-on": {
        "replicas": 3,
        "peering": {"enabled": True},
        "credentials": {"serverAddress": "https://sly.example.com", "apiToken": "t0ken"},
        "metrics": {
            "perResource": True,
            "serviceMonitor": {"enabled": True},
            "prometheusRule": {"enabled": True, "alertLabels": {"team": "ml"}},
            "grafanaDashboard": {"enabled": True, "annotations": {"grafana_folder": "Operators"}},
        },
        "podDisruptionBudget": {"enabled": True, "maxUnavailable": "50%"},
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "ScheduleAnyway",
            },
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": {"matchLabels": {"team": "ml"}},
            },
        ],
    },
    "everything-off": {
        "metrics": {"enabled": False, "prometheusRule": {"enabled": True}},
        "serviceAccount": {"create": False},
        "rbac": {"create": False},
        "podDisruptionBudget": {"enabled": False},
    },
    "scheduling-and-extras": {
        "extraEnv": [
            {"name": "HTTPS_PROXY", "value": "http://proxy.example.com:3128"},
            {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        ],
        "extraArgs": ["--verbose"],
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ops"}],
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["ops"]}]}
                    ]
                }
            }
        },
        "priorityClassName": "system-cluster-critical",
        "imagePullSecrets": [{"name": "regcred"}],
        "podAnnotations": {"example.com/team": "ml"},
        "podLabels": {"team": "ml"},
        "image": {"tag": "0.2.0", "digest": "sha256:" + "a" * 64},
        "logFormat": "json",
        # Helm holds numbers as float64; a million must still reach an int setting as digits.
        "settings": {"pollInterval": 0.5, "maxConcurrentPasses": 2000000},
    },
}


@pytest.fixture(scope="module")
def chart() -> Iterator[helm_python.Chart]:
    with load_chart() as loaded:
        yield loaded


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [obj for obj in objects if obj["kind"] == kind]


def the(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    """The only object of this kind."""
    found = by_kind(objects, kind)
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    containers = the(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["operator"]
    return containers[0]


def env_of(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {variable["name"]: variable for variable in container(objects)["env"]}


# --- Helm lint and schema validation of every rendered object -----------------------------------


@pytest.mark.parametrize("values_name", list(VALUE_SETS))
def test_chart_lints_clean(values_name: str) -> None:
    report = helm_python.lint(
        CHART_DIR, VALUE_SETS[values_name], strict=True, namespace=NAMESPACE, kube_version="v1.37.0"
    )
    problems = [message for message in report["messages"] if message["severity"] >= 2]
    assert report["errors"] == []
    assert problems == []


@pytest.mark.parametrize("values_name", list(VALUE_SETS))
def test_every_rendered_object_is_valid_kubernetes(
    chart: helm_python.Chart, values_name: str
) -> None:
    objects = render_objects(chart, VALUE_SETS[values_name])
    skipped = set()
    for obj in objects:
        group = obj["apiVersion"].rpartition("/")[0]
        if group in UNKNOWN_TO_VALIDATOR:
            skipped.add(obj["kind"])
            continue
        for version in KUBE_VERSIONS:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                path = ".".join(str(part) for part in error.path)
                pytest.fail(f"{obj['kind']}/{obj['metadata']['name']} ({version}): {path}: {error}")
    assert skipped <= {"ServiceMonitor", "PrometheusRule", "ClusterKopfPeering", "KopfPeering"}


def test_chart_crds_are_valid_kubernetes(chart: helm_python.Chart) -> None:
    crds = [obj for crd in chart.crds for obj in yaml.safe_load_all(crd["data"]) if obj]
    assert sorted(obj["metadata"]["name"] for obj in crds) == [
        "clusterkopfpeerings.kopf.dev",
        "kopfpeerings.kopf.dev",
        "superviselycrontasks.supervisely.com",
        "superviselytasks.supervisely.com",
    ]
    for obj in crds:
        for version in KUBE_VERSIONS:
            kubernetes_validate.validate(obj, version, strict=True)


def test_render_covers_every_template(chart: helm_python.Chart) -> None:
    """Between them the values sets render every kind the chart can make (none left unchecked)."""
    kinds = {obj["kind"] for values in VALUE_SETS.values() for obj in render_objects(chart, values)}
    assert kinds == {
        "Deployment",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "Secret",
        "Service",
        "ServiceMonitor",
        "PrometheusRule",
        "ConfigMap",
        "PodDisruptionBudget",
        "ClusterKopfPeering",
        "KopfPeering",
    }


# --- the pod: hardening, probes, ports -----------------------------------------------------------


@pytest.mark.parametrize("values_name", list(VALUE_SETS))
def test_pod_is_hardened(chart: helm_python.Chart, values_name: str) -> None:
    objects = render_objects(chart, VALUE_SETS[values_name])
    pod = the(objects, "Deployment")["spec"]["template"]["spec"]
    operator = container(objects)
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    security = operator["securityContext"]
    assert security["runAsNonRoot"] is True
    assert (security["runAsUser"], security["runAsGroup"]) == (10001, 10001)
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert "privileged" not in security
    # A read-only root filesystem with a writable /tmp: Python needs one.
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert [(m["name"], m["mountPath"]) for m in operator["volumeMounts"]] == [("tmp", "/tmp")]
    assert "emptyDir" in volumes["tmp"]
    # Resources are bounded by default.
    assert operator["resources"]["requests"].keys() == {"cpu", "memory"}
    assert "memory" in operator["resources"]["limits"]
    for host_namespace in ("hostNetwork", "hostPID", "hostIPC"):
        assert not pod.get(host_namespace), host_namespace


def test_service_account_token_reaches_only_the_operator_pod(chart: helm_python.Chart) -> None:
    objects = render_objects(chart)
    assert the(objects, "ServiceAccount")["automountServiceAccountToken"] is False
    pod = the(objects, "Deployment")["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is True
    assert pod["serviceAccountName"] == the(objects, "ServiceAccount")["metadata"]["name"]


def test_probes_ask_kopf_health_endpoint(chart: helm_python.Chart) -> None:
    operator = container(render_objects(chart))
    ports = {port["name"]: port["containerPort"] for port in operator["ports"]}
    assert ports == {"health": 8080, "metrics": 9090}
    for probe in ("livenessProbe", "readinessProbe"):
        http = operator[probe]["httpGet"]
        assert http["path"] == "/healthz"
        assert ports[http["port"]] == 8080
    args = operator["args"]
    assert args[args.index("--liveness") + 1] == "http://0.0.0.0:8080/healthz"


def test_metrics_service_targets_port_9090(chart: helm_python.Chart) -> None:
    objects = render_objects(chart)
    service = the(objects, "Service")
    assert [(p["name"], p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [
        ("metrics", 9090, "metrics")
    ]
    pod_labels = the(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert env_of(objects)["SUPERVISELY_OPERATOR_METRICS_PORT"]["value"] == "9090"


def test_service_monitor_scrapes_the_metrics_service(chart: helm_python.Chart) -> None:
    objects = render_objects(chart, VALUE_SETS["service-monitor"])
    monitor = the(objects, "ServiceMonitor")
    service = the(objects, "Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    assert by_kind(render_objects(chart), "ServiceMonitor") == []


def test_metrics_off_turns_the_endpoint_off(chart: helm_python.Chart) -> None:
    objects = render_objects(chart, VALUE_SETS["metrics-off"])
    assert by_kind(objects, "Service") == []
    assert env_of(objects)["SUPERVISELY_OPERATOR_METRICS_PORT"]["value"] == "0"
    assert [port["name"] for port in container(objects)["ports"]] == ["health"]


def test_scheduling_and_extras_reach_the_pod(chart: helm_python.Chart) -> None:
    values = VALUE_SETS["scheduling-and-extras"]
    objects = render_objects(chart, values)
    template = the(objects, "Deployment")["spec"]["template"]
    pod = template["spec"]
    for key in ("nodeSelector", "tolerations", "affinity", "priorityClassName", "imagePullSecrets"):
        assert pod[key] == values[key], key
    assert template["metadata"]["annotations"] == values["podAnnotations"]
    assert template["metadata"]["labels"]["team"] == "ml"
    operator = container(objects)
    assert operator["image"] == "supervisely-operator:0.2.0@sha256:" + "a" * 64
    assert operator["env"][-2:] == values["extraEnv"]
    assert operator["args"][-1] == "--verbose"


def test_extra_env_replaces_a_chart_variable_of_the_same_name(
    chart: helm_python.Chart, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replaced, not repeated: server-side apply refuses two env entries with one name."""
    extra = [
        {"name": "SUPERVISELY_OPERATOR_POLL_INTERVAL", "value": "3"},
        {"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "vault", "key": "token"}}},
    ]
    objects = render_objects(chart, {"extraEnv": extra})
    names = [variable["name"] for variable in container(objects)["env"]]
    assert len(names) == len(set(names))
    assert env_of(objects)["API_TOKEN"] == extra[1]
    assert operator_config(objects, monkeypatch).poll_interval == 3.0


def test_image_tag_defaults_to_app_version(chart: helm_python.Chart) -> None:
    image = container(render_objects(chart))["image"]
    assert image == f"supervisely-operator:{chart.metadata['appVersion']}"


# --- modes: cluster-wide, namespaced, peering; what the operator makes of the pod's command -------


def operator_config(
    objects: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> OperatorSettings:
    """Run the real CLI with the pod's args and literal env; the settings kopf would start with."""
    captured: list[OperatorSettings] = []

    def fake_run_operator(config: OperatorSettings, *args: Any, **kwargs: Any) -> None:
        captured.append(config)

    monkeypatch.setattr(runner, "run_operator", fake_run_operator)
    env = {name: v["value"] for name, v in env_of(objects).items() if "value" in v}
    unset = dict.fromkeys(("SERVER_ADDRESS", "API_TOKEN"))
    for name in [*env, *unset]:
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(main, container(objects)["args"], env={**unset, **env})
    assert result.exit_code == 0, result.output
    assert len(captured) == 1
    return captured[0]


def test_defaults_run_cluster_wide_standalone(
    chart: helm_python.Chart, monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = render_objects(chart)
    assert container(objects)["args"] == ["run", "--liveness", "http://0.0.0.0:8080/healthz", "-A"]
    config = operator_config(objects, monkeypatch)
    assert config.namespaces == []
    assert config.peering is None
    assert the(objects, "Deployment")["spec"]["strategy"] == {"type": "Recreate"}
    assert "SUPERVISELY_OPERATOR_NAMESPACES" not in env_of(objects)


def test_namespaced_mode_watches_the_listed_namespaces(
    chart: helm_python.Chart, monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = render_objects(chart, VALUE_SETS["namespaced"])
    args = container(objects)["args"]
    assert args[3:] == ["-n", "team-a", "-n", "team-b"]
    assert env_of(objects)["SUPERVISELY_OPERATOR_NAMESPACES"]["value"] == "team-a,team-b"
    assert operator_config(objects, monkeypatch).namespaces == ["team-a", "team-b"]


def test_peering_runs_replicas_under_one_peering_object(
    chart: helm_python.Chart, monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = render_objects(chart, VALUE_SETS["peering-replicas-3"])
    deployment = the(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    peering = the(objects, "ClusterKopfPeering")
    assert peering["apiVersion"] == "kopf.dev/v1"
    name = peering["metadata"]["name"]
    args = container(objects)["args"]
    assert args[args.index("--peering") + 1] == name
    assert env_of(objects)["SUPERVISELY_OPERATOR_PEERING"]["value"] == name
    config = operator_config(objects, monkeypatch)
    assert (config.peering, config.peering_lifetime) == (name, 10)
    assert (config.peering_renew_deadline, config.peering_retry_period) == (7, 2)


def test_namespaced_peering_has_one_peering_object_per_namespace(
    chart: helm_python.Chart,
) -> None:
    objects = render_objects(chart, VALUE_SETS["namespaced-peering"])
    peerings = by_kind(objects, "KopfPeering")
    assert sorted(p["metadata"]["namespace"] for p in peerings) == ["team-a", "team-b"]
    assert by_kind(objects, "ClusterKopfPeering") == []


def test_settings_reach_the_operator(
    chart: helm_python.Chart, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Changed settings arrive in OperatorSettings; defaults arrive as the operator's defaults."""
    changed = operator_config(
        render_objects(chart, VALUE_SETS["scheduling-and-extras"]), monkeypatch
    )
    assert (changed.poll_interval, changed.max_concurrent_passes) == (0.5, 2000000)
    assert changed.log_format == "json"
    defaults = operator_config(render_objects(chart), monkeypatch)
    assert defaults.model_dump(exclude={"liveness_endpoint"}) == OperatorSettings().model_dump(
        exclude={"liveness_endpoint"}
    )
    assert defaults.liveness_endpoint == "http://0.0.0.0:8080/healthz"


# --- production knobs: disruption budget, topology spread, monitoring -----------------------------


def test_a_disruption_budget_keeps_a_replica_through_drains_only_with_several_replicas(
    chart: helm_python.Chart,
) -> None:
    assert by_kind(render_objects(chart), "PodDisruptionBudget") == [], "would block every drain"
    objects = render_objects(chart, VALUE_SETS["peering-replicas-3"])
    budget = the(objects, "PodDisruptionBudget")
    assert budget["spec"]["minAvailable"] == 1
    assert "maxUnavailable" not in budget["spec"]
    pod_labels = the(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    budget = the(render_objects(chart, VALUE_SETS["everything-on"]), "PodDisruptionBudget")
    assert budget["spec"]["maxUnavailable"] == "50%"
    assert "minAvailable" not in budget["spec"]
    off = {**VALUE_SETS["peering-replicas-3"], "podDisruptionBudget": {"enabled": False}}
    assert by_kind(render_objects(chart, off), "PodDisruptionBudget") == []


def test_topology_spread_constraints_count_the_operators_pods_unless_told_otherwise(
    chart: helm_python.Chart,
) -> None:
    values = VALUE_SETS["everything-on"]
    objects = render_objects(chart, values)
    pod = the(objects, "Deployment")["spec"]["template"]
    zone, host = pod["spec"]["topologySpreadConstraints"]
    assert zone == {
        **values["topologySpreadConstraints"][0],
        "labelSelector": {
            "matchLabels": the(objects, "Deployment")["spec"]["selector"]["matchLabels"]
        },
    }
    assert host == values["topologySpreadConstraints"][1], "its own labelSelector is kept"
    assert (
        "topologySpreadConstraints"
        not in the(render_objects(chart), "Deployment")["spec"]["template"]["spec"]
    )


def test_everything_on_turns_on_per_resource_metrics_rules_and_dashboard(
    chart: helm_python.Chart, monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = render_objects(chart, VALUE_SETS["everything-on"])
    assert operator_config(objects, monkeypatch).metrics_per_resource is True
    assert the(objects, "PrometheusRule")["metadata"]["name"] == "supervisely-operator"
    dashboard = the(objects, "ConfigMap")
    assert dashboard["metadata"]["annotations"] == {"grafana_folder": "Operators"}
    endpoint = the(objects, "ServiceMonitor")["spec"]["endpoints"][0]
    assert endpoint["honorLabels"] is True, "the resources' namespace label must survive"
    defaults = operator_config(render_objects(chart), monkeypatch)
    assert defaults.metrics_per_resource is False
    assert "SUPERVISELY_OPERATOR_METRICS_PER_RESOURCE" not in env_of(render_objects(chart))


def test_everything_off_makes_no_optional_object(chart: helm_python.Chart) -> None:
    kinds = {obj["kind"] for obj in render_objects(chart, VALUE_SETS["everything-off"])}
    assert kinds == {"Deployment"}


# --- credentials ---------------------------------------------------------------------------------


def secret_refs(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    env = env_of(objects)
    return {
        name: env[name]["valueFrom"]["secretKeyRef"] for name in ("SERVER_ADDRESS", "API_TOKEN")
    }


def test_without_credentials_an_out_of_band_secret_is_optional(chart: helm_python.Chart) -> None:
    objects = render_objects(chart)
    assert by_kind(objects, "Secret") == []
    for key, ref in secret_refs(objects).items():
        assert ref == {"name": "supervisely-operator-credentials", "key": key, "optional": True}


def test_existing_secret_is_used_and_required(chart: helm_python.Chart) -> None:
    objects = render_objects(chart, VALUE_SETS["existing-secret"])
    assert by_kind(objects, "Secret") == []
    for key, ref in secret_refs(objects).items():
        assert ref == {"name": "supervisely-credentials", "key": key}


def test_credentials_from_values_make_a_secret_and_restart_on_change(
    chart: helm_python.Chart,
) -> None:
    objects = render_objects(chart, VALUE_SETS["chart-secret"])
    secret = the(objects, "Secret")
    decoded = {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}
    assert decoded == {"SERVER_ADDRESS": "https://sly.example.com", "API_TOKEN": "t0ken"}
    for key, ref in secret_refs(objects).items():
        assert ref == {"name": secret["metadata"]["name"], "key": key}
    annotations = the(objects, "Deployment")["spec"]["template"]["metadata"]["annotations"]
    other = render_objects(
        chart, {"credentials": {"serverAddress": "https://sly.example.com", "apiToken": "other"}}
    )
    other_annotations = the(other, "Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["checksum/credentials"] != other_annotations["checksum/credentials"]


def test_the_token_appears_only_in_the_secret(chart: helm_python.Chart) -> None:
    for obj in render_objects(chart, VALUE_SETS["chart-secret"]):
        if obj["kind"] != "Secret":
            assert "t0ken" not in yaml.safe_dump(obj), obj["kind"]


# --- NOTES.txt -----------------------------------------------------------------------------------


def test_notes_say_what_to_type_next(chart: helm_python.Chart) -> None:
    notes = render_notes(chart)
    assert "kubectl get slytask -A" in notes
    assert "kubectl apply -n default -f -" in notes
    assert "kind: SuperviselyTask" in notes
    assert f"kubectl -n {NAMESPACE} rollout status deployment/supervisely-operator" in notes
    assert "create secret generic supervisely-operator-credentials" in notes
    namespaced = render_notes(
        chart, {"namespaces": ["team-a"], "credentials": {"existingSecret": "s"}}
    )
    assert "kubectl apply -n team-a -f -" in namespaced
    assert "create secret generic" not in namespaced
    # The YAML example in the notes is a valid SuperviselyTask manifest once dedented.
    block = notes.split("<<'YAML'\n", 1)[1].split("     YAML", 1)[0]
    task = yaml.safe_load(re.sub(r"(?m)^ {5}", "", block))
    assert task["kind"] == "SuperviselyTask"
    assert task["spec"]["workspaceId"]
