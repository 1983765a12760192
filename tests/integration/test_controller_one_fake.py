"""The kopf shell with one fake: the remote seam. Kubernetes is kmock, the shell is ours.

Everything remote goes through :class:`~supervisely_operator.remote.TaskRemote`, so a test of
the shell needs no Supervisely at all: this fake hands out scripted observations and records
each action. It proves the wiring the decision cannot see: an action's outcome lands in
status, the pass after an action observes at once, and a spec edit reaches the remote side.
"""

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from supervisely_operator.api import SecretReference, SuperviselyTaskSpec, SuperviselyTaskStatus
from supervisely_operator.reconcile.situation import (
    CallFailed,
    NothingToObserve,
    Observation,
    RemoteStatus,
    RemoteTask,
    ResourceRef,
    Started,
    StartOutcome,
    TaskSeen,
)

from controller_harness import Cluster, OperatorStarter, sent, task_path, wait_until

NAMESPACE = "vision"
SPEC = {"workspaceId": 1, "agentId": 1, "moduleId": 103}


@dataclass
class FakeRemote:
    """A Supervisely of one workspace whose tasks start at once and stop when asked; it hands
    each resource a :class:`FakeResourceRemote` and records what they do."""

    started: list[tuple[str, str]] = field(default_factory=list)
    stopped: list[int] = field(default_factory=list)
    released: list[str] = field(default_factory=list)
    observed: int = 0
    """Observations asked for, by every resource."""
    hold_stops: bool = False
    """A stopped task terminates until a test says it stopped."""
    statuses: dict[int, RemoteStatus] = field(default_factory=dict)
    late_starts: dict[str, list[int]] = field(default_factory=dict)
    """Tasks of earlier starts, by resource name, that Supervisely carried out late."""

    wakes: list[Callable[[], None]] = field(default_factory=list)

    def remote_for(
        self, resource: ResourceRef, *, wake: Callable[[], None]
    ) -> "FakeResourceRemote":
        self.wakes.append(wake)
        return FakeResourceRemote(self, resource)

    def change(self, task_id: int, status: RemoteStatus) -> None:
        """The task moves on Supervisely; its resource is woken, as the poller would wake it."""
        self.statuses[task_id] = status
        for wake in self.wakes:
            wake()

    def resource_changed(self, uid: str) -> None:
        pass


@dataclass
class FakeResourceRemote:
    """One resource's door to the :class:`FakeRemote`."""

    world: FakeRemote
    resource: ResourceRef

    async def observe(
        self,
        *,
        spec: SuperviselyTaskSpec,
        status: SuperviselyTaskStatus,
        refresh_requested: str | None,
        deleting: bool,
        sources: Mapping[str, SecretReference | None] | None = None,
    ) -> Observation:
        self.world.observed += 1
        strays = tuple(
            RemoteTask(task_id=task_id, status=RemoteStatus.STARTED, raw_status="started")
            for task_id in self.world.late_starts.get(self.resource.name, ())
            if task_id not in self.world.stopped
        )
        if status.task_id is None:
            return Observation(task=NothingToObserve(), strays=strays)
        remote = self.world.statuses[status.task_id]
        task = RemoteTask(task_id=status.task_id, status=remote, raw_status=remote.value)
        return Observation(task=TaskSeen(task), strays=strays)

    async def start(
        self, spec: SuperviselyTaskSpec, *, marker: str, params: Mapping[str, Any]
    ) -> StartOutcome:
        self.world.started.append((self.resource.name, marker))
        task_id = 7000 + len(self.world.started)
        self.world.statuses[task_id] = RemoteStatus.STARTED
        return Started(task_id=task_id, module_id=103, agent_id=1, session_url="fake://session")

    async def stop(self, task_id: int) -> CallFailed | None:
        self.world.stopped.append(task_id)
        if not self.world.hold_stops:
            self.world.statuses[task_id] = RemoteStatus.STOPPED
        else:
            self.world.statuses[task_id] = RemoteStatus.TERMINATING
        return None

    def pause(self) -> None:
        pass

    def release(self) -> None:
        self.world.released.append(self.resource.name)


@pytest.fixture
def fake() -> FakeRemote:
    return FakeRemote()


async def test_the_shell_starts_mirrors_and_stops_through_the_seam(
    cluster: Cluster, start_operator: OperatorStarter, fake: FakeRemote
) -> None:
    await start_operator(remotes=fake)
    await cluster.create_task("serve", SPEC, namespace=NAMESPACE)

    running = await wait_until(
        lambda: (
            (status := cluster.status("serve", namespace=NAMESPACE)).get("phase") == "Running"
            and status
        ),
        what="phase Running",
    )
    assert running["taskId"] == 7001
    assert [name for name, _ in fake.started] == ["serve"], "one start"
    first_write = sent(cluster.status_patches("serve", namespace=NAMESPACE)[0])["status"]
    assert first_write["startRequest"]["marker"] == fake.started[0][1], (
        "the marker was written before the start"
    )

    await cluster.patch(task_path("serve", namespace=NAMESPACE), {"spec": {"suspend": True}})
    await wait_until(
        lambda: cluster.status("serve", namespace=NAMESPACE).get("phase") == "Suspended",
        what="phase Suspended",
    )
    assert fake.stopped == [7001]
    assert len(fake.started) == 1, "nothing started again"


async def test_a_late_start_that_shows_up_is_stopped_once_with_a_warning(
    cluster: Cluster, start_operator: OperatorStarter, fake: FakeRemote
) -> None:
    await start_operator(remotes=fake)
    await cluster.create_task("serve", SPEC, namespace=NAMESPACE)
    await wait_until(
        lambda: cluster.status("serve", namespace=NAMESPACE).get("phase") == "Running",
        what="phase Running",
    )

    fake.late_starts["serve"] = [6999]
    # A policy field: the pass it brings must not replace the task.
    await cluster.patch(
        task_path("serve", namespace=NAMESPACE), {"spec": {"activeDeadlineSeconds": 86400}}
    )
    await wait_until(lambda: 6999 in fake.stopped, what="the stray stopped")

    assert fake.stopped == [6999], "the resource's own task keeps running"
    # kopf posts Events from a queue of its own: wait for the post, then count.
    await wait_until(
        lambda: any(
            event["reason"] == "StrayTaskStopped" for event in cluster.events(namespace=NAMESPACE)
        ),
        what="the StrayTaskStopped Event",
    )
    warnings = [
        event
        for event in cluster.events(namespace=NAMESPACE)
        if event["reason"] == "StrayTaskStopped"
    ]
    assert len(warnings) == 1
    assert warnings[0]["type"] == "Warning"
    assert warnings[0]["message"] == (
        "Stopping task 6999: Supervisely carried out an earlier start of this resource after "
        "the operator had given up on it; task 7001 stays"
    )


# -- the pause and the finalizer, below the e2e tier ------------------------------------------

PAUSED = {"metadata": {"annotations": {"supervisely.com/paused": "true"}}}
UNPAUSED = {"metadata": {"annotations": {"supervisely.com/paused": None}}}


async def running(cluster: Cluster, name: str) -> int:
    status = await wait_until(
        lambda: (s := cluster.status(name, namespace=NAMESPACE)).get("phase") == "Running" and s,
        what="phase Running",
    )
    task_id: int = status["taskId"]
    return task_id


async def test_a_paused_resource_is_left_alone_then_resumes_from_its_status(
    cluster: Cluster, start_operator: OperatorStarter, fake: FakeRemote
) -> None:
    await start_operator(remotes=fake)
    await cluster.create_task("serve", SPEC, namespace=NAMESPACE)
    task_id = await running(cluster, "serve")
    await cluster.patch(task_path("serve", namespace=NAMESPACE), PAUSED)
    await asyncio.sleep(0.5)  # the pause is seen
    observed, writes = fake.observed, len(cluster.status_patches("serve", namespace=NAMESPACE))

    fake.change(task_id, RemoteStatus.ERROR)  # the task fails while nobody looks
    await asyncio.sleep(1.5)  # many poll intervals

    assert fake.observed == observed, "no calls"
    assert len(cluster.status_patches("serve", namespace=NAMESPACE)) == writes, "no writes"
    assert cluster.status("serve", namespace=NAMESPACE)["phase"] == "Running"

    await cluster.patch(task_path("serve", namespace=NAMESPACE), UNPAUSED)
    await wait_until(
        lambda: cluster.status("serve", namespace=NAMESPACE).get("phase") == "Pending",
        what="the error handled under the policy (a restart after the backoff)",
    )


async def test_a_deleted_resource_keeps_its_finalizer_until_its_task_is_stopped(
    cluster: Cluster, start_operator: OperatorStarter, fake: FakeRemote
) -> None:
    await start_operator(remotes=fake)
    await cluster.create_task("serve", SPEC, namespace=NAMESPACE)
    task_id = await running(cluster, "serve")
    fake.hold_stops = True

    await cluster.delete(task_path("serve", namespace=NAMESPACE))
    await wait_until(lambda: task_id in fake.stopped, what="the stop asked for")
    await asyncio.sleep(0.5)
    assert cluster.exists("serve", namespace=NAMESPACE), "kept while the task terminates"
    assert cluster.status("serve", namespace=NAMESPACE)["phase"] == "Stopping"

    fake.change(task_id, RemoteStatus.STOPPED)
    await wait_until(lambda: not cluster.exists("serve", namespace=NAMESPACE), what="released")
    assert set(fake.released) == {"serve"}, "its remote let go of everything"


async def test_a_paused_resource_s_deletion_waits_until_it_is_unpaused(
    cluster: Cluster, start_operator: OperatorStarter, fake: FakeRemote
) -> None:
    """As Crossplane's pause: the finalizer, and the task, stay until the annotation goes."""
    await start_operator(remotes=fake)
    await cluster.create_task("serve", SPEC, namespace=NAMESPACE)
    task_id = await running(cluster, "serve")
    await cluster.patch(task_path("serve", namespace=NAMESPACE), PAUSED)
    await asyncio.sleep(0.5)

    await cluster.delete(task_path("serve", namespace=NAMESPACE))
    await asyncio.sleep(1.5)
    assert cluster.exists("serve", namespace=NAMESPACE)
    assert fake.stopped == []

    await cluster.patch(task_path("serve", namespace=NAMESPACE), UNPAUSED)
    await wait_until(
        lambda: not cluster.exists("serve", namespace=NAMESPACE),
        what="deleted once unpaused (read again every 5 s)",
    )
    assert fake.stopped == [task_id]
