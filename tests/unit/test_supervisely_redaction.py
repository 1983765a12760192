"""The API token never leaks: not in reprs, error texts, chained exceptions, nor other hosts."""

import json
from collections.abc import Awaitable, Callable

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from supervisely_operator.supervisely import (
    ClientSettings,
    ModuleId,
    StartTaskRequest,
    SuperviselyClient,
    SuperviselyError,
    TaskId,
    WorkspaceId,
)
from supervisely_operator.supervisely.auth import MASK, ApiKeyAuth, redact

TOKEN = "leaky-secret-" + "k" * 50
SETTINGS = ClientSettings(max_attempts=2, initial_backoff=0, max_backoff=0, jitter=False)


def echo(status: int, **headers: str) -> Callable[[httpx.Request], httpx.Response]:
    """A server that quotes the caller's token back in every part of its error body."""

    def handler(request: httpx.Request) -> httpx.Response:
        token = request.headers.get("x-api-key", "")
        body = {"error": f"bad {token}", "details": [{"message": f"token {token} refused"}]}
        return httpx.Response(status, json=body, headers=headers)

    return handler


def echo_text(status: int) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, text=f"<html>{request.headers['x-api-key']}</html>")

    return handler


def raise_with_token(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadError(f"reset while sending {request.headers['x-api-key']}", request=request)


def everything_about(error: BaseException) -> str:
    parts = [str(error), repr(error), repr(vars(error))]
    for linked in (error.__cause__, error.__context__):
        if linked is not None:
            parts.append(everything_about(linked))
    return " ".join(parts)


@pytest.mark.parametrize(
    "handler",
    [
        echo(400),
        echo(401),
        echo(403),
        echo(404),
        echo(422),
        echo(429),
        echo(500),
        echo(501),
        echo(503),
        echo(302, Location=f"https://elsewhere.test/?k={TOKEN}"),
        echo_text(200),
        echo_text(502),
        raise_with_token,
    ],
    ids=[
        "400",
        "401",
        "403",
        "404",
        "422",
        "429",
        "500",
        "501",
        "503",
        "redirect",
        "200-html",
        "502-html",
        "transport-error",
    ],
)
@pytest.mark.parametrize("call", ["get_task", "start_task", "get_task_logs"])
async def test_no_error_carries_the_token(
    handler: Callable[[httpx.Request], httpx.Response], call: str
) -> None:
    async def noop(seconds: float) -> None:
        return None

    transport = httpx.MockTransport(handler)
    request = StartTaskRequest(module_id=ModuleId(1), workspace_id=WorkspaceId(1))
    async with SuperviselyClient("sly.test", TOKEN, SETTINGS, transport=transport, sleep=noop) as c:
        calls: dict[str, Callable[[], Awaitable[object]]] = {
            "get_task": lambda: c.get_task(TaskId(1)),
            "get_task_logs": lambda: c.get_task_logs(TaskId(1)),
            "start_task": lambda: c.start_task(request),
        }
        with pytest.raises(SuperviselyError) as caught:
            await calls[call]()
    text = everything_about(caught.value)
    assert TOKEN not in text
    assert "x-api-key" not in text.lower()


def test_reprs_never_show_the_token() -> None:
    client = SuperviselyClient("sly.test", SecretStr(TOKEN), SETTINGS)
    texts = [
        repr(client),
        str(client),
        repr(vars(client)),
        repr(SETTINGS),
        repr(ApiKeyAuth(SecretStr(TOKEN), base_url=httpx.URL("http://sly.test/public/api/v3/"))),
        repr(StartTaskRequest(module_id=ModuleId(1), workspace_id=WorkspaceId(1))),
    ]
    for text in texts:
        assert TOKEN not in text
    assert repr(client) == f"SuperviselyClient(server='http://sly.test', token='{MASK}')"


async def test_client_closes_cleanly() -> None:
    client = SuperviselyClient("sly.test", TOKEN)
    await client.aclose()
    with pytest.raises(RuntimeError):
        await client.get_task(TaskId(1))


@pytest.mark.parametrize(
    ("url", "gets_token"),
    [
        ("http://sly.test/public/api/v3/tasks.info", True),
        ("https://sly.test/public/api/v3/tasks.info", False),
        ("http://sly.test:8080/public/api/v3/tasks.info", False),
        ("http://evil.test/public/api/v3/tasks.info", False),
        ("http://sly.test.evil.test/public/api/v3/tasks.info", False),
        ("http://sly.test/login", False),
    ],
)
def test_the_token_goes_only_to_the_configured_api(url: str, gets_token: bool) -> None:
    auth = ApiKeyAuth(SecretStr(TOKEN), base_url=httpx.URL("http://sly.test/public/api/v3/"))
    request = next(auth.auth_flow(httpx.Request("POST", url)))
    assert ("x-api-key" in request.headers) is gets_token


async def test_redirects_are_not_followed() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(307, headers={"Location": "http://evil.test/steal"})

    transport = httpx.MockTransport(handler)
    async with SuperviselyClient("sly.test", TOKEN, SETTINGS, transport=transport) as client:
        with pytest.raises(SuperviselyError, match="redirect"):
            await client.get_task(TaskId(1))
    assert seen == ["http://sly.test/public/api/v3/tasks.info"]


@given(st.text(), st.text(min_size=1).filter(lambda secret: "*" not in secret))
def test_redact_removes_every_occurrence(text: str, secret: str) -> None:
    assert secret not in redact(text + secret + text + secret, SecretStr(secret))


def test_redact_leaves_text_without_the_secret_alone() -> None:
    assert redact("nothing to hide", SecretStr(TOKEN)) == "nothing to hide"
    assert redact(json.dumps({"t": TOKEN}), SecretStr(TOKEN)) == json.dumps({"t": MASK})
