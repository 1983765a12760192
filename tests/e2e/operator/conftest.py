"""Fixtures for the operator's end-to-end tests: one simulator and one operator for the run, a
namespace and a Supervisely workspace for each test.

Starting an operator process takes seconds on two cores; 40 tests each starting their own spent
more time there than in the tests. So one operator (``OperatorPool``) serves every test that runs
with the default settings, and one simulator every test. Isolation comes from names instead: a
test's resources live in its own namespace and start tasks in its own workspace, and it reads
only those tasks, the calls about them and the operator's log lines written while it ran. A test
group that needs another operator (a wrong token, slower polls, one it kills or whose API server
it restarts) overrides ``operator_token``, ``operator_env`` or ``own_operator``; those groups run
after the rest, so that the shared operator starts once.
"""

import itertools
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from kubernetes import client

from operator_log import fail_on_unexpected
from supervisely_devkit.devcluster.access import ClusterAccess
from supervisely_devkit.simulator.runner import ThreadedSimulator

from harness import (
    POOL,
    LogMarks,
    Operator,
    OperatorConfig,
    OperatorPool,
    Schedules,
    SimulatorView,
    Tasks,
    e2e_scenario,
)

TOKEN = "e2e-simulator-token-5f0c9a"
FIRST_WORKSPACE_ID = 100
OPERATOR_SETTINGS = ("operator_token", "operator_env", "own_operator")
"""The fixtures that choose a test's operator; a test that overrides any has one of its own."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests on the shared operator first, then each group with an operator of its own, so that
    no operator is started twice. Only the order changes, never what a test gets."""
    here = Path(__file__).parent
    defaults_at = here.relative_to(config.rootpath).as_posix()

    def own_settings(item: pytest.Item) -> tuple[str, ...]:
        """Where the test's overrides of the operator settings are defined; () for none."""
        fixtureinfo = getattr(item, "_fixtureinfo", None)  # pytest has no public view of it
        if fixtureinfo is None:
            return ()
        defined_at = [
            definitions[-1].baseid
            for name in OPERATOR_SETTINGS
            if (definitions := fixtureinfo.name2fixturedefs.get(name))
        ]
        return tuple(baseid for baseid in defined_at if baseid != defaults_at)

    places = [index for index, item in enumerate(items) if here in item.path.parents]
    ours = [items[index] for index in places]
    groups = {key: index for index, key in enumerate(dict.fromkeys(map(own_settings, ours)))}
    ours.sort(key=lambda item: (own_settings(item) != (), groups[own_settings(item)]))
    for index, item in zip(places, ours, strict=True):
        items[index] = item


@pytest.fixture(autouse=True)
def _no_unexpected_errors_logged(
    request: pytest.FixtureRequest, tmp_path: Path, operator_pool: OperatorPool
) -> Iterator[None]:
    """Fail a test whose operators logged an ERROR or a traceback it did not declare while it
    ran (the shared operator's lines from its setup to its teardown, and every ``*.log`` the
    test left in its own directory): a handler exception that kopf retried is a bug even when
    the test passes."""
    shared, own = LogMarks(operator_pool.log_dir), LogMarks(tmp_path)
    yield
    operator_pool.checked_up_to(LogMarks(operator_pool.log_dir))
    entries = [*shared.errors_since(), *own.errors_since()]
    fail_on_unexpected(entries, request.node, where=f"the operator logs of {request.node.name}")


@pytest.fixture(scope="session")
def e2e_simulator() -> Iterator[ThreadedSimulator]:
    """The one simulator of the run."""
    with ThreadedSimulator(token=TOKEN, scenario=e2e_scenario()) as sim:
        yield sim


@pytest.fixture(scope="session")
def operator_pool(
    request: pytest.FixtureRequest,
    crd_cluster: ClusterAccess,
    e2e_simulator: ThreadedSimulator,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorPool]:
    pool = OperatorPool(
        cluster=crd_cluster,
        server=e2e_simulator.base_url,
        log_dir=tmp_path_factory.mktemp("operators"),
    )
    request.config.stash[POOL] = pool
    try:
        yield pool
    finally:
        del request.config.stash[POOL]
        pool.stop_and_check()


@pytest.fixture(scope="session")
def new_workspace(e2e_simulator: ThreadedSimulator) -> Iterator[int]:
    """Hands out workspace ids that no other test uses, each added to the simulator."""
    return _workspaces(e2e_simulator)


def _workspaces(simulator: ThreadedSimulator) -> Iterator[int]:
    for workspace_id in itertools.count(FIRST_WORKSPACE_ID):
        simulator.add_workspace(workspace_id, name=f"e2e test {workspace_id}")
        yield workspace_id


@pytest.fixture
def operator_token() -> str:
    """The token the operator is given; a test may override it with a wrong one."""
    return TOKEN


@pytest.fixture
def operator_env(fast_operator_env: Mapping[str, str]) -> Mapping[str, str]:
    """The operator's settings; a test may override them (e.g. slower polls)."""
    return fast_operator_env


@pytest.fixture
def own_operator() -> str | None:
    """Why a test group needs an operator of its own with the same settings (it kills it, say);
    None: the shared one."""
    return None


@pytest.fixture
def operator(
    operator_pool: OperatorPool,
    operator_token: str,
    operator_env: Mapping[str, str],
    own_operator: str | None,
) -> Operator:
    """The operator this test runs with (see the module docstring)."""
    config = OperatorConfig.of(operator_token, operator_env, own_operator)
    return Operator(operator_pool.running(config))


@pytest.fixture
def tasks(
    crd_cluster: ClusterAccess,
    kube_objects: client.CustomObjectsApi,
    e2e_simulator: ThreadedSimulator,
    new_workspace: Iterator[int],
    operator: Operator,
) -> Iterator[Tasks]:
    """A fresh namespace and workspace; what a test leaves behind is deleted while its operator
    still runs, and any fault it armed is disarmed first, so the deletion can go through."""
    namespaced = Tasks(
        crd_cluster,
        kube_objects,
        namespace=f"e2e-{uuid.uuid4().hex[:8]}",
        workspace_id=next(new_workspace),
    )
    yield namespaced
    e2e_simulator.clear_faults()
    namespaced.delete_all()


@pytest.fixture
def simulator(
    e2e_simulator: ThreadedSimulator, tasks: Tasks, new_workspace: Iterator[int]
) -> SimulatorView:
    """The simulator as this test sees it: its own workspace's tasks and calls."""
    return SimulatorView(
        e2e_simulator, workspace_id=tasks.workspace_id, new_workspace=lambda: next(new_workspace)
    )


@pytest.fixture
def schedules(tasks: Tasks, kube_objects: client.CustomObjectsApi) -> Schedules:
    """Cron tasks in the test's namespace (deleted with its tasks when it ends)."""
    return Schedules(tasks, kube_objects)
