"""The one place that decides whether, and when, a failed Supervisely request is sent again.

Rules (the SDK's set, minus its quirks; see section 1 of the API brief):

- **Retryable failures**: connection errors and timeouts of any kind, and HTTP 408, 429, 499,
  500, 502, 503, 504, 509, 598, 599. Every other status is answered at once: 4xx are the
  request's fault, and 5xx outside the set (501, 505, 507, ...) are failures the SDK does not
  retry either, because repeating the same request seconds later rarely helps; they surface as
  ``Transient`` so the operator tries again on its own, slower schedule.
- **Backoff**: before retry ``n`` (0-based) sleep a uniform random time in
  ``[0, min(max_backoff, initial_backoff * 2**n)]`` ("full jitter"), so many resources failing
  together do not retry in lockstep. Unlike the SDK, never sleep after the last attempt.
- **Retry-After** (429 and 503, seconds or an HTTP date): never retry sooner than the server
  asked; the sleep is ``max(jittered backoff, Retry-After)``. If the server asks for longer than
  ``max_backoff``, the client does not block a handler that long: it stops retrying and the
  ``Transient`` error carries ``retry_after`` so the caller can requeue after it.
- **Non-idempotent calls** (``tasks.run.app``): a retry may only follow a failure that proves the
  server did not act on the request, otherwise a second task could be created:

  * connect errors, connect timeouts and pool timeouts: no byte of the request was sent;
  * HTTP 408, 429 and 503: by their definition (RFC 9110, RFC 6585) the server did not process
    the request (it was incomplete, rate limited, or the service declined it).

  Everything else (read/write timeouts, a dropped or reset connection, 500, 502, 504, 499, ...)
  may happen after the task was created. Such a failure is never retried; the client raises
  ``StartOutcomeUnknown`` and the operator must look the task up instead of starting again.
"""

import email.utils
import logging
import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import httpx
from pydantic import SecretStr
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from supervisely_operator.supervisely.auth import redact
from supervisely_operator.supervisely.settings import ClientSettings

logger = logging.getLogger("supervisely_operator.supervisely")

RETRYABLE_STATUSES = frozenset({408, 429, 499, 500, 502, 503, 504, 509, 598, 599})
"""HTTP statuses the SDK retries (``network_exceptions.py``)."""

UNPROCESSED_STATUSES = frozenset({408, 429, 503})
"""Statuses that mean the server did not act on the request: safe to resend even a start."""

RETRY_AFTER_STATUSES = frozenset({429, 503})
"""Statuses whose ``Retry-After`` header is honoured."""

_UNSENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_MAX_EXPONENT = 60  # 2**60 seconds is forever; keeps the float arithmetic finite.

Uniform = Callable[[float, float], float]
Sleep = Callable[[float], Awaitable[None]]


class AttemptFailed(Exception):
    """One request failed on the server's or the network's side (internal, never reaches callers).

    ``cause`` is already sanitised (no token, no headers). ``unprocessed`` is true only when the
    failure proves the server did not act on the request. ``retryable`` is false for a 5xx
    outside the SDK's retryable set: it still ends as ``Transient``, after one attempt.
    """

    def __init__(
        self,
        *,
        cause: str,
        unprocessed: bool,
        retryable: bool = True,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(cause)
        self.cause = cause
        self.unprocessed = unprocessed
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after


def failure_from_exception(exc: httpx.RequestError, *, token: SecretStr) -> AttemptFailed:
    """Describe an httpx error without keeping it (its request holds the token header).

    A failed connection names the server it tried: a wrong address is its usual cause, and
    httpx's own text ("All connection attempts failed") does not say which address that was.
    """
    detail = redact(str(exc), token) or "no detail"
    origin = _origin(exc)
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout) and origin is not None:
        detail = f"cannot connect to {redact(origin, token)}: {detail}"
    return AttemptFailed(
        cause=f"{type(exc).__name__}: {detail}",
        unprocessed=isinstance(exc, _UNSENT_ERRORS),
    )


def _origin(exc: httpx.RequestError) -> str | None:
    """``scheme://host[:port]`` of the request that failed (no user info, path or query)."""
    try:
        url = exc.request.url
    except RuntimeError:  # httpx raises it for an error made without a request
        return None
    return f"{url.scheme}://{url.netloc.decode('ascii')}"


def failure_from_status(
    *,
    status: int,
    summary: str,
    retry_after_header: str | None,
    now: datetime,
) -> AttemptFailed:
    """Describe a failed HTTP status (retryable or a 5xx); ``summary`` is the sanitised message."""
    retry_after = None
    if status in RETRY_AFTER_STATUSES:
        retry_after = parse_retry_after(retry_after_header, now=now)
    text = f"HTTP {status}: {summary}" if summary else f"HTTP {status}"
    return AttemptFailed(
        cause=text,
        unprocessed=status in UNPROCESSED_STATUSES,
        retryable=status in RETRYABLE_STATUSES,
        status=status,
        retry_after=retry_after,
    )


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date); ``None`` if unusable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = (moment - now).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def backoff_ceiling(*, retry_index: int, settings: ClientSettings) -> float:
    """The longest sleep before retry ``retry_index`` (0-based): capped exponential growth."""
    exponent = min(retry_index, _MAX_EXPONENT)
    return float(min(settings.max_backoff, settings.initial_backoff * 2**exponent))


def compute_wait(
    *,
    retry_index: int,
    settings: ClientSettings,
    retry_after: float | None,
    uniform: Uniform,
) -> float:
    """Seconds to sleep before retry ``retry_index``: full jitter, floored by Retry-After."""
    ceiling = backoff_ceiling(retry_index=retry_index, settings=settings)
    wait = uniform(0.0, ceiling) if settings.jitter else ceiling
    if retry_after is not None:
        wait = max(wait, retry_after)
    return wait


def may_retry(failure: AttemptFailed, *, settings: ClientSettings, idempotent: bool) -> bool:
    """Whether ``failure`` may be followed by another attempt (attempt count aside)."""
    if not failure.retryable:
        return False
    if not idempotent and not failure.unprocessed:
        return False
    return failure.retry_after is None or failure.retry_after <= settings.max_backoff


def build_retrying(
    *,
    method: str,
    settings: ClientSettings,
    idempotent: bool,
    uniform: Uniform,
    sleep: Sleep,
    max_attempts: int | None = None,
) -> AsyncRetrying:
    """A tenacity controller applying the rules above to attempts that raise AttemptFailed.

    Anything else an attempt raises (a typed error for a 4xx, a protocol error) passes straight
    through. When retries end, the last ``AttemptFailed`` is re-raised for the caller to map.
    ``max_attempts`` replaces the settings' for one call (a probe repeated anyway).
    """
    attempts = settings.max_attempts if max_attempts is None else max_attempts

    def should_retry(exc: BaseException) -> bool:
        return isinstance(exc, AttemptFailed) and may_retry(
            exc, settings=settings, idempotent=idempotent
        )

    def wait(state: RetryCallState) -> float:
        failure = _failure_of(state)
        return compute_wait(
            retry_index=state.attempt_number - 1,
            settings=settings,
            retry_after=failure.retry_after if failure else None,
            uniform=uniform,
        )

    def log_retry(state: RetryCallState) -> None:
        failure = _failure_of(state)
        pause = state.next_action.sleep if state.next_action else 0.0
        logger.info(
            "%s failed (%s); retrying in %.2f s (attempt %d of %d)",
            method,
            failure.cause if failure else "unknown failure",
            pause,
            state.attempt_number,
            attempts,
        )

    return AsyncRetrying(
        stop=stop_after_attempt(attempts),
        wait=wait,
        retry=retry_if_exception(should_retry),
        before_sleep=log_retry,
        sleep=sleep,
        reraise=True,
    )


def _failure_of(state: RetryCallState) -> AttemptFailed | None:
    exc = state.outcome.exception() if state.outcome else None
    return exc if isinstance(exc, AttemptFailed) else None
