"""The client over ``httpx.MockTransport``: URLs, headers, status mapping and retries.

The simulator covers the happy paths over real HTTP (tests/integration); these tests produce the
replies that are hard to get from it: odd statuses, broken JSON, exact retry timings.
"""

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from supervisely_operator.supervisely import (
    AgentId,
    AgentNotFound,
    AmbiguousApp,
    AppNotFound,
    ClientSettings,
    ModuleId,
    MultipleTasksStarted,
    ProtocolError,
    Rejected,
    RequestTooLarge,
    ServerGate,
    StartOutcomeUnknown,
    StartTaskRequest,
    SuperviselyClient,
    TaskId,
    TaskNotFound,
    TaskStatus,
    Transient,
    Unauthorized,
    WorkspaceId,
    filter_eq,
    normalize_server_address,
)

TOKEN = "tok-" + "x" * 60
Handler = Callable[[httpx.Request], httpx.Response]
START = StartTaskRequest(module_id=ModuleId(101), workspace_id=WorkspaceId(1))


class Script:
    """Answers requests from a list of handlers (the last one repeats) and records them.

    ``sleep`` moves ``now``, the clock of the client's gate, so a Retry-After pause the client
    has slept through is over for the gate too (no real waiting).
    """

    def __init__(self, *handlers: Handler) -> None:
        self.handlers = list(handlers)
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []
        self.calls: list[tuple[str, str]] = []
        self.now = 0.0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        handler = self.handlers.pop(0) if len(self.handlers) > 1 else self.handlers[0]
        return handler(request)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now

    def on_call(self, method: str, outcome: str, seconds: float) -> None:
        assert seconds >= 0
        self.calls.append((method, outcome))

    def bodies(self) -> list[Any]:
        return [
            json.loads(request.content) if request.content else None for request in self.requests
        ]


def reply(status: int = 200, body: Any = None, **headers: str) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(body, bytes):
            return httpx.Response(status, content=body, headers=headers)
        return httpx.Response(status, json=body, headers=headers)

    return handler


def fail(exc_type: type[httpx.RequestError], text: str = "boom") -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc_type(text, request=request)

    return handler


SETTINGS = ClientSettings(max_attempts=4, initial_backoff=0.5, max_backoff=8.0, jitter=False)


@pytest.fixture
def make_client() -> Callable[[Script], SuperviselyClient]:
    """A client on a MockTransport; tests use it as ``async with`` so it is always closed."""

    def make(script: Script, settings: ClientSettings = SETTINGS) -> SuperviselyClient:
        gate = ServerGate(
            server="http://sly.test", max_concurrent=4, rate=1e6, burst=100, clock=script.clock
        )
        return SuperviselyClient(
            "sly.test/",
            TOKEN,
            settings,
            gate=gate,
            transport=httpx.MockTransport(script),
            sleep=script.sleep,
            on_call=script.on_call,
        )

    return make


TASK = {"id": 5, "status": "started", "workspaceId": 1}


@pytest.mark.parametrize(
    ("address", "server"),
    [
        ("sly.example.com", "http://sly.example.com"),
        ("/sly.example.com/", "http://sly.example.com"),
        ("https://sly.example.com/", "https://sly.example.com"),
        ("  HTTPS://sly.example.com//\n", "https://sly.example.com"),
        ("http://10.0.0.1:8080/prefix/", "http://10.0.0.1:8080/prefix"),
        ("localhost:8080", "http://localhost:8080"),
    ],
)
def test_server_address_is_normalised_like_the_sdk(address: str, server: str) -> None:
    assert normalize_server_address(address) == server


@pytest.mark.parametrize("address", ["", " / ", "ftp://sly.example.com"])
def test_unusable_server_addresses_are_refused(address: str) -> None:
    with pytest.raises(ValueError, match="server address"):
        normalize_server_address(address)


@pytest.mark.parametrize("token", ["", "   ", " secret-a", "secret-b\n", "sec ret", "sécret"])
def test_unusable_tokens_are_refused_without_quoting_them(token: str) -> None:
    with pytest.raises(ValueError, match="token") as caught:
        SuperviselyClient("sly.test", token)
    assert "sec" not in str(caught.value)


async def test_requests_go_to_the_v3_url_with_only_the_documented_headers(
    make_client: Callable[[Script], SuperviselyClient],
) -> None:
    script = Script(reply(body=TASK), reply(body=[]))
    async with make_client(script) as client:
        await client.get_task(TaskId(5))
        await client.get_task_logs(TaskId(5))
    post, get = script.requests
    assert str(post.url) == "http://sly.test/public/api/v3/tasks.info"
    assert post.method == "POST"
    assert post.headers["x-api-key"] == TOKEN
    assert post.headers["content-type"] == "application/json"
    assert post.headers["user-agent"].startswith("supervisely-operator/")
    assert "authorization" not in post.headers
    assert "x-task-id" not in post.headers
    assert json.loads(post.content) == {"id": 5}
    assert (get.method, get.url.path) == ("GET", "/public/api/v3/tasks.log.download")
    assert get.headers["x-api-key"] == TOKEN
    assert "content-type" not in get.headers


async def test_session_url_needs_no_request(
    make_client: Callable[[Script], SuperviselyClient],
) -> None:
    script = Script(reply(body={}))
    async with make_client(script) as client:
        assert client.session_url(TaskId(42)) == "http://sly.test/apps/sessions/42"
    assert script.requests == []


@pytest.mark.parametrize("status", [401, 403])
async def test_bad_token_is_unauthorized_and_not_retried(
    make_client: Callable[[Script], SuperviselyClient], status: int
) -> None:
    body = {"error": "Unauthorized", "details": {"message": f"Invalid API token {TOKEN}"}}
    script = Script(reply(status, body))
    async with make_client(script) as client:
        with pytest.raises(Unauthorized) as caught:
            await client.get_task(TaskId(5))
    assert len(script.requests) == 1
    assert caught.value.status == status
    assert TOKEN not in str(caught.value)
    assert TOKEN not in repr(caught.value.server)
    assert "Invalid API token **********" in str(caught.value)
    assert script.calls == [("tasks.info", "unauthorized")]


async def test_404s_name_what_was_looked_up(
    make_client: Callable[[Script], SuperviselyClient],
) -> None:
    script = Script(reply(404, {"error": "Not found", "details": {"message": "gone"}}))
    async with make_client(script) as client:
        with pytest.raises(TaskNotFound) as task:
            await client.get_task(TaskId(9))
        with pytest.raises(TaskNotFound):
            await client.stop_task(TaskId(9))
        with pytest.raises(TaskNotFound):
            await client.get_task_logs(TaskId(9))
        with pytest.raises(AgentNotFound) as agent:
            await client.get_agent(AgentId(3))
        with pytest.raises(AppNotFound) as app:
            await client.get_module("team/missing")
    assert task.value.task_id == 9
    assert agent.value.agent_id == 3
    assert app.value.app == "team/missing"
    assert len(script.requests) == 5


@pytest.mark.parametrize("status", [400, 409, 422])
async def test_other_4xx_are_rejected_with_the_server_message(
    make_client: Callable[[Script], SuperviselyClient], status: int
) -> None:
    script = Script(reply(status, {"error": "Agent is not running"}))
    async with make_client(script) as client:
        with pytest.raises(Rejected) as caught:
            await client.start_task(START)
    assert (
        str(caught.value) == f"Supervisely rejected tasks.run.app ({status}): Agent is not running"
    )
    assert len(script.requests) == 1


NGINX_413 = (
    b"<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n"
    b"<center><h1>413 Request Entity Too Large</h1></center>\r\n"
    b"<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


async def test_a_start_too_large_for_the_proxy_is_rejected_naming_the_params(
    make_client: Callable[[Script], SuperviselyClient],
) -> None:
    """The proxy's HTML page adds nothing to the status; what to shrink does."""
    script = Script(reply(413, NGINX_413))
    async with make_client(script) as client:
        with pytest.raises(RequestTooLarge) as caught:
            await client.start_task(START)
    assert isinstance(caught.value, Rejected)
    assert (caught.value.reason, caught.value.status) == ("Rejected", 413)
    assert str(caught.value) == (
        "Supervisely rejected tasks.run.app (413): the request is larger than the server "
        "accepts; make the app's params smaller"
    )
    assert len(script.requests) == 1, "not retried: the same body would be refused again"


async def test_a_413_from_supervisely_itself_is_quoted(
    make_client: Callable[[Script], SuperviselyClient],
) -> None:
    body = {"error": "Payload too large", "details": {"message": "at most 10 MB"}}
    async with make_client(Script(reply(413, body))) as client:
        with pytest.raises(RequestTooLarge) as caught:
            await client.get_task(TaskId(5))
    assert str(caught.value) == (
        "Supervisely rejected tasks.info (413): the request is larger than the server accepts "
        "(Payload too large: at most 10 MB)"
    )


async def test_5xx_outside_the_retry_set_is_transient_after_one_attempt(
    make_client: Callable[[Script], SuperviselyClient],
) -> None:
    script = Script(reply(501, b"Not Implemented"))
    async with make_client(script) as client:
        with pytest.raises(Transient) as caught:
            await client.get_task(TaskId(5))
    assert type(caught.value) is Transient
    assert (caught.value.attempts, caught.value.status) == (1, 501)
    assert caught.value.cause == "HTTP 501: Not Implemented"


@pytest.mark.parametrize(
    ("handler", "what"),
    [
        (reply(200, b"<html>login</html>"), "not JSON"),
        (reply(200, b""), "not JSON"),
        (reply(201, {"id": 5}), "HTTP 201 instead of 200"),
        (reply(204, b""), "HTTP 204 instead of 200"),
        (
            reply(302, b"", Location="https://sly.test/login"),
            "redirect (302) to https://sly.test/login",
        ),
        (reply(200, {"id": 5}), "status: Field required"),
    ],
    ids=["html", "empty", "201", "204", "redirect", "shape"],
)
async def test_unreadable_replies_are_protocol_errors(
    make_client: Callable[[Script], SuperviselyClient], handler: Handler, what: str
) -> None:
    script = Script(handler)
    async with make_client(script) as client:
        with pytest.raises(ProtocolError, match=re.escape(what)):
            await client.get_task(TaskId(5))
    assert len(script.requests) == 1


async def test_reads_retry_503_with_capped_exponential_backoff(
    make_client: Callable[[Script], SuperviselyClient],
) -> None:
    script = Script(reply(503, b"busy"), reply(502, b""), reply(500, b""), reply(body=TASK))
    async with make_client(script) as client:
        task = await client.get_task(TaskId(5))
    assert task.status is TaskStatus.STARTED
    assert script.sleeps == [0.5, 1.0, 2.0]
    assert script.calls == [
        ("tasks.info", "server_error"),
        ("tasks.info", "server_error"),
        ("tasks.info", "server_error"),
        ("tasks.info", "ok"),
    ]


async def test_exhausted_retries_raise_transient_with_the_last_cause(
    make_client: Callable[[Script], SuperviselyClient],
) -> None:
    script = Script(fail(httpx.ReadTimeout, "timed out"))
    async with make_client(script) as client:
        with pytest.raises(Transient) as caught:
            await client.get_task(TaskId(5))
    assert len(script.requests) == SETTINGS.max_attempts == caught.value.attempts
    assert caught.value.cause == "ReadTimeout: timed out"
    assert caught.value.reason == "Unavailable"
    assert script.sleeps == [0.5, 1.0, 2.0]  # no sleep after the last attempt
    # No chained httpx error: its request object holds the x-api-key header.
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None


async def test_429_waits_for_retry_after(
    make_client: Callable[[Script], SuperviselyClient],
) -> None:
    script = Script(reply(429, b"", **{"Retry-After": "3"}), reply(body=TASK))
    async with make_client(script) as client:
        await client.get_task(TaskId(5))
    assert script.sleeps == [3.0]
    assert script.calls[0] == ("tasks.info", "rate_limited")


async def test_retry_after_longer_than_max_backoff_is_handed_to_the_caller(
    make_client: Callable[[Script], SuperviselyClient],
) -> None:
    script = Script(reply(429, b"", **{"Retry-After": "120"}))
    async with make_client(script) as client:
        with pytest.raises(Transient) as caught:
            await client.get_task(TaskId(5))
    assert (caught.value.attempts, caught.value.retry_after, caught.value.status) == (1, 120.0, 429)
    assert script.sleeps == []


async def test_start_sends_the_request_body_once_and_returns_the_task(
    make_client: Callable[[Script], SuperviselyClient],
) -> None:
    script = Script(reply(body=[{"taskId": 77, "userId": 1, "moduleId": 101, "appId": 5}]))
    async with make_client(script) as client:
        started = await client.start_task(START)
    assert (started.task_id, started.module_id) == (77, 101)
    assert script.bodies() == [START.to_body()]


async def test_start_retries_when_the_request_provably_did_not_arrive(
    make_client: Callable[[Script], SuperviselyClient],
) -> None:
    script = Script(
        fail(httpx.ConnectError, "[Errno 111] Connection refused"),
        fail(httpx.ConnectTimeout),
        fail(httpx.PoolTimeout),
        reply(body=[{"taskId": 77}]),
    )
    async with make_client(script) as client:
        assert (await client.start_task(START)).task_id == 77
    assert len(script.requests) == 4


@pytest.mark.parametrize("status", [408, 429, 503])
async def test_start_retries_statuses_that_mean_not_processed(
    make_client: Callable[[Script], SuperviselyClient], status: int
) -> None:
    script = Script(reply(status, b""), reply(body=[{"taskId": 77}]))
    async with make_client(script) as client:
        assert (await client.start_task(START)).task_id == 77
    assert len(script.requests) == 2


async def test_start_that_never_got_through_is_plain_transient(
    make_client: Callable[[Script], SuperviselyClient],
) -> None:
    script = Script(reply(503, b""))
    async with make_client(script) as client:
        with pytest.raises(Transient) as caught:
            await client.start_task(START)
    assert type(caught.value) is Transient  # safe to start again later
    assert caught.value.attempts == SETTINGS.max_attempts


@pytest.mark.parametrize(
    "handler",
    [
        fail(httpx.ReadTimeout, "timed out"),
        fail(httpx.WriteTimeout, "timed out"),
        fail(httpx.RemoteProtocolError, "Server disconnected without sending a response."),
        fail(httpx.ReadError, "Connection reset by peer"),
        reply(500, b""),
        reply(502, b""),
        reply(504, b""),
        reply(501, b""),
        reply(200, b"not json"),
        reply(200, []),
        reply(200, {"taskId": 1}),
    ],
    ids=[
        "read-timeout",
        "write-timeout",
        "disconnect",
        "reset",
        "500",
        "502",
        "504",
        "501",
        "200-not-json",
        "200-empty-array",
        "200-object",
    ],
)
async def test_start_is_not_retried_after_an_ambiguous_failure(
    make_client: Callable[[Script], SuperviselyClient], handler: Handler
) -> None:
    script = Script(handler, reply(body=[{"taskId": 99}]))
    async with make_client(script) as client:
        with pytest.raises(StartOutcomeUnknown) as caught:
            await client.start_task(START)
    assert len(script.requests) == 1
    assert caught.value.reason == "StartOutcomeUnknown"
    assert caught.value.attempts == 1


async def test_start_after_a_429_then_an_ambiguous_failure_counts_both_attempts(
    make_client: Callable[[Script], SuperviselyClient],
) -> None:
    script = Script(reply(429, b""), fail(httpx.ReadTimeout, "timed out"))
    async with make_client(script) as client:
        with pytest.raises(StartOutcomeUnknown) as caught:
            await client.start_task(START)
    assert caught.value.attempts == 2
    assert caught.value.cause == "ReadTimeout: timed out"


async def test_start_creating_several_tasks_lists_them_all(
    make_client: Callable[[Script], SuperviselyClient],
) -> None:
    script = Script(reply(body=[{"taskId": 1}, {"taskId": 2}, {"id": 3}]))
    async with make_client(script) as client:
        with pytest.raises(MultipleTasksStarted) as caught:
            await client.start_task(START)
    assert caught.value.task_ids == (1, 2, 3)


async def test_a_failing_metrics_hook_does_not_fail_the_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(method: str, outcome: str, seconds: float) -> None:
        raise RuntimeError("metrics down")

    transport = httpx.MockTransport(reply(body=[{"taskId": 7}]))
    async with SuperviselyClient("sly.test", TOKEN, transport=transport, on_call=broken) as client:
        assert (await client.start_task(START)).task_id == 7
    assert "on_call metrics hook failed" in caplog.text


async def test_stop_returns_the_reported_status(
    make_client: Callable[[Script], SuperviselyClient],
) -> None:
    script = Script(
        reply(body={"status": "terminating"}),
        reply(body={"status": "hibernating"}),
        reply(body={"state": "stopped"}),
    )
    async with make_client(script) as client:
        assert await client.stop_task(TaskId(5)) is TaskStatus.TERMINATING
        assert await client.stop_task(TaskId(5)) is None
        with pytest.raises(ProtocolError, match="status"):
            await client.stop_task(TaskId(5))
    assert script.bodies() == [{"id": 5}] * 3


async def test_logs_query_and_tail(make_client: Callable[[Script], SuperviselyClient]) -> None:
    entries = [
        {"level": "info", "message": "b", "timestamp": "2026-03-30T14:28:57.000Z", "task_id": 5},
        {"level": "info", "message": "a", "timestamp": "2026-03-30T14:28:56.000Z", "task_id": 5},
        {"level": "warn", "message": "c", "timestamp": "2026-03-30T14:28:58.000Z", "task_id": 5},
    ]
    script = Script(reply(body=entries))
    async with make_client(script) as client:
        since = datetime(2026, 3, 30, 14, 28, 58, 816_000, tzinfo=UTC)
        got = await client.get_task_logs(TaskId(5), since=since, limit=100)
        tail = await client.tail_task_logs(TaskId(5), lines=2)
        assert await client.tail_task_logs(TaskId(5), lines=0) == []
    assert [entry.message for entry in got] == ["b", "a", "c"]
    assert [entry.message for entry in tail] == ["b", "c"]
    first, second = script.requests
    assert dict(first.url.params) == {
        "id": "5",
        "sinceTime": "2026-03-30T14:28:58.816Z",
        "limit": "100",
    }
    assert dict(second.url.params) == {"id": "5"}


async def test_list_tasks_sends_workspace_and_filters(
    make_client: Callable[[Script], SuperviselyClient],
) -> None:
    page = {"total": 1, "perPage": 20, "pagesCount": 1, "entities": [TASK]}
    script = Script(reply(body=page))
    async with make_client(script) as client:
        tasks = await client.list_tasks(WorkspaceId(1), filters=[filter_eq("type", "app")])
    assert [task.id for task in tasks] == [5]
    assert script.bodies() == [
        {
            "workspaceId": 1,
            "filter": [{"field": "type", "operator": "=", "value": "app"}],
            "sort": "id",
            "sort_order": "asc",
        }
    ]


def page_of(*entities: dict[str, Any]) -> Handler:
    return reply(
        body={"total": len(entities), "perPage": 20, "pagesCount": 1, "entities": list(entities)}
    )


async def test_resolve_app_slug(make_client: Callable[[Script], SuperviselyClient]) -> None:
    slug = "supervisely-ecosystem/sim-serve-model"
    script = Script(
        page_of({"id": 103, "slug": slug}),
        page_of(),
        page_of({"id": 1, "slug": slug}, {"id": 2, "slug": slug}),
        page_of({"id": 3, "slug": "other/app"}, {"id": 103, "slug": slug}),
    )
    async with make_client(script) as client:
        assert await client.resolve_app_slug(slug) == 103
        with pytest.raises(AppNotFound, match=slug):
            await client.resolve_app_slug(slug)
        with pytest.raises(AmbiguousApp) as ambiguous:
            await client.resolve_app_slug(slug)
        assert await client.resolve_app_slug(slug) == 103
    assert ambiguous.value.module_ids == (1, 2)
    assert script.bodies()[0] == {
        "filter": [{"field": "slug", "operator": "=", "value": slug}],
        "sort": "id",
        "sort_order": "asc",
    }


async def test_get_module_by_id_or_slug(make_client: Callable[[Script], SuperviselyClient]) -> None:
    module = {"id": 101, "slug": "a/b", "meta": {"releases": [{"version": "v9"}]}}
    script = Script(reply(body=module))
    async with make_client(script) as client:
        assert (await client.get_module(ModuleId(101))).latest_version == "v9"
        await client.get_module("a/b", version="v1")
    assert script.bodies() == [{"id": 101}, {"slug": "a/b", "version": "v1"}]


NOT_READY = {"detail": "Service not ready"}
"""The app's own 503 body (``supervisely/app/fastapi/subapp.py``)."""


async def test_readiness_is_asked_as_the_sdk_asks_it_with_a_short_timeout(
    make_client: Callable[[Script], SuperviselyClient],
) -> None:
    script = Script(reply(body={"status": "ready"}))
    async with make_client(script) as client:
        assert await client.is_app_ready(TaskId(5)) is True
    (request,) = script.requests
    assert request.url.path == "/public/api/v3/tasks.request.direct"
    assert json.loads(request.content) == {
        "taskId": 5,
        "command": "is_ready",
        "context": {"outside_request": True},
        "state": {},
        "skipResponse": False,
        "timeout": 5,
    }
    assert request.extensions["timeout"]["read"] == SETTINGS.readiness_timeout == 5.0
    assert request.extensions["timeout"]["connect"] == SETTINGS.connect_timeout


@pytest.mark.parametrize(
    "handler",
    [
        reply(503, NOT_READY),
        reply(500, {"detail": "Internal Server Error"}),
        reply(200, {"status": "starting"}),
        reply(200, {"running": True}),
        reply(400, {"error": "Bad request", "details": {"message": "Task 5 is not running"}}),
    ],
    ids=["app-503", "app-500", "other-status", "no-status", "server-refuses"],
)
async def test_an_app_that_answers_anything_but_ready_is_not_ready_and_not_asked_again(
    make_client: Callable[[Script], SuperviselyClient], handler: Handler
) -> None:
    script = Script(handler)
    async with make_client(script) as client:
        assert await client.is_app_ready(TaskId(5)) is False
    assert len(script.requests) == 1, "the app's answer is a result, not a failure to retry"
    assert script.sleeps == []


@pytest.mark.parametrize(
    ("handler", "cause"),
    [
        (reply(503, b"<html><title>503 Service Temporarily Unavailable</title></html>"), "503"),
        (reply(502, {"error": "Bad gateway", "details": {"message": "upstream"}}), "502"),
        (fail(httpx.ConnectError, "refused"), "ConnectError"),
        (fail(httpx.ReadTimeout, "timed out"), "ReadTimeout"),
    ],
    ids=["proxy-page", "platform-5xx", "connect", "timeout"],
)
async def test_a_failing_server_is_told_from_an_app_that_is_not_ready(
    make_client: Callable[[Script], SuperviselyClient], handler: Handler, cause: str
) -> None:
    script = Script(handler)
    async with make_client(script) as client:
        with pytest.raises(Transient, match=cause) as caught:
            await client.is_app_ready(TaskId(5))
    assert caught.value.attempts == len(script.requests) == SETTINGS.readiness_attempts == 2
    assert caught.value.method == "tasks.request.direct"


async def test_readiness_of_an_unknown_task_or_with_a_bad_token_raises(
    make_client: Callable[[Script], SuperviselyClient],
) -> None:
    missing = {"error": "Not found", "details": {"message": "Task with id 5 not found"}}
    script = Script(reply(404, missing), reply(401, {"error": "Unauthorized"}))
    async with make_client(script) as client:
        with pytest.raises(TaskNotFound):
            await client.is_app_ready(TaskId(5))
        with pytest.raises(Unauthorized):
            await client.is_app_ready(TaskId(5))
