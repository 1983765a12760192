"""Generate the operator's CustomResourceDefinitions from the pydantic models.

The models are the single source of truth: ``crds/superviselytask.yaml``,
``crds/superviselycrontask.yaml`` and the chart's copies are this module's output, and a test
fails when any is stale.
"""

from dataclasses import dataclass
from typing import Any

import yaml

from supervisely_operator.api import resource
from supervisely_operator.api.base import CrdModel
from supervisely_operator.api.cron import (
    SuperviselyCronTask,
    SuperviselyCronTaskSpec,
    SuperviselyCronTaskStatus,
)
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

CRON_PRINTER_COLUMNS: list[dict[str, Any]] = [
    {"name": "Schedule", "type": "string", "jsonPath": ".spec.schedule"},
    {"name": "Timezone", "type": "string", "jsonPath": ".spec.timeZone"},
    {"name": "Suspend", "type": "boolean", "jsonPath": ".spec.suspend"},
    {"name": "Active", "type": "integer", "jsonPath": ".status.activeCount"},
    {"name": "Last Schedule", "type": "date", "jsonPath": ".status.lastScheduleTime"},
    {"name": "Next", "type": "date", "jsonPath": ".status.nextScheduleTime"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]

CRON_NAME_LIMIT = 52
"""As a CronJob's: each run carries the name as a label value (at most 63 characters), and is
named after it and its tick (``-`` and up to 11 characters more)."""


@dataclass(frozen=True)
class Kind:
    """One custom resource of the operator: its names, models and columns."""

    kind: str
    list_kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    model: type[CrdModel]
    spec: type[CrdModel]
    status: type[CrdModel]
    printer_columns: list[dict[str, Any]]
    file_name: str
    root_rules: tuple[dict[str, str], ...] = ()

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{resource.GROUP}"


TASK = Kind(
    kind=resource.KIND,
    list_kind=resource.LIST_KIND,
    plural=resource.PLURAL,
    singular=resource.SINGULAR,
    short_names=resource.SHORT_NAMES,
    model=SuperviselyTask,
    spec=SuperviselyTaskSpec,
    status=SuperviselyTaskStatus,
    printer_columns=PRINTER_COLUMNS,
    file_name="superviselytask.yaml",
)
CRON = Kind(
    kind=resource.CRON_KIND,
    list_kind=resource.CRON_LIST_KIND,
    plural=resource.CRON_PLURAL,
    singular=resource.CRON_SINGULAR,
    short_names=resource.CRON_SHORT_NAMES,
    model=SuperviselyCronTask,
    spec=SuperviselyCronTaskSpec,
    status=SuperviselyCronTaskStatus,
    printer_columns=CRON_PRINTER_COLUMNS,
    file_name="superviselycrontask.yaml",
    root_rules=(
        {
            "rule": f"size(self.metadata.name) <= {CRON_NAME_LIMIT}",
            "message": f"a SuperviselyCronTask's name is at most {CRON_NAME_LIMIT} characters: "
            "its runs carry it as a label and in their names",
        },
    ),
)
KINDS = (TASK, CRON)


def _model_schema(model: type[CrdModel]) -> JsonSchema:
    return structural_schema(model.model_json_schema(by_alias=True, mode="validation"))


def openapi_schema(kind: Kind = TASK) -> JsonSchema:
    """The CRD's ``openAPIV3Schema``: spec and status from the models, the rest Kubernetes'."""
    description = " ".join((kind.model.__doc__ or "").split())
    schema: JsonSchema = {
        "type": "object",
        "description": description,
        "required": ["spec"],
        "properties": {
            "apiVersion": {
                "type": "string",
                "description": f"Versioned schema of this object ({resource.API_VERSION}).",
            },
            "kind": {"type": "string", "description": f"Kind of this object ({kind.kind})."},
            "metadata": {"type": "object"},
            "spec": _model_schema(kind.spec),
            "status": _model_schema(kind.status),
        },
    }
    if kind.root_rules:
        schema["x-kubernetes-validations"] = list(kind.root_rules)
    return schema


def custom_resource_definition(kind: Kind = TASK) -> dict[str, Any]:
    """The complete CustomResourceDefinition object."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": kind.crd_name,
            "labels": {"app.kubernetes.io/name": "supervisely-operator"},
        },
        "spec": {
            "group": resource.GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind.kind,
                "listKind": kind.list_kind,
                "plural": kind.plural,
                "singular": kind.singular,
                "shortNames": list(kind.short_names),
                "categories": list(resource.CATEGORIES),
            },
            "versions": [
                {
                    "name": resource.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": kind.printer_columns,
                    "schema": {"openAPIV3Schema": openapi_schema(kind)},
                }
            ],
        },
    }


def render_crd_yaml(kind: Kind = TASK) -> str:
    """One CRD as the YAML committed under ``crds/``: stable key order, a generated header."""
    body = yaml.safe_dump(custom_resource_definition(kind), sort_keys=False, width=100)
    return GENERATED_HEADER + body


def render_all_crds_yaml() -> str:
    """Every CRD of the operator, as one multi-document YAML (``supervisely-operator crds``)."""
    return "---\n".join(render_crd_yaml(kind) for kind in KINDS)
