"""Fixtures for the operator's end-to-end tests: CRD, simulator, operator process, namespace."""

import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from operator_log import fail_on_unexpected
from supervisely_operator.demo.process import log_errors
from supervisely_operator.devcluster.access import ClusterAccess
from supervisely_operator.simulator import Scenario
from supervisely_operator.simulator.runner import ThreadedSimulator

from harness import OperatorProcess, Tasks

TOKEN = "e2e-simulator-token-5f0c9a"


def e2e_scenario() -> Scenario:
    """Phases of a few hundred milliseconds; apps that finish, fail and serve."""
    return Scenario.model_validate(
        {
            "durations": {
                "queued": 0.2,
                "consumed": 0.2,
                "running": 0.6,
                "terminating": 0.3,
                "ready_delay": 0.2,
            }
        }
    )


@pytest.fixture(autouse=True)
def _no_unexpected_errors_logged(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[None]:
    """Fail a test whose operators (every ``*.log`` it left) logged an ERROR or a traceback it
    did not declare: a handler exception that kopf retried is a bug even when the test passes."""
    yield
    entries = [
        entry for log in sorted(tmp_path.glob("*.log")) for entry in log_errors(log.read_text())
    ]
    fail_on_unexpected(entries, request.node, where=f"the operator logs in {tmp_path}")


@pytest.fixture
def scenario() -> Scenario:
    """Override in a test module to change the simulator's behaviour."""
    return e2e_scenario()


@pytest.fixture
def simulator(scenario: Scenario) -> Iterator[ThreadedSimulator]:
    with ThreadedSimulator(token=TOKEN, scenario=scenario) as sim:
        yield sim


@pytest.fixture
def operator_token() -> str:
    """The token the operator is given; a test may override it with a wrong one."""
    return TOKEN


@pytest.fixture
def operator_env(fast_operator_env: Mapping[str, str]) -> Mapping[str, str]:
    """The operator's settings; a test may override them (e.g. slower polls)."""
    return fast_operator_env


@pytest.fixture
def operator(
    crd_cluster: ClusterAccess,
    simulator: ThreadedSimulator,
    operator_token: str,
    operator_env: Mapping[str, str],
    tmp_path: Path,
) -> Iterator[OperatorProcess]:
    process = OperatorProcess(
        kubeconfig=crd_cluster.kubeconfig,
        server=simulator.base_url,
        token=operator_token,
        log_path=tmp_path / "operator.log",
        env=operator_env,
    )
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def tasks(crd_cluster: ClusterAccess, operator: OperatorProcess) -> Iterator[Tasks]:
    """A fresh namespace; what a test leaves behind is deleted while the operator still runs."""
    namespaced = Tasks(crd_cluster, f"e2e-{uuid.uuid4().hex[:8]}")
    yield namespaced
    namespaced.kubectl("delete", "slytask", "--all", "--timeout=30s", check=False)
    leftovers = namespaced.kubectl("get", "slytask", "-o", "name", check=False).split()
    for leftover in leftovers:
        namespaced.kubectl(
            "patch", leftover, "--type=merge", "-p", '{"metadata":{"finalizers":null}}', check=False
        )
    if leftovers:
        pytest.fail(
            f"stuck behind the finalizer 30 s after deletion (stripped so later tests run): "
            f"{leftovers}",
            pytrace=False,
        )
