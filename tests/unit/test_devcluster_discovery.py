"""Pure discovery and OpenAPI builders: version order, what counts as served, schema names.

kubectl and kopf pick the preferred version and resolve schemas by exactly these
rules, so a mistake here shows up as "the server doesn't have a resource type"
far from its cause.
"""

import pytest

from supervisely_devkit.devcluster.discovery import (
    CrdSummary,
    CrdVersion,
    api_group_list,
    api_resource_list,
    sort_versions,
)
from supervisely_devkit.devcluster.openapi import (
    document_hash,
    group_version_document,
    root_with_documents,
    schema_name,
)


@pytest.mark.parametrize(
    ("versions", "expected", "why"),
    [
        (["v1beta1", "v1"], ["v1", "v1beta1"], "GA comes before beta"),
        (["v1alpha1", "v1beta1"], ["v1beta1", "v1alpha1"], "beta comes before alpha"),
        (["v1", "v2"], ["v2", "v1"], "a newer GA comes first"),
        (["v2alpha1", "v1"], ["v1", "v2alpha1"], "stability beats the major number"),
        (["v1beta1", "v1beta2"], ["v1beta2", "v1beta1"], "a newer beta comes first"),
        (["foo", "v1", "bar"], ["v1", "bar", "foo"], "non-Kubernetes names last, sorted"),
    ],
)
def test_versions_sort_in_kubernetes_priority_order(
    versions: list[str], expected: list[str], why: str
) -> None:
    assert sort_versions(versions) == expected, why


def _summary(*, group: str = "example.test", namespaced: bool = True) -> CrdSummary:
    return CrdSummary(
        group=group, kind="Widget", list_kind="WidgetList", plural="widgets", singular="widget",
        short_names=(), categories=("all",), namespaced=namespaced,
        versions=(CrdVersion(name="v1", schema=None, has_status=False, has_scale=True),),
    )  # fmt: skip


def test_apiextensions_is_always_listed_and_never_twice() -> None:
    groups = api_group_list([_summary(group="apiextensions.k8s.io")])["groups"]
    assert [g["name"] for g in groups] == ["apiextensions.k8s.io"]


def test_the_scale_subresource_is_listed_as_autoscaling_scale() -> None:
    document = api_resource_list([_summary()], group="example.test", version="v1")
    assert document is not None
    scale = next(r for r in document["resources"] if r["name"] == "widgets/scale")
    assert (scale["group"], scale["version"], scale["kind"]) == ("autoscaling", "v1", "Scale")
    assert api_resource_list([_summary()], group="example.test", version="v2") is None


def test_schema_names_reverse_the_group() -> None:
    assert schema_name(group="tasks.supervisely.com", version="v1", kind="X") == (
        "com.supervisely.tasks.v1.X"
    )


def test_cluster_scoped_paths_have_no_namespace_and_schemaless_crds_stay_open() -> None:
    document = group_version_document(
        [_summary(namespaced=False)], group="example.test", version="v1", meta_schemas={}
    )
    assert document is not None
    assert set(document["paths"]) == {
        "/apis/example.test/v1/widgets",
        "/apis/example.test/v1/widgets/{name}",
    }
    widget = document["components"]["schemas"]["test.example.v1.Widget"]
    assert widget["x-kubernetes-preserve-unknown-fields"] is True


def test_the_root_listing_hash_changes_with_the_document() -> None:
    document = group_version_document(
        [_summary()], group="example.test", version="v1", meta_schemas={}
    )
    assert document is not None
    root = root_with_documents(
        {"paths": {"version": {}}}, documents={("example.test", "v1"): document}
    )
    url = root["paths"]["apis/example.test/v1"]["serverRelativeURL"]
    assert url.endswith(f"?hash={document_hash(document)}")
    assert "version" in root["paths"]
    assert document_hash(document) != document_hash({**document, "paths": {}})
