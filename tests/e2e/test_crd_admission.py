"""The generated CRD on a real API server: examples admitted, bad specs refused in exact words."""

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from kubernetes import client

from supervisely_devkit.devcluster.access import ClusterAccess
from supervisely_operator.api.crd import CRON_NAME_LIMIT
from supervisely_operator.api.resource import CRON_PLURAL, GROUP, PLURAL, VERSION

from spec_cases import (
    ADMITTED_EDGES,
    EXAMPLES_DIR,
    INVALID_CASES,
    EdgeCase,
    InvalidCase,
    minimal_spec,
)


@pytest.fixture
def namespace(kube_objects: client.CustomObjectsApi) -> Iterator[str]:
    name = f"admission-{uuid.uuid4().hex[:8]}"
    yield name
    kube_objects.delete_collection_namespaced_custom_object(GROUP, VERSION, name, PLURAL)


def stored(objects: client.CustomObjectsApi, namespace: str) -> list[dict[str, Any]]:
    """The SuperviselyTasks the API server stored in the namespace."""
    listed = objects.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
    items: list[dict[str, Any]] = listed["items"]
    return items


def task_manifest(spec: dict[str, Any], name: str = "probe") -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "supervisely.com/v1alpha1",
            "kind": "SuperviselyTask",
            "metadata": {"name": name},
            "spec": spec,
        }
    )


def refusal_causes(stderr: str) -> list[str]:
    """The causes of an "is invalid" refusal, as kubectl prints them.

    kubectl puts one cause on the line of ``The SuperviselyTask "probe" is invalid: `` and
    several on lines of their own, each after ``* ``; nothing else may follow. Splitting on
    ``, `` instead would cut messages that contain commas.
    """
    _, found, rest = stderr.partition(" is invalid: ")
    assert found, f"not an admission refusal: {stderr!r}"
    rest = rest.rstrip("\n")
    if not rest.startswith("\n"):
        assert "\n" not in rest, f"one cause, then more lines: {rest!r}"
        return [rest]
    bullets = rest[1:].split("\n")
    assert all(bullet.startswith("* ") for bullet in bullets), f"not a cause list: {rest!r}"
    return [bullet.removeprefix("* ") for bullet in bullets]


def test_examples_are_admitted_with_defaults_filled_in(
    crd_cluster: ClusterAccess, kube_objects: client.CustomObjectsApi, namespace: str
) -> None:
    crd_cluster.kubectl("apply", "-n", namespace, "-f", str(EXAMPLES_DIR))
    items = stored(kube_objects, namespace)
    names = sorted(item["metadata"]["name"] for item in items)
    expected = sorted(
        document["metadata"]["name"]
        for path in EXAMPLES_DIR.glob("*.yaml")
        for document in yaml.safe_load_all(path.read_text())
    )
    assert names == expected
    serve = next(item for item in items if item["metadata"]["name"] == "serve-model")
    spec = serve["spec"]
    assert (spec["restartPolicy"], spec["deletionPolicy"], spec["logLevel"]) == (
        "OnError",
        "Stop",
        "info",
    )
    assert spec["backoff"] == {"limit": 3, "initialDelaySeconds": 10, "maxDelaySeconds": 300}
    assert spec["serverRestartPolicy"] == "never"


@pytest.mark.parametrize("case", INVALID_CASES, ids=lambda case: case.name)
def test_invalid_spec_is_refused_at_admission(
    crd_cluster: ClusterAccess,
    kube_objects: client.CustomObjectsApi,
    namespace: str,
    case: InvalidCase,
) -> None:
    result = crd_cluster.kubectl(
        "apply", "-n", namespace, "-f", "-", input=task_manifest(case.spec()), check=False
    )
    assert result.returncode != 0, case.why
    assert refusal_causes(result.stderr) == list(case.admission), case.why
    assert stored(kube_objects, namespace) == [], "nothing of a refused object is stored"


@pytest.mark.parametrize("case", ADMITTED_EDGES, ids=lambda case: case.name)
def test_specs_at_the_edge_of_a_rule_are_admitted_as_written(
    crd_cluster: ClusterAccess,
    kube_objects: client.CustomObjectsApi,
    namespace: str,
    case: EdgeCase,
) -> None:
    crd_cluster.kubectl("apply", "-n", namespace, "-f", "-", input=task_manifest(case.spec()))
    [probe] = stored(kube_objects, namespace)
    assert {key: probe["spec"][key] for key in case.spec()} == case.spec(), case.why


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        pytest.param({"gpus": 2}, "spec.gpus", id="a-misspelt-field"),
        # A spec cannot name the server its token is sent to, nor borrow another namespace's
        # Secret: neither field exists, and strict validation says so.
        pytest.param(
            {"serverAddress": "https://elsewhere.example"}, "spec.serverAddress", id="server"
        ),
        pytest.param(
            {"credentialsSecretRef": {"name": "creds", "namespace": "other-team"}},
            "spec.credentialsSecretRef.namespace",
            id="secret-of-another-namespace",
        ),
    ],
)
def test_unknown_field_is_refused_by_strict_field_validation(
    crd_cluster: ClusterAccess, namespace: str, extra: dict[str, object], field: str
) -> None:
    manifest = task_manifest({**minimal_spec(), **extra})
    result = crd_cluster.kubectl("apply", "-n", namespace, "-f", "-", input=manifest, check=False)
    assert result.returncode != 0
    assert f'unknown field "{field}"' in result.stderr


def test_explain_documents_kubernetes_settings(crd_cluster: ClusterAccess) -> None:
    explained = crd_cluster.kubectl("explain", "superviselytask.spec.kubernetesSettings").stdout
    assert "Resource limits of the app's pod" in explained
    for field in ("limitGpuCoresPerc", "limitShmGb", "requestCpus", "useHealthCheck"):
        assert field in explained
    assert "Share of the GPU's cores" in " ".join(explained.split())


def test_wide_listing_shows_the_printer_columns(crd_cluster: ClusterAccess, namespace: str) -> None:
    crd_cluster.kubectl("apply", "-n", namespace, "-f", "-", input=task_manifest(minimal_spec()))
    header = crd_cluster.kubectl(
        "get", "supervisely", "-n", namespace, "-o", "wide"
    ).stdout.splitlines()[0]
    assert header.split() == [
        "NAME", "PHASE", "TASK", "RESTARTS", "AGE", "AGENT", "APP", "MODULE", "WORKSPACE",
    ]  # fmt: skip


def test_a_cron_task_name_its_runs_cannot_carry_is_refused(
    crd_cluster: ClusterAccess, kube_objects: client.CustomObjectsApi, namespace: str
) -> None:
    """A run carries its cron task's name as a label value (63 characters at most) and in its
    own name: as for a CronJob, 52 characters are admitted and 53 refused."""
    nightly = yaml.safe_load((EXAMPLES_DIR / "schedule" / "nightly-evaluation.yaml").read_text())
    nightly["metadata"] = {"name": "n" * CRON_NAME_LIMIT}
    crd_cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(nightly))
    nightly["metadata"] = {"name": "n" * (CRON_NAME_LIMIT + 1)}
    refused = crd_cluster.kubectl(
        "apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(nightly), check=False
    )
    assert refusal_causes(refused.stderr) == [
        f"<nil>: Invalid value: a SuperviselyCronTask's name is at most "
        f"{CRON_NAME_LIMIT} characters: its runs carry it as a label and in their names"
    ]
    listed = kube_objects.list_namespaced_custom_object(GROUP, VERSION, namespace, CRON_PLURAL)
    assert [item["metadata"]["name"] for item in listed["items"]] == ["n" * CRON_NAME_LIMIT]
    kube_objects.delete_collection_namespaced_custom_object(GROUP, VERSION, namespace, CRON_PLURAL)
