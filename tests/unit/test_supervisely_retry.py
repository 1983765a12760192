"""The retry rules: which failures repeat, especially for the non-idempotent start, and when."""

from datetime import UTC, datetime

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from supervisely_operator.supervisely import ClientSettings
from supervisely_operator.supervisely.retry import (
    RETRYABLE_STATUSES,
    AttemptFailed,
    backoff_ceiling,
    compute_wait,
    failure_from_exception,
    failure_from_status,
    may_retry,
    parse_retry_after,
)

NOW = datetime(2026, 3, 30, 12, 0, 0, tzinfo=UTC)
SETTINGS = ClientSettings(initial_backoff=0.5, max_backoff=30.0)
TOKEN = SecretStr("tok-123456")


def top(low: float, high: float) -> float:
    return high


def test_retryable_statuses_are_the_sdks_set() -> None:
    assert frozenset({408, 429, 499, 500, 502, 503, 504, 509, 598, 599}) == RETRYABLE_STATUSES


@pytest.mark.parametrize(
    ("retry_index", "ceiling"),
    [(0, 0.5), (1, 1.0), (2, 2.0), (5, 16.0), (6, 30.0), (10, 30.0), (10_000, 30.0)],
)
def test_backoff_doubles_and_is_capped(retry_index: int, ceiling: float) -> None:
    assert backoff_ceiling(retry_index=retry_index, settings=SETTINGS) == ceiling


def test_full_jitter_draws_between_zero_and_the_ceiling() -> None:
    drawn: list[tuple[float, float]] = []

    def uniform(low: float, high: float) -> float:
        drawn.append((low, high))
        return high / 4

    wait = compute_wait(retry_index=3, settings=SETTINGS, retry_after=None, uniform=uniform)
    assert drawn == [(0.0, 4.0)]
    assert wait == 1.0


def test_without_jitter_the_ceiling_is_used() -> None:
    settings = SETTINGS.model_copy(update={"jitter": False})
    assert compute_wait(retry_index=2, settings=settings, retry_after=None, uniform=min) == 2.0


def test_retry_after_is_a_floor_over_the_jittered_backoff() -> None:
    low = compute_wait(retry_index=0, settings=SETTINGS, retry_after=7.0, uniform=top)
    assert low == 7.0
    high = compute_wait(retry_index=5, settings=SETTINGS, retry_after=2.0, uniform=top)
    assert high == 16.0


@given(
    retry_index=st.integers(min_value=0, max_value=200),
    retry_after=st.none() | st.floats(min_value=0, max_value=30),
    fraction=st.floats(min_value=0, max_value=1),
)
def test_wait_is_never_below_retry_after_nor_above_the_cap(
    retry_index: int, retry_after: float | None, fraction: float
) -> None:
    wait = compute_wait(
        retry_index=retry_index,
        settings=SETTINGS,
        retry_after=retry_after,
        uniform=lambda low, high: low + (high - low) * fraction,
    )
    assert 0 <= wait <= SETTINGS.max_backoff
    assert retry_after is None or wait >= retry_after


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("3", 3.0),
        (" 120 ", 120.0),
        ("1.5", 1.5),
        ("-4", 0.0),
        ("Mon, 30 Mar 2026 12:00:10 GMT", 10.0),
        ("Mon, 30 Mar 2026 11:59:00 GMT", 0.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("inf", None),
        ("nan", None),
    ],
)
def test_retry_after_header_parsing(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == seconds


def status_failure(status: int, retry_after: str | None = None) -> AttemptFailed:
    return failure_from_status(status=status, summary="", retry_after_header=retry_after, now=NOW)


@pytest.mark.parametrize("status", sorted(RETRYABLE_STATUSES))
def test_reads_retry_every_retryable_status(status: int) -> None:
    assert may_retry(status_failure(status), settings=SETTINGS, idempotent=True)


@pytest.mark.parametrize("status", [501, 505, 507, 511])
def test_other_5xx_are_never_retried(status: int) -> None:
    failure = status_failure(status)
    assert not failure.retryable
    assert not may_retry(failure, settings=SETTINGS, idempotent=True)


@pytest.mark.parametrize(
    ("status", "start_may_retry"),
    [
        (408, True),  # the server did not receive the whole request
        (429, True),  # rate limited before processing
        (503, True),  # the service declined the request
        (500, False),  # may have crashed after creating the task
        (502, False),  # a proxy lost the upstream: the upstream may have acted
        (504, False),  # a proxy timed out waiting: the upstream may still be acting
        (499, False),
        (509, False),
        (598, False),
        (599, False),
    ],
)
def test_start_retries_only_statuses_that_prove_no_processing(
    status: int, start_may_retry: bool
) -> None:
    assert may_retry(status_failure(status), settings=SETTINGS, idempotent=False) is start_may_retry


REQUEST = httpx.Request("POST", "http://sly.test/public/api/v3/tasks.run.app")


@pytest.mark.parametrize(
    ("exc", "unprocessed"),
    [
        (httpx.ConnectError("[Errno 111] Connection refused", request=REQUEST), True),
        (httpx.ConnectTimeout("timed out", request=REQUEST), True),
        (httpx.PoolTimeout("timed out", request=REQUEST), True),
        (httpx.ReadTimeout("timed out", request=REQUEST), False),
        (httpx.WriteTimeout("timed out", request=REQUEST), False),
        (httpx.ReadError("reset", request=REQUEST), False),
        (httpx.WriteError("broken pipe", request=REQUEST), False),
        (httpx.RemoteProtocolError("Server disconnected", request=REQUEST), False),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value),
)
def test_transport_errors_are_unprocessed_only_before_the_request_is_sent(
    exc: httpx.RequestError, unprocessed: bool
) -> None:
    failure = failure_from_exception(exc, token=TOKEN)
    assert failure.unprocessed is unprocessed
    assert may_retry(failure, settings=SETTINGS, idempotent=True)
    assert may_retry(failure, settings=SETTINGS, idempotent=False) is unprocessed
    assert failure.cause.startswith(type(exc).__name__ + ": ")


def test_failure_cause_is_redacted_and_never_empty() -> None:
    leaky = httpx.ReadError(f"boom {TOKEN.get_secret_value()}", request=REQUEST)
    assert TOKEN.get_secret_value() not in failure_from_exception(leaky, token=TOKEN).cause
    silent = httpx.ReadError("", request=REQUEST)
    assert failure_from_exception(silent, token=TOKEN).cause == "ReadError: no detail"


def test_retry_after_is_read_on_429_and_503_only() -> None:
    assert status_failure(429, "4").retry_after == 4.0
    assert status_failure(503, "4").retry_after == 4.0
    assert status_failure(500, "4").retry_after is None


def test_retry_after_beyond_max_backoff_ends_the_retries() -> None:
    # Blocking a handler for minutes is worse than requeueing; the Transient error carries it.
    assert may_retry(status_failure(429, "30"), settings=SETTINGS, idempotent=True)
    assert not may_retry(status_failure(429, "31"), settings=SETTINGS, idempotent=True)


def test_settings_refuse_inverted_backoff() -> None:
    with pytest.raises(ValueError, match="initial_backoff"):
        ClientSettings(initial_backoff=5, max_backoff=1)


@pytest.mark.parametrize(
    ("exc", "cause"),
    [
        (
            httpx.ConnectError(
                "All connection attempts failed",
                request=httpx.Request("POST", "http://user:pw@127.0.0.1:9/public/api/v3/x?id=1"),
            ),
            "ConnectError: cannot connect to http://127.0.0.1:9: All connection attempts failed",
        ),
        (
            httpx.ConnectTimeout("timed out", request=REQUEST),
            "ConnectTimeout: cannot connect to http://sly.test: timed out",
        ),
        (httpx.ReadTimeout("timed out", request=REQUEST), "ReadTimeout: timed out"),
    ],
    ids=["refused", "connect-timeout", "read-timeout"],
)
def test_a_failed_connection_names_the_server_it_tried(exc: httpx.RequestError, cause: str) -> None:
    """A wrong address is the usual cause; user info, path and query stay out of it."""
    assert failure_from_exception(exc, token=TOKEN).cause == cause
