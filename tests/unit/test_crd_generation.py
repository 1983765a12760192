"""The CRD is generated from the models, is structural, documents every field, and is current."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from supervisely_operator.api.crd import (
    KINDS,
    Kind,
    custom_resource_definition,
    openapi_schema,
    render_crd_yaml,
)
from supervisely_operator.api.schema import SchemaError, structural_schema
from supervisely_operator.cli import main

REPO = Path(__file__).resolve().parents[2]
COMMITTED_CRD = REPO / "crds" / "superviselytask.yaml"
REGENERATE = "regenerate with: supervisely-operator crds --into crds/"


def walk(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, schema
    for name, child in schema.get("properties", {}).items():
        yield from walk(child, f"{path}.{name}")
    if "items" in schema:
        yield from walk(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from walk(schema["additionalProperties"], f"{path}{{}}")


def test_committed_crd_is_current() -> None:
    assert COMMITTED_CRD.read_text() == render_crd_yaml(), REGENERATE


def test_cli_prints_the_committed_crds() -> None:
    result = CliRunner().invoke(main, ["crds"])
    assert result.exit_code == 0, result.output
    committed = [(REPO / "crds" / kind.file_name).read_text() for kind in KINDS]
    assert result.output == "---\n".join(committed)


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.kind)
def test_every_committed_crd_is_the_generated_one(kind: Kind) -> None:
    committed = REPO / "crds" / kind.file_name
    assert committed.read_text() == render_crd_yaml(kind), REGENERATE


def test_every_field_of_spec_and_status_has_a_description() -> None:
    schema = openapi_schema()
    undocumented = [
        path
        for part in ("spec", "status")
        for path, node in walk(schema["properties"][part], part)
        if not node.get("description") and not path.endswith(("[]", "{}"))  # items, map values
    ]
    assert undocumented == []


def test_schema_is_structural() -> None:
    for path, node in walk(openapi_schema()):
        assert "type" in node or node.get("x-kubernetes-preserve-unknown-fields"), path
        assert not {"$ref", "anyOf", "oneOf", "allOf", "title"} & set(node)
        if "additionalProperties" in node:  # a map: a schema for its values, and no fields
            assert isinstance(node["additionalProperties"], dict), path
            assert "properties" not in node, path


def test_cross_field_rules_are_cel_on_the_right_objects() -> None:
    spec = openapi_schema()["properties"]["spec"]
    rules = [rule["rule"] for rule in spec["x-kubernetes-validations"]]
    assert any(rule.endswith(": has(self.moduleId) != has(self.appSlug)") for rule in rules)

    k8s = spec["properties"]["kubernetesSettings"]["x-kubernetes-validations"]
    assert [rule["fieldPath"] for rule in k8s] == [".requestCpus"]


def test_no_field_is_checked_by_a_bare_pattern() -> None:
    """The API server answers a failed ``pattern`` with the raw regular expression; a field rule
    says in words what the value should look like."""
    spec = openapi_schema()["properties"]["spec"]
    assert [path for path, node in walk(spec, "spec") if "pattern" in node] == []


def test_field_rules_are_cel_on_their_own_fields() -> None:
    spec = openapi_schema()["properties"]["spec"]
    ruled = {
        path: [rule["message"].split()[0] for rule in node["x-kubernetes-validations"]]
        for path, node in walk(spec, "spec")
        if path != "spec" and "x-kubernetes-validations" in node
    }
    assert ruled == {
        "spec.appSlug": ["appSlug"],
        "spec.appVersion": ["appVersion"],
        "spec.taskName": ["taskName"],
        "spec.usersIds": ["usersIds"],
        "spec.kubernetesSettings": ["requestCpus"],
        "spec.backoff": ["initialDelaySeconds"],
        "spec.credentialsSecretRef.name": ["credentialsSecretRef.name"],
        # A shared type: the API server names the field before the message ("must be ...").
        "spec.failureRules[]": ["a"],
        "spec.failureRules[].onLogLine": ["must"],
        "spec.failureRules[].onMessage": ["must"],
        "spec.paramsFrom[]": ["metric"],
        "spec.paramsFrom[].path": ["path"],
        "spec.paramsFrom[].source": ["source"],
    }
    assert spec["properties"]["appSlug"]["x-kubernetes-validations"][0]["rule"] == (
        "self.matches('^(?:[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+)$')"
    )


def test_defaults_enums_and_bounds_reach_the_schema() -> None:
    spec = openapi_schema()["properties"]["spec"]["properties"]
    assert spec["restartPolicy"]["default"] == "OnError"
    assert spec["restartPolicy"]["enum"] == ["Never", "OnError"]
    assert spec["logLevel"]["enum"] == ["info", "debug", "warning", "error"]
    assert spec["kubernetesSettings"]["properties"]["limitGpuCoresPerc"]["maximum"] == 100
    assert spec["backoff"]["properties"]["limit"]["default"] == 3
    assert spec["params"]["x-kubernetes-preserve-unknown-fields"] is True


def test_names_printer_columns_and_status_subresource() -> None:
    crd = custom_resource_definition()
    names = crd["spec"]["names"]
    assert (names["plural"], names["shortNames"], names["categories"]) == (
        "superviselytasks",
        ["slytask"],
        ["supervisely"],
    )
    version = crd["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    columns = {
        column["name"]: column.get("priority", 0) for column in version["additionalPrinterColumns"]
    }
    assert columns == {
        "Phase": 0, "Task": 0, "Restarts": 0, "Age": 0,
        "Agent": 1, "App": 1, "Module": 1, "Workspace": 1,
    }  # fmt: skip


def test_conditions_merge_by_type() -> None:
    conditions = openapi_schema()["properties"]["status"]["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]


def test_committed_file_is_one_yaml_document_with_a_do_not_edit_header() -> None:
    text = COMMITTED_CRD.read_text()
    assert text.startswith("# Generated")
    assert yaml.safe_load(text) == custom_resource_definition()


@pytest.mark.parametrize(
    ("schema", "complaint"),
    [
        ({"anyOf": [{"type": "integer"}, {"type": "string"}]}, "unions"),
        ({"type": "object", "properties": {"x": {"description": "no type"}}}, ".x: a structural"),
    ],
)
def test_unstructural_models_are_refused_with_the_path(
    schema: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(SchemaError, match=complaint):
        structural_schema(schema)


def test_output_metrics_are_a_bounded_map_of_numbers() -> None:
    outputs = openapi_schema()["properties"]["status"]["properties"]["outputs"]
    metrics = outputs["properties"]["experiment"]["properties"]["metrics"]
    assert metrics["type"] == "object"
    assert metrics["additionalProperties"] == {"type": "number"}, "kept, or every key is pruned"
    assert metrics["maxProperties"] == 32
