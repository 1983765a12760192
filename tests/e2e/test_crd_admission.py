"""The generated CRD on a real API server: examples admitted, bad specs refused naming the field."""

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from supervisely_operator.devcluster.access import ClusterAccess

from spec_cases import EXAMPLES_DIR, INVALID_CASES, InvalidCase, minimal_spec


@pytest.fixture
def namespace(crd_cluster: ClusterAccess) -> Iterator[str]:
    name = f"admission-{uuid.uuid4().hex[:8]}"
    yield name
    crd_cluster.kubectl(
        "delete", "superviselytasks", "--all", "-n", name, "--wait=false", check=False
    )


def task_manifest(spec: dict[str, Any], name: str = "probe") -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "supervisely.com/v1alpha1",
            "kind": "SuperviselyTask",
            "metadata": {"name": name},
            "spec": spec,
        }
    )


def test_examples_are_admitted_with_defaults_filled_in(
    crd_cluster: ClusterAccess, namespace: str
) -> None:
    crd_cluster.kubectl("apply", "-n", namespace, "-f", str(EXAMPLES_DIR))
    listed = json.loads(crd_cluster.kubectl("get", "slytask", "-n", namespace, "-o", "json").stdout)
    names = sorted(item["metadata"]["name"] for item in listed["items"])
    expected = sorted(
        document["metadata"]["name"]
        for path in EXAMPLES_DIR.glob("*.yaml")
        for document in yaml.safe_load_all(path.read_text())
    )
    assert names == expected
    serve = next(item for item in listed["items"] if item["metadata"]["name"] == "serve-model")
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
    crd_cluster: ClusterAccess, namespace: str, case: InvalidCase
) -> None:
    result = crd_cluster.kubectl(
        "apply", "-n", namespace, "-f", "-", input=task_manifest(case.spec()), check=False
    )
    assert result.returncode != 0, case.why
    assert case.mentions in result.stderr, result.stderr
    listed = crd_cluster.kubectl("get", "slytask", "-n", namespace, "-o", "name").stdout
    assert listed.strip() == "", "nothing of a refused object is stored"


def test_unknown_field_is_refused_by_strict_field_validation(
    crd_cluster: ClusterAccess, namespace: str
) -> None:
    manifest = task_manifest({**minimal_spec(), "gpus": 2})
    result = crd_cluster.kubectl("apply", "-n", namespace, "-f", "-", input=manifest, check=False)
    assert result.returncode != 0
    assert 'unknown field "spec.gpus"' in result.stderr


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
