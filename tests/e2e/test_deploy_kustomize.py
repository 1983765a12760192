"""``deploy/`` with kubectl's own kustomize, and its CRD part on a real API server.

The local control plane is apiextensions-apiserver without core v1 (no namespaces, service
accounts or deployments), so of ``deploy/`` it can take only ``deploy/crds``, which is why that
folder is a kustomization of its own: ``kubectl apply -k deploy/crds`` runs here exactly as a
user would run it, and the CRDs must come up Established and serve SuperviselyTasks. The whole
``deploy/`` is built client-side (``kubectl kustomize``) to check the order kubectl and Argo CD
receive: the CRDs before the Deployment. The CRDs are left installed: other tests use the same
SuperviselyTask CRD, and on an external cluster kopf's peering CRDs may belong to other operators.
"""

import json
import subprocess
from pathlib import Path

import yaml

from supervisely_devkit.devcluster.access import ClusterAccess, kubectl_binary
from supervisely_operator.api.resource import CRD_NAME, CRON_CRD_NAME

DEPLOY_DIR = Path(__file__).resolve().parents[2] / "deploy"
CRD_NAMES = [CRD_NAME, CRON_CRD_NAME, "clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev"]


def test_apply_k_deploy_crds_establishes_the_crds(kube_cluster: ClusterAccess) -> None:
    applied = kube_cluster.kubectl("apply", "-k", str(DEPLOY_DIR / "crds"))
    for name in CRD_NAMES:
        assert f"customresourcedefinition.apiextensions.k8s.io/{name}" in applied.stdout
    assert "Warning" not in applied.stderr, applied.stderr
    kube_cluster.wait_established(*CRD_NAMES)
    crd = json.loads(kube_cluster.kubectl("get", "crd", CRD_NAME, "-o", "json").stdout)
    assert crd["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] == "-1"
    # The resource is served under its short name, as the chart's NOTES tell users to type.
    listed = kube_cluster.kubectl("get", "slytask", "-A", "-o", "json")
    assert json.loads(listed.stdout)["kind"] == "List"


def test_kustomize_build_puts_the_crds_before_the_operator() -> None:
    built = subprocess.run(
        [kubectl_binary(), "kustomize", str(DEPLOY_DIR)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    kinds = [document["kind"] for document in yaml.safe_load_all(built) if document]
    crd_positions = [i for i, kind in enumerate(kinds) if kind == "CustomResourceDefinition"]
    assert len(crd_positions) == len(CRD_NAMES)
    assert "SuperviselyTask" not in kinds
    assert max(crd_positions) < kinds.index("Deployment")
    assert kinds.index("Namespace") < kinds.index("Deployment")
