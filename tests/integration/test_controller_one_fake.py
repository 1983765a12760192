"""The kopf shell with one fake: the remote seam. Kubernetes is kmock, the shell is ours.

Everything remote goes through :class:`~supervisely_operator.remote.TaskRemote`, so a test of
the shell needs no Supervisely at all: this fake hands out scripted observations and records
each action. It proves the wiring the decision cannot see: an action's outcome lands in
status, the pass after an action observes at once, and a spec edit reaches the remote side.
"""

from dataclasses import dataclass, field

import pytest

from supervisely_operator.api import SecretReference, SuperviselyTaskSpec
from supervisely_operator.reconcile.outcomes import CallFailed, Started, StartOutcome
from supervisely_operator.reconcile.situation import (
    NothingToObserve,
    Observation,
    RemoteStatus,
    RemoteTask,
    ResourceRef,
    TaskSeen,
)
from supervisely_operator.remote import Watch

from controller_harness import Cluster, OperatorStarter, sent, task_path, wait_until

NAMESPACE = "vision"
SPEC = {"workspaceId": 1, "agentId": 1, "moduleId": 103}


@dataclass
class FakeRemote:
    """A Supervisely of one workspace whose tasks start at once and stop when asked."""

    started: list[tuple[str, str]] = field(default_factory=list)
    stopped: list[int] = field(default_factory=list)
    forgotten: list[str] = field(default_factory=list)
    statuses: dict[int, RemoteStatus] = field(default_factory=dict)
    late_starts: dict[str, list[int]] = field(default_factory=dict)
    """Tasks of earlier starts, by resource name, that Supervisely carried out late."""

    async def remote_for(
        self, resource: ResourceRef, *, secret_ref: SecretReference | None, deleting: bool = False
    ) -> "FakeRemote":
        return self

    def forget(self, resource: ResourceRef) -> None:
        self.forgotten.append(resource.name)

    async def observe(self, watch: Watch) -> Observation:
        if watch.task_id is None:
            return NothingToObserve()
        status = self.statuses[watch.task_id]
        return TaskSeen(RemoteTask(task_id=watch.task_id, status=status, raw_status=status.value))

    def owner_of(self, task_id: int, resource: ResourceRef) -> ResourceRef | None:
        return None

    def strays(self, resource: ResourceRef) -> tuple[RemoteTask, ...]:
        return tuple(
            RemoteTask(task_id=task_id, status=RemoteStatus.STARTED, raw_status="started")
            for task_id in self.late_starts.get(resource.name, ())
            if task_id not in self.stopped
        )

    async def start(
        self, spec: SuperviselyTaskSpec, *, resource: ResourceRef, marker: str
    ) -> StartOutcome:
        self.started.append((resource.name, marker))
        task_id = 7000 + len(self.started)
        self.statuses[task_id] = RemoteStatus.STARTED
        return Started(task_id=task_id, module_id=103, agent_id=1, session_url="fake://session")

    async def stop(self, task_id: int, *, resource: ResourceRef) -> CallFailed | None:
        self.stopped.append(task_id)
        self.statuses[task_id] = RemoteStatus.STOPPED
        return None

    async def log_tail(self, task_id: int, *, lines: int) -> str:
        return ""


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
