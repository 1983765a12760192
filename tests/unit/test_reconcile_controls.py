"""The decision for issue 10's controls: readiness and the start deadline, restart and refresh
requests, adoption and observe-only, failure rules and the per-object poll interval."""

from datetime import timedelta
from typing import Any

import pytest

from supervisely_operator.api import FailureAction, LastError, TaskOutputs, TaskPhase
from supervisely_operator.reconcile.conditions import FAILED, READY, SYNCED, Reason
from supervisely_operator.reconcile.decide import plan_next_step
from supervisely_operator.reconcile.launch import launch_hash
from supervisely_operator.reconcile.situation import (
    EventType,
    Plan,
    RemoteStatus,
    ResourceRef,
    Situation,
    StartTask,
    StopTask,
    TaskGone,
)
from supervisely_operator.reconcile.watch import log_tail_wanted, task_to_adopt

from decision import (
    NOW,
    condition,
    running_status,
    seen,
    situation,
    spec,
    status,
)


def reasons(plan: Plan) -> list[str]:
    return [event.reason for event in plan.events]


def ready_reason(plan: Plan) -> str:
    return next(c.reason for c in plan.status.conditions if c.type == READY)


def then(first: Situation, plan: Plan, **changes: Any) -> Situation:
    """The next pass of the same world, after ``plan``'s status was written."""
    return situation(
        spec_=changes.pop("spec_", first.spec),
        status_=plan.status,
        observation=changes.pop("observation", first.observation.task),
        restart_requested=changes.pop("restart_requested", first.restart_requested),
        **changes,
    )


# Readiness and the start deadline.


def test_a_started_app_that_does_not_answer_yet_is_running_but_not_ready() -> None:
    plan = plan_next_step(situation(status_=running_status(), observation=seen(ready=False)))
    assert plan.status.phase is TaskPhase.RUNNING
    assert condition(plan, READY) == "False"
    assert ready_reason(plan) == Reason.AWAITING_READINESS
    assert plan.requeue_after == 2.0  # readiness changes soon: look again at the fast pace
    answered = plan_next_step(situation(status_=plan.status, observation=seen(ready=True)))
    assert condition(answered, READY) == "True"
    assert reasons(answered) == [Reason.RUNNING]


def test_readiness_task_started_is_ready_at_started_without_a_probe() -> None:
    plan = plan_next_step(
        situation(
            spec_=spec(readiness="TaskStarted"),
            status_=running_status(),
            observation=seen(ready=None),
        )
    )
    assert condition(plan, READY) == "True"


def test_a_task_not_ready_by_the_start_deadline_is_stopped_and_restarted_as_an_error() -> None:
    deadline = spec(startDeadlineSeconds=60, backoff={"initialDelaySeconds": 0})
    started = running_status(startedAt=NOW - timedelta(seconds=61))
    first = situation(spec_=deadline, status_=started, observation=seen(ready=False))
    stop = plan_next_step(first)
    assert stop.action == StopTask(task_id=7)
    assert stop.status.last_error is not None
    assert stop.status.last_error.reason == Reason.START_DEADLINE_EXCEEDED
    assert reasons(stop) == [Reason.START_DEADLINE_EXCEEDED]
    assert stop.events[0].type is EventType.WARNING
    ended = plan_next_step(then(first, stop, observation=seen(remote=RemoteStatus.STOPPED)))
    assert isinstance(ended.action, StartTask)  # an error under the policy: restart, counted
    assert ended.status.restarts == 1


def test_the_start_deadline_is_looked_at_when_due_and_spares_a_ready_task() -> None:
    deadline = spec(startDeadlineSeconds=60)
    queued = running_status(phase="Queued", startedAt=NOW - timedelta(seconds=59))
    plan = plan_next_step(
        situation(spec_=deadline, status_=queued, observation=seen(remote=RemoteStatus.QUEUED))
    )
    assert plan.action is None
    assert plan.requeue_after == 1.0  # the deadline, sooner than the fast pace (2 s)
    late = running_status(startedAt=NOW - timedelta(hours=1))
    ready = plan_next_step(situation(spec_=deadline, status_=late, observation=seen(ready=True)))
    assert ready.action is None
    assert condition(ready, READY) == "True"


# Restart and refresh requests (annotations).


def test_a_restart_request_stops_the_task_then_starts_one_once_per_value() -> None:
    first = situation(
        status_=running_status(restarts=2), observation=seen(), restart_requested="t1"
    )
    stop = plan_next_step(first)
    assert stop.action == StopTask(task_id=7)
    assert reasons(stop) == [Reason.RESTART_REQUESTED]
    start = plan_next_step(then(first, stop, observation=seen(remote=RemoteStatus.STOPPED)))
    assert isinstance(start.action, StartTask)
    assert start.status.restart_request_handled == "t1"
    assert start.status.restarts == 0  # a person asked: the restart budget starts afresh
    assert start.status.last_error is None  # a requested stop is no failure
    again = plan_next_step(
        situation(
            status_=running_status(task_id=8, restartRequestHandled="t1"),
            observation=seen(task_id=8),
            restart_requested="t1",
        )
    )
    assert again.action is None


@pytest.mark.parametrize(
    "before",
    [
        pytest.param(running_status(phase="Failed", remoteStatus="error"), id="failed"),
        pytest.param(running_status(phase="Succeeded", remoteStatus="finished"), id="succeeded"),
    ],
)
def test_a_restart_request_after_the_end_starts_a_new_task(before: Any) -> None:
    ended = RemoteStatus(before.remote_status)
    plan = plan_next_step(
        situation(status_=before, observation=seen(remote=ended), restart_requested="x")
    )
    assert isinstance(plan.action, StartTask)
    assert plan.status.previous_task_ids == [7]


def test_a_restart_request_waits_while_suspended_and_is_ignored_when_observing() -> None:
    suspended = plan_next_step(
        situation(
            spec_=spec(suspend=True), status_=status(phase="Suspended"), restart_requested="x"
        )
    )
    assert suspended.action is None
    assert suspended.status.restart_request_handled is None
    observed = plan_next_step(
        situation(
            spec_=spec(managementPolicy="ObserveOnly", adoptTaskId=7),
            status_=running_status(),
            observation=seen(),
            restart_requested="x",
        )
    )
    assert observed.action is None


def test_a_refresh_request_is_recorded_by_the_pass_that_saw_supervisely() -> None:
    plan = plan_next_step(
        situation(status_=running_status(), observation=seen(), refresh_requested="r1")
    )
    assert plan.status.refresh_handled == "r1"
    assert plan.action is None


# Adoption and observe-only.

ADOPT = spec(adoptTaskId=42)
OBSERVE = spec(managementPolicy="ObserveOnly", adoptTaskId=42)


def test_a_new_resource_adopts_the_named_task_instead_of_starting_one() -> None:
    plan = plan_next_step(situation(spec_=ADOPT, observation=seen(task_id=42, workspace_id=1)))
    assert plan.action is None
    assert plan.status.task_id == 42
    assert plan.status.launch_hash == launch_hash(ADOPT)  # no SpecChanged restart after it
    assert plan.status.phase is TaskPhase.RUNNING
    assert reasons(plan)[0] == Reason.ADOPTED


@pytest.mark.parametrize(
    ("observation", "extra", "says"),
    [
        pytest.param(TaskGone(42), {}, "Task 42 does not exist on Supervisely", id="gone"),
        pytest.param(
            seen(task_id=42, workspace_id=9),
            {},
            "Task 42 is in workspace 9, not in workspaceId 1",
            id="other workspace",
        ),
        pytest.param(
            seen(task_id=42),
            {"owner": ResourceRef(namespace="ml", name="serve", uid="serve-uid")},
            "Task 42 already belongs to ml/serve",
            id="tracked by another resource",
        ),
    ],
)
def test_adoption_is_refused_with_a_clear_message(
    observation: Any, extra: dict[str, Any], says: str
) -> None:
    plan = plan_next_step(situation(spec_=ADOPT, observation=observation, **extra))
    assert plan.action is None
    assert plan.status.task_id is None
    synced = next(c for c in plan.status.conditions if c.type == SYNCED)
    assert (synced.status, synced.reason, synced.message) == (
        "False",
        Reason.ADOPTION_REFUSED,
        says,
    )
    assert [(e.type, e.reason) for e in plan.events] == [
        (EventType.WARNING, Reason.ADOPTION_REFUSED)
    ]


def test_a_task_an_orphaning_resource_left_behind_may_be_adopted() -> None:
    plan = plan_next_step(
        situation(spec_=ADOPT, observation=seen(task_id=42, marker_owner="deleted-uid"))
    )
    assert plan.status.task_id == 42


def test_adoption_happens_once_then_the_policy_restarts_from_the_spec() -> None:
    adopted = running_status(task_id=42, launchHash=launch_hash(ADOPT))
    plan = plan_next_step(
        situation(spec_=ADOPT, status_=adopted, observation=seen(42, RemoteStatus.ERROR))
    )
    assert plan.status.phase is TaskPhase.PENDING  # the backoff's wait, then a start
    later = running_status(task_id=None, previousTaskIds=[42], launchHash=launch_hash(ADOPT))
    assert task_to_adopt(ADOPT, later) is None


def test_a_deletion_before_adoption_releases_without_stopping_anything() -> None:
    plan = plan_next_step(situation(spec_=ADOPT, observation=seen(task_id=42), deleting=True))
    assert plan.release
    assert plan.action is None


def test_observe_only_mirrors_and_never_acts() -> None:
    first = plan_next_step(situation(spec_=OBSERVE, observation=seen(task_id=42)))
    assert first.status.task_id == 42
    assert first.status.phase is TaskPhase.RUNNING
    assert reasons(first)[0] == Reason.ADOPTED
    edited = spec(managementPolicy="ObserveOnly", adoptTaskId=42, params={"changed": True})
    for observed in (seen(42), seen(42, RemoteStatus.ERROR), TaskGone(42)):
        plan = plan_next_step(situation(spec_=edited, status_=first.status, observation=observed))
        assert plan.action is None, observed
    failed = plan_next_step(
        situation(spec_=OBSERVE, status_=first.status, observation=seen(42, RemoteStatus.ERROR))
    )
    assert failed.status.phase is TaskPhase.FAILED
    assert plan_next_step(
        situation(spec_=OBSERVE, status_=first.status, observation=seen(42), deleting=True)
    ).release


def test_observe_only_follows_a_new_task_id_and_keeps_the_old_one_in_history() -> None:
    switched = spec(managementPolicy="ObserveOnly", adoptTaskId=43)
    plan = plan_next_step(
        situation(spec_=switched, status_=running_status(task_id=42), observation=seen(43))
    )
    assert plan.status.task_id == 43
    assert plan.status.previous_task_ids == [42]


# Failure rules.

RULES = spec(
    backoff={"limit": 1, "initialDelaySeconds": 0},
    failureRules=[
        {"action": "Fail", "onLogLine": "out of memory"},
        {"action": "Ignore", "onLogLine": "agent (lost|disconnected)"},
        {"action": "Count", "onRemoteStatus": ["error"]},
    ],
)
ERRORED = seen(remote=RemoteStatus.ERROR)


def ended_with(log: tuple[str, ...], **status_fields: Any) -> Plan:
    return plan_next_step(
        situation(
            spec_=RULES,
            status_=running_status(launchHash=launch_hash(RULES), **status_fields),
            observation=ERRORED,
            log_tail=log,
        )
    )


def test_an_out_of_memory_error_fails_at_once_and_says_which_rule() -> None:
    plan = ended_with(("[error] CUDA out of memory. Tried to allocate 2.00 GiB",))
    assert plan.action is None
    assert plan.status.phase is TaskPhase.FAILED
    failed = next(c for c in plan.status.conditions if c.type == FAILED)
    assert failed.reason == Reason.FAILURE_RULE_MATCHED
    assert failed.message == "Task 7 ended with status error; failure rule 1 says Fail"
    assert plan.status.last_error is not None
    assert (plan.status.last_error.failure_action, plan.status.last_error.failure_rule) == (
        FailureAction.FAIL,
        1,
    )


def test_a_lost_agent_restarts_without_counting_even_past_the_limit() -> None:
    plan = ended_with(("[warning] agent lost",), restarts=1)
    assert isinstance(plan.action, StartTask)
    assert plan.status.restarts == 1


def test_the_next_pass_follows_the_recorded_verdict_without_the_log() -> None:
    first = situation(
        spec_=RULES.model_copy(
            update={"backoff": RULES.backoff.model_copy(update={"initial_delay_seconds": 60})}
        ),
        status_=running_status(launchHash=launch_hash(RULES)),
        observation=ERRORED,
        log_tail=("[warning] agent disconnected",),
    )
    waiting = plan_next_step(first)
    assert waiting.status.phase is TaskPhase.PENDING
    assert "not counted: failure rule 2" in waiting.status.conditions[0].message
    again = plan_next_step(then(first, waiting, log_tail=None))
    assert again.status == waiting.status
    assert again.events == ()


def test_no_matching_rule_counts_as_without_rules() -> None:
    stopped = plan_next_step(
        situation(
            spec_=RULES,
            status_=running_status(launchHash=launch_hash(RULES), restarts=1),
            observation=seen(remote=RemoteStatus.STOPPED),
            log_tail=("[info] bye",),
        )
    )
    assert stopped.status.phase is TaskPhase.FAILED
    assert next(c for c in stopped.status.conditions if c.type == FAILED).reason == (
        Reason.BACKOFF_LIMIT_EXCEEDED
    )
    assert stopped.status.last_error is not None
    assert stopped.status.last_error.failure_action is FailureAction.COUNT
    assert stopped.status.last_error.failure_rule is None


def test_rules_match_on_reason_message_and_status_together() -> None:
    rules = spec(
        failureRules=[
            {"action": "Fail", "onReason": ["TaskLost"], "onMessage": "no longer exists"},
        ]
    )
    plan = plan_next_step(
        situation(
            spec_=rules,
            status_=running_status(launchHash=launch_hash(rules)),
            observation=TaskGone(7),
        )
    )
    assert plan.status.phase is TaskPhase.FAILED


def test_the_log_is_read_once_for_a_fresh_failure_that_needs_it() -> None:
    fresh = running_status(launchHash=launch_hash(RULES))
    stopped = seen(remote=RemoteStatus.STOPPED)
    assert log_tail_wanted(RULES, fresh, ERRORED) == 7
    assert log_tail_wanted(RULES, fresh, stopped) == 7  # a rule reads log lines
    assert log_tail_wanted(RULES, fresh, seen()) is None  # still running
    assert log_tail_wanted(spec(), fresh, ERRORED) == 7  # its tail goes into lastError
    assert log_tail_wanted(spec(), fresh, stopped) is None  # no rule reads logs
    decided = fresh.model_copy(
        update={
            "last_error": LastError(
                message="m", reason="TaskError", time=NOW, task_id=7, failure_action="Count"
            )
        }
    )
    assert log_tail_wanted(RULES, decided, ERRORED) is None
    assert log_tail_wanted(RULES, decided, stopped) is None


def test_a_per_object_poll_interval_sets_the_safety_net() -> None:
    plan = plan_next_step(
        situation(spec_=spec(pollIntervalSeconds=3), status_=running_status(), observation=seen())
    )
    assert plan.requeue_after == 3.0


# Outputs.


def test_what_the_task_published_is_copied_and_cleared_by_a_new_task() -> None:
    outputs = TaskOutputs.model_validate(
        {"experiment": {"bestCheckpoint": "/experiments/7/best.pt", "metrics": {"mAP": 0.71}}}
    )
    plan = plan_next_step(
        situation(
            status_=running_status(),
            observation=seen(remote=RemoteStatus.FINISHED, outputs=outputs),
        )
    )
    assert plan.status.phase is TaskPhase.SUCCEEDED
    assert plan.status.outputs == outputs
    quiet = plan_next_step(
        situation(status_=plan.status, observation=seen(remote=RemoteStatus.FINISHED))
    )
    assert quiet.status.outputs == outputs, "a list without outputs does not erase them"
    edited = spec(params={"epochs": 9})
    restart = plan_next_step(
        situation(spec_=edited, status_=plan.status, observation=seen(remote=RemoteStatus.FINISHED))
    )
    assert isinstance(restart.action, StartTask)
    assert restart.status.outputs is None
