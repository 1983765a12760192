"""The next pass decides on the object as the last pass's own writes left it, not on an older
copy that kopf's watch has not yet replaced (under load the watch is seconds behind)."""

from typing import Any

from supervisely_operator.api import SuperviselyTaskStatus
from supervisely_operator.controller.reconciler import PassResult, Snapshot
from supervisely_operator.reconcile.situation import Plan


def body(version: str, **status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "supervisely.com/v1alpha1",
        "kind": "SuperviselyTask",
        "metadata": {"namespace": "ns", "name": "a", "uid": "u-1", "resourceVersion": version},
        "spec": {"workspaceId": 1, "agentId": 1, "moduleId": 103},
        "status": status,
    }


def result_after_writes(read: str, written: str) -> PassResult:
    snapshot = Snapshot.of(body(written, taskId=7))
    plan = Plan(status=SuperviselyTaskStatus(task_id=7), requeue_after=None)
    return PassResult(plan=plan, snapshot=snapshot, superseded=frozenset({read, "11"}))


def test_a_body_the_pass_wrote_over_gives_way_to_the_pass_s_own_snapshot() -> None:
    result = result_after_writes("10", "12")
    assert result.freshest(body("10")) is result.snapshot
    assert result.freshest(body("11")) is result.snapshot


def test_a_body_of_any_other_version_wins() -> None:
    result = result_after_writes("10", "12")
    caught_up = body("12", taskId=7)
    someone_elses = body("13", taskId=7)
    assert result.freshest(caught_up) is caught_up
    assert result.freshest(someone_elses) is someone_elses


def test_a_pass_that_wrote_nothing_on_the_last_snapshot_keeps_the_body_from_going_back() -> None:
    """The next pass decided on the snapshot and wrote nothing: a body still at a version the
    pass before wrote over is as old as it was, and must not be decided on."""
    wrote = result_after_writes("10", "12")
    quiet = PassResult(plan=wrote.plan, snapshot=wrote.snapshot, superseded=frozenset()).following(
        wrote
    )
    assert quiet.freshest(body("10")) is quiet.snapshot
    caught_up = body("12", taskId=7)
    assert quiet.freshest(caught_up) is caught_up
