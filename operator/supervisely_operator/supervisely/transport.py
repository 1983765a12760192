"""One Supervisely RPC call over HTTP: send, retry, map the answer to a value or a typed error.

Everything the house style wants in one place for the client lives here: the pooled
``httpx.AsyncClient`` (one per client), the headers (``x-api-key`` via :class:`ApiKeyAuth`,
``User-Agent``, JSON content type from httpx), the retry loop (rules in :mod:`.retry`), the
per-server gate each attempt passes (:mod:`.limits`), redaction of anything taken from the server
or httpx, per-attempt logging and the metrics hook.
The public methods in :mod:`.client` only build bodies and parse replies.

Success is HTTP 200 exactly, as in the SDK. Redirects are not followed: a redirect usually means
a wrong server address (``http://`` for an https-only server), and following it could carry the
token to another host.
"""

import asyncio
import dataclasses
import importlib.metadata
import logging
import random
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol, TypeVar

import httpx
from pydantic import SecretStr

from supervisely_operator.supervisely.auth import ApiKeyAuth, redact
from supervisely_operator.supervisely.errors import (
    NotFound,
    ProtocolError,
    Rejected,
    RequestTooLarge,
    ServerMessage,
    StartOutcomeUnknown,
    SuperviselyError,
    Transient,
    Unauthorized,
    parse_error_body,
)
from supervisely_operator.supervisely.limits import ServerGate
from supervisely_operator.supervisely.models import ReplyShapeError
from supervisely_operator.supervisely.retry import (
    RETRYABLE_STATUSES,
    AttemptFailed,
    Sleep,
    Uniform,
    build_retrying,
    failure_from_exception,
    failure_from_status,
)
from supervisely_operator.supervisely.settings import ClientSettings

logger = logging.getLogger("supervisely_operator.supervisely")

QueryParams = Mapping[str, str | int]
T = TypeVar("T")
AppAnswer = Callable[[httpx.Response], T | None]
"""Reads a non-200 reply that may be an app's own answer (``tasks.request.direct`` passes the
app's reply through): a value means it is, and that value is the call's result."""


class CallOutcome(StrEnum):
    """How one HTTP attempt ended, as reported to the metrics hook (a bounded label set)."""

    OK = "ok"
    UNAUTHORIZED = "unauthorized"
    NOT_FOUND = "not_found"
    REJECTED = "rejected"
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"
    TIMEOUT = "timeout"
    CONNECTION_ERROR = "connection_error"
    PROTOCOL_ERROR = "protocol_error"


class CallObserver(Protocol):
    """Metrics seam: called once per HTTP attempt, retries included.

    ``method`` is the RPC name (``"tasks.info"``), ``outcome`` a :class:`CallOutcome` value,
    ``seconds`` the attempt's wall time from the moment the gate admitted it (waiting there is
    not the server's latency). A Prometheus layer can count and time calls with it without the
    client importing prometheus.
    """

    def __call__(self, method: str, outcome: str, seconds: float) -> None: ...


class WaitObserver(Protocol):
    """Metrics seam: called once per HTTP attempt as the server's gate lets it go, with the
    seconds it waited there (0 when it went straight through): how the rate limit, the
    concurrency limit and Retry-After pauses hold each method's calls."""

    def __call__(self, method: str, seconds: float) -> None: ...


def user_agent() -> str:
    """``supervisely-operator/<version> python-httpx/<version>``."""
    try:
        version = importlib.metadata.version("supervisely-operator")
    except importlib.metadata.PackageNotFoundError:
        version = "0+unknown"
    return f"supervisely-operator/{version} python-httpx/{httpx.__version__}"


class RpcTransport:
    """Sends Supervisely RPC calls for one server and token, with retries and error mapping."""

    def __init__(
        self,
        *,
        base_url: httpx.URL,
        token: SecretStr,
        settings: ClientSettings,
        gate: ServerGate,
        transport: httpx.AsyncBaseTransport | None = None,
        on_call: CallObserver | None = None,
        on_wait: WaitObserver | None = None,
        uniform: Uniform | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        self._token = token
        self._settings = settings
        self._gate = gate
        self._on_call = on_call
        self._on_wait = on_wait
        self._uniform = uniform or random.SystemRandom().uniform
        self._sleep = sleep or asyncio.sleep
        self._http = httpx.AsyncClient(
            base_url=base_url,
            auth=ApiKeyAuth(token, base_url=base_url),
            headers={"User-Agent": user_agent()},
            timeout=httpx.Timeout(
                connect=settings.connect_timeout,
                read=settings.read_timeout,
                write=settings.write_timeout,
                pool=settings.pool_timeout,
            ),
            limits=httpx.Limits(
                max_connections=settings.max_connections,
                max_keepalive_connections=settings.max_keepalive_connections,
                keepalive_expiry=settings.keepalive_expiry,
            ),
            follow_redirects=False,
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"RpcTransport(base_url={str(self._http.base_url)!r})"

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._http.aclose()

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` ran."""
        return self._http.is_closed

    async def post(
        self,
        method: str,
        body: Mapping[str, Any],
        *,
        parse: Callable[[Any], T],
        idempotent: bool = True,
        app_answer: AppAnswer[T] | None = None,
        read_timeout: float | None = None,
        max_attempts: int | None = None,
    ) -> T:
        """POST a JSON body to ``method``; ``parse`` turns the decoded 200 reply into a value.

        With ``idempotent=False`` only provably unprocessed failures are retried (see
        :mod:`.retry`); any other failure, and a 200 whose reply cannot be parsed, raises
        :class:`StartOutcomeUnknown`. ``app_answer`` tells an app's own refusal from the
        server's (the app's is a result, never retried); ``read_timeout`` and ``max_attempts``
        replace the settings' for this call.
        """
        return await self._call(
            method=method,
            verb="POST",
            body=body,
            query=None,
            parse=parse,
            idem=idempotent,
            app_answer=app_answer,
            read_timeout=read_timeout,
            max_attempts=max_attempts,
        )

    async def get(self, method: str, query: QueryParams, *, parse: Callable[[Any], T]) -> T:
        """GET ``method`` with a query string; ``parse`` turns the 200 reply into a value."""
        return await self._call(
            method=method, verb="GET", body=None, query=query, parse=parse, idem=True
        )

    async def _call(
        self,
        *,
        method: str,
        verb: str,
        body: Mapping[str, Any] | None,
        query: QueryParams | None,
        parse: Callable[[Any], T],
        idem: bool,
        app_answer: AppAnswer[T] | None = None,
        read_timeout: float | None = None,
        max_attempts: int | None = None,
    ) -> T:
        attempts = 0
        timeouts = self._timeouts(read_timeout)

        async def attempt() -> T:
            nonlocal attempts
            attempts += 1
            return await self._attempt(
                method=method,
                verb=verb,
                body=body,
                query=query,
                parse=parse,
                attempt=attempts,
                app_answer=app_answer,
                timeouts=timeouts,
            )

        retrying = build_retrying(
            method=method,
            settings=self._settings,
            idempotent=idem,
            uniform=self._uniform,
            sleep=self._sleep,
            max_attempts=max_attempts,
        )
        # Errors are raised outside the except blocks so that they carry no __context__: the
        # internal failure's own context is the httpx exception, whose request holds the token.
        error: SuperviselyError
        try:
            return await retrying(attempt)
        except AttemptFailed as failure:
            error = self._give_up(failure, method=method, attempts=attempts, idem=idem)
        except ProtocolError as exc:
            if idem or exc.status != httpx.codes.OK:
                raise
            # The server answered 200, so it acted on the request; what it created is unknown.
            error = StartOutcomeUnknown(
                method=method, cause=f"{exc.what} (HTTP 200)", attempts=attempts, status=200
            )
        raise error

    async def _attempt(
        self,
        *,
        method: str,
        verb: str,
        body: Mapping[str, Any] | None,
        query: QueryParams | None,
        parse: Callable[[Any], T],
        attempt: int,
        app_answer: AppAnswer[T] | None,
        timeouts: httpx.Timeout | None,
    ) -> T:
        # The wait is timed on the loop's clock, the one the gate's bucket and pauses run on.
        loop = asyncio.get_running_loop()
        queued = loop.time()
        async with self._gate.admit():
            self._report_wait(method, loop.time() - queued)
            started = time.monotonic()
            try:
                response = await self._http.request(
                    verb,
                    method,
                    json=body,
                    params=query,
                    timeout=httpx.USE_CLIENT_DEFAULT if timeouts is None else timeouts,
                )
            except httpx.RequestError as exc:
                failure = failure_from_exception(exc, token=self._token)
                timed_out = isinstance(exc, httpx.TimeoutException)
                outcome = CallOutcome.TIMEOUT if timed_out else CallOutcome.CONNECTION_ERROR
                self._record(
                    method, outcome, started=started, attempt=attempt, result=failure.cause
                )
                raise failure from None
        if app_answer is not None and response.status_code != httpx.codes.OK:
            answer = app_answer(response)
            if answer is not None:
                said = f"{response.status_code} (the app's own answer)"
                self._record(method, CallOutcome.OK, started=started, attempt=attempt, result=said)
                return answer
        try:
            result = parse(self._interpret(method=method, response=response))
        except ReplyShapeError as exc:
            error = ProtocolError(f"unexpected reply: {exc}", method=method, status=200)
            outcome = CallOutcome.PROTOCOL_ERROR
            self._record(method, outcome, started=started, attempt=attempt, result=error.what)
            raise error from None
        except (SuperviselyError, AttemptFailed) as exc:
            if isinstance(exc, AttemptFailed) and exc.retry_after is not None:
                # Every caller of this server waits, not only this one (see .limits).
                limit = self._settings.max_backoff
                self._gate.pause(exc.retry_after, limit=limit, status=response.status_code)
            outcome = _outcome_of(response.status_code, exc)
            self._record(method, outcome, started=started, attempt=attempt, result=str(exc))
            raise
        self._record(method, CallOutcome.OK, started=started, attempt=attempt, result="200")
        return result

    def _timeouts(self, read_timeout: float | None) -> httpx.Timeout | None:
        """The settings' timeouts with another read timeout; None: the client's own."""
        if read_timeout is None:
            return None
        settings = self._settings
        return httpx.Timeout(
            connect=settings.connect_timeout,
            read=read_timeout,
            write=settings.write_timeout,
            pool=settings.pool_timeout,
        )

    def _interpret(self, *, method: str, response: httpx.Response) -> Any:
        status = response.status_code
        if status == httpx.codes.OK:
            try:
                return response.json()
            except ValueError:
                pass  # raised below, so the decode error (which quotes the body) is not chained
            raise ProtocolError("the reply is not JSON", method=method, status=status)
        server = self._server_message(response)
        if status in (httpx.codes.UNAUTHORIZED, httpx.codes.FORBIDDEN):
            raise Unauthorized(method=method, status=status, server=server)
        if status == httpx.codes.NOT_FOUND:
            raise NotFound(method=method, server=server)
        if status in RETRYABLE_STATUSES or status >= httpx.codes.INTERNAL_SERVER_ERROR:
            raise failure_from_status(
                status=status,
                summary=server.text,
                retry_after_header=response.headers.get("Retry-After"),
                now=datetime.now(UTC),
            )
        if status == httpx.codes.REQUEST_ENTITY_TOO_LARGE:
            raise RequestTooLarge(method=method, server=server)
        if status >= httpx.codes.BAD_REQUEST:
            raise Rejected(method=method, status=status, server=server)
        if response.is_redirect:
            target = redact(response.headers.get("Location", "?"), self._token)
            raise ProtocolError(
                f"redirect ({status}) to {target}; configure the server address it points to",
                method=method,
                status=status,
            )
        raise ProtocolError(f"HTTP {status} instead of 200", method=method, status=status)

    def _server_message(self, response: httpx.Response) -> ServerMessage:
        parsed = parse_error_body(response.content)
        return dataclasses.replace(
            parsed,
            error=parsed.error and redact(parsed.error, self._token),
            message=parsed.message and redact(parsed.message, self._token),
            snippet=parsed.snippet and redact(parsed.snippet, self._token),
        )

    def _give_up(
        self, failure: AttemptFailed, *, method: str, attempts: int, idem: bool
    ) -> Transient:
        if not idem and not failure.unprocessed:
            logger.warning(
                "%s failed after the request may have reached the server (%s); not retried",
                method,
                failure.cause,
            )
            return StartOutcomeUnknown(
                method=method, cause=failure.cause, attempts=attempts, status=failure.status
            )
        # DEBUG: whoever called reports the outage, once per burst (the poller, a condition
        # and an Event per resource); a line per failed call here would repeat it every call.
        logger.debug("%s failed after %d attempt(s): %s", method, attempts, failure.cause)
        return Transient(
            method=method,
            cause=failure.cause,
            attempts=attempts,
            status=failure.status,
            retry_after=failure.retry_after,
        )

    def _report_wait(self, method: str, seconds: float) -> None:
        if self._on_wait is None:
            return
        try:
            self._on_wait(method, seconds)
        except Exception:
            # As for on_call: metrics must never fail a call.
            logger.exception("the on_wait metrics hook failed for %s", method)

    def _record(
        self, method: str, outcome: CallOutcome, *, started: float, attempt: int, result: str
    ) -> None:
        seconds = time.monotonic() - started
        logger.debug(
            "%s -> %s in %.3f s (attempt %d of %d)",
            method,
            result,
            seconds,
            attempt,
            self._settings.max_attempts,
        )
        if self._on_call is None:
            return
        try:
            self._on_call(method, outcome.value, seconds)
        except Exception:
            # A broken metrics hook must not turn a successful start into a failure (the
            # operator would start a second task); it is reported and otherwise ignored.
            logger.exception("the on_call metrics hook failed for %s", method)


def _outcome_of(status: int, exc: Exception) -> CallOutcome:
    if isinstance(exc, Unauthorized):
        return CallOutcome.UNAUTHORIZED
    if isinstance(exc, NotFound):
        return CallOutcome.NOT_FOUND
    if isinstance(exc, Rejected):
        return CallOutcome.REJECTED
    if status == httpx.codes.TOO_MANY_REQUESTS:
        return CallOutcome.RATE_LIMITED
    if status == httpx.codes.REQUEST_TIMEOUT:
        return CallOutcome.TIMEOUT
    if isinstance(exc, AttemptFailed):
        return CallOutcome.SERVER_ERROR
    return CallOutcome.PROTOCOL_ERROR
