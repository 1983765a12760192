"""Operator settings from the environment (as the Helm chart sets them), and the kopf options.

Credentials keep the Supervisely SDK's own names, so a Supervisely app's ``.env`` works as it
is; every other setting is prefixed ``SUPERVISELY_OPERATOR_`` so it cannot collide.
"""

import os

import kopf
import pytest
from pydantic import ValidationError

from supervisely_operator.controller.registry import registry
from supervisely_operator.controller.runner import operator_options
from supervisely_operator.controller.settings import OperatorSettings
from supervisely_operator.reconcile.situation import Timing
from supervisely_operator.remote import PollTiming

TOKEN = "settings-test-token-4e5f6a"


@pytest.fixture(autouse=True)
def bare_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No setting leaks in from the shell that runs the tests (names are case-insensitive)."""
    for name in list(os.environ):
        upper = name.upper()
        if upper.startswith("SUPERVISELY_OPERATOR_") or upper in {"SERVER_ADDRESS", "API_TOKEN"}:
            monkeypatch.delenv(name)
    return monkeypatch


def test_with_nothing_set_the_operator_watches_everything_without_default_credentials() -> None:
    settings = OperatorSettings()

    assert settings.server_address is None
    assert settings.api_token is None
    assert settings.namespaces == []
    assert settings.peering is None
    # Remote changes wake resources; their own re-checks are only a safety net.
    assert settings.timing() == Timing(
        resync_interval=300.0,
        transition_recheck=30.0,
        start_grace=120.0,
        outage_min_delay=2.0,
        outage_max_delay=300.0,
    )
    assert settings.poll_timing() == PollTiming(
        interval=10.0, transition_interval=2.0, idle_interval=30.0, per_page=500
    )
    assert settings.client_settings().read_timeout == 30.0
    assert settings.client_settings().max_attempts == 4
    limits = settings.client_settings()
    assert (limits.max_concurrent_requests, limits.requests_per_second) == (32, 200.0)
    assert (limits.request_burst, limits.max_connections) == (400, 32)


@pytest.mark.parametrize(
    ("value", "namespaces"),
    [
        pytest.param("ml", ["ml"], id="one"),
        pytest.param("ml,research", ["ml", "research"], id="comma-separated"),
        pytest.param(" ml , research ,, ", ["ml", "research"], id="spaces-and-empty-parts"),
        pytest.param("", [], id="empty-means-all"),
    ],
)
def test_namespaces_are_a_comma_separated_list(
    bare_environment: pytest.MonkeyPatch, value: str, namespaces: list[str]
) -> None:
    bare_environment.setenv("SUPERVISELY_OPERATOR_NAMESPACES", value)

    assert OperatorSettings().namespaces == namespaces


def test_credentials_use_the_sdk_names_and_the_token_stays_masked(
    bare_environment: pytest.MonkeyPatch,
) -> None:
    bare_environment.setenv("SERVER_ADDRESS", "https://app.supervisely.com")
    bare_environment.setenv("API_TOKEN", TOKEN)

    settings = OperatorSettings()

    assert settings.server_address == "https://app.supervisely.com"
    assert settings.api_token is not None
    assert settings.api_token.get_secret_value() == TOKEN
    assert TOKEN not in repr(settings)
    assert TOKEN not in str(settings)


def test_prefixed_credential_names_are_not_read(bare_environment: pytest.MonkeyPatch) -> None:
    """One name per credential: the SDK's. A second, prefixed spelling would be a trap."""
    bare_environment.setenv("SUPERVISELY_OPERATOR_SERVER_ADDRESS", "https://other.example")
    bare_environment.setenv("SUPERVISELY_OPERATOR_API_TOKEN", TOKEN)

    settings = OperatorSettings()

    assert (settings.server_address, settings.api_token) == (None, None)


def test_other_settings_are_read_only_with_the_prefix(
    bare_environment: pytest.MonkeyPatch,
) -> None:
    for name, value in {
        "SUPERVISELY_OPERATOR_POLL_INTERVAL": "0.5",
        "SUPERVISELY_OPERATOR_TRANSITION_POLL_INTERVAL": "0.25",
        "SUPERVISELY_OPERATOR_START_GRACE": "7",
        "SUPERVISELY_OPERATOR_OUTAGE_MIN_DELAY": "1",
        "SUPERVISELY_OPERATOR_OUTAGE_MAX_DELAY": "60",
        "SUPERVISELY_OPERATOR_RESYNC_INTERVAL": "300",
        "SUPERVISELY_OPERATOR_REQUEST_TIMEOUT": "3",
        "SUPERVISELY_OPERATOR_REQUEST_ATTEMPTS": "2",
        "SUPERVISELY_OPERATOR_SECRET_CACHE_SECONDS": "5",
        "SUPERVISELY_OPERATOR_MAX_CONCURRENT_REQUESTS": "64",
        "SUPERVISELY_OPERATOR_REQUESTS_PER_SECOND": "12.5",
        "SUPERVISELY_OPERATOR_REQUEST_BURST": "25",
        "SUPERVISELY_OPERATOR_PEERING": "supervisely-operator",
        "SUPERVISELY_OPERATOR_METRICS_PORT": "0",
        "SUPERVISELY_OPERATOR_LOG_FORMAT": "json",
        "MAX_CONCURRENT_PASSES": "99",  # unprefixed: somebody else's variable
    }.items():
        bare_environment.setenv(name, value)

    settings = OperatorSettings()

    assert settings.poll_timing() == PollTiming(
        interval=0.5, transition_interval=0.25, idle_interval=30.0, per_page=500
    )
    assert settings.timing() == Timing(
        resync_interval=300.0,
        transition_recheck=30.0,
        start_grace=7.0,
        outage_min_delay=1.0,
        outage_max_delay=60.0,
    )
    assert settings.client_settings().read_timeout == 3.0
    assert settings.client_settings().max_attempts == 2
    limits = settings.client_settings()
    assert (limits.max_concurrent_requests, limits.max_connections) == (64, 64)
    assert (limits.requests_per_second, limits.request_burst) == (12.5, 25)
    assert settings.secret_cache_seconds == 5.0
    assert settings.peering == "supervisely-operator"
    assert settings.metrics_port == 0
    assert settings.log_format == "json"
    assert settings.max_concurrent_passes == 16


@pytest.mark.parametrize(
    ("name", "value"),
    [
        pytest.param("SUPERVISELY_OPERATOR_POLL_INTERVAL", "0", id="poll-interval-zero"),
        pytest.param("SUPERVISELY_OPERATOR_REQUEST_ATTEMPTS", "0", id="no-attempts"),
        pytest.param("SUPERVISELY_OPERATOR_MAX_CONCURRENT_REQUESTS", "0", id="no-concurrency"),
        pytest.param("SUPERVISELY_OPERATOR_REQUESTS_PER_SECOND", "0", id="no-rate"),
        pytest.param("SUPERVISELY_OPERATOR_REQUEST_BURST", "0", id="no-burst"),
        pytest.param("SUPERVISELY_OPERATOR_LOG_FORMAT", "xml", id="unknown-log-format"),
        pytest.param("SUPERVISELY_OPERATOR_METRICS_PORT", "70000", id="port-out-of-range"),
    ],
)
def test_a_nonsensical_value_stops_the_operator_at_startup(
    bare_environment: pytest.MonkeyPatch, name: str, value: str
) -> None:
    bare_environment.setenv(name, value)

    with pytest.raises(ValidationError, match=name.removeprefix("SUPERVISELY_OPERATOR_").lower()):
        OperatorSettings()


def test_the_operator_runs_cluster_wide_and_standalone_by_default() -> None:
    config = OperatorSettings()

    options = operator_options(config)

    assert options["registry"] is registry
    assert isinstance(options["memo"], kopf.Memo)
    assert options["memo"]["config"] is config
    assert options["clusterwide"] is True
    assert options["namespaces"] == []
    assert options["standalone"] is True
    assert options["peering_name"] is None


def test_namespaces_and_peering_narrow_the_scope_and_turn_on_high_availability(
    bare_environment: pytest.MonkeyPatch,
) -> None:
    bare_environment.setenv("SUPERVISELY_OPERATOR_NAMESPACES", "ml,research")
    bare_environment.setenv("SUPERVISELY_OPERATOR_PEERING", "supervisely-operator")

    options = operator_options(OperatorSettings())

    assert options["clusterwide"] is False
    assert options["namespaces"] == ["ml", "research"]
    assert options["standalone"] is False
    assert options["peering_name"] == "supervisely-operator"


@pytest.mark.parametrize(
    ("deadline", "retry", "refused"),
    [
        pytest.param("10", "2", True, id="deadline-as-long-as-the-lifetime"),
        pytest.param("12", "2", True, id="deadline-past-the-lifetime"),
        pytest.param("2", "2", True, id="no-renewal-before-the-deadline"),
        pytest.param("9.5", "2", False, id="deadline-just-below-the-lifetime"),
    ],
)
def test_an_acting_replica_stops_before_a_standby_may_take_over(
    bare_environment: pytest.MonkeyPatch, deadline: str, retry: str, refused: bool
) -> None:
    bare_environment.setenv("SUPERVISELY_OPERATOR_PEERING_LIFETIME", "10")
    bare_environment.setenv("SUPERVISELY_OPERATOR_PEERING_RENEW_DEADLINE", deadline)
    bare_environment.setenv("SUPERVISELY_OPERATOR_PEERING_RETRY_PERIOD", retry)

    if refused:
        with pytest.raises(ValidationError, match="must stop acting before a standby"):
            OperatorSettings()
    else:
        assert OperatorSettings().peering_renew_deadline == float(deadline)


@pytest.mark.parametrize(
    ("grace", "timeout", "refused"),
    [
        pytest.param("30", "30", True, id="grace-exactly-the-timeout"),
        pytest.param("59", "30", True, id="grace-just-short-of-twice"),
        pytest.param("60", "30", False, id="grace-twice-the-timeout"),
    ],
)
def test_a_grace_shorter_than_twice_the_request_timeout_is_refused(
    bare_environment: pytest.MonkeyPatch, grace: str, timeout: str, refused: bool
) -> None:
    """A start the server holds past the client's timeout may still be carried out: a grace no
    longer than the timeout would make it a second time (the issue's duplicate tasks)."""
    bare_environment.setenv("SUPERVISELY_OPERATOR_START_GRACE", grace)
    bare_environment.setenv("SUPERVISELY_OPERATOR_REQUEST_TIMEOUT", timeout)

    if not refused:
        assert OperatorSettings().start_grace == float(grace)
        return
    with pytest.raises(ValidationError) as raised:
        OperatorSettings()
    assert (
        f"start_grace ({grace} s) must be at least twice request_timeout ({timeout} s): a start "
        "the server carries out after the client gave up would otherwise be made a second time"
    ) in str(raised.value)


def test_the_default_grace_is_safe_against_the_default_timeout() -> None:
    settings = OperatorSettings()
    assert settings.start_grace >= 2 * settings.request_timeout
