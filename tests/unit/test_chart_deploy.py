"""``deploy/`` is the chart rendered with its defaults, ready for ``kubectl apply -k`` and Argo CD.

The manifests there are generated (``tests/chart_render.py``); a change to the chart without
regenerating fails here, as does a hand edit. The order that makes a first sync work is checked
too: CRDs in an earlier Argo CD sync wave than the operator, and deploy/crds/ a kustomization of
its own that the top-level one includes (the only part a CRD-only API server can take).
"""

from pathlib import Path
from typing import Any

import yaml

from chart_render import DEPLOY_DIR, NAMESPACE, generated_paths_on_disk, render_deploy

REGENERATE = "regenerate with: .venv/bin/python tests/chart_render.py"
WAVE = "argocd.argoproj.io/sync-wave"


def load(path: Path) -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


def test_deploy_is_a_fresh_render_of_the_chart() -> None:
    fresh = render_deploy()
    assert generated_paths_on_disk() == set(fresh), REGENERATE
    stale = [path for path, text in fresh.items() if (DEPLOY_DIR / path).read_text() != text]
    assert stale == [], REGENERATE


def test_top_level_kustomization_includes_the_crds_first() -> None:
    [top] = load(DEPLOY_DIR / "kustomization.yaml")
    assert top["resources"] == ["crds", "operator"]
    assert (DEPLOY_DIR / "crds" / "kustomization.yaml").exists()


def test_crds_sync_before_the_operator() -> None:
    [crds] = load(DEPLOY_DIR / "crds" / "kustomization.yaml")
    assert int(crds["commonAnnotations"][WAVE]) < 0
    options = crds["commonAnnotations"]["argocd.argoproj.io/sync-options"].split(",")
    assert sorted(options) == ["Delete=false", "Prune=false", "ServerSideApply=true"]
    [operator] = load(DEPLOY_DIR / "operator" / "kustomization.yaml")
    objects = [
        obj for name in operator["resources"] for obj in load(DEPLOY_DIR / "operator" / name)
    ]
    assert objects, "the operator kustomization lists no objects"
    for obj in objects:
        assert obj["metadata"]["annotations"][WAVE] == "0", obj["kind"]
        assert obj["kind"] != "CustomResourceDefinition"


def test_operator_objects_live_in_the_deploy_namespace() -> None:
    [operator] = load(DEPLOY_DIR / "operator" / "kustomization.yaml")
    objects = [
        obj for name in operator["resources"] for obj in load(DEPLOY_DIR / "operator" / name)
    ]
    namespaces = [obj for obj in objects if obj["kind"] == "Namespace"]
    assert [ns["metadata"]["name"] for ns in namespaces] == [NAMESPACE]
    assert namespaces[0]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    cluster_scoped = {"Namespace", "ClusterRole", "ClusterRoleBinding"}
    for obj in objects:
        if obj["kind"] not in cluster_scoped:
            assert obj["metadata"]["namespace"] == NAMESPACE, obj["kind"]


def test_argocd_application_points_at_deploy() -> None:
    [application] = load(DEPLOY_DIR / "argocd" / "application.yaml")
    assert application["apiVersion"] == "argoproj.io/v1alpha1"
    assert application["kind"] == "Application"
    source = application["spec"]["source"]
    assert source["path"] == "deploy"
    assert source["repoURL"].startswith("https://example.com/")
    assert application["spec"]["destination"]["namespace"] == NAMESPACE
