"""Error bodies (section 5 of the API brief) and the messages and reasons of typed errors."""

import json

import pytest

from supervisely_operator.api.reasons import REASONS, Reason, Site
from supervisely_operator.supervisely import (
    AgentId,
    AgentNotFound,
    AmbiguousApp,
    AppNotFound,
    ModuleId,
    MultipleTasksStarted,
    NotFound,
    PaginationMismatch,
    ProtocolError,
    Rejected,
    ServerMessage,
    StartOutcomeUnknown,
    SuperviselyError,
    TaskId,
    TaskNotFound,
    Transient,
    Unauthorized,
)
from supervisely_operator.supervisely.errors import parse_error_body


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"error": "Unauthorized", "details": {"message": "Invalid API token"}},
            ServerMessage(error="Unauthorized", message="Invalid API token"),
        ),
        (
            {"error": "Validation error", "details": [{"message": '"moduleId" must be a number'}]},
            ServerMessage(error="Validation error", message='"moduleId" must be a number'),
        ),
        ({"error": "Agent is not running"}, ServerMessage(error="Agent is not running")),
        ({"details": {"message": "only details"}}, ServerMessage(message="only details")),
        ({"error": "E", "details": []}, ServerMessage(error="E")),
        ({"error": "E", "details": ["not an object"]}, ServerMessage(error="E")),
        ({"error": "E", "details": {"message": 42}}, ServerMessage(error="E")),
        ({"error": 5, "details": "text"}, ServerMessage(snippet='{"error": 5, "details": "text"}')),
        ({"detail": "Service not ready"}, ServerMessage(snippet='{"detail": "Service not ready"}')),
        (["a", "list"], ServerMessage(snippet='["a", "list"]')),
    ],
    ids=[
        "object-details",
        "list-details",
        "error-only",
        "details-only",
        "empty-details-list",
        "details-list-of-non-objects",
        "non-string-message",
        "wrong-types-fall-back-to-snippet",
        "foreign-json-falls-back-to-snippet",
        "json-array",
    ],
)
def test_json_error_bodies(body: object, expected: ServerMessage) -> None:
    assert parse_error_body(json.dumps(body).encode()) == expected


def test_non_json_body_becomes_a_collapsed_snippet() -> None:
    html = b"<html>\n<head><title>502 Bad Gateway</title></head>\n</html>\n"
    parsed = parse_error_body(html)
    assert parsed == ServerMessage(
        snippet="<html> <head><title>502 Bad Gateway</title></head> </html>"
    )
    assert parsed.text == parsed.snippet


def test_long_snippets_are_truncated_and_empty_bodies_give_nothing() -> None:
    assert parse_error_body(b"x" * 1000).snippet == "x" * 200 + "..."
    assert parse_error_body(b"") == ServerMessage()
    assert parse_error_body(b"  \n ").text == ""


def test_undecodable_bytes_do_not_raise() -> None:
    assert parse_error_body(b"\xff\xfe oops").snippet is not None


@pytest.mark.parametrize(
    ("message", "text"),
    [
        (
            ServerMessage(error="Unauthorized", message="Invalid API token"),
            "Unauthorized: Invalid API token",
        ),
        (ServerMessage(error="Same", message="Same"), "Same"),
        (ServerMessage(message="m"), "m"),
        (ServerMessage(error="e"), "e"),
        (ServerMessage(snippet="s"), "s"),
        (ServerMessage(), ""),
    ],
)
def test_server_message_text(message: ServerMessage, text: str) -> None:
    assert message.text == text


def test_rejected_message_quotes_the_server() -> None:
    error = Rejected(
        method="tasks.run.app", status=400, server=ServerMessage(error="Agent is not running")
    )
    assert str(error) == "Supervisely rejected tasks.run.app (400): Agent is not running"
    assert (error.method, error.status, error.reason) == ("tasks.run.app", 400, "Rejected")


def test_messages_without_server_text_have_no_dangling_colon() -> None:
    error = Unauthorized(method="tasks.info", status=401, server=ServerMessage())
    assert str(error) == "Supervisely refused the API token for tasks.info (401)"


def every_error() -> list[SuperviselyError]:
    server = ServerMessage(error="E", message="M")
    return [
        Unauthorized(method="tasks.info", status=403, server=server),
        NotFound(method="workspaces.info", server=server),
        TaskNotFound(method="tasks.info", task_id=TaskId(9), server=server),
        AgentNotFound(method="agents.info", agent_id=AgentId(3), server=server),
        AppNotFound(method="ecosystem.list", app="team/app"),
        Rejected(method="tasks.run.app", status=422, server=server),
        Transient(method="tasks.info", cause="HTTP 503: busy", attempts=5, status=503),
        StartOutcomeUnknown(method="tasks.run.app", cause="ReadTimeout: timed out", attempts=1),
        ProtocolError("the reply is not JSON", method="tasks.info", status=200),
        PaginationMismatch(method="tasks.list", total=3, collected=2),
        MultipleTasksStarted(method="tasks.run.app", task_ids=[TaskId(1), TaskId(2)]),
        AmbiguousApp(method="ecosystem.list", slug="a/b", module_ids=[ModuleId(1), ModuleId(2)]),
    ]


def test_reasons_are_the_documented_constants() -> None:
    assert [error.reason for error in every_error()] == [
        Reason.UNAUTHORIZED,
        Reason.NOT_FOUND,
        Reason.TASK_NOT_FOUND,
        Reason.AGENT_NOT_FOUND,
        Reason.APP_NOT_FOUND,
        Reason.REJECTED,
        Reason.UNAVAILABLE,
        Reason.START_OUTCOME_UNKNOWN,
        Reason.PROTOCOL_ERROR,
        Reason.PAGINATION_MISMATCH,
        Reason.MULTIPLE_TASKS_STARTED,
        Reason.AMBIGUOUS_APP,
    ]
    assert Reason.UNAVAILABLE == "Unavailable"


def test_every_reason_a_client_error_carries_is_declared_for_where_the_operator_puts_it() -> None:
    """A failed call sets Synced, a refused start lastError, and both post an Event."""
    for error in every_error():
        assert REASONS[error.reason].sites >= {Site.SYNCED, Site.LAST_ERROR, Site.EVENT}


def test_hierarchy_lets_callers_catch_by_intent() -> None:
    errors = {type(error): error for error in every_error()}
    assert isinstance(errors[TaskNotFound], NotFound)
    assert isinstance(errors[StartOutcomeUnknown], Transient)
    assert isinstance(errors[PaginationMismatch], ProtocolError)
    assert not isinstance(errors[MultipleTasksStarted], ProtocolError)
    assert all(isinstance(error, SuperviselyError) for error in errors.values())


def test_messages_name_what_the_user_needs() -> None:
    texts = {type(error): str(error) for error in every_error()}
    assert texts[TaskNotFound] == "Supervisely has no task 9 (tasks.info: 404)"
    assert texts[AppNotFound] == "Supervisely ecosystem has no app 'team/app' (ecosystem.list)"
    assert texts[Transient] == (
        "Supervisely is unavailable for tasks.info after 5 attempts: HTTP 503: busy"
    )
    assert "look the task up before starting again" in texts[StartOutcomeUnknown]
    assert "2 tasks for one tasks.run.app request (ids 1, 2)" in texts[MultipleTasksStarted]
    assert "stop the extras" in texts[MultipleTasksStarted]
    assert "(ids 1, 2)" in texts[AmbiguousApp]
    assert texts[PaginationMismatch].endswith("pages held 2 items but total said 3")
