"""Session-wide test setup shared by every tier."""

import asyncio
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import pytest

from declared_reasons import check_declared_reasons


def pytest_configure(config: pytest.Config) -> None:
    """Work around pytest-asyncio issue #724 (fixed upstream by PR #1430, not in 1.5.0).

    Before each async test, pytest-asyncio saves "the current loop" with
    ``asyncio.get_event_loop()``, which creates a loop when none is set, then restores and never
    closes it; with ``filterwarnings = error`` its ResourceWarning fails whichever later test the
    garbage collector runs in. With no current loop set, ``get_event_loop()`` raises instead of
    creating one, and pytest-asyncio copes with that.
    """
    asyncio.set_event_loop(None)


SHARED_BY_A_MODULE = ("tests/e2e/operator/",)
"""Each module here runs on one worker: its tests share that worker's operator (one start per
module at most, and the groups with an operator of their own stay whole)."""
SHARED_BY_A_DIRECTORY = ("tests/install/",)
"""These run on one worker: they share one venv, built once."""
STARTED_FIRST = (
    "tests/e2e/operator/test_crash_safety.py",
    "tests/e2e/operator/test_schedules.py",
    "tests/e2e/operator/test_peering.py",
    "tests/e2e/test_chaos.py",
    "tests/e2e/test_demo.py",
    "tests/e2e/test_scale.py",
)
"""The longest groups (half a minute to a minute and a half each in a full run), started before
everything else so that the run never waits on one of them at its end: first the three that
wait for a real cron minute (mostly idle, side by side), then the chaos, demo and scale short
forms; then the rest of e2e, integration, and unit tests, the smallest units, last to fill the
gaps."""
TIERS = ("tests/e2e/", "tests/install/", "tests/integration/", "tests/compat/", "tests/unit/")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``.ci/test`` runs four pytest-xdist workers. The tests that share what a worker starts
    once go to one worker together (biggest groups first), every other test to whichever worker
    is free. Only for the default ``--dist load``; an explicit other mode is left to xdist.
    (xdist's own ``loadgroup`` cannot do it with pytest 9, whose node ids it no longer
    rewrites.)"""
    if config.getoption("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SharedSetupScheduling(LoadScopeScheduling):
        def schedule(self) -> None:
            if self.collection is None and self.collection_is_completed:
                # Longest first (see STARTED_FIRST), instead of xdist's biggest groups first.
                self.config.option.loadscopereorder = False
                for node, collection in self.registered_collections.items():
                    self.registered_collections[node] = sorted(collection, key=start_rank)
            super().schedule()

        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::")[0]
            if module.startswith(SHARED_BY_A_MODULE):
                return module
            for directory in SHARED_BY_A_DIRECTORY:
                if module.startswith(directory):
                    return directory
            return nodeid

    return SharedSetupScheduling(config, log)


def start_rank(nodeid: str) -> tuple[int, int]:
    """Where a test's group comes in the order workers take them (a stable sort keeps each
    group's own order)."""
    for rank, prefix in enumerate(STARTED_FIRST):
        if nodeid.startswith(prefix):
            return (0, rank)
    tier = next((rank for rank, prefix in enumerate(TIERS) if nodeid.startswith(prefix)), 0)
    return (1, tier)


@pytest.fixture(autouse=True)
def _only_declared_reasons(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any test that drives the decision fails on a reason the one list does not declare."""
    check_declared_reasons(monkeypatch)


FAST_OPERATOR_ENV: Mapping[str, str] = MappingProxyType(
    {
        # The simulator's phases last 200 ms: look often, and at once after an action.
        "SUPERVISELY_OPERATOR_POLL_INTERVAL": "0.5",
        "SUPERVISELY_OPERATOR_TRANSITION_POLL_INTERVAL": "0.3",
        # A held start outlasts the client's 2 s; within 4 s it is adopted, later a stray. The
        # operator refuses a grace under twice the timeout.
        "SUPERVISELY_OPERATOR_REQUEST_TIMEOUT": "2",
        "SUPERVISELY_OPERATOR_START_GRACE": "4",
        "SUPERVISELY_OPERATOR_REQUEST_ATTEMPTS": "2",
        # No lookup outlives a test: one operator serves many tests, and each must see its own
        # slug and agent lookups, and an agent switched on, at once.
        "SUPERVISELY_OPERATOR_LOOKUP_CACHE_SECONDS": "0",
        # In-process operators would share one port; a process harness picks a free one.
        "SUPERVISELY_OPERATOR_METRICS_PORT": "0",
    }
)


@pytest.fixture(scope="session")
def fast_operator_env() -> Mapping[str, str]:
    """The operator's settings in every tier that runs it, in-process (integration, kmock) or as
    a process (e2e): one set, so that a timing a test relies on means the same everywhere. A
    test that needs another value overrides that one key on top of these."""
    return FAST_OPERATOR_ENV
