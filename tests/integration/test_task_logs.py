"""``supervisely-operator logs``' core: which task and credentials a resource names, the log read
from the simulator page by page with ``sinceTime``, followed to the task's end, and every refusal
in words that name what to fix and never the token.

The resource lives in kmock and is read through the official client; the log comes from the
simulator on a fake clock, so "the task has run 10 s more" costs no time.
"""

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from supervisely_devkit.simulator import FakeClock, PhaseDurations, Scenario, Simulator
from supervisely_operator.controller.credentials import Credentials
from supervisely_operator.controller.kube import KubeApi
from supervisely_operator.controller.reconciler import utc_now
from supervisely_operator.controller.task_logs import (
    LogRequest,
    LogsRefused,
    TaskLog,
    show_logs,
)
from supervisely_operator.supervisely import (
    ClientSettings,
    LogEntry,
    StartTaskRequest,
    SuperviselyClient,
)

from controller_harness import Cluster, task_path

NAMESPACE = "vision"
DURATIONS = PhaseDurations(queued=1, consumed=2, running=30, terminating=1, ready_delay=2)
SETTINGS = ClientSettings(max_attempts=1)


@pytest.fixture
async def clocked(
    simulator_factory: Callable[..., Any], fake_clock: FakeClock
) -> tuple[Simulator, FakeClock]:
    simulator = await simulator_factory(Scenario(durations=DURATIONS), clock=fake_clock)
    return simulator, fake_clock


async def start(simulator: Simulator, token: str, module_id: int) -> int:
    async with SuperviselyClient(simulator.base_url, token, SETTINGS) as client:
        started = await client.start_task(
            StartTaskRequest(workspace_id=1, agent_id=1, module_id=module_id)
        )
        return int(started.task_id)


async def resource(cluster: Cluster, name: str, status: dict[str, Any], **spec: Any) -> None:
    await cluster.create_task(
        name, {"workspaceId": 1, "moduleId": 101, **spec}, namespace=NAMESPACE
    )
    if status:
        await cluster.patch(f"{task_path(name, namespace=NAMESPACE)}/status", {"status": status})


async def shown(
    kube: KubeApi,
    request: LogRequest,
    *,
    credentials: Credentials | None,
    notes: list[str] | None = None,
) -> list[LogEntry]:
    lines: list[LogEntry] = []
    await show_logs(
        kube,
        request,
        environment=credentials,
        write=lines.append,
        note=(notes if notes is not None else []).append,
        interval=0.01,
        settings=SETTINGS,
    )
    return lines


async def test_a_log_read_in_small_pages_comes_whole_and_each_line_once(
    clocked: tuple[Simulator, FakeClock], simulator_token: str
) -> None:
    simulator, clock = clocked
    task_id = await start(simulator, simulator_token, 101)
    async with SuperviselyClient(simulator.base_url, simulator_token, SETTINGS) as client:
        log = TaskLog(client, task_id, page_size=2)
        clock.advance(8)
        early = await log.new_lines()
        assert await log.new_lines() == [], "nothing new, nothing repeated"
        clock.advance(60)
        late = await log.new_lines()
        assert await log.ended()
        whole = await client.get_task_logs(task_id, limit=1000)
    assert early
    assert late
    assert [*early, *late] == whole
    assert whole[-1].message == "Application finished successfully"


async def test_since_leaves_out_the_older_lines(
    clocked: tuple[Simulator, FakeClock], simulator_token: str
) -> None:
    simulator, clock = clocked
    task_id = await start(simulator, simulator_token, 101)
    clock.advance(60)
    async with SuperviselyClient(simulator.base_url, simulator_token, SETTINGS) as client:
        whole = await client.get_task_logs(task_id, limit=1000)
        middle = whole[len(whole) // 2]
        assert middle.timestamp is not None
        later = await TaskLog(client, task_id, since=middle.timestamp).new_lines()
    assert later == whole[len(whole) // 2 + 1 :]


async def test_the_resource_names_the_task_its_tail_and_an_earlier_one(
    clocked: tuple[Simulator, FakeClock], simulator_token: str, cluster: Cluster, kube: KubeApi
) -> None:
    simulator, clock = clocked
    earlier = await start(simulator, simulator_token, 102)  # ends in error
    current = await start(simulator, simulator_token, 101)
    clock.advance(60)
    await resource(cluster, "train", {"taskId": current, "previousTaskIds": [earlier]})
    credentials = Credentials(
        server_address=simulator.base_url, api_token=SecretStr(simulator_token)
    )
    request = LogRequest(namespace=NAMESPACE, name="train")

    lines = await shown(kube, request, credentials=credentials)
    assert lines[0].message.startswith(f"Task {current} queued")
    tail = await shown(
        kube, LogRequest(namespace=NAMESPACE, name="train", tail=2), credentials=credentials
    )
    assert tail == lines[-2:]
    before = LogRequest(namespace=NAMESPACE, name="train", task_id=earlier)
    old = await shown(kube, before, credentials=credentials)
    assert old[0].message.startswith(f"Task {earlier} queued")
    assert old[-1].message.startswith("Task failed")


async def test_a_suspended_resource_shows_its_last_task_and_says_so(
    clocked: tuple[Simulator, FakeClock], simulator_token: str, cluster: Cluster, kube: KubeApi
) -> None:
    simulator, clock = clocked
    last = await start(simulator, simulator_token, 101)
    clock.advance(60)
    await resource(cluster, "paused", {"phase": "Suspended", "previousTaskIds": [last]})
    notes: list[str] = []
    credentials = Credentials(
        server_address=simulator.base_url, api_token=SecretStr(simulator_token)
    )
    lines = await shown(
        kube, LogRequest(namespace=NAMESPACE, name="paused"), credentials=credentials, notes=notes
    )
    assert lines[0].message.startswith(f"Task {last} queued")
    assert notes == [f"slytask/paused has no current task (Suspended); its last was {last}"]


async def test_following_prints_each_line_once_until_the_task_ends(
    clocked: tuple[Simulator, FakeClock], simulator_token: str, cluster: Cluster, kube: KubeApi
) -> None:
    simulator, clock = clocked
    task_id = await start(simulator, simulator_token, 101)
    await resource(cluster, "train", {"taskId": task_id})
    credentials = Credentials(
        server_address=simulator.base_url, api_token=SecretStr(simulator_token)
    )
    lines: list[LogEntry] = []

    async def time_passes() -> None:
        while True:  # the task runs on, a second of its life per few milliseconds
            await asyncio.sleep(0.005)
            clock.advance(1)

    passing = asyncio.create_task(time_passes())
    try:
        async with asyncio.timeout(30):
            await show_logs(
                kube,
                LogRequest(namespace=NAMESPACE, name="train", follow=True),
                environment=credentials,
                write=lines.append,
                note=lambda _: None,
                interval=0.01,
                settings=SETTINGS,
            )
    finally:
        passing.cancel()
    async with SuperviselyClient(simulator.base_url, simulator_token, SETTINGS) as client:
        assert lines == await client.get_task_logs(task_id, limit=1000)
    assert lines[-1].message == "Application finished successfully"


async def test_credentials_come_from_the_resources_secret_first(
    clocked: tuple[Simulator, FakeClock], simulator_token: str, cluster: Cluster, kube: KubeApi
) -> None:
    simulator, clock = clocked
    task_id = await start(simulator, simulator_token, 101)
    clock.advance(60)
    await cluster.create_secret(
        "sly",
        {"SERVER_ADDRESS": simulator.base_url, "API_TOKEN": simulator_token},
        namespace=NAMESPACE,
    )
    await resource(cluster, "train", {"taskId": task_id}, credentialsSecretRef={"name": "sly"})
    wrong = Credentials(server_address=simulator.base_url, api_token=SecretStr("not-the-token"))
    lines = await shown(kube, LogRequest(namespace=NAMESPACE, name="train"), credentials=wrong)
    assert lines[0].message.startswith(f"Task {task_id} queued")


@pytest.mark.parametrize(
    ("status", "spec", "request_", "message"),
    [
        pytest.param(
            None,
            {},
            LogRequest(namespace=NAMESPACE, name="ghost"),
            "superviselytask 'ghost' not found in namespace 'vision'",
            id="unknown-resource",
        ),
        pytest.param(
            {},
            {},
            LogRequest(namespace=NAMESPACE, name="train"),
            "slytask/train has no task yet (phase not reconciled yet); its log appears once it",
            id="no-task-yet",
        ),
        pytest.param(
            {
                "phase": "Pending",
                "startRequest": {"marker": "m", "requestedAt": "2026-12-07T10:00:00Z"},
            },
            {},
            LogRequest(namespace=NAMESPACE, name="train"),
            "slytask/train has no task yet: a start was requested at 2026-12-07T10:00:00+00:00",
            id="start-in-flight",
        ),
        pytest.param(
            {"taskId": 7, "previousTaskIds": [5, 6]},
            {},
            LogRequest(namespace=NAMESPACE, name="train", task_id=3),
            "task 3 is not one of slytask/train's tasks (newest first: 7, 6, 5;",
            id="foreign-task-id",
        ),
        pytest.param(
            {"taskId": 7},
            {"credentialsSecretRef": {"name": "missing"}},
            LogRequest(namespace=NAMESPACE, name="train"),
            "no usable Supervisely credentials for slytask/train: Secret vision/missing does not",
            id="secret-missing",
        ),
        pytest.param(
            {"taskId": 424242},
            {},
            LogRequest(namespace=NAMESPACE, name="train"),
            "task 424242 no longer exists on Supervisely",
            id="task-gone",
        ),
    ],
)
async def test_each_refusal_says_what_is_wrong(
    clocked: tuple[Simulator, FakeClock],
    simulator_token: str,
    cluster: Cluster,
    kube: KubeApi,
    status: dict[str, Any] | None,
    spec: dict[str, Any],
    request_: LogRequest,
    message: str,
) -> None:
    simulator, _ = clocked
    if status is not None:
        await resource(cluster, "train", status, **spec)
    credentials = Credentials(
        server_address=simulator.base_url, api_token=SecretStr(simulator_token)
    )
    with pytest.raises(LogsRefused) as refused:
        await shown(kube, request_, credentials=credentials)
    assert message in str(refused.value)
    assert simulator_token not in str(refused.value)


async def test_a_refused_token_is_named_by_where_it_came_from_never_shown(
    clocked: tuple[Simulator, FakeClock], simulator_token: str, cluster: Cluster, kube: KubeApi
) -> None:
    simulator, _ = clocked
    task_id = await start(simulator, simulator_token, 101)
    await resource(cluster, "train", {"taskId": task_id})
    wrong = "wrong-token-0123456789abcdef"
    credentials = Credentials(server_address=simulator.base_url, api_token=SecretStr(wrong))
    with pytest.raises(LogsRefused) as refused:
        await shown(kube, LogRequest(namespace=NAMESPACE, name="train"), credentials=credentials)
    said = str(refused.value)
    assert said == (
        f"Supervisely ({simulator.base_url}) refused the API token from SERVER_ADDRESS and "
        "API_TOKEN of this environment (HTTP 401): fix that token"
    )
    assert wrong not in said


def test_since_takes_a_duration_or_a_time_with_its_zone() -> None:
    from supervisely_operator.controller.task_logs import parse_since

    now = utc_now()
    assert parse_since("90s", now=now) == now - timedelta(seconds=90)
    assert parse_since("1h30m", now=now) == now - timedelta(hours=1, minutes=30)
    assert parse_since("2026-12-07T10:00:00Z", now=now).isoformat() == "2026-12-07T10:00:00+00:00"
    for bad in ("", "10 minutes", "2026-12-07T10:00:00", "5d"):
        with pytest.raises(LogsRefused, match="neither a duration"):
            parse_since(bad, now=now)
