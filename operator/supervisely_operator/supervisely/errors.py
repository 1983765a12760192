"""Typed errors of the Supervisely client, and the parser for Supervisely's error bodies.

The operator turns these into Kubernetes conditions and Events, so each error carries a
``reason`` (CamelCase, from the operator's one list of reasons in
:mod:`supervisely_operator.api.reasons`), the RPC ``method`` it came from, the HTTP
``status`` when there was one, and a message written for the person reading ``kubectl describe``.
No error ever holds the API token, an httpx request, or its headers: the transport stores a
sanitised description of the cause instead of chaining the httpx exception.

The hierarchy says what the caller can do about it::

    SuperviselyError
      Unauthorized        401/403: fix the token; retrying will not help
      NotFound            404 (TaskNotFound, AgentNotFound, AppNotFound when the id is known)
      Rejected            any other 4xx: the request itself must change
        RequestTooLarge   413: the body is more than the server (or its proxy) accepts
      Transient           5xx, 429, timeouts, connection errors after the retries ran out
        StartOutcomeUnknown  tasks.run.app failed in a way that may have created a task
      ProtocolError       the reply does not look like Supervisely's API
        PaginationMismatch, AmbiguousApp
      MultipleTasksStarted  one start created several tasks: stop the extras
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from supervisely_operator.api.reasons import Reason
from supervisely_operator.supervisely.ids import AgentId, ModuleId, TaskId

_SNIPPET_CHARS = 200


@dataclass(frozen=True)
class ServerMessage:
    """What an error reply said, per section 5 of the API brief.

    ``error`` is the top-level ``error`` string, ``message`` the ``details.message`` (or the first
    ``details[].message``), ``snippet`` the start of a body that was not such JSON (an HTML page
    from a proxy, plain text). Any of them may be missing.
    """

    error: str | None = None
    message: str | None = None
    snippet: str | None = None

    @property
    def text(self) -> str:
        """One line for humans: ``"<error>: <message>"``, or whichever part exists."""
        if self.error and self.message and self.error != self.message:
            return f"{self.error}: {self.message}"
        return self.message or self.error or self.snippet or ""


def parse_error_body(body: bytes) -> ServerMessage:
    """Read ``{"error", "details": {"message"} | [{"message"}]}``; never raises."""
    text = body.decode("utf-8", errors="replace")
    try:
        data = json.loads(text)
    except ValueError:
        return ServerMessage(snippet=_snippet(text))
    if not isinstance(data, dict):
        return ServerMessage(snippet=_snippet(text))
    error = data.get("error")
    details = data.get("details")
    if isinstance(details, list):
        details = details[0] if details else None
    message = details.get("message") if isinstance(details, dict) else None
    parsed = ServerMessage(
        error=error if isinstance(error, str) and error else None,
        message=message if isinstance(message, str) and message else None,
    )
    if parsed.error is None and parsed.message is None:
        return ServerMessage(snippet=_snippet(text))
    return parsed


def _snippet(text: str) -> str | None:
    collapsed = " ".join(text.split())
    if not collapsed:
        return None
    if len(collapsed) > _SNIPPET_CHARS:
        return collapsed[:_SNIPPET_CHARS] + "..."
    return collapsed


def _suffix(server: ServerMessage) -> str:
    return f": {server.text}" if server.text else ""


class SuperviselyError(Exception):
    """Base of every error the client raises on purpose."""

    reason: ClassVar[str] = Reason.PROTOCOL_ERROR

    def __init__(self, message: str, *, method: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.status = status

    def __str__(self) -> str:
        return self.message


class Unauthorized(SuperviselyError):
    """401/403: the token is missing, wrong, or lacks permission. Not retried."""

    reason = Reason.UNAUTHORIZED

    def __init__(self, *, method: str, status: int, server: ServerMessage) -> None:
        super().__init__(
            f"Supervisely refused the API token for {method} ({status}){_suffix(server)}",
            method=method,
            status=status,
        )
        self.server = server


class NotFound(SuperviselyError):
    """404 for an object the call did not name in a way the client could type."""

    reason = Reason.NOT_FOUND

    def __init__(
        self,
        *,
        method: str,
        server: ServerMessage,
        message: str | None = None,
    ) -> None:
        super().__init__(
            message or f"Supervisely found nothing for {method} (404){_suffix(server)}",
            method=method,
            status=404,
        )
        self.server = server


class TaskNotFound(NotFound):
    """The task does not exist (any more)."""

    reason = Reason.TASK_NOT_FOUND

    def __init__(self, *, method: str, task_id: TaskId, server: ServerMessage) -> None:
        super().__init__(
            method=method,
            server=server,
            message=f"Supervisely has no task {task_id} ({method}: 404)",
        )
        self.task_id = task_id


class AgentNotFound(NotFound):
    """The agent does not exist or is not visible to this token."""

    reason = Reason.AGENT_NOT_FOUND

    def __init__(self, *, method: str, agent_id: AgentId, server: ServerMessage) -> None:
        super().__init__(
            method=method,
            server=server,
            message=f"Supervisely has no agent {agent_id} ({method}: 404)",
        )
        self.agent_id = agent_id


class AppNotFound(NotFound):
    """No ecosystem module has this slug or id."""

    reason = Reason.APP_NOT_FOUND

    def __init__(
        self,
        *,
        method: str,
        app: str | ModuleId,
        server: ServerMessage | None = None,
    ) -> None:
        super().__init__(
            method=method,
            server=server or ServerMessage(),
            message=f"Supervisely ecosystem has no app {app!r} ({method})",
        )
        self.app = app


class Rejected(SuperviselyError):
    """A 4xx other than 401/403/404: the request itself must change; never retried.

    ``server`` holds the parsed error body so the operator can show the server's own words.
    """

    reason = Reason.REJECTED

    def __init__(
        self, *, method: str, status: int, server: ServerMessage, message: str | None = None
    ) -> None:
        super().__init__(
            message or f"Supervisely rejected {method} ({status}){_suffix(server)}",
            method=method,
            status=status,
        )
        self.server = server


class RequestTooLarge(Rejected):
    """413: the server, or the proxy in front of it (nginx's ``client_max_body_size``), refuses
    a body this large. The request must shrink; ``advice`` says which part of it can.

    A proxy answers with an HTML page, which says nothing the status does not; only a JSON error
    body from Supervisely itself is quoted.
    """

    def __init__(self, *, method: str, server: ServerMessage, advice: str | None = None) -> None:
        quoted = ServerMessage(error=server.error, message=server.message).text
        super().__init__(
            method=method,
            status=413,
            server=server,
            message=(
                f"Supervisely rejected {method} (413): the request is larger than the server "
                "accepts" + (f" ({quoted})" if quoted else "") + (f"; {advice}" if advice else "")
            ),
        )


class Transient(SuperviselyError):
    """The server or the network failed and the client's retries ran out (or were not allowed).

    Also raised at once, without retries, for a 5xx outside the SDK's retryable set (501, 505,
    507, ...): the fault is the server's, not the request's, so the operator should try again
    later on its own schedule rather than report the spec as wrong.

    ``cause`` is a sanitised one-line description of the last failure (``"HTTP 503: ..."``,
    ``"ReadTimeout: ..."``), ``attempts`` how many requests were sent, and ``retry_after`` the
    server's ``Retry-After`` in seconds when it asked for a pause longer than the client will
    block: the caller should requeue after that long.
    """

    reason = Reason.UNAVAILABLE

    def __init__(
        self,
        *,
        method: str,
        cause: str,
        attempts: int,
        status: int | None = None,
        retry_after: float | None = None,
        message: str | None = None,
    ) -> None:
        plural = "" if attempts == 1 else "s"
        super().__init__(
            message
            or f"Supervisely is unavailable for {method} after {attempts} attempt{plural}: {cause}",
            method=method,
            status=status,
        )
        self.cause = cause
        self.attempts = attempts
        self.retry_after = retry_after


class StartOutcomeUnknown(Transient):
    """``tasks.run.app`` failed after the request may have reached the server.

    A task may or may not exist now. The caller must look it up (for example ``list_tasks`` in
    the workspace, matching the task name) and must not simply start again.
    """

    reason = Reason.START_OUTCOME_UNKNOWN

    def __init__(
        self,
        *,
        method: str,
        cause: str,
        attempts: int,
        status: int | None = None,
    ) -> None:
        super().__init__(
            method=method,
            cause=cause,
            attempts=attempts,
            status=status,
            message=(
                f"Supervisely may or may not have started the task ({method}: {cause}); "
                "look the task up before starting again"
            ),
        )


class ProtocolError(SuperviselyError):
    """The reply cannot be understood: not JSON, wrong shape, a redirect, a status other than 200.

    ``what`` describes the problem without quoting the reply.
    """

    reason = Reason.PROTOCOL_ERROR

    def __init__(self, what: str, *, method: str, status: int | None = None) -> None:
        super().__init__(
            f"Supervisely answered {method} unexpectedly: {what}",
            method=method,
            status=status,
        )
        self.what = what


class PaginationMismatch(ProtocolError):
    """The pages did not add up to ``total``: the list changed while it was read, or a bug."""

    reason = Reason.PAGINATION_MISMATCH

    def __init__(self, *, method: str, total: int, collected: int) -> None:
        super().__init__(
            f"pages held {collected} items but total said {total}",
            method=method,
        )
        self.total = total
        self.collected = collected


class MultipleTasksStarted(SuperviselyError):
    """One ``tasks.run.app`` created several tasks; the operator owns exactly one per resource.

    This happens when several ``usersIds`` are sent without multi-user mode. ``task_ids`` lists
    every created task, in reply order, so the caller can keep one and stop the others.
    """

    reason = Reason.MULTIPLE_TASKS_STARTED

    def __init__(self, *, method: str, task_ids: Sequence[TaskId]) -> None:
        ids = ", ".join(str(task_id) for task_id in task_ids)
        super().__init__(
            f"Supervisely created {len(task_ids)} tasks for one {method} request (ids {ids}) "
            "where exactly one was expected; stop the extras",
            method=method,
            status=200,
        )
        self.task_ids = tuple(task_ids)


class AmbiguousApp(ProtocolError):
    """Several ecosystem modules share one slug (the SDK calls this "Ecosystem is broken")."""

    reason = Reason.AMBIGUOUS_APP

    def __init__(self, *, method: str, slug: str, module_ids: Sequence[ModuleId]) -> None:
        ids = ", ".join(str(module_id) for module_id in module_ids)
        super().__init__(
            f"{len(module_ids)} ecosystem modules have the slug {slug!r} (ids {ids})",
            method=method,
        )
        self.slug = slug
        self.module_ids = tuple(module_ids)
