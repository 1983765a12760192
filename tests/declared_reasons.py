"""The runtime half of "code writes only reasons of the one list, where the list says".

Every reason the pure core puts into a status or an Event goes through one builder,
:class:`StatusDraft`. ``tests/conftest.py`` wraps its methods for every test, so a test that
drives the decision (the table, the properties, the in-process controller of the integration
tier) fails on a reason that ``api/reasons.py`` does not declare for that place. The static half,
string literals in the operator's source, is ``tests/unit/test_reasons.py``.
"""

import functools
import inspect
from collections.abc import Callable
from typing import Any

import pytest

from supervisely_operator.api.reasons import REASONS, Site
from supervisely_operator.reconcile.draft import StatusDraft

SITE_OF_METHOD = {
    "enter": Site.PHASE,
    "not_synced": Site.SYNCED,
    "record_error": Site.LAST_ERROR,
    "event": Site.EVENT,
}
"""The StatusDraft methods that take a reason, and where each writes it."""


def undeclared(reason: str, site: Site) -> str | None:
    """Why writing ``reason`` to ``site`` breaks the list, or None when it is declared there."""
    info = REASONS.get(reason)
    if info is None:
        return (
            f"reason {reason!r} is not in the list (operator/supervisely_operator/api/reasons.py)"
        )
    if site not in info.sites:
        return f"reason {reason!r} is written to {site} but declared for {', '.join(info.where)}"
    return None


def _checked(method: Callable[..., Any], site: Site) -> Callable[..., Any]:
    signature = inspect.signature(method)

    @functools.wraps(method)
    def checked(*args: Any, **kwargs: Any) -> Any:
        problem = undeclared(signature.bind(*args, **kwargs).arguments["reason"], site)
        assert problem is None, problem
        return method(*args, **kwargs)

    return checked


def check_declared_reasons(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every StatusDraft method that takes a reason fail on one the list does not declare."""
    for name, site in SITE_OF_METHOD.items():
        monkeypatch.setattr(StatusDraft, name, _checked(getattr(StatusDraft, name), site))
