"""The decision, as a table: each case is a situation, the expected plan, and why."""

from dataclasses import dataclass, replace
from datetime import timedelta

import pytest

from supervisely_operator.api import (
    ConditionStatus,
    LastError,
    StartRequest,
    TaskPhase,
)
from supervisely_operator.api.status import LAST_ERROR_MESSAGE_LIMIT
from supervisely_operator.reconcile.conditions import FAILED, READY, SUCCEEDED, SYNCED, Reason
from supervisely_operator.reconcile.decide import plan_next_step
from supervisely_operator.reconcile.situation import (
    AwaitingObservation,
    DeleteResource,
    RemoteStatus,
    RemoteTask,
    RemoteUnavailable,
    Situation,
    Started,
    StartNotFound,
    StartRefused,
    StartTask,
    StopTask,
    TaskGone,
)

from decision import (
    HASH,
    NOW,
    TIMING,
    condition,
    observing,
    recorded,
    running_status,
    seen,
    situation,
    spec,
    status,
)


@dataclass(frozen=True)
class Case:
    why: str
    situation: Situation
    action: type | None
    phase: TaskPhase | None
    release: bool = False


CASES = [
    Case(
        "a new resource starts a task, marking the start before making it",
        situation(),
        StartTask,
        TaskPhase.PENDING,
    ),
    Case(
        "no start may happen before the finalizer protects the resource",
        situation(protected=False),
        None,
        None,
    ),
    Case(
        "a suspended new resource starts nothing",
        situation(spec_=spec(suspend=True)),
        None,
        TaskPhase.SUSPENDED,
    ),
    Case(
        "a queued task is mirrored as Queued",
        situation(
            status_=running_status(phase="Queued"), observation=seen(remote=RemoteStatus.QUEUED)
        ),
        None,
        TaskPhase.QUEUED,
    ),
    Case(
        "a deployed serving app counts as running",
        situation(status_=running_status(), observation=seen(remote=RemoteStatus.DEPLOYED)),
        None,
        TaskPhase.RUNNING,
    ),
    Case(
        "an unknown remote status is watched, not acted on",
        situation(status_=running_status(), observation=seen(remote=None)),
        None,
        TaskPhase.RUNNING,
    ),
    Case(
        "suspending a running task stops it",
        situation(spec_=spec(suspend=True), status_=running_status(), observation=seen()),
        StopTask,
        TaskPhase.STOPPING,
    ),
    Case(
        "a stopped task of a suspended resource leaves it Suspended",
        situation(
            spec_=spec(suspend=True),
            status_=running_status(phase="Stopping"),
            observation=seen(remote=RemoteStatus.STOPPED),
        ),
        None,
        TaskPhase.SUSPENDED,
    ),
    Case(
        "editing a launch field stops the running task",
        situation(spec_=spec(params={"epochs": 9}), status_=running_status(), observation=seen()),
        StopTask,
        TaskPhase.STOPPING,
    ),
    Case(
        "editing only policy fields leaves the running task alone",
        situation(
            spec_=spec(backoff={"limit": 9}, restartPolicy="Never"),
            status_=running_status(),
            observation=seen(),
        ),
        None,
        TaskPhase.RUNNING,
    ),
    Case(
        "once the old task stopped, the edited spec starts a new one",
        situation(
            spec_=spec(params={"epochs": 9}),
            status_=running_status(phase="Stopping"),
            observation=seen(remote=RemoteStatus.STOPPED),
        ),
        StartTask,
        TaskPhase.PENDING,
    ),
    Case(
        "a task past its deadline is stopped",
        situation(
            spec_=spec(activeDeadlineSeconds=60), status_=running_status(), observation=seen()
        ),
        StopTask,
        TaskPhase.STOPPING,
    ),
    Case(
        "a task that finished makes the resource Succeeded",
        situation(status_=running_status(), observation=seen(remote=RemoteStatus.FINISHED)),
        None,
        TaskPhase.SUCCEEDED,
    ),
    Case(
        "an errored task is restarted only after the backoff delay",
        situation(status_=running_status(), observation=seen(remote=RemoteStatus.ERROR)),
        None,
        TaskPhase.PENDING,
    ),
    Case(
        "an errored task with restartPolicy Never fails the resource",
        situation(
            spec_=spec(restartPolicy="Never"),
            status_=running_status(),
            observation=seen(remote=RemoteStatus.ERROR),
        ),
        None,
        TaskPhase.FAILED,
    ),
    Case(
        "with the backoff limit reached, an error fails the resource",
        situation(status_=running_status(restarts=3), observation=seen(remote=RemoteStatus.ERROR)),
        None,
        TaskPhase.FAILED,
    ),
    Case(
        "a task that vanished (404) is handled like an error under OnError",
        situation(status_=running_status(), observation=TaskGone(7)),
        None,
        TaskPhase.PENDING,
    ),
    Case(
        "a task stopped by someone else, with restartPolicy Never, fails the resource",
        situation(
            spec_=spec(restartPolicy="Never"),
            status_=running_status(),
            observation=seen(remote=RemoteStatus.STOPPED),
        ),
        None,
        TaskPhase.FAILED,
    ),
    Case(
        "a start that Supervisely refused stays Failed until the spec changes",
        situation(
            status_=status(phase="Failed", launchHash=HASH, finishedAt=NOW),
        ),
        None,
        TaskPhase.FAILED,
    ),
    Case(
        "a refused start is made again once the spec changed",
        situation(
            spec_=spec(moduleId=102),
            status_=status(phase="Failed", launchHash=HASH, finishedAt=NOW),
        ),
        StartTask,
        TaskPhase.PENDING,
    ),
    Case(
        "deleting with a live task stops it and keeps the finalizer",
        situation(status_=running_status(), observation=seen(), deleting=True),
        StopTask,
        TaskPhase.STOPPING,
    ),
    Case(
        "deleting while the task terminates waits, keeping the finalizer",
        situation(
            status_=running_status(),
            observation=seen(remote=RemoteStatus.TERMINATING),
            deleting=True,
        ),
        None,
        TaskPhase.STOPPING,
    ),
    Case(
        "deleting after the task ended releases the finalizer",
        situation(
            status_=running_status(), observation=seen(remote=RemoteStatus.STOPPED), deleting=True
        ),
        None,
        TaskPhase.RUNNING,
        release=True,
    ),
    Case(
        "deletionPolicy Orphan releases at once and leaves the task running",
        situation(
            spec_=spec(deletionPolicy="Orphan"),
            status_=running_status(),
            observation=seen(),
            deleting=True,
        ),
        None,
        TaskPhase.RUNNING,
        release=True,
    ),
    Case(
        "deleting a resource that never started anything releases it",
        situation(deleting=True),
        None,
        None,
        release=True,
    ),
    Case(
        "deleting while Supervisely is unreachable keeps the finalizer",
        situation(
            status_=running_status(),
            observation=RemoteUnavailable("Unavailable", "connection refused"),
            deleting=True,
        ),
        None,
        TaskPhase.RUNNING,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.why)
def test_decision_table(case: Case) -> None:
    plan = plan_next_step(case.situation)
    assert type(plan.action) is case.action if case.action else plan.action is None, case.why
    assert plan.status.phase == case.phase, case.why
    assert plan.release is case.release, case.why


def test_every_pass_records_the_generation_it_acted_on() -> None:
    plan = plan_next_step(situation(status_=running_status(), observation=seen()))
    assert plan.status.observed_generation == 2


def test_waiting_for_the_finalizer_writes_nothing() -> None:
    waiting = situation(protected=False)
    plan = plan_next_step(waiting)
    assert plan.status == waiting.status
    assert (plan.action, plan.events, plan.requeue_after) == (None, (), 1.0)


def test_start_records_its_marker_before_the_call() -> None:
    plan = plan_next_step(situation())
    assert isinstance(plan.action, StartTask)
    assert plan.status.start_request == StartRequest(marker=plan.action.marker, requested_at=NOW)
    assert plan.status.task_id is None
    assert plan.status.launch_hash == HASH
    assert plan.action.marker.startswith("supervisely-operator:0b1c2d3e:")


def test_a_start_in_flight_whose_task_shows_up_is_adopted_not_repeated() -> None:
    request = StartRequest(marker="m", requested_at=NOW - timedelta(seconds=3))
    plan = plan_next_step(
        situation(
            status_=status(startRequest=request.to_wire(), launchHash=HASH, phase="Pending"),
            observation=seen(task_id=41, remote=RemoteStatus.STARTED),
        )
    )
    assert plan.action is None
    assert (plan.status.task_id, plan.status.start_request) == (41, None)
    assert plan.status.module_id == 101, "known from the spec even without the start reply"
    assert plan.status.phase is TaskPhase.RUNNING
    assert Reason.ADOPTED in [event.reason for event in plan.events]


def test_a_start_in_flight_not_yet_visible_is_waited_for_within_the_grace() -> None:
    request = StartRequest(marker="m", requested_at=NOW - timedelta(seconds=3))
    plan = plan_next_step(
        situation(
            status_=status(startRequest=request.to_wire(), launchHash=HASH, phase="Pending"),
            observation=StartNotFound("m"),
        )
    )
    assert plan.action is None
    assert plan.status.start_request == request
    assert plan.requeue_after == TIMING.transition_recheck


def test_a_start_that_never_reached_supervisely_is_made_again_after_the_grace() -> None:
    request = StartRequest(marker="m", requested_at=NOW - timedelta(seconds=TIMING.start_grace + 1))
    plan = plan_next_step(
        situation(
            status_=status(startRequest=request.to_wire(), launchHash=HASH, phase="Pending"),
            observation=StartNotFound("m"),
        )
    )
    assert isinstance(plan.action, StartTask)
    assert plan.action.marker != "m"


def test_restart_after_backoff_counts_and_keeps_history() -> None:
    error = LastError(
        message="x", reason=Reason.TASK_ERROR, time=NOW - timedelta(seconds=11), task_id=7
    )
    plan = plan_next_step(
        situation(
            status_=running_status(lastError=error.to_wire(), previousTaskIds=[5, 6]),
            observation=seen(remote=RemoteStatus.ERROR),
        )
    )
    assert isinstance(plan.action, StartTask)
    assert plan.status.restarts == 1
    assert plan.status.previous_task_ids == [5, 6, 7]
    assert plan.status.task_id is None


def test_backoff_doubles_per_restart_and_keeps_the_log_tail_once() -> None:
    first = plan_next_step(
        situation(
            status_=running_status(restarts=2),
            observation=seen(remote=RemoteStatus.ERROR),
            log_tail=("[error] Traceback", "[error] boom"),
        )
    )
    assert first.requeue_after == 40.0  # 10 s doubled twice
    error = first.status.last_error
    assert error is not None
    assert error.reason == Reason.TASK_ERROR
    assert error.message == (
        "Task 7 ended with status error\nLast log lines:\n[error] Traceback\n[error] boom"
    )
    pending = next(c for c in first.status.conditions if c.type == READY)
    assert "Last log lines" not in pending.message, "the log goes to lastError only"
    again = plan_next_step(
        situation(
            status_=first.status,
            observation=seen(remote=RemoteStatus.ERROR),
            now=NOW + timedelta(seconds=5),
        )
    )
    assert again.status == first.status.model_copy(update={"observed_generation": 2})
    assert again.events == ()


def test_a_long_log_tail_is_cut_to_what_lastError_holds_keeping_its_end() -> None:
    plan = plan_next_step(
        situation(
            status_=running_status(),
            observation=seen(remote=RemoteStatus.ERROR),
            log_tail=("x" * 40_000, "[error] the last line"),
        )
    )
    assert plan.status.last_error is not None
    assert len(plan.status.last_error.message) == LAST_ERROR_MESSAGE_LIMIT
    assert plan.status.last_error.message.endswith("[error] the last line")


def test_failure_conditions_say_why() -> None:
    plan = plan_next_step(
        situation(status_=running_status(restarts=3), observation=seen(remote=RemoteStatus.ERROR))
    )
    assert condition(plan, FAILED) is ConditionStatus.TRUE
    assert condition(plan, READY) is ConditionStatus.FALSE
    failed = next(c for c in plan.status.conditions if c.type == FAILED)
    assert failed.reason == Reason.BACKOFF_LIMIT_EXCEEDED
    assert "no restart left" in failed.message


def test_deadline_stop_ends_failed_with_deadline_exceeded() -> None:
    stopping = plan_next_step(
        situation(
            spec_=spec(activeDeadlineSeconds=60), status_=running_status(), observation=seen()
        )
    )
    ended = plan_next_step(
        situation(
            spec_=spec(activeDeadlineSeconds=60),
            status_=stopping.status,
            observation=seen(remote=RemoteStatus.STOPPED),
        )
    )
    assert ended.action is None
    assert ended.status.phase is TaskPhase.FAILED
    failed = next(c for c in ended.status.conditions if c.type == FAILED)
    assert failed.reason == Reason.DEADLINE_EXCEEDED


def test_ready_and_succeeded_conditions_follow_the_phase() -> None:
    running = plan_next_step(situation(status_=running_status(), observation=seen()))
    assert condition(running, READY) is ConditionStatus.TRUE
    done = plan_next_step(
        situation(status_=running.status, observation=seen(remote=RemoteStatus.FINISHED))
    )
    assert (condition(done, READY), condition(done, SUCCEEDED)) == (
        ConditionStatus.FALSE,
        ConditionStatus.TRUE,
    )


def test_ttl_deletes_the_resource_when_due() -> None:
    finished = running_status(phase="Succeeded", finishedAt=NOW - timedelta(seconds=100))
    early = plan_next_step(
        situation(
            spec_=spec(ttlSecondsAfterFinished=300),
            status_=finished,
            observation=seen(remote=RemoteStatus.FINISHED),
        )
    )
    assert (early.action, early.requeue_after) == (None, 200.0)
    due = plan_next_step(
        situation(
            spec_=spec(ttlSecondsAfterFinished=60),
            status_=finished,
            observation=seen(remote=RemoteStatus.FINISHED),
        )
    )
    assert isinstance(due.action, DeleteResource)


def test_unreachable_supervisely_waits_longer_the_longer_it_lasts() -> None:
    unavailable = RemoteUnavailable("Unavailable", "connection refused")
    first = plan_next_step(situation(status_=running_status(), observation=unavailable))
    assert condition(first, SYNCED) is ConditionStatus.FALSE
    assert [event.reason for event in first.events] == ["Unavailable"]
    assert first.requeue_after == TIMING.outage_min_delay
    later = plan_next_step(
        situation(status_=first.status, observation=unavailable, now=NOW + timedelta(seconds=30))
    )
    assert later.requeue_after == 30.0
    assert later.events == (), "the outage was announced once"


def test_a_server_that_asks_for_a_pause_is_left_alone_that_long() -> None:
    """A 429's Retry-After outlasting the client's own retries reaches the decision."""
    unavailable = RemoteUnavailable("Unavailable", "HTTP 429", retry_after=90.0)
    plan = plan_next_step(situation(status_=running_status(), observation=unavailable))
    assert plan.requeue_after == 90.0
    short = RemoteUnavailable("Unavailable", "HTTP 429", retry_after=0.5)
    plan = plan_next_step(situation(status_=running_status(), observation=short))
    assert plan.requeue_after == TIMING.outage_min_delay, "never sooner than the backoff"


def test_a_start_refused_with_retry_after_is_not_made_again_before_it() -> None:
    mark = plan_next_step(situation())
    assert isinstance(mark.action, StartTask)
    refused = recorded(
        mark.status,
        StartRefused("Unavailable", "HTTP 429", retryable=True, retry_after=45.0),
        now=NOW,
    )
    assert refused.last_error is not None
    assert refused.last_error.retry_after_seconds == 45.0
    assert refused.to_wire()["lastError"]["retryAfterSeconds"] == 45.0

    early = plan_next_step(situation(status_=refused, now=NOW + timedelta(seconds=44)))
    assert early.action is None
    assert early.requeue_after == pytest.approx(1.0)
    due = plan_next_step(situation(status_=refused, now=NOW + timedelta(seconds=45)))
    assert isinstance(due.action, StartTask)


def test_unchanged_world_gives_unchanged_status() -> None:
    """Quiet writes: a pass that observes nothing new returns the status it was given."""
    first = plan_next_step(situation(status_=running_status(), observation=seen()))
    second = plan_next_step(
        situation(status_=first.status, observation=seen(), now=NOW + timedelta(seconds=10))
    )
    assert second.status == first.status
    assert second.events == ()


def test_transition_times_move_only_on_change() -> None:
    first = plan_next_step(situation(status_=running_status(), observation=seen()))
    later = NOW + timedelta(minutes=1)
    second = plan_next_step(situation(status_=first.status, observation=seen(), now=later))
    ready = next(c for c in second.status.conditions if c.type == READY)
    assert ready.last_transition_time == NOW


def test_the_resync_interval_is_the_safety_net_of_a_quiet_task() -> None:
    fast = replace(
        situation(status_=running_status(), observation=seen()),
        timing=replace(TIMING, resync_interval=3),
    )
    assert plan_next_step(fast).requeue_after == 3


STRAY = RemoteTask(task_id=5, status=RemoteStatus.STARTED, raw_status="started")


@pytest.mark.parametrize(
    "state",
    [
        pytest.param(situation(status_=running_status(), observation=seen()), id="running"),
        pytest.param(
            situation(
                status_=status(startRequest={"marker": "m-2", "requestedAt": NOW}),
                observation=StartNotFound("m-2"),
            ),
            id="a newer start pending",
        ),
        pytest.param(
            situation(status_=running_status(), observation=seen(), deleting=True),
            id="deleting",
        ),
    ],
)
def test_a_stray_is_stopped_before_anything_else(state: Situation) -> None:
    """A late start of this resource is stopped first, whatever else the pass would do."""
    plan = plan_next_step(observing(state, strays=(STRAY,)))
    assert plan.action == StopTask(task_id=5)
    assert [event.reason for event in plan.events] == [Reason.STRAY_TASK_STOPPED]
    assert plan.events[0].type == "Warning"
    assert plan.status.start_request == state.status.start_request, "a pending start is kept"
    assert plan.status.task_id == state.status.task_id


def test_a_stray_is_not_stopped_before_supervisely_answers() -> None:
    """No stop on an old list: strays come with a fresh observation only."""
    waiting = situation(status_=running_status(), observation=AwaitingObservation())
    assert plan_next_step(observing(waiting, strays=(STRAY,))).action is None


def test_a_refused_start_s_error_is_cleared_once_a_start_goes_through() -> None:
    """Running with lastError AgentNotRunning beside it read as a current problem."""
    mark = plan_next_step(situation())
    refused = recorded(
        mark.status,
        StartRefused("AgentNotRunning", "Agent 2 is not running", retryable=True),
        now=NOW,
    )
    assert refused.last_error is not None

    again = plan_next_step(situation(status_=refused, now=NOW + timedelta(minutes=5)))
    assert isinstance(again.action, StartTask)
    started = recorded(
        again.status,
        Started(task_id=8, module_id=101, agent_id=2, session_url="u"),
        now=NOW + timedelta(minutes=5),
    )
    assert started.last_error is None


def test_a_task_s_own_error_stays_beside_its_restart() -> None:
    """Why the restart happened is kept until a later task succeeds."""
    failed = running_status(
        lastError={"reason": "TaskError", "message": "boom", "time": NOW, "taskId": 7}
    )
    started = recorded(
        failed,
        Started(task_id=8, module_id=101, agent_id=None, session_url="u"),
        now=NOW,
    )
    assert started.last_error is not None
    assert started.last_error.task_id == 7
