"""Building blocks of the decision's tests: a resource, its spec and status, what was seen."""

from datetime import UTC, datetime, timedelta
from typing import Any

from supervisely_operator.api import ConditionStatus, SuperviselyTaskSpec, SuperviselyTaskStatus
from supervisely_operator.reconcile.launch import launch_hash
from supervisely_operator.reconcile.situation import (
    NothingToObserve,
    Observation,
    Plan,
    RemoteStatus,
    RemoteTask,
    ResourceRef,
    Situation,
    TaskSeen,
    Tuning,
)

NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
RESOURCE = ResourceRef(namespace="ml", name="train", uid="0b1c2d3e")
TUNING = Tuning()


def spec(**overrides: Any) -> SuperviselyTaskSpec:
    return SuperviselyTaskSpec.model_validate({"moduleId": 101, "workspaceId": 1, **overrides})


SPEC = spec()
HASH = launch_hash(SPEC)


def status(**fields: Any) -> SuperviselyTaskStatus:
    return SuperviselyTaskStatus.model_validate(fields)


def running_status(task_id: int = 7, **fields: Any) -> SuperviselyTaskStatus:
    base = {
        "taskId": task_id,
        "launchHash": HASH,
        "phase": "Running",
        "remoteStatus": "started",
        "startedAt": NOW - timedelta(minutes=5),
    }
    return status(**{**base, **fields})


def seen(
    task_id: int = 7,
    remote: RemoteStatus | None = RemoteStatus.STARTED,
    *,
    ready: bool = True,
    **fields: Any,
) -> TaskSeen:
    """The task as the poller reports it; a started app answers is_ready unless ``ready``."""
    raw = str(remote or "odd")
    return TaskSeen(
        RemoteTask(task_id=task_id, status=remote, raw_status=raw, ready=ready, **fields)
    )


def situation(
    *,
    spec_: SuperviselyTaskSpec = SPEC,
    status_: SuperviselyTaskStatus | None = None,
    observation: Observation | None = None,
    now: datetime = NOW,
    deleting: bool = False,
    protected: bool = True,
    **extra: Any,
) -> Situation:
    return Situation(
        resource=RESOURCE,
        generation=2,
        spec=spec_,
        status=status_ or SuperviselyTaskStatus(),
        observation=observation or NothingToObserve(),
        now=now,
        deleting=deleting,
        protected=protected,
        tuning=TUNING,
        **extra,
    )


def condition(plan: Plan, type_: str) -> ConditionStatus | None:
    return next((c.status for c in plan.status.conditions if c.type == type_), None)
