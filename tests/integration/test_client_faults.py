"""The client's retries, timeouts, start safety, auth and redaction against real loopback HTTP.

Attempts are counted from the simulator's call record, not from the client, so a client that
retried more (or less) than it claims would fail here.
"""

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime

import pytest

from supervisely_devkit.simulator import CallRecord, Simulator
from supervisely_operator.supervisely import (
    AgentId,
    ClientSettings,
    ModuleId,
    Rejected,
    ServerGate,
    StartOutcomeUnknown,
    StartTaskRequest,
    SuperviselyClient,
    TaskId,
    TaskNotFound,
    TaskStatus,
    Transient,
    Unauthorized,
    WorkspaceId,
    filter_eq,
)

SLOW_REPLY = 1.5
"""Seconds a delayed fault holds its reply: past the read timeout with room to spare."""
SETTINGS = ClientSettings(
    connect_timeout=0.5,
    read_timeout=0.8,
    write_timeout=0.5,
    pool_timeout=0.5,
    max_attempts=3,
    initial_backoff=0.01,
    max_backoff=1.5,
)
START = StartTaskRequest(
    module_id=ModuleId(103), workspace_id=WorkspaceId(1), agent_id=AgentId(1), task_name="op-x"
)

ClientFor = Callable[..., SuperviselyClient]


@pytest.fixture
async def client_for(simulator_token: str) -> AsyncIterator[ClientFor]:
    clients: list[SuperviselyClient] = []

    def make(server: str, token: str = simulator_token, **kwargs: object) -> SuperviselyClient:
        client = SuperviselyClient(server, token, SETTINGS, **kwargs)  # type: ignore[arg-type]
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
def client(simulator: Simulator, client_for: ClientFor) -> SuperviselyClient:
    return client_for(simulator.base_url)


async def a_task(simulator: Simulator, client: SuperviselyClient) -> TaskId:
    started = await client.start_task(START)
    simulator.clear_calls()
    return started.task_id


async def eventually_calls(simulator: Simulator, method: str, count: int) -> list[CallRecord]:
    """The call record of ``method`` once it has ``count`` entries (delayed calls land late)."""
    async with asyncio.timeout(5):
        while True:
            if len(simulator.calls(method)) >= count:
                break
            await asyncio.sleep(0.02)
    await asyncio.sleep(0.05)  # and no more arrive
    return simulator.calls(method)


def stamp(call: CallRecord) -> datetime:
    return datetime.fromisoformat(call.timestamp.replace("Z", "+00:00"))


async def test_503_is_retried_until_it_succeeds(
    simulator: Simulator, client_for: ClientFor
) -> None:
    outcomes: list[tuple[str, str]] = []
    client = client_for(simulator.base_url, on_call=lambda m, o, s: outcomes.append((m, o)))
    task_id = await a_task(simulator, client)
    outcomes.clear()
    simulator.inject_fault("tasks.info", status=503, times=2)
    assert (await client.get_task(task_id)).id == task_id
    assert [call.status for call in simulator.calls("tasks.info")] == [503, 503, 200]
    assert outcomes == [
        ("tasks.info", "server_error"),
        ("tasks.info", "server_error"),
        ("tasks.info", "ok"),
    ]


async def test_persistent_503_ends_as_transient_after_max_attempts(
    simulator: Simulator, client: SuperviselyClient
) -> None:
    simulator.inject_fault("tasks.info", status=503, message="maintenance")
    with pytest.raises(Transient) as caught:
        await client.get_task(TaskId(1))
    assert len(simulator.calls("tasks.info")) == SETTINGS.max_attempts == caught.value.attempts
    assert caught.value.cause == "HTTP 503: Service Unavailable: maintenance"
    assert caught.value.reason == "Unavailable"


async def test_429_waits_for_retry_after(simulator: Simulator, client: SuperviselyClient) -> None:
    task_id = await a_task(simulator, client)
    simulator.inject_fault("tasks.info", status=429, retry_after=1, times=1)
    began = time.monotonic()
    await client.get_task(task_id)
    assert time.monotonic() - began >= 1.0
    first, second = simulator.calls("tasks.info")
    assert (first.status, second.status) == (429, 200)
    assert (stamp(second) - stamp(first)).total_seconds() >= 0.99  # millisecond stamps


async def test_retry_after_beyond_max_backoff_is_left_to_the_caller(
    simulator: Simulator, client: SuperviselyClient
) -> None:
    simulator.inject_fault("tasks.info", status=429, retry_after=60, times=1)
    with pytest.raises(Transient) as caught:
        await client.get_task(TaskId(1))
    assert (caught.value.retry_after, caught.value.attempts) == (60.0, 1)
    assert len(simulator.calls("tasks.info")) == 1


async def test_a_429_burst_holds_every_caller_of_the_server_until_retry_after(
    simulator: Simulator, client_for: ClientFor, caplog: pytest.LogCaptureFixture
) -> None:
    """Three reads get 429 with Retry-After: 1 at once. A read by another client of the same
    server (another token, in the operator) sent right after reaches the simulator only when
    that second is over, and the pause is logged once, not once per caller."""
    shared = ServerGate.for_server(simulator.base_url, SETTINGS)
    first = client_for(simulator.base_url, gate=shared)
    second = client_for(simulator.base_url, gate=shared)
    task_id = await a_task(simulator, first)
    simulator.inject_fault("tasks.info", status=429, retry_after=1, times=3)

    with caplog.at_level(logging.WARNING, logger="supervisely_operator.supervisely"):
        reads = asyncio.gather(*(first.get_task(task_id) for _ in range(3)))
        await eventually_calls(simulator, "tasks.info", 3)
        assert (await second.get_agent(AgentId(1))).id == 1
        await reads

    calls = simulator.calls("tasks.info")
    assert [call.status for call in calls] == [429, 429, 429, 200, 200, 200]
    paused_at = stamp(calls[0])
    [agent_call] = simulator.calls("agents.info")
    for held in [agent_call, *calls[3:]]:
        assert (stamp(held) - paused_at).total_seconds() >= 0.99  # millisecond stamps
    pauses = [record for record in caplog.records if "holding every request" in record.message]
    assert len(pauses) == 1


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, Rejected),
        (401, Unauthorized),
        (403, Unauthorized),
        (404, TaskNotFound),
        (422, Rejected),
    ],
)
async def test_4xx_are_not_retried(
    simulator: Simulator, client: SuperviselyClient, status: int, error: type[Exception]
) -> None:
    task_id = await a_task(simulator, client)
    simulator.inject_fault("tasks.info", status=status, times=1)  # a retry would succeed
    with pytest.raises(error):
        await client.get_task(task_id)
    assert [call.status for call in simulator.calls("tasks.info")] == [status]


async def test_slow_replies_time_out_into_transient(
    simulator: Simulator, client: SuperviselyClient
) -> None:
    task_id = await a_task(simulator, client)
    simulator.inject_fault("tasks.info", delay=SLOW_REPLY, times=SETTINGS.max_attempts)
    began = time.monotonic()
    with pytest.raises(Transient) as caught:
        await client.get_task(task_id)
    assert time.monotonic() - began < SLOW_REPLY * SETTINGS.max_attempts
    assert caught.value.attempts == SETTINGS.max_attempts
    assert caught.value.cause.startswith("ReadTimeout")
    assert len(await eventually_calls(simulator, "tasks.info", SETTINGS.max_attempts)) == 3


async def test_dropped_connections_are_retried_for_reads(
    simulator: Simulator, client: SuperviselyClient
) -> None:
    task_id = await a_task(simulator, client)
    simulator.inject_fault("tasks.info", drop=True, times=2)
    assert (await client.get_task(task_id)).id == task_id
    assert [call.status for call in simulator.calls("tasks.info")] == [None, None, 200]


async def test_connection_refused_is_transient_for_reads_and_starts(
    client_for: ClientFor,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = client_for(f"127.0.0.1:{port}")
    with pytest.raises(Transient) as read:
        await client.get_task(TaskId(1))
    with pytest.raises(Transient) as start:
        await client.start_task(START)
    assert read.value.cause.startswith("ConnectError")
    assert read.value.attempts == start.value.attempts == SETTINGS.max_attempts
    assert type(start.value) is Transient  # nothing reached a server: starting again is safe


async def test_start_is_retried_after_503_and_creates_one_task(
    simulator: Simulator, client: SuperviselyClient
) -> None:
    simulator.inject_fault("tasks.run.app", status=503, times=2)
    started = await client.start_task(START)
    assert [call.status for call in simulator.calls("tasks.run.app")] == [503, 503, 200]
    assert [task["id"] for task in simulator.tasks()] == [started.task_id]


@pytest.mark.parametrize(
    "fault",
    [
        {"drop": True},
        {"delay": SLOW_REPLY},
        {"status": 502, "after_effect": True},
        {"status": 500, "after_effect": True},
        {"status": 504, "delay": 0.1, "after_effect": True},
    ],
    ids=[
        "dropped-after-create",
        "timed-out-then-created",
        "502-after-create",
        "500-after-create",
        "504-after-create",
    ],
)
async def test_start_is_not_retried_after_an_ambiguous_failure(
    simulator: Simulator, client: SuperviselyClient, fault: dict[str, object]
) -> None:
    simulator.inject_fault("tasks.run.app", times=1, **fault)  # type: ignore[arg-type]
    with pytest.raises(StartOutcomeUnknown) as caught:
        await client.start_task(START)
    assert caught.value.attempts == 1
    assert len(await eventually_calls(simulator, "tasks.run.app", 1)) == 1
    (task,) = simulator.tasks()  # exactly one task exists, as the fault let it be created
    # The documented recovery: look the task up by its unique name instead of starting again.
    found = await client.list_tasks(WorkspaceId(1), filters=[filter_eq("meta.name", "op-x")])
    assert [t.id for t in found] == [task["id"]]


async def test_500_before_the_effect_is_still_not_retried(
    simulator: Simulator, client: SuperviselyClient
) -> None:
    # From the outside a 500 before and after the effect look the same; the client must assume
    # the worst, and the lookup then finds nothing, so starting again is safe.
    simulator.inject_fault("tasks.run.app", status=500, times=1)
    with pytest.raises(StartOutcomeUnknown):
        await client.start_task(START)
    assert len(simulator.calls("tasks.run.app")) == 1
    assert simulator.tasks() == []


async def test_bad_token_is_unauthorized_without_the_token_in_the_message(
    simulator: Simulator, client_for: ClientFor, simulator_token: str
) -> None:
    wrong = "wrong-token-" + "z" * 40
    client = client_for(simulator.base_url, token=wrong)
    with pytest.raises(Unauthorized) as caught:
        await client.get_task(TaskId(1))
    with pytest.raises(Unauthorized):
        await client.start_task(START)
    text = f"{caught.value} {caught.value!r} {caught.value.server!r} {client!r}"
    assert wrong not in text
    assert simulator_token not in text
    assert caught.value.status == 401
    assert str(caught.value) == (
        "Supervisely refused the API token for tasks.info (401): Unauthorized: Invalid API token"
    )
    calls = simulator.calls()
    assert [(c.method, c.token_valid) for c in calls] == [
        ("tasks.info", False),
        ("tasks.run.app", False),
    ]


async def test_no_log_record_contains_the_token(
    simulator: Simulator,
    client_for: ClientFor,
    simulator_token: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger: the client, httpx, httpcore, the simulator
    wrong = "wrong-token-" + "q" * 40
    good = client_for(simulator.base_url)
    bad = client_for(simulator.base_url, token=wrong)
    started = await good.start_task(START.model_copy(update={"task_name": "first"}))
    simulator.inject_fault("tasks.info", status=503, times=1)
    simulator.inject_fault("tasks.run.app", drop=True, times=1)
    await good.get_task(started.task_id)
    with pytest.raises(StartOutcomeUnknown):
        await good.start_task(START)
    await good.get_task_logs(started.task_id)
    assert await good.stop_task(started.task_id) is TaskStatus.TERMINATING
    with pytest.raises(Unauthorized):
        await bad.get_task(started.task_id)

    client_records = [r for r in caplog.records if r.name == "supervisely_operator.supervisely"]
    assert any(r.levelno == logging.DEBUG for r in client_records)
    assert any(r.levelno == logging.INFO and "retrying" in r.getMessage() for r in client_records)
    assert any(r.levelno == logging.WARNING for r in client_records)
    assert any(r.name.startswith("httpcore") for r in caplog.records)
    for record in caplog.records:
        rendered = f"{record.getMessage()} {record.args!r} {record.exc_text or ''}"
        assert simulator_token not in rendered, record.name
        assert wrong not in rendered, record.name
        assert "x-api-key" not in rendered.lower(), record.name
