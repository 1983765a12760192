"""The SuperviselyTask API: pydantic models of spec and status, and the CRD made from them."""

from supervisely_operator.api.resource import API_VERSION, GROUP, KIND, PLURAL, VERSION
from supervisely_operator.api.spec import (
    Backoff,
    DeletionPolicy,
    KubernetesSettings,
    LogLevel,
    RestartPolicy,
    SecretReference,
    ServerRestartPolicy,
    SuperviselyTaskSpec,
)
from supervisely_operator.api.status import (
    Condition,
    ConditionStatus,
    LastError,
    OutputExperiment,
    OutputLink,
    OutputLinkKind,
    OutputProject,
    StartRequest,
    SuperviselyTaskStatus,
    TaskOutputs,
    TaskPhase,
)
from supervisely_operator.api.task import SuperviselyTask

__all__ = [
    "API_VERSION",
    "GROUP",
    "KIND",
    "PLURAL",
    "VERSION",
    "Backoff",
    "Condition",
    "ConditionStatus",
    "DeletionPolicy",
    "KubernetesSettings",
    "LastError",
    "LogLevel",
    "OutputExperiment",
    "OutputLink",
    "OutputLinkKind",
    "OutputProject",
    "RestartPolicy",
    "SecretReference",
    "ServerRestartPolicy",
    "StartRequest",
    "SuperviselyTask",
    "SuperviselyTaskSpec",
    "SuperviselyTaskStatus",
    "TaskOutputs",
    "TaskPhase",
]
