"""Building blocks of the decision's tests: a resource, its spec and status, what was seen."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from supervisely_operator.api import ConditionStatus, SuperviselyTaskSpec, SuperviselyTaskStatus
from supervisely_operator.reconcile.decide import plan_next_step
from supervisely_operator.reconcile.launch import launch_hash
from supervisely_operator.reconcile.situation import (
    ActionTaken,
    CallFailed,
    NothingToObserve,
    Observation,
    Plan,
    RemoteStatus,
    RemoteTask,
    ResourceRef,
    Sighting,
    Situation,
    StartOutcome,
    TaskSeen,
    Timing,
)

NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
RESOURCE = ResourceRef(namespace="ml", name="train", uid="0b1c2d3e")
TIMING = Timing(
    resync_interval=10.0,
    transition_recheck=2.0,
    start_grace=120.0,
    outage_min_delay=2.0,
    outage_max_delay=300.0,
)
"""Round figures, unlike the operator's defaults, so each stands out in an assertion."""


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
    observation: Sighting | None = None,
    now: datetime = NOW,
    deleting: bool = False,
    protected: bool = True,
    strays: tuple[RemoteTask, ...] = (),
    owner: ResourceRef | None = None,
    log_tail: tuple[str, ...] | None = None,
    **extra: Any,
) -> Situation:
    """A situation whose observation sees ``observation`` (the resource's task), with the
    strays, the owner of the task to adopt and the log tail the seam would add."""
    return Situation(
        resource=RESOURCE,
        generation=2,
        spec=spec_,
        status=status_ or SuperviselyTaskStatus(),
        observation=Observation(
            task=observation or NothingToObserve(), strays=strays, owner=owner, log_tail=log_tail
        ),
        now=now,
        deleting=deleting,
        protected=protected,
        timing=TIMING,
        **extra,
    )


def observing(state: Situation, **fields: Any) -> Situation:
    """``state`` with these fields of its observation replaced (``task``, ``strays``, ...)."""
    return replace(state, observation=replace(state.observation, **fields))


def recorded(
    status_: SuperviselyTaskStatus, outcome: StartOutcome | CallFailed, *, now: datetime = NOW
) -> SuperviselyTaskStatus:
    """The status after the pass that records what an action did."""
    return plan_next_step(
        ActionTaken(status=status_, generation=2, now=now, outcome=outcome)
    ).status


def condition(plan: Plan, type_: str) -> ConditionStatus | None:
    return next((c.status for c in plan.status.conditions if c.type == type_), None)
