"""Status writes: through the status subresource, as merge patches guarded by resourceVersion.

The emulator enforces the precondition a real API server does, and a test can put another
client's write right before one of the operator's: that is a genuine 409, and what must follow
is a new decision on the fresh object, never a second task on Supervisely. The finalizer must
be on the object before a start is even marked.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

import kmock
import pytest

from supervisely_devkit.simulator import Simulator
from supervisely_operator.controller.startup import FINALIZER

from controller_harness import (
    ApiServerEmulator,
    Cluster,
    OperatorStarter,
    sent,
    task_path,
    wait_until,
)

NAMESPACE = "vision"
FINISHES = {"workspaceId": 1, "agentId": 1, "appSlug": "supervisely-ecosystem/sim-train-finishes"}
SERVES = {"workspaceId": 1, "moduleId": 103}


@pytest.fixture
async def operator_running(
    simulator: Simulator, simulator_token: str, start_operator: OperatorStarter
) -> None:
    """The operator, with the simulator's address and token as its own credentials."""
    await start_operator(SERVER_ADDRESS=simulator.base_url, API_TOKEN=simulator_token)


def status_write(request: kmock.Request) -> dict[str, Any]:
    """The status half of a status patch as sent; empty for any other request."""
    if request.method != "PATCH" or request.subresource != "status":
        return {}
    status: dict[str, Any] = sent(request).get("status") or {}
    return status


def records_start_mark(request: kmock.Request) -> bool:
    """The write that marks a start as pending, before Supervisely is asked."""
    return status_write(request).get("startRequest") is not None


def records_task_id(request: kmock.Request) -> bool:
    """The write that records the task Supervisely started."""
    return "taskId" in status_write(request)


def announcements(cluster: Cluster) -> list[str] | None:
    """The Event reasons so far, once the start has been announced (kopf posts them in order)."""
    reasons = cluster.event_reasons(namespace=NAMESPACE)
    return reasons if {"Started", "Adopted"} & set(reasons) else None


async def recorded_task_id(cluster: Cluster) -> int:
    task_id: int = await wait_until(
        lambda: cluster.status("train", namespace=NAMESPACE).get("taskId"),
        what="a task id in the status",
    )
    return task_id


@pytest.mark.usefixtures("operator_running")
async def test_status_is_a_merge_patch_of_the_status_subresource_guarded_by_resource_version(
    cluster: Cluster, simulator: Simulator
) -> None:
    await cluster.create_task("train", FINISHES, namespace=NAMESPACE)
    await wait_until(
        lambda: cluster.status("train", namespace=NAMESPACE).get("phase") == "Succeeded",
        what="phase Succeeded",
    )

    patches = cluster.status_patches("train", namespace=NAMESPACE)
    assert len(patches) >= 3, "start mark, started task, finished task at least"
    stored_versions = [
        version["metadata"]["resourceVersion"]
        for version in cluster.versions("train", namespace=NAMESPACE)
    ]
    sent_versions = [sent(patch)["metadata"]["resourceVersion"] for patch in patches]
    for patch in patches:
        assert patch.headers["Content-Type"] == "application/merge-patch+json"
        assert set(sent(patch)) == {"metadata", "status"}
        assert set(sent(patch)["metadata"]) == {"resourceVersion"}
    assert set(sent_versions) <= set(stored_versions), "each one a version the API had served"
    assert [int(v) for v in sent_versions] == sorted(int(v) for v in sent_versions)

    [task] = simulator.tasks()
    mark = status_write(patches[0])
    assert mark["phase"] == "Pending"
    assert set(mark["startRequest"]) == {"marker", "requestedAt"}
    recorded = next(status_write(p) for p in patches if records_task_id(p))
    assert recorded["taskId"] == task["id"]
    assert recorded["startRequest"] is None, "a field that went away is removed with null"
    assert "launchHash" not in recorded, "an unchanged field is not written again"
    final = cluster.status("train", namespace=NAMESPACE)
    assert "startRequest" not in final
    assert final["taskId"] == task["id"]

    main_writes = cluster.requests("PATCH", task_path("train", namespace=NAMESPACE))
    assert main_writes, "kopf's finalizer and annotations go to the object itself"
    assert not any("status" in json_keys(sent(p)) for p in main_writes), "status only via /status"
    assert cluster.server_faults() == []


def json_keys(body: Any) -> set[str]:
    """Top-level keys a merge patch sets, or top-level paths a JSON patch touches."""
    if isinstance(body, list):
        return {op["path"].split("/")[1] for op in body}
    return set(body)


@pytest.mark.usefixtures("operator_running")
async def test_the_finalizer_is_in_place_before_the_start_is_marked_and_made(
    cluster: Cluster, kube_api: ApiServerEmulator, simulator: Simulator
) -> None:
    """A start made before the finalizer could be orphaned by a deletion racing it."""
    starts_when_written: list[tuple[str, int]] = []

    def note_starts_made_so_far(request: kmock.Request) -> None:
        body = sent(request)
        adds_finalizer = isinstance(body, list) and any(
            op["path"] == "/metadata/finalizers" and FINALIZER in op["value"] for op in body
        )
        what = (
            "finalizer" if adds_finalizer else "start mark" if records_start_mark(request) else ""
        )
        if what:
            starts_when_written.append((what, len(simulator.calls("tasks.run.app"))))

    kube_api.before_write(note_starts_made_so_far)
    await cluster.create_task("train", SERVES, namespace=NAMESPACE)
    await recorded_task_id(cluster)

    assert starts_when_written[0] == ("finalizer", 0), "the finalizer comes first"
    assert ("start mark", 0) in starts_when_written, "then the mark, before any start"
    assert len(simulator.calls("tasks.run.app")) == 1
    assert FINALIZER in cluster.task("train", namespace=NAMESPACE)["metadata"]["finalizers"]


@pytest.mark.usefixtures("operator_running")
async def test_a_conflict_on_the_start_mark_means_deciding_again_and_starting_once(
    cluster: Cluster, kube_api: ApiServerEmulator, simulator: Simulator
) -> None:
    kube_api.race_next_write(records_start_mark, {"metadata": {"labels": {"team": "vision"}}})
    await cluster.create_task("train", SERVES, namespace=NAMESPACE)
    task_id = await recorded_task_id(cluster)

    status_patches = cluster.status_patches("train", namespace=NAMESPACE)
    marks = [p for p in status_patches if records_start_mark(p)]
    assert len(marks) >= 2, "the refused mark, then one decided on the fresh object"
    assert len(cluster.refusals(409)) >= 1
    versions = [sent(mark)["metadata"]["resourceVersion"] for mark in marks]
    assert versions[-1] != versions[0], "the retry was decided on a newer object"
    stored_marks = {
        version["status"]["startRequest"]["marker"]
        for version in cluster.versions("train", namespace=NAMESPACE)
        if "startRequest" in version.get("status", {})
    }
    assert len(stored_marks) == 1, "one start mark was ever accepted"
    [run] = simulator.calls("tasks.run.app")
    assert stored_marks.pop() in run.body["description"]
    assert [task["id"] for task in simulator.tasks()] == [task_id]
    reasons = await wait_until(lambda: announcements(cluster), what="the task announced")
    assert reasons.count("Started") == 1, "one start, announced once"
    stored = cluster.task("train", namespace=NAMESPACE)
    assert stored["metadata"]["labels"] == {"team": "vision"}, "the other client's write stands"
    assert cluster.server_faults() == []


@pytest.mark.usefixtures("operator_running")
async def test_a_conflict_on_recording_the_started_task_never_starts_a_second_one(
    cluster: Cluster, kube_api: ApiServerEmulator, simulator: Simulator
) -> None:
    kube_api.race_next_write(records_task_id, {"metadata": {"labels": {"team": "vision"}}})
    await cluster.create_task("train", SERVES, namespace=NAMESPACE)
    task_id = await recorded_task_id(cluster)
    await wait_until(
        lambda: cluster.status("train", namespace=NAMESPACE).get("phase") == "Running",
        what="phase Running",
    )

    assert len(cluster.refusals(409)) >= 1
    assert len(simulator.calls("tasks.run.app")) == 1
    assert [task["id"] for task in simulator.tasks()] == [task_id]
    status = cluster.status("train", namespace=NAMESPACE)
    assert "startRequest" not in status
    reasons = await wait_until(lambda: announcements(cluster), what="the task announced")
    assert reasons.count("Started") + reasons.count("Adopted") == 1, "announced once, either way"
    assert cluster.server_faults() == []


@pytest.mark.usefixtures("operator_running")
async def test_a_start_whose_record_races_a_metadata_write_is_announced_as_started(
    cluster: Cluster, kube_api: ApiServerEmulator, simulator: Simulator
) -> None:
    """kopf's own annotation write lands between the start mark and the task id, every time.

    The race is forced here so the test does not depend on kopf's timing.
    """
    kube_api.race_next_write(
        records_task_id, {"metadata": {"annotations": {"example.com/owner": "vision"}}}
    )
    await cluster.create_task("train", FINISHES, namespace=NAMESPACE)
    await recorded_task_id(cluster)

    [task] = simulator.tasks()
    reasons = await wait_until(lambda: announcements(cluster), what="the task announced")
    assert "Adopted" not in reasons
    assert "Started" in reasons
    assert cluster.status("train", namespace=NAMESPACE)["moduleId"] == 101
    assert task["id"] == cluster.status("train", namespace=NAMESPACE)["taskId"]


@pytest.mark.usefixtures("operator_running")
async def test_a_refused_start_whose_record_races_a_metadata_write_is_not_made_again(
    cluster: Cluster, kube_api: ApiServerEmulator, simulator: Simulator
) -> None:
    kube_api.race_next_write(
        lambda request: status_write(request).get("phase") == "Failed",
        {"metadata": {"annotations": {"example.com/owner": "vision"}}},
    )
    await cluster.create_task(
        "train",
        {"workspaceId": 1, "appSlug": "supervisely-ecosystem/no-such-app"},
        namespace=NAMESPACE,
    )
    await wait_until(
        lambda: cluster.status("train", namespace=NAMESPACE).get("phase") == "Failed",
        what="phase Failed",
    )

    assert len(simulator.calls("ecosystem.list")) == 1, "Supervisely was asked once"


@pytest.mark.usefixtures("operator_running")
async def test_a_write_is_checked_against_the_object_decided_on_not_kopfs_live_body(
    cluster: Cluster, simulator: Simulator
) -> None:
    """kopf updates a daemon's body in place as events arrive, even in the middle of a pass.

    Here the user suspends the task while a pass waits for Supervisely to start it. That pass
    decided on the old spec; had it written with the resourceVersion of the live body, its
    record of the start would have claimed ``observedGeneration: 2`` for a decision that never
    saw generation 2. The record lands (it is a fact), and the first decision on generation 2
    is the stop.
    """
    simulator.inject_fault("tasks.run.app", delay=1.0, times=1)
    await cluster.create_task("train", SERVES, namespace=NAMESPACE)
    await wait_until(
        lambda: cluster.status("train", namespace=NAMESPACE).get("startRequest"),
        what="the start recorded before it is made",
    )

    await cluster.patch(task_path("train", namespace=NAMESPACE), {"spec": {"suspend": True}})
    await wait_until(
        lambda: cluster.status("train", namespace=NAMESPACE).get("phase") == "Suspended",
        what="phase Suspended",
    )

    writes = [status_write(patch) for patch in cluster.status_patches("train", namespace=NAMESPACE)]
    recorded = next(write for write in writes if "taskId" in write)
    assert "observedGeneration" not in recorded, "the start's record keeps the generation it had"
    first_on_the_edit = next(w for w in writes if w.get("observedGeneration") == 2)
    assert first_on_the_edit.get("phase") == "Stopping", (
        "the first write on generation 2 is a decision on the edited spec"
    )
    assert cluster.server_faults() == []


# -- the guards of a status write after a conflict --------------------------------------------
# ``Reconciler._patch_status`` repeats a refused write only when the fresh object differs in
# metadata alone. Each test below races one of the other kinds of change, and fails when the
# guard against it is removed.


def mark_of(request: kmock.Request) -> str | None:
    """The marker of a start mark as sent, else None."""
    mark = status_write(request).get("startRequest")
    return mark["marker"] if mark else None


@pytest.mark.usefixtures("operator_running")
async def test_a_mark_raced_by_another_writers_status_is_decided_again_not_forced(
    cluster: Cluster, kube_api: ApiServerEmulator, simulator: Simulator
) -> None:
    """Guard: the status changed meanwhile. Another writer (a second replica) marked a start of
    its own: forcing ours over it would start a second task, so the pass decides again and
    waits out that start's grace (4 s here) before making its own."""
    foreign = {"marker": "supervisely-operator:another-replica:1", "requestedAt": utc_stamp()}
    kube_api.race_next_write(
        records_start_mark, {"status": {"phase": "Pending", "startRequest": foreign}}
    )
    await cluster.create_task("train", SERVES, namespace=NAMESPACE)
    await recorded_task_id(cluster)

    [run] = simulator.calls("tasks.run.app")
    assert foreign["marker"] not in run.body["description"]
    waited = datetime.fromisoformat(run.timestamp) - datetime.fromisoformat(foreign["requestedAt"])
    assert waited >= timedelta(seconds=4), "not made before the other start's grace was over"
    accepted = [
        version["status"]["startRequest"]["marker"]
        for version in cluster.versions("train", namespace=NAMESPACE)
        if "startRequest" in version.get("status", {})
    ]
    assert accepted[0] == foreign["marker"], "the other writer's mark was never overwritten"


@pytest.mark.usefixtures("operator_running")
async def test_a_mark_raced_by_a_spec_edit_is_decided_again_on_the_new_spec(
    cluster: Cluster, kube_api: ApiServerEmulator, simulator: Simulator
) -> None:
    """Guard: the spec changed meanwhile. The user suspended the task between the decision and
    its write: the start decided on the old spec must not be made."""
    kube_api.race_next_write(records_start_mark, {"spec": {"suspend": True}})
    await cluster.create_task("train", SERVES, namespace=NAMESPACE)
    await wait_until(
        lambda: cluster.status("train", namespace=NAMESPACE).get("phase") == "Suspended",
        what="phase Suspended",
    )

    assert simulator.calls("tasks.run.app") == []
    assert cluster.status("train", namespace=NAMESPACE)["observedGeneration"] == 2


@pytest.mark.usefixtures("operator_running")
async def test_a_mark_raced_by_a_new_incarnation_of_the_name_is_not_written_onto_it(
    cluster: Cluster, kube_api: ApiServerEmulator, simulator: Simulator
) -> None:
    """Guard: the uid changed. The object was deleted and made again under the same name (the
    emulator swaps the uid in place): the old incarnation's start must not land on the new one."""
    kube_api.race_next_write(records_start_mark, {"metadata": {"uid": "new-incarnation"}})
    old_uid = await cluster.create_task("train", SERVES, namespace=NAMESPACE)
    await recorded_task_id(cluster)

    [run] = simulator.calls("tasks.run.app")
    assert old_uid not in run.body["description"]
    assert "new-incarnation" in run.body["description"]
    stored_marks = [
        version["status"]["startRequest"]["marker"]
        for version in cluster.versions("train", namespace=NAMESPACE)
        if "startRequest" in version.get("status", {})
    ]
    assert all(old_uid not in marker for marker in stored_marks)


@pytest.mark.usefixtures("operator_running")
async def test_a_write_refused_again_and_again_gives_up_and_decides_afresh(
    cluster: Cluster, kube_api: ApiServerEmulator, simulator: Simulator
) -> None:
    """Guard: the attempt cap. Metadata-only races on every try: after three attempts the pass
    gives up, and the next one decides anew (a new marker) instead of retrying forever."""
    raced = 0

    def race_five_marks(request: kmock.Request) -> dict[str, Any] | None:
        nonlocal raced
        if not records_start_mark(request) or raced == 5:
            return None
        raced += 1
        return {"metadata": {"labels": {"raced": str(raced)}}}

    kube_api.before_write(race_five_marks)
    await cluster.create_task("train", SERVES, namespace=NAMESPACE)
    await recorded_task_id(cluster)

    sent_marks = [
        mark
        for patch in cluster.status_patches("train", namespace=NAMESPACE)
        if (mark := mark_of(patch))
    ]
    assert len(set(sent_marks[:3])) == 1, "three attempts of one decision"
    assert sent_marks[3] != sent_marks[0], "then a new decision"
    assert len(simulator.calls("tasks.run.app")) == 1


@pytest.mark.usefixtures("operator_running")
async def test_a_start_created_whose_reply_was_lost_is_adopted_not_made_again(
    cluster: Cluster, simulator: Simulator
) -> None:
    """The ambiguous start: Supervisely created the task, then answered 502."""
    simulator.inject_fault("tasks.run.app", status=502, after_effect=True, times=1)
    await cluster.create_task("train", SERVES, namespace=NAMESPACE)
    await wait_until(
        lambda: cluster.status("train", namespace=NAMESPACE).get("phase") == "Running",
        what="phase Running",
    )

    [task] = simulator.tasks()
    assert cluster.status("train", namespace=NAMESPACE)["taskId"] == task["id"]
    assert len(simulator.calls("tasks.run.app")) == 1, "the lost reply was not taken as no task"
    reasons = await wait_until(lambda: announcements(cluster), what="the task announced")
    assert "Adopted" in reasons


def utc_stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
