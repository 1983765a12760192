"""OpenAPI v3 documents for custom resources, as kube-apiserver would publish them.

Alone, ``apiextensions-apiserver`` lists only its own group under ``/openapi/v3``.
kubectl needs a document per CRD group-version to do a plain ``apply -f`` (else
"failed to download openapi"), to know that the server validates fields itself
(so an unknown field fails with ``strict decoding error``) and to ``explain``.
These pure functions build that document: ``components.schemas`` keyed
``<reversed group>.<version>.<Kind>`` (the CRD's schema plus ``apiVersion``,
``kind``, ``metadata`` and the group-version-kind extension), a ``<Kind>List``,
and ``paths`` for create (collection ``post``) and update (item ``put``/``patch``)
that accept the ``fieldValidation`` query parameter.
"""

import copy
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from supervisely_devkit.devcluster.discovery import CrdSummary, CrdVersion, JsonObject

OPENAPI_ROOT_PATH = "/openapi/v3"
META_SCHEMA_PREFIX = "io.k8s.apimachinery."
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
LIST_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"
PATCH = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch"
GVK_EXTENSION = "x-kubernetes-group-version-kind"

API_VERSION_DESCRIPTION = (
    "APIVersion defines the versioned schema of this representation of an object. Servers "
    "should convert recognized schemas to the latest internal value, and may reject "
    "unrecognized values."
)
KIND_DESCRIPTION = (
    "Kind is a string value representing the REST resource this object represents. Servers "
    "may infer this from the endpoint the client submits requests to. In CamelCase."
)
METADATA_DESCRIPTION = "Standard object's metadata."
LIST_METADATA_DESCRIPTION = "Standard list metadata."

# Used only when the upstream's own document cannot be read: enough for kubectl.
FALLBACK_META_SCHEMAS: JsonObject = {
    OBJECT_META: {
        "type": "object",
        "description": "ObjectMeta is metadata that all persisted resources must have.",
        "x-kubernetes-preserve-unknown-fields": True,
    },
    LIST_META: {
        "type": "object",
        "description": "ListMeta describes metadata that synthetic resources must have.",
        "x-kubernetes-preserve-unknown-fields": True,
    },
    PATCH: {
        "type": "object",
        "description": "Patch is provided to give a concrete name and "
        "type to the Kubernetes PATCH request body.",
    },
}

_QUERY_PARAMETERS = {
    "dryRun": "When present, indicates that modifications should not be persisted.",
    "fieldManager": "fieldManager is a name associated with the actor or entity that is "
    "making these changes.",
    "force": 'Force is going to "force" Apply requests: it re-acquires conflicting fields '
    "owned by other people.",
    "fieldValidation": "fieldValidation instructs the server on how to handle objects in the "
    "request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: "
    "Ignore, Warn (the default), Strict.",
}
_PATCH_CONTENT_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/apply-patch+yaml",
)


def schema_name(*, group: str, version: str, kind: str) -> str:
    """``example.test``, ``v1``, ``Widget`` -> ``test.example.v1.Widget``, like kube-apiserver."""
    return ".".join([*reversed(group.split(".")), version, kind])


def meta_schemas_from(document: Mapping[str, Any]) -> JsonObject:
    """The ``io.k8s.apimachinery.*`` schemas (ObjectMeta and friends) of an upstream document."""
    schemas = document.get("components", {}).get("schemas", {})
    return {name: s for name, s in schemas.items() if name.startswith(META_SCHEMA_PREFIX)}


def document_hash(document: Mapping[str, Any]) -> str:
    """The cache-busting hash kube-apiserver puts in ``serverRelativeURL`` (SHA-512, upper hex)."""
    encoded = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha512(encoded).hexdigest().upper()


def document_path(*, group: str, version: str) -> str:
    """The key of a group-version in the ``/openapi/v3`` root listing."""
    return f"apis/{group}/{version}"


def _ref(name: str) -> JsonObject:
    return {"$ref": f"#/components/schemas/{name}"}


def _gvk(*, group: str, version: str, kind: str) -> JsonObject:
    return {"group": group, "version": version, "kind": kind}


def _object_schema(crd: CrdSummary, version: CrdVersion) -> JsonObject:
    schema: JsonObject = (
        copy.deepcopy(dict(version.schema))
        if version.schema
        else {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": True,
        }
    )
    schema.setdefault("type", "object")
    properties = dict(schema.get("properties") or {})
    properties["apiVersion"] = {"type": "string", "description": API_VERSION_DESCRIPTION}
    properties["kind"] = {"type": "string", "description": KIND_DESCRIPTION}
    properties["metadata"] = {"allOf": [_ref(OBJECT_META)], "description": METADATA_DESCRIPTION}
    schema["properties"] = properties
    # Schemas carry a list of group-version-kinds; operations (below) carry a single one.
    schema[GVK_EXTENSION] = [_gvk(group=crd.group, version=version.name, kind=crd.kind)]
    return schema


def _list_schema(crd: CrdSummary, version: CrdVersion, item_name: str) -> JsonObject:
    return {
        "type": "object",
        "description": f"{crd.list_kind} is a list of {crd.kind}",
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string", "description": API_VERSION_DESCRIPTION},
            "items": {
                "type": "array",
                "items": _ref(item_name),
                "description": f"List of {crd.plural}.",
            },
            "kind": {"type": "string", "description": KIND_DESCRIPTION},
            "metadata": {"allOf": [_ref(LIST_META)], "description": LIST_METADATA_DESCRIPTION},
        },
        GVK_EXTENSION: [_gvk(group=crd.group, version=version.name, kind=crd.list_kind)],
    }


def _query_parameters(*names: str) -> list[JsonObject]:
    return [
        {
            "name": name,
            "in": "query",
            "description": _QUERY_PARAMETERS[name],
            "schema": {"type": "string", "uniqueItems": True},
        }
        for name in names
    ]


def _path_parameter(name: str, description: str) -> JsonObject:
    return {
        "name": name,
        "in": "path",
        "description": description,
        "required": True,
        "schema": {"type": "string", "uniqueItems": True},
    }


def _responses(item_name: str, *codes: tuple[str, str]) -> JsonObject:
    return {
        code: {"description": text, "content": {"application/json": {"schema": _ref(item_name)}}}
        for code, text in codes
    }


def _operation(
    *,
    action: str,
    operation_id: str,
    gvk: JsonObject,
    body: JsonObject,
    responses: JsonObject,
    extra: Sequence[str] = (),
) -> JsonObject:
    return {
        "description": f"{action} a {gvk['kind']}",
        "operationId": operation_id,
        "parameters": _query_parameters("dryRun", "fieldManager", "fieldValidation", *extra),
        "requestBody": {"content": body, "required": True},
        "responses": responses,
        "x-kubernetes-action": action,
        GVK_EXTENSION: gvk,
    }


def _paths(crd: CrdSummary, version: CrdVersion, item_name: str) -> JsonObject:
    base = f"/apis/{crd.group}/{version.name}"
    scope_params: list[JsonObject] = []
    scoped = ""
    if crd.namespaced:
        base += "/namespaces/{namespace}"
        scope_params.append(_path_parameter("namespace", "object name and auth scope"))
        scoped = "Namespaced"
    gvk = _gvk(group=crd.group, version=version.name, kind=crd.kind)
    suffix = "".join(part.capitalize() for part in crd.group.split(".")) + version.name.capitalize()
    json_body = {"application/json": {"schema": _ref(item_name)}}
    patch_body = {content_type: {"schema": _ref(PATCH)} for content_type in _PATCH_CONTENT_TYPES}
    ok = ("200", "OK")
    return {
        f"{base}/{crd.plural}": {
            "parameters": scope_params,
            "post": _operation(
                action="post",
                operation_id=f"create{suffix}{scoped}{crd.kind}",
                gvk=gvk,
                body=json_body,
                responses=_responses(item_name, ok, ("201", "Created")),
            ),
        },
        f"{base}/{crd.plural}/{{name}}": {
            "parameters": [_path_parameter("name", f"name of the {crd.kind}"), *scope_params],
            "put": _operation(
                action="put",
                operation_id=f"replace{suffix}{scoped}{crd.kind}",
                gvk=gvk,
                body=json_body,
                responses=_responses(item_name, ok, ("201", "Created")),
            ),
            "patch": _operation(
                action="patch",
                operation_id=f"patch{suffix}{scoped}{crd.kind}",
                gvk=gvk,
                body=patch_body,
                responses=_responses(item_name, ok, ("201", "Created")),
                extra=("force",),
            ),
        },
    }


def group_version_document(
    crds: Sequence[CrdSummary], *, group: str, version: str, meta_schemas: Mapping[str, Any]
) -> JsonObject | None:
    """The OpenAPI v3 document of one CRD group-version, or None when no CRD serves it."""
    schemas: JsonObject = {**FALLBACK_META_SCHEMAS, **copy.deepcopy(dict(meta_schemas))}
    paths: JsonObject = {}
    found = False
    for crd in crds:
        served = next((v for v in crd.versions if v.name == version), None)
        if crd.group != group or served is None:
            continue
        found = True
        item_name = schema_name(group=group, version=version, kind=crd.kind)
        schemas[item_name] = _object_schema(crd, served)
        schemas[schema_name(group=group, version=version, kind=crd.list_kind)] = _list_schema(
            crd, served, item_name
        )
        paths.update(_paths(crd, served, item_name))
    if not found:
        return None
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes CRD Swagger", "version": "v0.1.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def root_with_documents(
    upstream_root: Mapping[str, Any], *, documents: Mapping[tuple[str, str], JsonObject]
) -> JsonObject:
    """The upstream ``/openapi/v3`` listing plus an entry per CRD group-version document."""
    paths = dict(upstream_root.get("paths") or {})
    for (group, version), document in sorted(documents.items()):
        paths[document_path(group=group, version=version)] = {
            "serverRelativeURL": f"{OPENAPI_ROOT_PATH}/apis/{group}/{version}"
            f"?hash={document_hash(document)}"
        }
    return {**upstream_root, "paths": paths}
