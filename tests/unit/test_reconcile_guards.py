"""Guards of the decision that once had no test: each case fails when its guard is removed.

``bench/mutations.py`` breaks each guard in turn and runs the tests that must catch it.
"""

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from supervisely_operator.api import Backoff, StartRequest, SuperviselyTaskStatus, TaskPhase
from supervisely_operator.reconcile.backoff import restart_delay
from supervisely_operator.reconcile.conditions import Reason
from supervisely_operator.reconcile.decide import plan_next_step
from supervisely_operator.reconcile.launch import launch_hash
from supervisely_operator.reconcile.situation import (
    AwaitingObservation,
    RemoteStatus,
    RemoteUnavailable,
    Sighting,
    StartNotFound,
    StartRefused,
    StartTask,
    StopTask,
)

from decision import HASH, NOW, TIMING, recorded, running_status, seen, situation, spec, status

CAPPED = spec(backoff={"limit": 20, "initialDelaySeconds": 10, "maxDelaySeconds": 60})


def test_the_delay_between_restarts_never_exceeds_its_cap() -> None:
    backoff = Backoff(limit=20, initial_delay_seconds=10, max_delay_seconds=60)
    assert [restart_delay(backoff, restarts=n).total_seconds() for n in range(5)] == [
        10,
        20,
        40,
        60,
        60,
    ]


def test_a_resource_past_many_restarts_waits_the_cap_not_more() -> None:
    plan = plan_next_step(
        situation(
            spec_=CAPPED,
            status_=running_status(restarts=8, launchHash=launch_hash(CAPPED)),
            observation=seen(remote=RemoteStatus.ERROR),
        )
    )
    assert plan.status.phase is TaskPhase.PENDING
    assert plan.requeue_after == 60.0, "10 s doubled eight times is 2,560 s; the cap is 60 s"


def test_a_restart_whose_start_was_refused_for_a_while_still_counts() -> None:
    """An outage during a restart must not reset the count: the limit would never be reached."""
    error = {"reason": "TaskError", "message": "boom", "time": NOW, "taskId": 7}
    ended = running_status(restarts=2, lastError=error, remoteStatus="error")
    restart = plan_next_step(
        situation(
            status_=ended,
            observation=seen(remote=RemoteStatus.ERROR),
            now=NOW + timedelta(minutes=5),
        )
    )
    assert isinstance(restart.action, StartTask)
    assert restart.status.restarts == 3

    refused = recorded(
        restart.status,
        StartRefused(Reason.UNAVAILABLE, "HTTP 503", retryable=True),
        now=NOW + timedelta(minutes=5),
    )
    again = plan_next_step(situation(status_=refused, now=NOW + timedelta(minutes=10)))
    assert isinstance(again.action, StartTask)
    assert again.status.restarts == 3, "the restart is still the third"


def test_a_task_still_queued_past_the_active_deadline_is_stopped() -> None:
    """The deadline counts from the start, queue included: an agent that never comes fails it."""
    plan = plan_next_step(
        situation(
            spec_=spec(activeDeadlineSeconds=60),
            status_=running_status(phase="Queued", remoteStatus="queued"),
            observation=seen(remote=RemoteStatus.QUEUED),
        )
    )
    assert plan.action == StopTask(task_id=7)
    assert plan.status.last_error is not None
    assert plan.status.last_error.reason == Reason.DEADLINE_EXCEEDED


@st.composite
def starts_in_flight(draw: st.DrawFn) -> tuple[SuperviselyTaskStatus, Sighting]:
    """A start recorded less than the grace ago that no list shows yet, or a pass that cannot
    tell: a lost reply's task may still appear, so nothing may be started again."""
    age = draw(st.integers(0, int(TIMING.start_grace) - 1))  # status keeps whole seconds
    request = StartRequest(marker="m", requested_at=NOW - timedelta(seconds=age))
    sighting: Sighting = draw(
        st.sampled_from(
            [StartNotFound("m"), AwaitingObservation(), RemoteUnavailable("Unavailable", "down")]
        )
    )
    fields = draw(
        st.fixed_dictionaries(
            {"restarts": st.integers(0, 3), "phase": st.sampled_from(["Pending", None])}
        )
    )
    live = status(
        startRequest=request.to_wire(),
        launchHash=HASH,
        **{key: value for key, value in fields.items() if value is not None},
    )
    return live, sighting


@settings(max_examples=200)
@given(starts_in_flight())
def test_a_start_in_flight_within_its_grace_is_never_made_again(
    case: tuple[SuperviselyTaskStatus, Sighting],
) -> None:
    live, sighting = case
    plan = plan_next_step(situation(status_=live, observation=sighting))
    assert plan.action is None
    assert plan.status.start_request == live.start_request
