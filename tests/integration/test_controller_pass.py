"""One pass of the shell against kmock, with no kopf around it: the guards of a status write.

kopf's timing (a daemon cancelled when it sees a new uid, a write of its own) decides how a race
plays out when the whole operator runs; here the pass runs alone, so each race is the same every
time, and each test fails every time its guard is removed.
"""

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

import kopf
import pytest

from supervisely_operator.controller.kube import KubeApi, StaleObject
from supervisely_operator.controller.leadership import Leadership
from supervisely_operator.controller.loop import ResourceLoop
from supervisely_operator.controller.metrics import OperatorMetrics
from supervisely_operator.controller.reconciler import PassResult, Reconciler, Snapshot
from supervisely_operator.controller.startup import FINALIZER
from supervisely_operator.controller.wakeups import Wakeups
from supervisely_operator.reconcile.situation import (
    Event,
    ResourceRef,
    Started,
    StartTask,
)

from controller_harness import (
    PASS_TIMING,
    ApiServerEmulator,
    Cluster,
    StartsTask7001,
    sent,
    task_path,
)

NAMESPACE = "vision"
SERVES = {"workspaceId": 1, "moduleId": 103}
LOGGER = logging.getLogger("test")


@pytest.fixture
def events() -> list[Event]:
    return []


@pytest.fixture
def reconciler(kube: KubeApi, events: list[Event]) -> Reconciler:
    def post_event(obj: Mapping[str, Any], event: Event) -> None:
        events.append(event)

    return Reconciler(
        kube=kube,
        timing=PASS_TIMING,
        finalizer=FINALIZER,
        post_event=post_event,
        metrics=OperatorMetrics(),
        fence=Leadership(standalone=True).check,
    )


async def protected_task(cluster: Cluster) -> dict[str, Any]:
    """A new SuperviselyTask with the operator's finalizer on, as a pass finds it."""
    await cluster.create_task("train", SERVES, namespace=NAMESPACE)
    return await cluster.patch(
        task_path("train", namespace=NAMESPACE), {"metadata": {"finalizers": [FINALIZER]}}
    )


def writes_status(request: Any) -> dict[str, Any]:
    if request.method != "PATCH" or request.subresource != "status":
        return {}
    status: dict[str, Any] = sent(request).get("status") or {}
    return status


async def test_a_mark_raced_by_a_new_incarnation_of_the_name_is_never_written_onto_it(
    cluster: Cluster, kube_api: ApiServerEmulator, reconciler: Reconciler
) -> None:
    """Guard: the uid. The object was deleted and made again under its name between the
    decision and its write; the old one's start must land neither on it nor on Supervisely."""
    obj = await protected_task(cluster)
    kube_api.race_next_write(
        lambda request: "startRequest" in writes_status(request),
        {"metadata": {"uid": "new-incarnation"}},
    )
    remote = StartsTask7001()

    with pytest.raises(StaleObject):
        await reconciler.run_pass(obj, remote=remote, deleting=False, logger=LOGGER)

    assert remote.started == [], "nothing started for an object that is gone"
    assert "startRequest" not in cluster.status("train", namespace=NAMESPACE)
    assert len(cluster.status_patches("train", namespace=NAMESPACE)) == 1, "not written again"


async def test_a_start_s_record_lands_on_an_object_whose_spec_changed_meanwhile(
    cluster: Cluster, kube_api: ApiServerEmulator, reconciler: Reconciler, events: list[Event]
) -> None:
    """Guard: the record of what an action did is a fact. The user suspended the task while it
    was started; the task id still lands (the next decision, on the new spec, stops it), and is
    announced as Started, not found again later by its marker (Adopted)."""
    obj = await protected_task(cluster)
    remote = StartsTask7001()
    marked = await reconciler.run_pass(obj, remote=remote, deleting=False, logger=LOGGER)
    assert isinstance(marked.plan.action, StartTask)
    assert isinstance(marked.taken, Started)
    kube_api.race_next_write(
        lambda request: "taskId" in writes_status(request), {"spec": {"suspend": True}}
    )

    recorded = await reconciler.run_pass(
        marked.snapshot, remote=remote, deleting=False, logger=LOGGER, taken=marked.taken
    )

    stored = cluster.task("train", namespace=NAMESPACE)
    assert stored["spec"]["suspend"] is True, "the race happened"
    assert stored["status"]["taskId"] == 7001
    assert "startRequest" not in stored["status"]
    assert recorded.snapshot.status.task_id == 7001
    assert [event.reason for event in events] == ["Started"]


class LaggingBody:
    """A daemon's object source whose body never catches up: kopf's live body stays the version
    the test made, as it does until the watch delivers the operator's own writes. Three passes."""

    pause_recheck = 60.0

    def __init__(self, body: Mapping[str, Any]) -> None:
        self.body = body
        self.decided_on: list[object] = []

    @property
    def running(self) -> bool:
        return len(self.decided_on) < 3

    async def current(self, last: PassResult | None) -> Mapping[str, Any] | Snapshot:
        obj = self.body if last is None else last.freshest(self.body)
        self.decided_on.append(obj)
        return obj

    def finished(self, result: PassResult) -> bool:
        return False

    async def still_there(self) -> bool:
        return True

    async def sleep(self, wakeup: asyncio.Event, seconds: float) -> None:
        await asyncio.sleep(0)


class OneRemote:
    def __init__(self, remote: StartsTask7001) -> None:
        self.remote = remote

    def remote_for(self, resource: ResourceRef, *, wake: Callable[[], None]) -> StartsTask7001:
        return self.remote


async def test_a_pass_on_its_own_snapshot_keeps_the_versions_written_over_stale_for_the_next(
    cluster: Cluster, reconciler: Reconciler
) -> None:
    """Guard: a pass that decided on the loop's own snapshot (the body lagged) hands on which
    versions that snapshot's writes replaced, even when it wrote nothing itself: else the pass
    after it took the lagging body, written over twice already, for the object."""
    body = await protected_task(cluster)
    memo = kopf.Memo(
        reconciler=reconciler,
        metrics=OperatorMetrics(),
        leadership=Leadership(standalone=True),
        wakeups=Wakeups(),
        passes=asyncio.Semaphore(1),
        remotes=OneRemote(StartsTask7001()),
    )
    metadata = body["metadata"]
    ref = ResourceRef(namespace=NAMESPACE, name=metadata["name"], uid=metadata["uid"])
    source = LaggingBody(body)

    await ResourceLoop(memo, ref, logger=LOGGER, deleting=False).run(source)

    first, *later = source.decided_on
    assert first is body
    assert len(later) == 2
    assert all(isinstance(obj, Snapshot) for obj in later), "a later pass took the stale body"
