"""Fixtures that put a Supervisely API simulator on a loopback port for integration tests.

``simulator`` is a running simulator with phases of 50 ms on the real clock; ``simulator_factory``
starts one with a given ``Scenario`` (and, for exact timing tests, a ``FakeClock``). Both accept
only ``simulator_token``; tests must never print it (assert on ``token_valid`` in the call
record instead).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Protocol

import httpx
import pytest

from supervisely_operator.simulator import FakeClock, Scenario, Simulator
from supervisely_operator.simulator.clock import DEFAULT_CLOCK, Clock

SIMULATOR_TOKEN = "simulator-test-token-0123456789abcdef"
"""A made-up token; it only has to match between the simulator and its clients."""


class SimulatorFactory(Protocol):
    """Starts a simulator; all of them are stopped when the test ends."""

    def __call__(
        self,
        scenario: Scenario | None = None,
        *,
        clock: Clock = DEFAULT_CLOCK,
        record_path: Path | None = None,
    ) -> Awaitable[Simulator]: ...


@pytest.fixture
def simulator_token() -> str:
    """The token every simulator from these fixtures accepts (never print it)."""
    return SIMULATOR_TOKEN


@pytest.fixture
def fake_clock() -> FakeClock:
    """A clock that moves only when a test calls ``advance``."""
    return FakeClock(start=1000.0)


@pytest.fixture
async def simulator_factory() -> AsyncIterator[SimulatorFactory]:
    """Start simulators with a given scenario (default: 50 ms phases); stops them all after."""
    started: list[Simulator] = []

    async def start(
        scenario: Scenario | None = None,
        *,
        clock: Clock = DEFAULT_CLOCK,
        record_path: Path | None = None,
    ) -> Simulator:
        simulator = Simulator(
            token=SIMULATOR_TOKEN,
            scenario=scenario or Scenario.fast(),
            host="127.0.0.1",
            port=0,
            clock=clock,
            record_path=record_path,
        )
        await simulator.start()
        started.append(simulator)
        return simulator

    yield start
    for simulator in reversed(started):
        await simulator.stop()


@pytest.fixture
async def simulator(simulator_factory: SimulatorFactory) -> Simulator:
    """A running simulator with 50 ms phases on the real clock and the default catalogue."""
    return await simulator_factory(Scenario.fast())


ClientFactory = Callable[..., httpx.AsyncClient]


@pytest.fixture
async def sim_client_factory() -> AsyncIterator[ClientFactory]:
    """Plain httpx clients aimed at a simulator's API root; closed when the test ends.

    ``factory(sim)`` sends the test token, ``factory(sim, token=None)`` none at all.
    """
    clients: list[httpx.AsyncClient] = []

    def make(
        simulator: Simulator, *, token: str | None = SIMULATOR_TOKEN, timeout: float = 10.0
    ) -> httpx.AsyncClient:
        headers = {} if token is None else {"x-api-key": token}
        client = httpx.AsyncClient(
            base_url=f"{simulator.base_url}/public/api/v3/", headers=headers, timeout=timeout
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
def sim_client(simulator: Simulator, sim_client_factory: ClientFactory) -> httpx.AsyncClient:
    """An httpx client for the ``simulator`` fixture, with the test token."""
    return sim_client_factory(simulator)
