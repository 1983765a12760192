"""The HTTP face of the simulator: ``/public/api/v3/<method>`` as the Supervisely API serves it.

One aiohttp handler answers every API method: it checks ``x-api-key``, adds the scenario's
latency, lets an armed fault spoil the call, dispatches to the method's handler, and records the
call. A body over the scenario's ``max_request_bytes`` gets the reply of the proxy in front of
the API instead (nginx's 413 page), before any of that. ``/_sim/...`` inspection routes are added
by ``inspection``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from aiohttp import web

from supervisely_devkit.simulator.faults import FaultSpec
from supervisely_devkit.simulator.inspection import add_inspection_routes
from supervisely_devkit.simulator.methods_catalogue import CATALOGUE_METHODS
from supervisely_devkit.simulator.methods_tasks import TASK_METHODS
from supervisely_devkit.simulator.record import CallRecord, redact
from supervisely_devkit.simulator.state import Handler, SimulatorState
from supervisely_devkit.simulator.wire import (
    ApiError,
    ApiReply,
    MethodCall,
    error_body,
    not_found,
    unauthorized,
    validation_error,
)

logger = logging.getLogger(__name__)

API_PATH = "/public/api/v3/{method}"
METHODS: dict[str, Handler] = {**TASK_METHODS, **CATALOGUE_METHODS}
GET_METHODS = frozenset({"tasks.log.download"})
"""Methods the SDK calls with GET and a query string; every other method is POST + JSON."""

REQUEST_TOO_LARGE_PAGE = (
    "<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n"
    "<center><h1>413 Request Entity Too Large</h1></center>\r\n"
    "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
"""nginx's own page for a body over ``client_max_body_size``: the proxy answers it, not the API,
so it is HTML rather than the API's JSON error shape."""

_READ_CHUNK_BYTES = 64 * 1024

STATE_KEY = web.AppKey("state", SimulatorState)
SHUTDOWN_KEY = web.AppKey("shutdown", asyncio.Event)


def build_app(*, state: SimulatorState, shutdown: asyncio.Event) -> web.Application:
    """The aiohttp application; ``shutdown`` cuts injected delays short when it is set."""
    app = web.Application(middlewares=[_api_errors_as_replies])
    app[STATE_KEY] = state
    app[SHUTDOWN_KEY] = shutdown
    app.router.add_route("*", API_PATH, handle_api_call)
    add_inspection_routes(app, state_key=STATE_KEY)
    app.router.add_route("*", "/{tail:.*}", handle_unknown_path)
    return app


@web.middleware
async def _api_errors_as_replies(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """``ApiError`` raised by any route (the ``/_sim`` ones too) becomes its JSON reply."""
    try:
        return await handler(request)
    except ApiError as exc:
        reply = exc.reply()
        return web.json_response(reply.body, status=reply.status)


async def handle_api_call(request: web.Request) -> web.StreamResponse:
    """Answer one API call, recording it."""
    state = request.app[STATE_KEY]
    method = request.match_info["method"]
    seq = state.recorder.next_seq()
    timestamp = state.anchor.iso(state.now())
    raw = await _read_raw_body(request, limit=state.scenario.max_request_bytes)
    token_valid = state.token.accepts(request.headers.get("x-api-key"))
    if raw is None:
        return _refused_as_too_large(
            request, state=state, seq=seq, timestamp=timestamp, token_valid=token_valid
        )
    body, body_problem = _decode_body(raw, charset=request.charset)
    await _pause(request, state.scenario.latency.get(method, state.scenario.latency.get("*", 0)))
    fault: FaultSpec | None = None
    if not token_valid:
        reply = unauthorized().reply()
    else:
        fault = state.faults.pick(method)
        reply = await _answer_with_fault(
            request, state=state, method=method, body=body, body_problem=body_problem, fault=fault
        )
    dropped = fault is not None and fault.drop
    _record(
        request,
        state=state,
        seq=seq,
        timestamp=timestamp,
        body=body,
        status=None if dropped else reply.status,
        token_valid=token_valid,
        fault=fault,
    )
    logger.info(
        "%s %s -> %s%s",
        request.method,
        method,
        "dropped" if dropped else reply.status,
        "" if fault is None else f" (fault {fault.describe()})",
    )
    if dropped and request.transport is not None:
        request.transport.close()
    return web.json_response(reply.body, status=reply.status, headers=reply.headers)


def _record(
    request: web.Request,
    *,
    state: SimulatorState,
    seq: int,
    timestamp: str,
    body: Any,
    status: int | None,
    token_valid: bool,
    fault: FaultSpec | None = None,
) -> None:
    """Add the call to the record, the token redacted from its query and body."""
    state.recorder.add(
        CallRecord(
            seq=seq,
            timestamp=timestamp,
            method=request.match_info["method"],
            http_method=request.method,
            path=request.path,
            query=redact(dict(request.query), secret=state.token.value),
            body=redact(body, secret=state.token.value),
            status=status,
            token_valid=token_valid,
            fault=None if fault is None else fault.describe(),
            workspace_id=state.workspace_of_call(
                request.match_info["method"], body, dict(request.query)
            ),
        )
    )


def _refused_as_too_large(
    request: web.Request, *, state: SimulatorState, seq: int, timestamp: str, token_valid: bool
) -> web.StreamResponse:
    """The proxy's 413, recorded without the body: the API never sees the call, so no latency,
    fault or method applies."""
    method = request.match_info["method"]
    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    _record(
        request,
        state=state,
        seq=seq,
        timestamp=timestamp,
        body=None,
        status=status,
        token_valid=token_valid,
    )
    logger.info(
        "%s %s -> %d (body over %d bytes)",
        request.method,
        method,
        status,
        state.scenario.max_request_bytes,
    )
    return web.Response(status=status, text=REQUEST_TOO_LARGE_PAGE, content_type="text/html")


async def _answer_with_fault(
    request: web.Request,
    *,
    state: SimulatorState,
    method: str,
    body: Any,
    body_problem: str | None,
    fault: FaultSpec | None,
) -> ApiReply:
    """Run the method, with the fault (if any) before or after it takes effect."""

    def run() -> ApiReply:
        return dispatch(
            state,
            method=method,
            http_method=request.method,
            body=body,
            body_problem=body_problem,
            query=dict(request.query),
        )

    if fault is None:
        return run()
    if fault.after_effect:
        real = run()
        await _pause(request, fault.delay)
        return fault.error_reply() or real
    await _pause(request, fault.delay)
    return fault.error_reply() or run()


def dispatch(
    state: SimulatorState,
    *,
    method: str,
    http_method: str,
    body: Any,
    body_problem: str | None,
    query: dict[str, str],
) -> ApiReply:
    """Route a call to its method handler and turn ``ApiError`` into its reply."""
    try:
        handler = METHODS.get(method)
        if handler is None:
            raise not_found(f"Unknown API method {method!r}")
        expected = "GET" if method in GET_METHODS else "POST"
        if http_method != expected:
            raise ApiError(405, "Method not allowed", f"{method} expects {expected}")
        if body_problem is not None:
            raise validation_error(body_problem)
        return handler(state, MethodCall(body=body, query=query))
    except ApiError as exc:
        return exc.reply()
    except Exception:
        logger.exception("the simulator failed on %s", method)
        return ApiReply(
            status=500,
            body=error_body(error="Internal Server Error", message="simulator bug, see its log"),
        )


async def _read_raw_body(request: web.Request, *, limit: int) -> bytes | None:
    """The body's bytes, or None when there are more than ``limit`` of them.

    An oversized body is still read to its end, as nginx's lingering close does, so that a
    client that sends the whole body before it reads the reply hears the 413 and not a reset.
    """
    kept = bytearray()
    size = 0
    async for chunk in request.content.iter_chunked(_READ_CHUNK_BYTES):
        size += len(chunk)
        if size <= limit:
            kept += chunk
    return bytes(kept) if size <= limit else None


def _decode_body(raw: bytes, *, charset: str | None) -> tuple[Any, str | None]:
    """The JSON body (``{}`` when empty) or the raw text and what is wrong with it."""
    text = raw.decode(charset or "utf-8")
    if not text.strip():
        return {}, None
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        return text, f"request body is not valid JSON: {exc.msg}"


async def _pause(request: web.Request, seconds: float | None) -> None:
    """Sleep, but wake up at once when the simulator shuts down."""
    if not seconds:
        return
    shutdown = request.app[SHUTDOWN_KEY]
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(shutdown.wait(), timeout=seconds)


async def handle_unknown_path(request: web.Request) -> web.StreamResponse:
    """404 in the platform's error shape for anything outside the API and ``/_sim``."""
    return web.json_response(
        error_body(error="Not found", message=f"No route for {request.method} {request.path}"),
        status=404,
    )
