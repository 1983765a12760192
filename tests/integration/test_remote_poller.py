"""The remote seam against the simulator over loopback HTTP: shared lists, wake-ups, caches.

The simulator runs on a ``FakeClock``, so a task changes status only when a test moves time;
the poller itself runs on the real loop with intervals of a few tens of milliseconds.
"""

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from supervisely_devkit.simulator import FakeClock, Scenario, Simulator
from supervisely_operator.api import (
    OutputLinkKind,
    OutputProject,
    SuperviselyTaskSpec,
    TaskOutputs,
)
from supervisely_operator.reconcile.situation import (
    AwaitingObservation,
    NothingToObserve,
    RemoteStatus,
    RemoteTask,
    RemoteUnavailable,
    ResourceRef,
    Sighting,
    Started,
    StartNotFound,
    StartOutcome,
    StartRefused,
    TaskGone,
    TaskSeen,
)
from supervisely_operator.reconcile.watch import Watch
from supervisely_operator.remote import PollTiming, SuperviselyRemote
from supervisely_operator.remote.view import LIVE_STATUSES
from supervisely_operator.supervisely import ClientSettings, SuperviselyClient

TIMING = PollTiming(
    interval=0.05, transition_interval=0.02, idle_interval=0.2, per_page=3, jitter=0.0
)
SERVES = {"workspaceId": 1, "agentId": 1, "moduleId": 103}
SLOW = PollTiming(interval=1.0, transition_interval=0.1, idle_interval=2.0, per_page=3, jitter=0.0)
"""Slow enough that a list more or less than a steady pace shows."""
SETTINGS = ClientSettings(max_attempts=1, readiness_attempts=1, read_timeout=2.0)


class Resource:
    """One resource's view: its ref and how often the poller woke it."""

    def __init__(self, name: str) -> None:
        self.ref = ResourceRef(namespace="vision", name=name, uid=f"uid-{name}")
        self.woken = asyncio.Event()

    def watch(
        self,
        *,
        task_id: int | None = None,
        marker: str | None = None,
        since: datetime | None,
        probe_readiness: bool = False,
        poll_interval: float | None = None,
    ) -> "Watched":
        watch = Watch(
            workspace_id=1,
            task_id=task_id,
            marker=marker,
            since=since,
            probe_readiness=probe_readiness,
            poll_interval=poll_interval,
        )
        return Watched(self, watch)


@dataclass(frozen=True)
class Watched:
    """A resource's watch, as its remote hands it to the shared poller."""

    resource: Resource
    watch: Watch

    def track(self, remote: SuperviselyRemote) -> tuple[Sighting, tuple[RemoteTask, ...]]:
        resource = self.resource
        return remote.track(
            resource, uid=resource.ref.uid, watch=self.watch, wake=resource.woken.set
        )


async def observe(remote: SuperviselyRemote, watched: Watched) -> Sighting:
    """What the shared list says of the watched task (no call of its own)."""
    return watched.track(remote)[0]


def strays(remote: SuperviselyRemote, watched: Watched) -> tuple[RemoteTask, ...]:
    return watched.track(remote)[1]


@pytest.fixture
async def simulator(
    simulator_factory: Callable[..., "asyncio.Future[Simulator]"], fake_clock: FakeClock
) -> Simulator:
    return await simulator_factory(Scenario(), clock=fake_clock)


RemoteFactory = Callable[[PollTiming], SuperviselyRemote]


@pytest.fixture
async def remote_factory(
    simulator: Simulator, simulator_token: str
) -> AsyncIterator[RemoteFactory]:
    """Remotes on the simulator with the given timing; all closed after the test."""
    made: list[SuperviselyRemote] = []

    def make(timing: PollTiming) -> SuperviselyRemote:
        client = SuperviselyClient(simulator.base_url, simulator_token, SETTINGS)
        remote = SuperviselyRemote(
            client,
            timing=timing,
            lookup_ttl=60.0,
            start_deadline=5.0,
            now=lambda: datetime.now(UTC),
        )
        made.append(remote)
        return remote

    yield make
    for remote in made:
        await remote.aclose()
        await remote.client.aclose()


@pytest.fixture
def remote(remote_factory: RemoteFactory) -> SuperviselyRemote:
    return remote_factory(TIMING)


async def start_outcome(
    remote: SuperviselyRemote, resource: Resource, *, attempt: int = 1, **spec: object
) -> StartOutcome:
    return await remote.start(
        SuperviselyTaskSpec.model_validate({**SERVES, **spec}),
        resource=resource.ref,
        marker=marker_of(resource, attempt),
    )


async def start(
    remote: SuperviselyRemote, resource: Resource, *, attempt: int = 1, **spec: object
) -> int:
    outcome = await start_outcome(remote, resource, attempt=attempt, **spec)
    assert isinstance(outcome, Started)
    return outcome.task_id


async def seen_until(
    remote: SuperviselyRemote,
    resource: Resource,
    watch: Watched,
    holds: Callable[[Sighting], bool],
) -> Sighting:
    """Observe each time the poller wakes the resource, until ``holds``."""

    async def settled() -> Sighting:
        while not holds(observation := await observe(remote, watch)):
            await resource.woken.wait()
            resource.woken.clear()
        return observation

    return await asyncio.wait_for(settled(), timeout=5)


async def started_and_seen(
    remote: SuperviselyRemote,
    name: str,
    *,
    until: Callable[[Sighting], bool] = lambda o: isinstance(o, TaskSeen),
    probe_readiness: bool = False,
) -> tuple[Resource, int, Watched]:
    """A resource with a started task, watched until an observation ``until`` holds."""
    resource = Resource(name)
    task_id = await start(remote, resource)
    watch = resource.watch(task_id=task_id, since=None, probe_readiness=probe_readiness)
    await seen_until(remote, resource, watch, until)
    return resource, task_id, watch


def marker_of(resource: Resource, attempt: int) -> str:
    return f"supervisely-operator:{resource.ref.uid}:{attempt}"


def status_of(observation: Sighting) -> RemoteStatus | None:
    return observation.task.status if isinstance(observation, TaskSeen) else None


def is_queued(observation: Sighting) -> bool:
    return status_of(observation) is RemoteStatus.QUEUED


def seen(observation: Sighting) -> RemoteTask:
    assert isinstance(observation, TaskSeen), observation
    return observation.task


def readiness_is(ready: bool | None) -> Callable[[Sighting], bool]:
    return lambda o: isinstance(o, TaskSeen) and o.task.ready is ready


async def test_one_list_serves_every_resource_of_the_workspace(
    remote: SuperviselyRemote, simulator: Simulator
) -> None:
    resources = [Resource(f"r{i}") for i in range(7)]
    task_ids = [await start(remote, resource) for resource in resources]
    simulator.clear_calls()

    for resource, task_id in zip(resources, task_ids, strict=True):
        watch = resource.watch(task_id=task_id, since=datetime.now(UTC))
        assert isinstance(await observe(remote, watch), AwaitingObservation)
    observations = [
        await seen_until(
            remote, r, r.watch(task_id=t, since=None), lambda o: status_of(o) is not None
        )
        for r, t in zip(resources, task_ids, strict=True)
    ]

    assert {status_of(o) for o in observations} == {RemoteStatus.QUEUED}
    assert simulator.calls("tasks.info") == [], "no resource asks for its own task"
    lists = simulator.calls("tasks.list")
    assert lists, "the workspace was listed"
    first = lists[0].body
    assert first["filter"] == [
        {"field": "status", "operator": "in", "value": [s.value for s in LIVE_STATUSES]}
    ], "the steady list asks for live tasks only"
    assert first["per_page"] == TIMING.per_page
    assert len(lists) <= 3 * 3, "a few lists of three pages, not one call per resource"


async def test_a_list_older_than_the_last_action_never_says_the_task_is_gone(
    remote: SuperviselyRemote,
) -> None:
    first, second = Resource("first"), Resource("second")
    first_task = await start(remote, first)
    await seen_until(
        remote,
        first,
        first.watch(task_id=first_task, since=None),
        lambda o: isinstance(o, TaskSeen),
    )

    second_task = await start(remote, second)
    # The poller's latest list was taken before this start: it cannot know the task.
    observation = await observe(remote, second.watch(task_id=second_task, since=None))
    assert isinstance(observation, AwaitingObservation)
    await asyncio.wait_for(second.woken.wait(), timeout=5)
    observation = await observe(remote, second.watch(task_id=second_task, since=None))
    assert status_of(observation) is RemoteStatus.QUEUED


async def test_a_task_that_left_the_live_list_is_asked_for_once(
    remote: SuperviselyRemote, simulator: Simulator
) -> None:
    resource, task_id, watch = await started_and_seen(remote, "ends", until=is_queued)

    simulator.force_task(task_id, "error")
    ended = await seen_until(remote, resource, watch, lambda o: status_of(o) is RemoteStatus.ERROR)
    for _ in range(3):  # several more lists
        resource.woken.clear()
        await asyncio.sleep(TIMING.idle_interval)

    assert isinstance(ended, TaskSeen)
    assert len(simulator.calls("tasks.info")) == 1, "its final state is asked once, then kept"
    assert status_of(await observe(remote, watch)) is RemoteStatus.ERROR


async def test_a_task_the_operator_stopped_needs_no_info_call(
    remote: SuperviselyRemote, simulator: Simulator, fake_clock: FakeClock
) -> None:
    resource, task_id, watch = await started_and_seen(remote, "stopped", until=is_queued)
    simulator.publish_output(task_id, {"project": {"id": 7, "title": "Lemons"}})
    await seen_until(remote, resource, watch, lambda o: seen(o).outputs is not None)

    assert await remote.stop(task_id, workspace_id=1) is None
    fake_clock.advance(5)  # terminating -> stopped
    ended = await seen_until(
        remote, resource, watch, lambda o: status_of(o) is RemoteStatus.STOPPED
    )

    assert isinstance(ended, TaskSeen)
    assert simulator.calls("tasks.info") == []
    assert ended.task.outputs == TaskOutputs(project=OutputProject(id=7, name="Lemons")), (
        "what it published is kept from its last list"
    )


async def test_a_task_that_no_longer_exists_is_gone(
    remote: SuperviselyRemote, simulator: Simulator
) -> None:
    resource, task_id, watch = await started_and_seen(remote, "lost", until=is_queued)

    simulator.delete_task(task_id)

    assert await seen_until(remote, resource, watch, lambda o: isinstance(o, TaskGone)) == TaskGone(
        task_id
    )


async def test_a_start_is_found_by_its_marker_even_after_it_ended(
    remote: SuperviselyRemote, simulator: Simulator
) -> None:
    resource = Resource("crashed")
    before = datetime.now(UTC)
    task_id = await start(remote, resource)
    simulator.force_task(task_id, "finished")
    marker = f"supervisely-operator:{resource.ref.uid}:1"

    found = await seen_until(
        remote,
        resource,
        resource.watch(marker=marker, since=before),
        lambda o: not isinstance(o, AwaitingObservation),
    )

    assert isinstance(found, TaskSeen)
    assert (found.task.task_id, found.task.status) == (task_id, RemoteStatus.FINISHED)
    assert any(call.body["filter"] == [] for call in simulator.calls("tasks.list")), (
        "a marker lookup reads an unfiltered list: the task may have ended already"
    )


async def test_an_unknown_marker_is_not_found_only_in_a_list_taken_after_the_request(
    remote: SuperviselyRemote,
) -> None:
    resource = Resource("never-started")
    since = datetime.now(UTC) + timedelta(seconds=0.3)
    watch = resource.watch(marker="supervisely-operator:nobody:1", since=since)

    assert isinstance(await observe(remote, watch), AwaitingObservation)
    observation = await seen_until(
        remote, resource, watch, lambda o: not isinstance(o, AwaitingObservation)
    )

    assert observation == StartNotFound("supervisely-operator:nobody:1")
    assert datetime.now(UTC) >= since


async def test_the_poller_stops_with_its_last_resource_and_starts_with_the_next(
    remote: SuperviselyRemote, simulator: Simulator
) -> None:
    resource, _, watch = await started_and_seen(remote, "only")

    remote.untrack(resource, workspace_id=1)
    await asyncio.sleep(0.05)
    simulator.clear_calls()
    await asyncio.sleep(TIMING.idle_interval * 2)
    assert simulator.calls("tasks.list") == [], "no resource left, no list"
    assert "workspaces=0" in repr(remote)

    await seen_until(remote, resource, watch, lambda o: isinstance(o, TaskSeen))
    assert simulator.calls("tasks.list"), "the next resource starts it again"


async def test_no_task_means_nothing_to_observe_and_no_call(
    remote: SuperviselyRemote, simulator: Simulator
) -> None:
    resource = Resource("idle")

    assert await observe(remote, resource.watch(since=None)) == NothingToObserve()
    await asyncio.sleep(TIMING.interval * 2)
    assert simulator.calls("tasks.list") == []


async def test_a_failing_list_reports_supervisely_unavailable_then_recovers(
    remote: SuperviselyRemote, simulator: Simulator
) -> None:
    resource, _, watch = await started_and_seen(remote, "outage")

    simulator.inject_fault("tasks.list", status=503, times=1000)
    unavailable = await seen_until(
        remote, resource, watch, lambda o: isinstance(o, RemoteUnavailable)
    )
    simulator.clear_faults()
    recovered = await seen_until(remote, resource, watch, lambda o: isinstance(o, TaskSeen))

    assert isinstance(unavailable, RemoteUnavailable)
    assert unavailable.reason == "Unavailable"
    assert status_of(recovered) is RemoteStatus.QUEUED


async def test_many_starts_of_one_slug_and_agent_look_them_up_once(
    remote: SuperviselyRemote, simulator: Simulator
) -> None:
    slug = "supervisely-ecosystem/sim-serve-model"
    resources = [Resource(f"s{i}") for i in range(20)]
    spec = {"workspaceId": 1, "agentId": 1, "appSlug": slug}

    outcomes = await asyncio.gather(
        *(
            remote.start(
                SuperviselyTaskSpec.model_validate(spec),
                resource=r.ref,
                marker=f"supervisely-operator:{r.ref.uid}:1",
            )
            for r in resources
        )
    )

    assert all(isinstance(outcome, Started) for outcome in outcomes)
    assert len(simulator.calls("ecosystem.list")) == 1
    assert len(simulator.calls("agents.info")) == 1
    assert len(simulator.calls("tasks.run.app")) == 20


async def test_a_start_held_past_the_deadline_is_given_up_as_of_unknown_outcome(
    simulator: Simulator, simulator_token: str
) -> None:
    """The deadline of a start holds whatever the client's own timeouts are: past it the start
    may have happened, so the decision looks for it by its marker before starting again."""
    client = SuperviselyClient(
        simulator.base_url, simulator_token, SETTINGS.model_copy(update={"read_timeout": 10.0})
    )
    remote = SuperviselyRemote(
        client, timing=TIMING, lookup_ttl=60.0, start_deadline=0.3, now=lambda: datetime.now(UTC)
    )
    simulator.inject_fault("tasks.run.app", delay=2.0, times=1)
    began = time.monotonic()
    try:
        outcome = await start_outcome(remote, Resource("held"))
    finally:
        await remote.aclose()
        await client.aclose()

    assert isinstance(outcome, StartRefused)
    assert (outcome.reason, outcome.outcome_unknown, outcome.retryable) == (
        "StartOutcomeUnknown",
        True,
        True,
    )
    assert time.monotonic() - began < 1.5, "given up at the deadline, not at the reply"


async def test_tasks_that_end_together_are_asked_for_in_one_list(
    remote: SuperviselyRemote, simulator: Simulator
) -> None:
    resources = [Resource(f"wave{i}") for i in range(5)]
    task_ids = [await start(remote, resource) for resource in resources]
    for resource, task_id in zip(resources, task_ids, strict=True):
        await seen_until(
            remote,
            resource,
            resource.watch(task_id=task_id, since=None),
            lambda o: isinstance(o, TaskSeen),
        )
    simulator.clear_calls()

    for task_id in task_ids:
        simulator.force_task(task_id, "finished")
    for resource, task_id in zip(resources, task_ids, strict=True):
        await seen_until(
            remote,
            resource,
            resource.watch(task_id=task_id, since=None),
            lambda o: status_of(o) is RemoteStatus.FINISHED,
        )

    by_id = [
        call
        for call in simulator.calls("tasks.list")
        if call.body["filter"][0]["field"] == "id" and "page" not in call.body
    ]
    assert len(by_id) == 1, "one list (of two pages of three)"
    assert sorted(by_id[0].body["filter"][0]["value"]) == sorted(task_ids)
    assert simulator.calls("tasks.info") == []


async def test_a_late_start_is_reported_as_a_stray_until_it_is_asked_to_stop(
    remote: SuperviselyRemote,
) -> None:
    """The first start's reply was lost and a second start made; then Supervisely carried out
    the first one too. Only that task is a stray: not the resource's own task, not a pending
    start's, not another resource's."""
    mine, other = Resource("mine"), Resource("other")
    late = await start(remote, mine, attempt=1)
    current = await start(remote, mine, attempt=2)
    await start(remote, other, attempt=1)
    theirs = other.watch(marker=marker_of(other, 1), since=None)
    await seen_until(remote, other, theirs, lambda o: isinstance(o, TaskSeen))

    pending = mine.watch(marker=marker_of(mine, 2), since=None)
    await seen_until(remote, mine, pending, lambda o: isinstance(o, TaskSeen))
    assert [task.task_id for task in strays(remote, pending)] == [late], "pending start"
    assert strays(remote, theirs) == ()

    mine.woken.clear()
    own = mine.watch(task_id=current, since=None)
    assert [task.task_id for task in strays(remote, own)] == [late], "own task"

    assert await remote.stop(late, workspace_id=1) is None
    assert strays(remote, own) == (), "asked to stop: not reported again"


async def test_a_list_refused_with_retry_after_passes_the_pause_on_and_keeps_to_it(
    remote: SuperviselyRemote, simulator: Simulator
) -> None:
    resource, _, watch = await started_and_seen(remote, "throttled")

    simulator.inject_fault("tasks.list", status=429, retry_after=2, times=1)
    unavailable = await seen_until(
        remote, resource, watch, lambda o: isinstance(o, RemoteUnavailable)
    )
    refused_at = time.monotonic()
    lists = len(simulator.calls("tasks.list"))
    assert isinstance(unavailable, RemoteUnavailable)
    assert unavailable.retry_after == 2.0, "the decision learns how long to stay away"
    await seen_until(remote, resource, watch, lambda o: isinstance(o, TaskSeen))

    assert len(simulator.calls("tasks.list")) == lists + 1, "one list after the pause"
    assert time.monotonic() - refused_at >= 1.9, "and not before it was over (the client's gate)"


async def test_an_app_is_asked_whether_it_is_ready_until_it_is_and_never_after(
    remote: SuperviselyRemote, simulator: Simulator, fake_clock: FakeClock
) -> None:
    resource, task_id, watch = await started_and_seen(
        remote, "serving", until=is_queued, probe_readiness=True
    )
    assert seen(await observe(remote, watch)).ready is None, "not asked while queued"
    assert simulator.calls("tasks.request.direct") == []

    fake_clock.advance(2.5)  # started; the app answers 2 s later
    await seen_until(remote, resource, watch, readiness_is(False))
    fake_clock.advance(2)
    await seen_until(remote, resource, watch, readiness_is(True))
    probes = simulator.calls("tasks.request.direct")
    await asyncio.sleep(TIMING.idle_interval * 3)  # several more lists

    assert len(simulator.calls("tasks.request.direct")) == len(probes), "seen ready: asked no more"
    assert {call.body["command"] for call in probes} == {"is_ready"}
    assert await remote.stop(task_id, workspace_id=1) is None
    stopping = await seen_until(
        remote, resource, watch, lambda o: status_of(o) is RemoteStatus.TERMINATING
    )
    assert seen(stopping).ready is None, "readiness is forgotten once the task leaves started"


async def test_an_app_nobody_asks_about_is_not_probed(
    remote: SuperviselyRemote, simulator: Simulator, fake_clock: FakeClock
) -> None:
    resource, _, watch = await started_and_seen(remote, "quiet", until=is_queued)

    fake_clock.advance(5)
    started = await seen_until(
        remote, resource, watch, lambda o: status_of(o) is RemoteStatus.STARTED
    )
    await asyncio.sleep(TIMING.idle_interval * 2)

    assert seen(started).ready is None
    assert simulator.calls("tasks.request.direct") == []


async def test_a_failing_probe_leaves_readiness_unknown_and_the_task_seen(
    remote: SuperviselyRemote, simulator: Simulator, fake_clock: FakeClock
) -> None:
    resource, _, watch = await started_and_seen(
        remote, "flaky", until=is_queued, probe_readiness=True
    )
    simulator.inject_fault("tasks.request.direct", status=502, times=1000)
    fake_clock.advance(5)  # started and ready, but nobody can tell
    await seen_until(remote, resource, watch, lambda o: status_of(o) is RemoteStatus.STARTED)
    await asyncio.sleep(TIMING.idle_interval * 2)  # lists at the fast pace, a probe each

    assert len(simulator.calls("tasks.request.direct")) >= 2, "probed again after each failure"
    assert seen(await observe(remote, watch)).ready is None, "a failing server is no answer"
    simulator.clear_faults()
    await seen_until(remote, resource, watch, readiness_is(True))


async def test_lists_come_at_the_transition_interval_while_an_app_is_not_ready(
    remote_factory: RemoteFactory, simulator: Simulator, fake_clock: FakeClock
) -> None:
    remote = remote_factory(SLOW)
    resource, _, watch = await started_and_seen(
        remote, "warming", until=is_queued, probe_readiness=True
    )
    fake_clock.advance(2.5)
    await seen_until(remote, resource, watch, readiness_is(False))

    simulator.clear_calls()
    await asyncio.sleep(1.0)
    lists_while_not_ready = len(simulator.calls("tasks.list"))
    probes_while_not_ready = len(simulator.calls("tasks.request.direct"))
    fake_clock.advance(2)
    await seen_until(remote, resource, watch, readiness_is(True))
    await asyncio.sleep(SLOW.transition_interval * 3)
    simulator.clear_calls()
    await asyncio.sleep(1.0)

    assert lists_while_not_ready >= 4, "every transition interval (0.1 s)"
    assert probes_while_not_ready >= 4, "one probe per list"
    assert len(simulator.calls("tasks.list")) <= 1, "ready: back to the steady interval (1 s)"


async def test_a_short_poll_interval_is_honoured_down_to_the_transition_interval(
    remote_factory: RemoteFactory, simulator: Simulator, fake_clock: FakeClock
) -> None:
    remote = remote_factory(SLOW)
    resource, task_id, watch = await started_and_seen(remote, "eager", until=is_queued)
    fake_clock.advance(5)  # started: nothing changes any more
    await seen_until(remote, resource, watch, lambda o: status_of(o) is RemoteStatus.STARTED)
    await asyncio.sleep(SLOW.transition_interval * 3)
    simulator.clear_calls()
    await asyncio.sleep(1.0)
    steady = len(simulator.calls("tasks.list"))

    # Asks for lists every millisecond: the list is shared, so the operator's floor holds.
    await observe(remote, resource.watch(task_id=task_id, since=None, poll_interval=0.001))
    simulator.clear_calls()
    await asyncio.sleep(1.0)
    eager = len(simulator.calls("tasks.list"))

    assert steady <= 1
    assert 4 <= eager <= 12, "about every 0.1 s (the transition interval), from at once on"


async def test_a_task_carries_its_outputs_workspace_and_the_owner_of_its_marker(
    remote: SuperviselyRemote, simulator: Simulator, fake_clock: FakeClock
) -> None:
    resource = Resource("trains")
    task_id = await start(remote, resource, moduleId=101)
    watch = resource.watch(task_id=task_id, since=None)
    live = seen(await seen_until(remote, resource, watch, is_queued))
    assert (live.workspace_id, live.marker_owner, live.outputs) == (1, resource.ref.uid, None)

    simulator.publish_output(task_id, {"project": {"id": 7, "title": "Lemons"}})
    published = await seen_until(
        remote, resource, watch, lambda o: isinstance(o, TaskSeen) and o.task.outputs is not None
    )
    fake_clock.advance(60)  # finished: the module publishes a directory and its run
    finished = await seen_until(
        remote, resource, watch, lambda o: status_of(o) is RemoteStatus.FINISHED
    )

    assert seen(published).outputs == TaskOutputs(project=OutputProject(id=7, name="Lemons"))
    outputs = seen(finished).outputs
    assert outputs is not None
    assert outputs.project == OutputProject(id=7, name="Lemons"), "earlier keys are kept"
    assert outputs.link is not None
    assert outputs.link.kind is OutputLinkKind.DIRECTORY
    assert outputs.link.url == f"{simulator.base_url}/files/{task_id}", "made absolute"
    assert outputs.experiment is not None
    assert (outputs.experiment.best_checkpoint, outputs.experiment.metrics["mAP"]) == (
        "best.pt",
        0.72,
    )


async def test_a_task_of_another_workspace_is_reported_as_it_is_and_asked_for_once(
    remote: SuperviselyRemote, simulator: Simulator
) -> None:
    owner, adopter = Resource("owner"), Resource("adopter")
    task_id = await start(remote, owner, workspaceId=2)
    watch = adopter.watch(task_id=task_id, since=None)  # the adopter's workspace is 1

    found = await seen_until(remote, adopter, watch, lambda o: isinstance(o, TaskSeen))
    await asyncio.sleep(TIMING.idle_interval * 2)
    again = await observe(remote, watch)

    assert (seen(found).workspace_id, seen(found).status) == (2, RemoteStatus.QUEUED)
    assert again == found, "not taken for ended: it lives on elsewhere"
    assert len(simulator.calls("tasks.info")) == 1, "this workspace's lists cannot follow it"
