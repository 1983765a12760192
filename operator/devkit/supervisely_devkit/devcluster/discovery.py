"""Discovery documents that ``apiextensions-apiserver`` does not serve on its own.

Alone, the server has no ``/api`` and no ``/apis`` (inside kube-apiserver the
aggregator answers them), so neither kubectl nor kopf can find resources. These
pure functions build the legacy discovery documents from the CRD list, as
kube-apiserver would: only established CRDs, only served versions, versions in
Kubernetes' priority order. ``/api/v1`` lists ``namespaces`` (kopf's namespace observer
waits until it sees it) and ``events``, which the front serves from memory (``events``).
"""

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

JsonObject = dict[str, Any]

APIEXTENSIONS_GROUP = "apiextensions.k8s.io"
APIEXTENSIONS_VERSION = "v1"
CUSTOM_RESOURCE_VERBS = (
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "create",
    "update",
    "watch",
)
SUBRESOURCE_VERBS = ("get", "patch", "update")

_KUBE_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")
_STABILITY_RANK = {None: 3, "beta": 2, "alpha": 1}


@dataclass(frozen=True)
class CrdVersion:
    """One served version of a CRD and what clients need to know about it."""

    name: str
    schema: Mapping[str, Any] | None
    has_status: bool
    has_scale: bool


@dataclass(frozen=True)
class CrdSummary:
    """The parts of an established CRD that discovery and OpenAPI are built from."""

    group: str
    kind: str
    list_kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    categories: tuple[str, ...]
    namespaced: bool
    versions: tuple[CrdVersion, ...]


def version_priority(version: str) -> tuple[int, int, int, str]:
    """A sort key giving Kubernetes' order: GA before beta before alpha, newer first.

    Versions that are not Kubernetes-like (``foo``) come last, alphabetically.
    Sort ascending by this key.
    """
    match = _KUBE_VERSION.match(version)
    if match is None:
        return (0, 0, 0, version)
    major, stability, minor = match.group(1), match.group(2), match.group(3)
    return (-_STABILITY_RANK[stability], -int(major), -int(minor or 0), "")


def sort_versions(versions: Iterable[str]) -> list[str]:
    """Versions in Kubernetes' priority order, the preferred one first."""
    return sorted(versions, key=version_priority)


def _is_established(crd: Mapping[str, Any]) -> bool:
    conditions = crd.get("status", {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


def summarize_crds(crd_list: Mapping[str, Any]) -> list[CrdSummary]:
    """Turn a ``CustomResourceDefinitionList`` into summaries of what is actually served."""
    summaries = []
    for crd in crd_list.get("items") or []:
        if not _is_established(crd):
            continue
        spec = crd.get("spec", {})
        names = spec.get("names", {})
        versions = []
        for version in spec.get("versions") or []:
            if not version.get("served"):
                continue
            subresources = version.get("subresources") or {}
            versions.append(
                CrdVersion(
                    name=version["name"],
                    schema=(version.get("schema") or {}).get("openAPIV3Schema"),
                    has_status="status" in subresources,
                    has_scale="scale" in subresources,
                )
            )
        if not versions:
            continue
        kind = names["kind"]
        summaries.append(
            CrdSummary(
                group=spec["group"],
                kind=kind,
                list_kind=names.get("listKind") or f"{kind}List",
                plural=names["plural"],
                singular=names.get("singular") or kind.lower(),
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                namespaced=spec.get("scope") == "Namespaced",
                versions=tuple(versions),
            )
        )
    return summaries


def group_versions(crds: Sequence[CrdSummary]) -> dict[str, list[str]]:
    """{group: served versions in priority order} over all CRDs of each group."""
    found: dict[str, set[str]] = {}
    for crd in crds:
        found.setdefault(crd.group, set()).update(v.name for v in crd.versions)
    return {group: sort_versions(versions) for group, versions in sorted(found.items())}


def _group_document(group: str, versions: Sequence[str]) -> JsonObject:
    entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": entries, "preferredVersion": entries[0]}


def api_versions(*, server_address: str) -> JsonObject:
    """``GET /api``: the core group exists in version v1."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


EVENT_VERBS = ("create", "delete", "get", "list", "watch")
"""What the front serves of Events itself (``events``)."""


def core_v1_resources() -> JsonObject:
    """``GET /api/v1``: what kopf waits for: ``namespaces`` (listed, not served) and ``events``
    (served by the front from memory)."""
    return {
        "kind": "APIResourceList",
        "groupVersion": "v1",
        "resources": [
            {
                "name": "namespaces",
                "singularName": "namespace",
                "namespaced": False,
                "kind": "Namespace",
                "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
                "shortNames": ["ns"],
            },
            {
                "name": "events",
                "singularName": "event",
                "namespaced": True,
                "kind": "Event",
                "verbs": list(EVENT_VERBS),
                "shortNames": ["ev"],
            },
        ],
    }


def api_group_list(crds: Sequence[CrdSummary]) -> JsonObject:
    """``GET /apis``: apiextensions.k8s.io/v1 plus every group the CRDs serve."""
    groups = [_group_document(APIEXTENSIONS_GROUP, [APIEXTENSIONS_VERSION])]
    for group, versions in group_versions(crds).items():
        if group != APIEXTENSIONS_GROUP:
            groups.append(_group_document(group, versions))
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(crds: Sequence[CrdSummary], *, group: str) -> JsonObject | None:
    """``GET /apis/<group>`` for a CRD group, or None when no CRD serves that group."""
    versions = group_versions(crds).get(group)
    if not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_document(group, versions)}


def api_resource_list(crds: Sequence[CrdSummary], *, group: str, version: str) -> JsonObject | None:
    """``GET /apis/<group>/<version>`` for CRDs, or None when none serves it."""
    resources: list[JsonObject] = []
    for crd in crds:
        if crd.group != group:
            continue
        served = next((v for v in crd.versions if v.name == version), None)
        if served is None:
            continue
        resource: JsonObject = {
            "name": crd.plural,
            "singularName": crd.singular,
            "namespaced": crd.namespaced,
            "kind": crd.kind,
            "verbs": list(CUSTOM_RESOURCE_VERBS),
        }
        if crd.short_names:
            resource["shortNames"] = list(crd.short_names)
        if crd.categories:
            resource["categories"] = list(crd.categories)
        resources.append(resource)
        if served.has_status:
            resources.append(_subresource(crd, name="status", kind=crd.kind))
        if served.has_scale:
            resources.append(
                _subresource(crd, name="scale", kind="Scale", group="autoscaling", version="v1")
            )
    if not resources:
        return None
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}",
        "resources": resources,
    }


def _subresource(
    crd: CrdSummary, *, name: str, kind: str, group: str | None = None, version: str | None = None
) -> JsonObject:
    entry: JsonObject = {
        "name": f"{crd.plural}/{name}",
        "singularName": "",
        "namespaced": crd.namespaced,
        "kind": kind,
        "verbs": list(SUBRESOURCE_VERBS),
    }
    if group is not None:
        entry["group"] = group
        entry["version"] = version
    return entry
