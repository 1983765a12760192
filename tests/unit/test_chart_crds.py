"""The chart's CRDs: the generated SuperviselyTask CRD, copied unchanged, and kopf's peering CRDs.

The chart keeps them in ``crds/``, which Helm installs before rendering the templates (so a
peering object in the same release finds its kind), skips when they already exist (kopf's
peering CRDs are shared by every kopf operator in a cluster) and never deletes. The copy of the
generated CRD must be byte-identical to ``crds/`` and to the generator's output, and the peering
CRDs must name exactly what kopf watches and what permissions.py grants.
"""

import pytest
import yaml

# kopf's own selectors of the peering resources (private, but the one place that says what it
# watches; if kopf moves them this import fails loudly rather than the check going stale).
from kopf._cogs.structs import references

from chart_render import CHART_DIR, REPO, chart_crd_files
from supervisely_operator.api.crd import KINDS, Kind, render_crd_yaml
from supervisely_operator.controller.permissions import KOPF_GROUP, required_rules

REGENERATE = (
    "regenerate with: supervisely-operator crds --into crds/ && "
    "cp crds/*.yaml charts/supervisely-operator/crds/"
)


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.kind)
def test_chart_crd_is_the_committed_crd(kind: Kind) -> None:
    chart_copy = (CHART_DIR / "crds" / kind.file_name).read_text()
    assert chart_copy == (REPO / "crds" / kind.file_name).read_text(), REGENERATE


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.kind)
def test_chart_crd_is_the_generated_crd(kind: Kind) -> None:
    assert (CHART_DIR / "crds" / kind.file_name).read_text() == render_crd_yaml(kind), REGENERATE


def test_chart_ships_only_these_crds() -> None:
    assert sorted(chart_crd_files()) == [
        "kopfpeerings.yaml",
        "superviselycrontask.yaml",
        "superviselytask.yaml",
    ]


def test_peering_crds_are_what_kopf_watches_and_rbac_grants() -> None:
    crds = {
        crd["spec"]["names"]["kind"]: crd
        for crd in yaml.safe_load_all(chart_crd_files()["kopfpeerings.yaml"])
        if crd
    }
    assert sorted(crds) == ["ClusterKopfPeering", "KopfPeering"]
    expected = {
        "ClusterKopfPeering": (references.CLUSTER_PEERINGS_K, "Cluster"),
        "KopfPeering": (references.NAMESPACED_PEERINGS_K, "Namespaced"),
    }
    granted = {
        rule.resource
        for clusterwide in (True, False)
        for rule in required_rules(clusterwide=clusterwide, peering=True)
        if rule.api_group == KOPF_GROUP
    }
    for kind, (selector, scope) in expected.items():
        spec = crds[kind]["spec"]
        assert (spec["group"], spec["versions"][0]["name"]) == (selector.group, selector.version)
        assert spec["group"] == KOPF_GROUP
        assert spec["names"]["plural"] == selector.any_name
        assert crds[kind]["metadata"]["name"] == f"{selector.any_name}.{KOPF_GROUP}"
        assert spec["scope"] == scope
        assert spec["names"]["plural"] in granted
        # kopf keeps free-form keep-alives in status: a schema that pruned them would break it.
        status = spec["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
        assert status["x-kubernetes-preserve-unknown-fields"] is True
