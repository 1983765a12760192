"""Watch liveness is set on purpose: the API server ends every watch first, so a stream that
goes past the inactivity timeout was silent, and saying so once at WARNING is never noise."""

import logging

import kopf
import pytest

from supervisely_operator.controller.runner import SilentWatchWarning
from supervisely_operator.controller.settings import OperatorSettings
from supervisely_operator.controller.startup import configure_kopf

GIVEN_UP = (
    "Watch-stream for superviselytasks.v1alpha1.supervisely.com cluster-wide is inactive, "
    "reconnecting."
)


def record(message: str, level: int = logging.DEBUG) -> logging.LogRecord:
    return logging.LogRecord("kopf._cogs.clients.watching", level, __file__, 1, message, (), None)


def test_the_server_ends_a_stream_before_it_would_be_given_up() -> None:
    settings = kopf.OperatorSettings()

    configure_kopf(settings, OperatorSettings())

    watching = settings.watching
    assert (watching.server_timeout, watching.inactivity_timeout) == (30, 40.0)
    assert watching.inactivity_timeout > watching.server_timeout
    assert watching.client_timeout is not None
    assert watching.client_timeout > watching.inactivity_timeout


def test_a_given_up_stream_is_one_warning_that_names_the_kind() -> None:
    given_up = record(GIVEN_UP)

    assert SilentWatchWarning(40.0, debug=False).filter(given_up)

    assert given_up.levelno == logging.WARNING
    message = given_up.getMessage()
    assert "SuperviselyTask (superviselytasks.v1alpha1.supervisely.com)" in message
    assert "nothing for 40 s" in message
    assert "cluster-wide" in message


@pytest.mark.parametrize(
    ("debug", "passes"),
    [pytest.param(False, False, id="quiet"), pytest.param(True, True, id="debug")],
)
def test_the_watch_loggers_other_debug_lines_pass_only_when_asked(
    debug: bool, passes: bool
) -> None:
    """The logger is opened to DEBUG to hear the one line above; the rest stays as it was."""
    other = record("Starting the watch-stream for superviselytasks.v1alpha1.supervisely.com.")

    assert SilentWatchWarning(40.0, debug=debug).filter(other) is passes
    assert SilentWatchWarning(40.0, debug=debug).filter(record("failed", logging.WARNING))


def test_a_stream_given_up_before_the_server_ends_it_is_refused_at_startup(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SUPERVISELY_OPERATOR_WATCH_SERVER_TIMEOUT", "60")
    monkeypatch.setenv("SUPERVISELY_OPERATOR_WATCH_INACTIVITY_TIMEOUT", "60")

    with pytest.raises(ValueError, match="only a silent one should be given up"):
        OperatorSettings()
