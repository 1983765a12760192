"""The whole SuperviselyTask object, for code that reads one from the API server."""

from typing import Any

from pydantic import Field

from supervisely_operator.api.base import CrdModel
from supervisely_operator.api.spec import SuperviselyTaskSpec
from supervisely_operator.api.status import SuperviselyTaskStatus


class SuperviselyTask(CrdModel):
    """A Supervisely app task (training, inference, export or serving app) that the operator
    starts on Supervisely, watches, restarts on error under its restart policy, and stops when
    suspended or deleted."""

    api_version: str
    kind: str
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: SuperviselyTaskSpec
    status: SuperviselyTaskStatus = Field(default_factory=SuperviselyTaskStatus)
