"""The per-server gate: concurrency, rate, and pauses shared by every caller of one server.

Each test runs on a looptime event loop, whose clock jumps to the next timer whenever every task
waits: the asserted times are exact, and a 120 s pause costs no real time. The client tests use
httpx.MockTransport, so no request leaves the process.
"""

import asyncio
import json
import logging
from collections.abc import Coroutine, Iterator
from typing import Any

import httpx
import looptime
import pytest
from pydantic import ValidationError

from supervisely_operator.supervisely import (
    ClientSettings,
    ServerGate,
    SuperviselyClient,
    TaskId,
    Transient,
)

SERVER = "http://sly.test"
TOKENS = ("limits-token-a-" + "a" * 40, "limits-token-b-" + "b" * 40)
SETTINGS = ClientSettings(max_attempts=3, initial_backoff=0.5, max_backoff=8.0, jitter=False)
PAUSE_LOGGED = "with Retry-After; holding every request"


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """An event loop on fake time, starting at 0."""
    fake = looptime.new_event_loop(start=0.0)
    yield fake
    fake.close()


def run(loop: asyncio.AbstractEventLoop, scenario: Coroutine[Any, Any, None]) -> None:
    loop.run_until_complete(scenario)


def gate(*, max_concurrent: int = 100, rate: float = 1e6, burst: int = 1000) -> ServerGate:
    return ServerGate(server=SERVER, max_concurrent=max_concurrent, rate=rate, burst=burst)


class Server:
    """A fake Supervisely answering tasks.info: scripted statuses first, then 200."""

    def __init__(self, *statuses: tuple[int, str | None]) -> None:
        self.statuses = list(statuses)
        self.requests: list[tuple[float, int]] = []  # (loop time, task id asked for)

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        task_id = json.loads(request.content)["id"]
        self.requests.append((asyncio.get_running_loop().time(), task_id))
        reply = httpx.Response(200, json={"id": task_id, "status": "started", "workspaceId": 1})
        if self.statuses:
            status, retry_after = self.statuses.pop(0)
            headers = {} if retry_after is None else {"Retry-After": retry_after}
            reply = httpx.Response(status, content=b"", headers=headers)
        await asyncio.sleep(0)  # in flight: the other callers' requests go out meanwhile
        return reply

    def times_of(self, task_id: int) -> list[float]:
        return [moment for moment, asked in self.requests if asked == task_id]


def clients(server: Server, shared: ServerGate) -> list[SuperviselyClient]:
    """Two clients of one server with different tokens, as the ClientPool makes them."""
    return [
        SuperviselyClient(
            SERVER, token, SETTINGS, gate=shared, transport=httpx.MockTransport(server)
        )
        for token in TOKENS
    ]


async def close(*made: SuperviselyClient) -> None:
    for client in made:
        await client.aclose()


def test_concurrency_never_exceeds_the_limit(loop: asyncio.AbstractEventLoop) -> None:
    limited = gate(max_concurrent=3)
    in_flight = peak = 0
    admitted: list[float] = []

    async def attempt() -> None:
        nonlocal in_flight, peak
        async with limited.admit():
            admitted.append(loop.time())
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(1)
            in_flight -= 1

    async def scenario() -> None:
        await asyncio.gather(*(attempt() for _ in range(10)))

    run(loop, scenario())
    assert peak == 3
    assert admitted == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3]


def test_a_failed_attempt_frees_its_slot(loop: asyncio.AbstractEventLoop) -> None:
    limited = gate(max_concurrent=1)

    async def scenario() -> None:
        with pytest.raises(RuntimeError):
            async with limited.admit():
                raise RuntimeError("the request failed")
        async with asyncio.timeout(1), limited.admit():
            pass

    run(loop, scenario())


def test_the_rate_is_honoured_once_the_burst_is_spent(loop: asyncio.AbstractEventLoop) -> None:
    """10 per second with a burst of 5: five at once, then one every 0.1 s."""
    limited = gate(rate=10.0, burst=5)
    admitted: list[float] = []

    async def attempt() -> None:
        async with limited.admit():
            admitted.append(loop.time())

    async def scenario() -> None:
        await asyncio.gather(*(attempt() for _ in range(25)))

    run(loop, scenario())
    expected = [0.0] * 5 + [round(0.1 * step, 6) for step in range(1, 21)]
    assert [round(moment, 6) for moment in admitted] == expected


def test_a_pause_holds_callers_and_an_extension_holds_them_longer(
    loop: asyncio.AbstractEventLoop,
) -> None:
    limited = gate()
    admitted: list[float] = []

    async def attempt() -> None:
        async with limited.admit():
            admitted.append(loop.time())

    async def scenario() -> None:
        limited.pause(2, limit=10, status=429)
        waiting = asyncio.create_task(attempt())
        await asyncio.sleep(1)
        limited.pause(3, limit=10, status=429)  # the server asks again, for longer: until 4
        limited.pause(1, limit=10, status=429)  # a shorter ask never shortens the pause
        await asyncio.sleep(2)
        limited.pause(3, limit=10, status=429)  # and again: until 6
        await waiting

    run(loop, scenario())
    assert admitted == [6]


def test_a_pause_that_begins_while_a_caller_waits_for_a_token_holds_it(
    loop: asyncio.AbstractEventLoop,
) -> None:
    limited = gate(rate=1.0, burst=1)
    admitted: list[float] = []

    async def attempt() -> None:
        async with limited.admit():
            admitted.append(loop.time())

    async def scenario() -> None:
        await attempt()  # takes the only token
        waiting = asyncio.create_task(attempt())  # the next token comes at t=1
        await asyncio.sleep(0.5)
        limited.pause(2, limit=10, status=503)
        await waiting

    run(loop, scenario())
    assert admitted == [0, 2.5]


def test_callers_held_by_a_pause_leave_it_at_the_rate_not_all_at_once(
    loop: asyncio.AbstractEventLoop,
) -> None:
    """Tokens are taken after the pause: the bucket cannot be drained while the server rests."""
    limited = gate(rate=1.0, burst=1)
    admitted: list[float] = []

    async def attempt() -> None:
        async with limited.admit():
            admitted.append(loop.time())

    async def scenario() -> None:
        limited.pause(5, limit=10, status=429)
        await asyncio.gather(*(attempt() for _ in range(3)))

    run(loop, scenario())
    assert admitted == [5, 6, 7]


def test_a_retry_after_on_one_call_delays_a_concurrent_callers_next_attempt(
    loop: asyncio.AbstractEventLoop,
) -> None:
    """Caller 1 gets a 429 asking for 5 s at t=0; caller 2, a second later, on another token of
    the same server, is held until t=5 instead of adding to the overload at t=1."""
    server = Server((429, "5"))

    async def second_caller(client: SuperviselyClient) -> None:
        await asyncio.sleep(1)
        await client.get_task(TaskId(2))

    async def scenario() -> None:
        first, second = clients(server, gate())
        await asyncio.gather(first.get_task(TaskId(1)), second_caller(second))
        await close(first, second)

    run(loop, scenario())
    assert server.times_of(1) == [0, 5]
    assert server.times_of(2) == [5]


def test_callers_with_gates_of_their_own_are_not_held(loop: asyncio.AbstractEventLoop) -> None:
    """The control for the test above: the pause travels through the shared gate only."""
    server = Server((429, "5"))

    async def second_caller() -> None:
        await asyncio.sleep(1)
        async with SuperviselyClient(
            SERVER, TOKENS[1], SETTINGS, transport=httpx.MockTransport(server)
        ) as client:
            await client.get_task(TaskId(2))

    async def scenario() -> None:
        async with SuperviselyClient(
            SERVER, TOKENS[0], SETTINGS, transport=httpx.MockTransport(server)
        ) as client:
            await asyncio.gather(client.get_task(TaskId(1)), second_caller())

    run(loop, scenario())
    assert server.times_of(2) == [1]


def test_the_shared_pause_is_bounded_by_max_backoff(loop: asyncio.AbstractEventLoop) -> None:
    """Retry-After: 120 with max_backoff 8: the caller that got it gives up at once (and may
    requeue after 120 s), while the others of that server wait 8 s, not two minutes."""
    server = Server((429, "120"))
    caught: list[Transient] = []

    async def first_caller(client: SuperviselyClient) -> None:
        with pytest.raises(Transient) as error:
            await client.get_task(TaskId(1))
        caught.append(error.value)

    async def second_caller(client: SuperviselyClient) -> None:
        await asyncio.sleep(1)
        await client.get_task(TaskId(2))

    async def scenario() -> None:
        first, second = clients(server, gate())
        await asyncio.gather(first_caller(first), second_caller(second))
        await close(first, second)

    run(loop, scenario())
    assert (caught[0].retry_after, caught[0].attempts) == (120.0, 1)
    assert server.times_of(2) == [SETTINGS.max_backoff]


def test_a_503_without_retry_after_pauses_nobody(loop: asyncio.AbstractEventLoop) -> None:
    server = Server((503, None))

    async def second_caller(client: SuperviselyClient) -> None:
        await asyncio.sleep(0.1)
        await client.get_task(TaskId(2))

    async def scenario() -> None:
        first, second = clients(server, gate())
        await asyncio.gather(first.get_task(TaskId(1)), second_caller(second))
        await close(first, second)

    run(loop, scenario())
    assert server.times_of(2) == [0.1]
    assert server.times_of(1) == [0, SETTINGS.initial_backoff]


def test_a_pause_is_logged_once_however_many_callers_it_holds(
    loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    """Three 429s at once make one pause (one WARNING, though the later ones extend it); a 429
    after it ended makes another."""
    server = Server((429, "5"), (429, "6"), (429, "7"))

    async def scenario() -> None:
        first, second = clients(server, gate())
        calls = [first.get_task(TaskId(n)) for n in (1, 2)] + [second.get_task(TaskId(3))]
        calls += [second.get_task(TaskId(n)) for n in range(4, 10)]
        await asyncio.gather(*calls)
        server.statuses.append((429, "2"))
        await first.get_task(TaskId(10))
        await close(first, second)

    with caplog.at_level(logging.DEBUG, logger="supervisely_operator.supervisely"):
        run(loop, scenario())
    warnings = [r.getMessage() for r in caplog.records if PAUSE_LOGGED in r.getMessage()]
    assert warnings == [
        f"{SERVER} answered HTTP 429 with Retry-After; holding every request to it for 5.0 s",
        f"{SERVER} answered HTTP 429 with Retry-After; holding every request to it for 2.0 s",
    ]
    assert all(r.levelno == logging.WARNING for r in caplog.records if PAUSE_LOGGED in r.message)
    assert server.times_of(10) == [7, 9]


@pytest.mark.parametrize(
    ("given", "connections"),
    [
        pytest.param({}, 32, id="default"),
        pytest.param({"max_concurrent_requests": 64}, 64, id="follows-the-concurrency"),
        pytest.param({"max_concurrent_requests": 8, "max_connections": 20}, 20, id="explicit"),
    ],
)
def test_the_connection_pool_fits_the_concurrency(given: dict[str, int], connections: int) -> None:
    """An admitted request must find a connection, not wait pool_timeout for one."""
    assert ClientSettings.model_validate(given).max_connections == connections


def test_a_pool_smaller_than_the_concurrency_is_refused() -> None:
    with pytest.raises(ValidationError, match="max_connections must be at least"):
        ClientSettings(max_concurrent_requests=64, max_connections=10)


def test_the_gate_takes_its_limits_from_the_settings(loop: asyncio.AbstractEventLoop) -> None:
    settings = ClientSettings(max_concurrent_requests=2, requests_per_second=4.0, request_burst=1)
    limited = ServerGate.for_server(SERVER, settings)
    admitted: list[float] = []

    async def attempt() -> None:
        async with limited.admit():
            admitted.append(loop.time())
            await asyncio.sleep(10)

    async def scenario() -> None:
        await asyncio.gather(*(attempt() for _ in range(3)))

    run(loop, scenario())
    assert admitted == [0, 0.25, 10]


def test_the_gate_counts_the_callers_it_holds_cancelled_ones_no_more(
    loop: asyncio.AbstractEventLoop,
) -> None:
    """What ``supervisely_operator_supervisely_requests_waiting`` shows."""
    limited = gate(max_concurrent=1)
    held_meanwhile: list[int] = []

    async def attempt() -> None:
        async with limited.admit():
            await asyncio.sleep(0.5)
            held_meanwhile.append(limited.waiting)
            await asyncio.sleep(0.5)

    async def scenario() -> None:
        await asyncio.gather(*(attempt() for _ in range(3)))
        holder, held = asyncio.create_task(attempt()), asyncio.create_task(attempt())
        await asyncio.sleep(0.25)
        assert limited.waiting == 1
        held.cancel()
        await asyncio.gather(held, return_exceptions=True)
        assert limited.waiting == 0
        await holder

    run(loop, scenario())
    assert held_meanwhile == [2, 1, 0, 0]


def test_each_attempt_tells_how_long_the_gate_held_it(loop: asyncio.AbstractEventLoop) -> None:
    """What ``supervisely_operator_supervisely_gate_wait_seconds`` shows: a 429 with
    Retry-After: 5 at t=0 holds another caller's attempt, made at t=1, for 4 s at the gate."""
    server = Server((429, "5"))
    waits: list[tuple[str, float]] = []
    shared = gate()

    async def second_caller() -> None:
        await asyncio.sleep(1)
        client = SuperviselyClient(
            SERVER,
            TOKENS[1],
            SETTINGS,
            gate=shared,
            transport=httpx.MockTransport(server),
            on_wait=lambda method, seconds: waits.append((method, seconds)),
        )
        await client.get_task(TaskId(2))
        await client.aclose()

    async def scenario() -> None:
        [first, _] = clients(server, shared)
        await asyncio.gather(first.get_task(TaskId(1)), second_caller())
        await close(first)

    run(loop, scenario())
    assert [(method, round(seconds, 6)) for method, seconds in waits] == [("tasks.info", 4.0)]
