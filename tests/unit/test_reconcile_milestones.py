"""The milestones of a task's life the decision tells the metrics: each once, with its duration.

Each case is a pass (or a chain of passes, each deciding on the status the last one wrote) and
the milestones its plan carries; the metrics are made of nothing else.
"""

from dataclasses import replace
from datetime import timedelta

import pytest

from supervisely_operator.reconcile.decide import plan_next_step
from supervisely_operator.reconcile.milestones import (
    RunOutcome,
    TaskEnded,
    TaskIdRecorded,
    TaskReady,
    TaskReplaced,
    TaskRunning,
)
from supervisely_operator.reconcile.situation import (
    ActionTaken,
    Plan,
    RemoteStatus,
    Situation,
    Started,
    StartNotFound,
    TaskGone,
)

from decision import (
    HASH,
    NOW,
    observing,
    running_status,
    seen,
    situation,
    spec,
    status,
)

STARTED_AT = NOW - timedelta(seconds=10)


def queued(**fields: object) -> dict[str, object]:
    return {
        "taskId": 7,
        "launchHash": HASH,
        "phase": "Queued",
        "remoteStatus": "queued",
        "startedAt": STARTED_AT,
        **fields,
    }


def then(plan: Plan, state: Situation, *, later: float = 1.0, **changes: object) -> Situation:
    """The next pass: on the status ``plan`` wrote, ``later`` seconds on."""
    return replace(state, status=plan.status, now=state.now + timedelta(seconds=later), **changes)


def test_a_recorded_start_tells_how_long_the_task_id_took() -> None:
    requested = status(startRequest={"marker": "m", "requestedAt": NOW - timedelta(seconds=3)})
    started = Started(task_id=7, module_id=101, agent_id=1, session_url="https://s/7")
    plan = plan_next_step(ActionTaken(status=requested, generation=2, now=NOW, outcome=started))
    assert plan.milestones == (TaskIdRecorded(seconds=3.0),)


def test_a_start_found_by_its_marker_tells_it_too() -> None:
    requested = status(
        launchHash=HASH,
        phase="Pending",
        startRequest={"marker": "m", "requestedAt": NOW - timedelta(seconds=4)},
    )
    plan = plan_next_step(
        situation(status_=requested, observation=seen(remote=RemoteStatus.QUEUED))
    )
    assert plan.milestones == (TaskIdRecorded(seconds=4.0),)


def test_a_start_not_found_yet_tells_nothing() -> None:
    requested = status(
        launchHash=HASH,
        phase="Pending",
        startRequest={"marker": "m", "requestedAt": NOW - timedelta(seconds=4)},
    )
    plan = plan_next_step(situation(status_=requested, observation=StartNotFound(marker="m")))
    assert plan.milestones == ()


def test_a_task_that_starts_ready_is_running_and_ready_at_once_then_quiet() -> None:
    state = situation(status_=status(**queued()), observation=seen(ready=True))
    plan = plan_next_step(state)
    assert plan.milestones == (TaskRunning(seconds=10.0), TaskReady(seconds=10.0))
    assert plan_next_step(then(plan, state)).milestones == (), "told once"


def test_an_app_that_answers_later_is_running_first_and_ready_in_the_pass_it_answers() -> None:
    state = situation(status_=status(**queued()), observation=seen(ready=False))
    running = plan_next_step(state)
    answered = observing(then(running, state, later=5.0), task=seen(ready=True))
    assert plan_next_step(answered).milestones == (TaskReady(seconds=15.0),)


def test_a_task_the_resource_adopts_in_this_pass_tells_no_start_latency() -> None:
    adopting = spec(adoptTaskId=7)
    plan = plan_next_step(situation(spec_=adopting, observation=seen(7, workspace_id=1)))
    assert plan.status.task_id == 7
    assert plan.milestones == ()


@pytest.mark.parametrize(
    ("remote", "spec_changes", "outcome"),
    [
        pytest.param(RemoteStatus.FINISHED, {}, RunOutcome.SUCCEEDED, id="finished"),
        pytest.param(RemoteStatus.ERROR, {"restartPolicy": "Never"}, RunOutcome.FAILED, id="error"),
        pytest.param(
            RemoteStatus.STOPPED,
            {"restartPolicy": "Never"},
            RunOutcome.FAILED,
            id="stopped-outside",
        ),
        pytest.param(RemoteStatus.STOPPED, {"suspend": True}, RunOutcome.STOPPED, id="suspended"),
    ],
)
def test_an_ended_task_tells_its_outcome_and_run_time_once(
    remote: RemoteStatus, spec_changes: dict[str, object], outcome: RunOutcome
) -> None:
    state = situation(
        spec_=spec(**spec_changes),
        status_=running_status(startedAt=NOW - timedelta(minutes=5)),
        observation=seen(remote=remote, finished_at=NOW - timedelta(seconds=30)),
    )
    plan = plan_next_step(state)
    assert [m for m in plan.milestones if isinstance(m, TaskEnded)] == [
        TaskEnded(outcome=outcome, seconds=270.0)
    ]
    if plan.status.task_id is not None:  # not retired: the next pass sees the same end
        assert plan_next_step(then(plan, state)).milestones == (), "told once"


def test_a_task_stopped_for_its_deadline_failed() -> None:
    state = situation(
        spec_=spec(activeDeadlineSeconds=60, restartPolicy="Never"),
        status_=running_status(startedAt=NOW - timedelta(minutes=5)),
        observation=seen(),
    )
    stopping = plan_next_step(state)
    assert stopping.milestones == ()
    stopped = then(stopping, state, later=2.0)
    plan = plan_next_step(observing(stopped, task=seen(remote=RemoteStatus.STOPPED)))
    assert plan.milestones == (TaskEnded(outcome=RunOutcome.FAILED, seconds=302.0),)


def test_an_error_restarted_at_once_tells_the_end_and_the_restart_with_its_reason() -> None:
    now_restart = spec(backoff={"limit": 3, "initialDelaySeconds": 0, "maxDelaySeconds": 1})
    state = situation(
        spec_=now_restart,
        status_=running_status(startedAt=NOW - timedelta(minutes=1)),
        observation=seen(remote=RemoteStatus.ERROR),
    )
    plan = plan_next_step(state)
    assert plan.action is not None, "restarted in this pass"
    assert plan.milestones == (
        TaskEnded(outcome=RunOutcome.FAILED, seconds=60.0),
        TaskReplaced(reason="TaskError"),
    )


def test_a_lost_task_failed_and_its_restart_says_so() -> None:
    now_restart = spec(backoff={"limit": 3, "initialDelaySeconds": 0, "maxDelaySeconds": 1})
    state = situation(
        spec_=now_restart,
        status_=running_status(startedAt=NOW - timedelta(minutes=1)),
        observation=TaskGone(task_id=7),
    )
    plan = plan_next_step(state)
    assert plan.milestones == (
        TaskEnded(outcome=RunOutcome.FAILED, seconds=60.0),
        TaskReplaced(reason="TaskLost"),
    )


def test_an_edit_replaces_the_task_stopped_for_it() -> None:
    edited = spec(params={"epochs": 2})
    state = situation(
        spec_=edited,
        status_=running_status(startedAt=NOW - timedelta(minutes=1)),
        observation=seen(remote=RemoteStatus.STOPPED),
    )
    plan = plan_next_step(state)
    assert plan.milestones == (
        TaskEnded(outcome=RunOutcome.STOPPED, seconds=60.0),
        TaskReplaced(reason="SpecChanged"),
    )


def test_a_restart_request_replaces_a_finished_task() -> None:
    finished = running_status(
        phase="Succeeded", remoteStatus="finished", finishedAt=NOW - timedelta(seconds=5)
    )
    state = situation(
        status_=finished,
        observation=seen(remote=RemoteStatus.FINISHED),
        restart_requested="2026-11-25T12:00:00Z",
    )
    assert plan_next_step(state).milestones == (TaskReplaced(reason="RestartRequested"),)


def test_a_deletion_that_stops_the_task_tells_its_end_as_stopped() -> None:
    state = situation(
        status_=running_status(phase="Stopping", startedAt=NOW - timedelta(minutes=2)),
        observation=seen(remote=RemoteStatus.STOPPED, finished_at=NOW),
        deleting=True,
    )
    plan = plan_next_step(state)
    assert plan.release
    assert plan.milestones == (TaskEnded(outcome=RunOutcome.STOPPED, seconds=120.0),)


def test_deleting_a_resource_whose_task_ended_long_ago_tells_nothing() -> None:
    finished = running_status(phase="Succeeded", remoteStatus="finished", finishedAt=NOW)
    state = situation(
        status_=finished, observation=seen(remote=RemoteStatus.FINISHED), deleting=True
    )
    assert plan_next_step(state).milestones == ()
