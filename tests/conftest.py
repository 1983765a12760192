"""Session-wide test setup shared by every tier."""

import asyncio

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


@pytest.fixture(autouse=True)
def _only_declared_reasons(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any test that drives the decision fails on a reason the one list does not declare."""
    check_declared_reasons(monkeypatch)
