"""Turn pydantic's JSON Schema into a Kubernetes *structural* OpenAPI v3 schema.

The API server accepts only structural schemas for CRDs: no ``$ref``, no ``anyOf`` for optional
fields, a ``type`` on every node, no boolean ``additionalProperties``. pydantic emits all of
these, so this module rewrites its output once, in one place, instead of hand-writing YAML.
A map (``dict[str, X]``) keeps its ``additionalProperties`` schema: that is the structural
form of a map, and without it the API server would prune every key.
"""

from typing import Any

JsonSchema = dict[str, Any]

#: Keys pydantic emits that carry no meaning for the API server (or are not allowed there).
_DROPPED_KEYS = frozenset({"title", "$defs"})


class SchemaError(ValueError):
    """The models produce a schema the API server would refuse; the message says where."""


#: Keys first in this order, so the generated YAML reads like a hand-written CRD.
_KEY_ORDER = ("type", "description", "default", "enum", "format", "pattern")


def structural_schema(schema: JsonSchema) -> JsonSchema:
    """A self-contained structural copy of a pydantic model's JSON schema."""
    return _ordered(_rewrite(schema, definitions=schema.get("$defs", {}), path=""))


def _ordered(node: JsonSchema) -> JsonSchema:
    """Canonical key order at every level; `properties` keep the models' field order."""

    def rank(key: str) -> tuple[int, str]:
        return (_KEY_ORDER.index(key), "") if key in _KEY_ORDER else (len(_KEY_ORDER), key)

    ordered: JsonSchema = {}
    for key in sorted(node, key=rank):
        value = node[key]
        if key == "properties":
            value = {name: _ordered(child) for name, child in value.items()}
        elif key in ("items", "additionalProperties"):
            value = _ordered(value)
        ordered[key] = value
    return ordered


def _rewrite(node: JsonSchema, *, definitions: dict[str, JsonSchema], path: str) -> JsonSchema:
    if "$ref" in node:
        name = node["$ref"].removeprefix("#/$defs/")
        referenced = _rewrite(definitions[name], definitions=definitions, path=path)
        overlay = {key: value for key, value in node.items() if key != "$ref"}
        return {**referenced, **_rewrite_keys(overlay, definitions=definitions, path=path)}
    if "anyOf" in node:
        return _rewrite_optional(node, definitions=definitions, path=path)
    rewritten = _rewrite_keys(node, definitions=definitions, path=path)
    if "type" not in rewritten and not rewritten.get("x-kubernetes-preserve-unknown-fields"):
        raise SchemaError(f"{path or '<root>'}: a structural schema needs a type on every node")
    return rewritten


def _rewrite_keys(node: JsonSchema, *, definitions: dict[str, JsonSchema], path: str) -> JsonSchema:
    rewritten: JsonSchema = {}
    for key, value in node.items():
        if key in _DROPPED_KEYS or (key == "default" and value is None):
            continue
        if key == "additionalProperties":
            if isinstance(value, dict):  # a map's values; a boolean has no structural form
                rewritten[key] = _rewrite(value, definitions=definitions, path=f"{path}{{}}")
            continue
        if key == "description":
            rewritten[key] = " ".join(value.split())
        elif key == "const":
            rewritten["enum"] = [value]
        elif key == "properties":
            rewritten[key] = {
                name: _rewrite(child, definitions=definitions, path=f"{path}.{name}")
                for name, child in value.items()
            }
        elif key == "items":
            rewritten[key] = _rewrite(value, definitions=definitions, path=f"{path}[]")
        else:
            rewritten[key] = value
    return rewritten


def _rewrite_optional(
    node: JsonSchema, *, definitions: dict[str, JsonSchema], path: str
) -> JsonSchema:
    """``X | None`` becomes plain ``X``: an unset field is simply absent from the object."""
    variants = [variant for variant in node["anyOf"] if variant != {"type": "null"}]
    if len(variants) != 1:
        raise SchemaError(f"{path}: unions other than `X | None` have no structural form")
    siblings = {key: value for key, value in node.items() if key != "anyOf"}
    inner = _rewrite(variants[0], definitions=definitions, path=path)
    return {**inner, **_rewrite_keys(siblings, definitions=definitions, path=path)}
