"""Properties of the decision over generated situations: the promises that make it crash-safe."""

from dataclasses import replace
from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from supervisely_operator.api import SuperviselyTaskSpec, SuperviselyTaskStatus
from supervisely_operator.reconcile.decide import ENDED_STATUSES, plan_next_step
from supervisely_operator.reconcile.launch import launch_hash
from supervisely_operator.reconcile.situation import (
    NothingToObserve,
    Observation,
    RemoteStatus,
    RemoteTask,
    RemoteUnavailable,
    ResourceRef,
    Sighting,
    Situation,
    StartNotFound,
    StartTask,
    StopTask,
    TaskGone,
    TaskSeen,
)
from supervisely_operator.reconcile.watch import task_to_adopt

from decision import NOW, RESOURCE, TIMING, observing

OTHER = ResourceRef(namespace="ml", name="other", uid="other-uid")

FAILURE_RULES = [
    {"action": "Fail", "onLogLine": "out of memory"},
    {"action": "Ignore", "onRemoteStatus": ["stopped"]},
    {"action": "Count", "onReason": ["TaskError", "StartDeadlineExceeded"]},
]


@st.composite
def specs(draw: st.DrawFn) -> SuperviselyTaskSpec:
    observing = draw(st.booleans())
    fields: dict[str, Any] = {
        "moduleId": 101,
        "workspaceId": 1,
        "suspend": draw(st.booleans()) and not observing,
        "restartPolicy": draw(st.sampled_from(["Never", "OnError"])),
        "deletionPolicy": draw(st.sampled_from(["Stop", "Orphan"])),
        "activeDeadlineSeconds": draw(st.none() | st.integers(1, 600)),
        "ttlSecondsAfterFinished": draw(st.none() | st.integers(0, 600)),
        "params": {"epochs": draw(st.integers(1, 2))},
        "managementPolicy": "ObserveOnly" if observing else "Full",
        "adoptTaskId": 7 if observing else draw(st.none() | st.just(7)),
        "readiness": draw(st.sampled_from(["AppReady", "TaskStarted"])),
        "startDeadlineSeconds": draw(st.none() | st.integers(1, 600)),
        "failureRules": draw(st.lists(st.sampled_from(FAILURE_RULES), max_size=3)),
    }
    return SuperviselyTaskSpec.model_validate(fields)


ages = st.integers(0, 900).map(lambda seconds: NOW - timedelta(seconds=seconds))
remote_statuses = st.sampled_from([*RemoteStatus, None])
readiness = st.none() | st.booleans()


@st.composite
def situations(draw: st.DrawFn) -> Situation:
    spec = draw(specs())
    phase = draw(
        st.none()
        | st.sampled_from(
            ["Pending", "Queued", "Running", "Stopping", "Suspended", "Succeeded", "Failed"]
        )
    )
    task_id = draw(st.none() | st.integers(1, 50))
    in_flight = task_id is None and draw(st.booleans())
    fields: dict[str, Any] = {
        "phase": phase,
        "taskId": task_id,
        "restarts": draw(st.integers(0, 4)),
        "launchHash": draw(st.sampled_from([launch_hash(spec), "0123456789abcdef", None])),
        "startedAt": draw(st.none() | ages),
        "finishedAt": draw(st.none() | ages),
        "restartRequestHandled": "answered",
    }
    if in_flight:
        fields["startRequest"] = {"marker": "m", "requestedAt": draw(ages)}
    if draw(st.booleans()):
        fields["lastError"] = {
            "message": "boom",
            "reason": draw(st.sampled_from(["TaskError", "DeadlineExceeded", "Unavailable"])),
            "time": draw(ages),
            "taskId": draw(st.none() | st.just(task_id)),
        }
    status = SuperviselyTaskStatus.model_validate(
        {k: v for k, v in fields.items() if v is not None}
    )

    unavailable = RemoteUnavailable("Unavailable", "down")
    observation: Sighting
    if task_id is not None:
        remote = draw(remote_statuses)
        observation = draw(
            st.sampled_from(
                [
                    TaskSeen(RemoteTask(task_id, remote, str(remote), ready=draw(readiness))),
                    TaskGone(task_id),
                    unavailable,
                ]
            )
        )
    elif in_flight:
        adopted = TaskSeen(RemoteTask(99, draw(remote_statuses), "x"))
        observation = draw(st.sampled_from([adopted, StartNotFound("m"), unavailable]))
    elif spec.adopt_task_id is not None:
        to_adopt = TaskSeen(RemoteTask(spec.adopt_task_id, draw(remote_statuses), "x"))
        observation = draw(st.sampled_from([to_adopt, TaskGone(spec.adopt_task_id), unavailable]))
    else:
        observation = NothingToObserve()
    return Situation(
        resource=RESOURCE,
        generation=3,
        spec=spec,
        status=status,
        observation=Observation(
            task=observation,
            log_tail=draw(st.none() | st.just(("[error] CUDA out of memory",))),
            owner=draw(st.none() | st.just(OTHER)),
        ),
        now=NOW,
        deleting=draw(st.booleans()),
        protected=draw(st.booleans()),
        restart_requested=draw(st.sampled_from([None, "asked", "answered"])),
        timing=TIMING,
    )


def live(sighting: Sighting) -> bool:
    return isinstance(sighting, TaskSeen) and sighting.task.status not in ENDED_STATUSES


@settings(max_examples=400)
@given(situations())
def test_never_starts_while_a_task_lives_or_a_start_may_be_in_flight(situation: Situation) -> None:
    plan = plan_next_step(situation)
    if isinstance(plan.action, StartTask):
        observation, request = situation.observation.task, situation.status.start_request
        assert not live(observation)
        assert not isinstance(observation, RemoteUnavailable)
        assert situation.protected
        assert not situation.deleting
        if request is not None and isinstance(observation, TaskSeen):
            # The task of the recorded start is adopted; it may be replaced only once ended.
            assert plan.status.previous_task_ids[-1] == observation.task.task_id
        elif request is not None:
            grace = timedelta(seconds=situation.timing.start_grace)
            assert request.requested_at + grace <= situation.now
        assert plan.status.task_id is None
        assert plan.status.start_request is not None
        assert plan.status.start_request.marker == plan.action.marker


@settings(max_examples=400)
@given(situations())
def test_never_releases_a_resource_whose_task_may_still_run(situation: Situation) -> None:
    plan = plan_next_step(situation)
    if plan.release:
        assert situation.deleting
        ours = task_to_adopt(situation.spec, situation.status) is None  # not a task to adopt
        only_observes = situation.spec.management_policy.value == "ObserveOnly"
        if situation.spec.deletion_policy.value == "Stop" and ours and not only_observes:
            sighting = situation.observation.task
            assert not live(sighting)
            assert not isinstance(sighting, RemoteUnavailable)
            assert not isinstance(sighting, StartNotFound) or plan.status.start_request is None


@settings(max_examples=400)
@given(situations())
def test_never_loses_a_task_id(situation: Situation) -> None:
    """A task id leaves status.taskId only into previousTaskIds."""
    plan = plan_next_step(situation)
    old = situation.status.task_id
    if old is not None and plan.status.task_id != old:
        assert plan.status.previous_task_ids[-1] == old
    sighting = situation.observation.task
    if isinstance(sighting, TaskSeen) and situation.status.start_request:
        adopted = sighting.task.task_id
        # Either the task is adopted, or the start request that finds it stays recorded.
        assert adopted in (plan.status.task_id, *plan.status.previous_task_ids) or (
            plan.status.start_request == situation.status.start_request
        )


@settings(max_examples=400)
@given(situations())
def test_a_pass_without_action_is_a_fixed_point(situation: Situation) -> None:
    """Quiet writes: once written, the same world yields the same status and no Events."""
    first = plan_next_step(situation)
    if first.action is not None or first.release:
        return
    again = plan_next_step(
        observing(
            replace(situation, status=first.status, refresh_requested=None),
            task=next_sighting(situation.observation.task, first.status),
            log_tail=None,
        )
    )
    assert again.status == first.status
    assert again.events == ()
    assert again.action is None


def next_sighting(previous: Sighting, status: SuperviselyTaskStatus) -> Sighting:
    """What the shell observes for ``status``, in a world that did not change."""
    if status.task_id is None and status.start_request is None:
        return NothingToObserve()
    return previous


@settings(max_examples=200)
@given(situations())
def test_requeue_is_never_negative_and_unavailability_never_acts(situation: Situation) -> None:
    plan = plan_next_step(situation)
    assert plan.requeue_after is None or plan.requeue_after >= 0
    if isinstance(situation.observation.task, RemoteUnavailable):
        assert plan.action is None
        assert not plan.release


@settings(max_examples=400)
@given(situations())
def test_observe_only_never_starts_or_stops_anything(situation: Situation) -> None:
    if situation.spec.management_policy.value == "ObserveOnly":
        plan = plan_next_step(situation)
        assert not isinstance(plan.action, StartTask | StopTask)


@settings(max_examples=400)
@given(situations())
def test_never_adopts_a_task_another_resource_owns(situation: Situation) -> None:
    wanted = situation.spec.adopt_task_id
    if (
        wanted is not None
        and situation.observation.owner is not None
        and (situation.status.task_id != wanted)
    ):
        assert plan_next_step(situation).status.task_id != wanted


@settings(max_examples=400)
@given(situations())
def test_a_start_answers_the_restart_request_it_was_made_under(situation: Situation) -> None:
    """Written with the start's mark, so a crash after the start cannot make it twice."""
    plan = plan_next_step(situation)
    if isinstance(plan.action, StartTask) and situation.restart_requested is not None:
        assert plan.status.restart_request_handled == situation.restart_requested
