"""Generate the SuperviselyTask CustomResourceDefinition from the pydantic models.

The models are the single source of truth: ``crds/superviselytask.yaml`` and the chart's copy
are this module's output, and a test fails when either is stale.
"""

from typing import Any

import yaml

from supervisely_operator.api import resource
from supervisely_operator.api.schema import JsonSchema, structural_schema
from supervisely_operator.api.spec import SuperviselyTaskSpec
from supervisely_operator.api.status import SuperviselyTaskStatus
from supervisely_operator.api.task import SuperviselyTask

GENERATED_HEADER = (
    "# Generated from operator/supervisely_operator/api by `supervisely-operator crds`.\n"
    "# Do not edit: change the models and regenerate.\n"
)

PRINTER_COLUMNS: list[dict[str, Any]] = [
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    {"name": "Task", "type": "integer", "jsonPath": ".status.taskId"},
    {"name": "Restarts", "type": "integer", "jsonPath": ".status.restarts"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    {"name": "Agent", "type": "integer", "jsonPath": ".status.agentId", "priority": 1},
    {"name": "App", "type": "string", "jsonPath": ".spec.appSlug", "priority": 1},
    {"name": "Module", "type": "integer", "jsonPath": ".status.moduleId", "priority": 1},
    {"name": "Workspace", "type": "integer", "jsonPath": ".spec.workspaceId", "priority": 1},
]


def _model_schema(model: type[SuperviselyTaskSpec | SuperviselyTaskStatus]) -> JsonSchema:
    return structural_schema(model.model_json_schema(by_alias=True, mode="validation"))


def openapi_schema() -> JsonSchema:
    """The CRD's ``openAPIV3Schema``: spec and status from the models, the rest Kubernetes'."""
    description = " ".join((SuperviselyTask.__doc__ or "").split())
    return {
        "type": "object",
        "description": description,
        "required": ["spec"],
        "properties": {
            "apiVersion": {
                "type": "string",
                "description": "Versioned schema of this object (supervisely.com/v1alpha1).",
            },
            "kind": {"type": "string", "description": "Kind of this object (SuperviselyTask)."},
            "metadata": {"type": "object"},
            "spec": _model_schema(SuperviselyTaskSpec),
            "status": _model_schema(SuperviselyTaskStatus),
        },
    }


def custom_resource_definition() -> dict[str, Any]:
    """The complete CustomResourceDefinition object."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": resource.CRD_NAME,
            "labels": {"app.kubernetes.io/name": "supervisely-operator"},
        },
        "spec": {
            "group": resource.GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": resource.KIND,
                "listKind": resource.LIST_KIND,
                "plural": resource.PLURAL,
                "singular": resource.SINGULAR,
                "shortNames": list(resource.SHORT_NAMES),
                "categories": list(resource.CATEGORIES),
            },
            "versions": [
                {
                    "name": resource.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                    "schema": {"openAPIV3Schema": openapi_schema()},
                }
            ],
        },
    }


def render_crd_yaml() -> str:
    """The CRD as the YAML committed under ``crds/``: stable key order, a generated header."""
    body = yaml.safe_dump(custom_resource_definition(), sort_keys=False, width=100)
    return GENERATED_HEADER + body
