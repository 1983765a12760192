"""Fixtures that put a Supervisely API simulator on a loopback port for integration tests.

``simulator`` is a running simulator with phases of 200 ms on the real clock; ``simulator_factory``
starts one with a given ``Scenario`` (and, for exact timing tests, a ``FakeClock``). Both accept
only ``simulator_token``; tests must never print it (assert on ``token_valid`` in the call
record instead).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import httpx
import pytest

from operator_log import fail_on_unexpected, record_errors
from supervisely_devkit.simulator import FakeClock, Scenario, Simulator
from supervisely_devkit.simulator.clock import DEFAULT_CLOCK, Clock

if TYPE_CHECKING:
    from supervisely_operator.controller.kube import KubeApi

    from controller_harness import ApiServerEmulator, Cluster, OperatorStarter, OperatorThread

PHASE_SECONDS = 0.2
"""How long each phase of a simulated task lasts: long enough that a loaded 2-core machine
still sees every phase, short enough that a task's life takes about a second."""
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


@pytest.fixture(autouse=True)
def _no_unexpected_errors_logged(
    request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> Iterator[None]:
    """Fail a test whose code logged an ERROR (a handler kopf retried, say) it did not expect."""
    yield
    records = [*caplog.get_records("setup"), *caplog.get_records("call")]
    fail_on_unexpected(record_errors(records), request.node, where="the log")


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
    """Start simulators with a given scenario (default: phases of ``PHASE_SECONDS``); stops them
    all after."""
    started: list[Simulator] = []

    async def start(
        scenario: Scenario | None = None,
        *,
        clock: Clock = DEFAULT_CLOCK,
        record_path: Path | None = None,
    ) -> Simulator:
        simulator = Simulator(
            token=SIMULATOR_TOKEN,
            scenario=scenario or Scenario.fast(PHASE_SECONDS),
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
    """A running simulator with short phases on the real clock and the default catalogue."""
    return await simulator_factory(Scenario.fast(PHASE_SECONDS))


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


# The operator in-process against kmock (tests/integration/test_controller_*.py); the helpers
# live in controller_harness.py, these fixtures only tie their lifetimes to a test. They import
# it when used: kopf and the official client take seconds to import, and the other integration
# tests need neither.


@pytest.fixture
async def kube_api() -> AsyncIterator[ApiServerEmulator]:
    """kmock standing in for the Kubernetes API on a loopback port (see ``controller_harness``)."""
    from controller_harness import serving_api_emulator

    async with serving_api_emulator() as emulator:
        yield emulator


@pytest.fixture
def kube(kube_api: ApiServerEmulator) -> Iterator[KubeApi]:
    """The operator's own wrapper of the official client, aimed at kmock."""
    import kubernetes

    from supervisely_operator.controller.kube import KubeApi

    configuration = kubernetes.client.Configuration(host=str(kube_api.url).rstrip("/"))
    api = KubeApi(kubernetes.client.ApiClient(configuration), threads=2)
    yield api
    api.close()


@pytest.fixture
def cluster(kube_api: ApiServerEmulator) -> Cluster:
    """Create objects in ``kube_api`` and read back what the operator did there."""
    from controller_harness import Cluster

    return Cluster(kube_api)


@pytest.fixture
async def start_operator(
    kube_api: ApiServerEmulator,
    simulator: Simulator,
    fast_operator_env: Mapping[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> AsyncIterator[OperatorStarter]:
    """Start the real operator (our kopf registry, in this process) against ``kube_api``.

    It depends on ``simulator`` so that it stops before the simulator does. The official client
    reads ``$KUBECONFIG`` once, at import, into a module constant, and kopf's login handler
    loads the kubeconfig into the client's process-wide default configuration: both are
    patched for the test and restored after it.
    """
    import kubernetes

    from supervisely_operator.controller.settings import OperatorSettings

    from controller_harness import running_operator, write_kubeconfig

    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", str(kube_api.url).rstrip("/"))
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setattr(
        kubernetes.config.kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(kubeconfig)
    )
    monkeypatch.setattr(kubernetes.client.Configuration, "_default", None)
    for name in ("SERVER_ADDRESS", "API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    async with contextlib.AsyncExitStack() as running:

        async def start(*, remotes: object | None = None, **env: str) -> OperatorThread:
            for name, value in {**fast_operator_env, **env}.items():
                monkeypatch.setenv(name, value)
            return await running.enter_async_context(
                running_operator(OperatorSettings(), remotes=remotes)
            )

        yield start
