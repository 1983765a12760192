"""The Supervisely client the operator uses: start, observe, stop and inspect app tasks.

Each method builds one request body, hands it to :class:`~.transport.RpcTransport` (which owns
retries, redaction and error mapping) and parses the reply into a typed model. Methods that look
up one object by id turn the transport's generic 404 into the specific ``*NotFound`` error, so
the operator can tell "the task is gone" from "the agent is gone".
"""

import math
import re
from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
from pydantic import SecretStr

from supervisely_operator.supervisely.auth import MASK
from supervisely_operator.supervisely.errors import (
    AgentNotFound,
    AmbiguousApp,
    AppNotFound,
    MultipleTasksStarted,
    NotFound,
    ProtocolError,
    Rejected,
    RequestTooLarge,
    TaskNotFound,
)
from supervisely_operator.supervisely.ids import AgentId, ModuleId, TaskId, WorkspaceId
from supervisely_operator.supervisely.limits import ServerGate
from supervisely_operator.supervisely.models import (
    AgentInfo,
    LogEntry,
    ModuleInfo,
    ReplyShapeError,
    StartedTask,
    TaskInfo,
    TaskStatus,
)
from supervisely_operator.supervisely.pagination import collect_pages
from supervisely_operator.supervisely.payloads import (
    Filter,
    StartTaskRequest,
    filter_eq,
    format_since,
)
from supervisely_operator.supervisely.retry import Sleep, Uniform
from supervisely_operator.supervisely.settings import ClientSettings
from supervisely_operator.supervisely.transport import CallObserver, RpcTransport, WaitObserver

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_Entity = TypeVar("_Entity", TaskInfo, ModuleInfo)


def normalize_server_address(address: str) -> str:
    """The server address as the SDK reads it: no surrounding ``/``, ``http://`` if no scheme.

    Whitespace around the address is dropped too (a common artefact of Secrets made with
    ``echo``). Only http and https are accepted.
    """
    server = address.strip().strip("/")
    if not server:
        raise ValueError("the Supervisely server address is empty")
    if not _SCHEME.match(server):
        server = f"http://{server}"
    scheme, rest = server.split("://", 1)
    if scheme.lower() not in ("http", "https"):
        raise ValueError(f"the Supervisely server address must use http or https, not {scheme}")
    return f"{scheme.lower()}://{rest}"


def server_label(server: str) -> str:
    """A normalised server address as a metric label: scheme, host and port, nothing else (a
    path or user info in an address is no business of a metrics backend)."""
    url = httpx.URL(server)
    return f"{url.scheme}://{url.netloc.decode('ascii')}"


class SuperviselyClient:
    """An async client for one Supervisely server and API token.

    Use it as ``async with SuperviselyClient(server, token) as client: ...`` or call
    :meth:`aclose`. One instance holds one pooled ``httpx.AsyncClient``; share it between
    handlers. ``gate`` limits the attempts to the server (see :mod:`.limits`); pass one
    :class:`ServerGate` to every client of a server so they share its limits (default: a gate of
    this client's own, from ``settings``). ``transport`` replaces the network for unit tests;
    ``on_call`` receives one ``(method, outcome, seconds)`` per HTTP attempt for metrics, and
    ``on_wait`` one ``(method, seconds)`` for its wait at the gate; ``uniform`` and ``sleep``
    replace the jitter source and the sleep between retries (tests).
    """

    def __init__(
        self,
        server: str,
        token: str | SecretStr,
        settings: ClientSettings | None = None,
        *,
        gate: ServerGate | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        on_call: CallObserver | None = None,
        on_wait: WaitObserver | None = None,
        uniform: Uniform | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        secret = token if isinstance(token, SecretStr) else SecretStr(token)
        value = secret.get_secret_value()
        if not value.strip():
            raise ValueError("the Supervisely API token is empty")
        if value != value.strip() or any(ord(char) < 0x21 or ord(char) > 0x7E for char in value):
            raise ValueError("the Supervisely API token holds whitespace or non-ASCII characters")
        self.server = normalize_server_address(server)
        self.settings = settings or ClientSettings()
        self.gate = gate or ServerGate.for_server(self.server, self.settings)
        self._rpc = RpcTransport(
            base_url=httpx.URL(f"{self.server}/public/api/v3/"),
            token=secret,
            settings=self.settings,
            gate=self.gate,
            transport=transport,
            on_call=on_call,
            on_wait=on_wait,
            uniform=uniform,
            sleep=sleep,
        )

    def __repr__(self) -> str:
        return f"SuperviselyClient(server={self.server!r}, token={MASK!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the pooled connections; the client cannot be used afterwards."""
        await self._rpc.aclose()

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` ran."""
        return self._rpc.closed

    def session_url(self, task_id: TaskId) -> str:
        """The UI link of a session: ``{server}/apps/sessions/{task_id}`` (no request)."""
        return f"{self.server}/apps/sessions/{task_id}"

    async def start_task(self, request: StartTaskRequest) -> StartedTask:
        """Start one app session with ``tasks.run.app``.

        Not idempotent, so it is retried only after failures that prove the server did not act
        (connect errors, pool/connect timeouts, 408, 429, 503). Any other failure, and a 200
        reply that cannot be read, raises
        :class:`~supervisely_operator.supervisely.errors.StartOutcomeUnknown`: a task may
        exist, and the caller must look it up (``list_tasks``) rather than start again.
        A reply with several tasks raises
        :class:`~supervisely_operator.supervisely.errors.MultipleTasksStarted` listing them.

        Cancelling this coroutine while the request is in flight is just as ambiguous; the
        caller should record "start pending" before calling, as for ``StartOutcomeUnknown``.
        """
        method = "tasks.run.app"
        try:
            started = await self._rpc.post(
                method, request.to_body(), parse=_parse_started, idempotent=False
            )
        except RequestTooLarge as exc:
            # The app's params are the one part of a start without a size of their own.
            advice = "make the app's params smaller"
            raise RequestTooLarge(method=method, server=exc.server, advice=advice) from None
        if len(started) > 1:
            raise MultipleTasksStarted(method=method, task_ids=[task.task_id for task in started])
        return started[0]

    async def get_task(self, task_id: TaskId) -> TaskInfo:
        """``tasks.info``; :class:`TaskNotFound` when the task does not exist."""
        method = "tasks.info"
        try:
            return await self._rpc.post(method, {"id": task_id}, parse=TaskInfo.from_reply)
        except NotFound as exc:
            raise TaskNotFound(method=method, task_id=task_id, server=exc.server) from None

    async def list_tasks(
        self,
        workspace_id: WorkspaceId,
        *,
        filters: Sequence[Filter] = (),
        per_page: int | None = None,
        strict: bool = True,
    ) -> list[TaskInfo]:
        """Every task of a workspace matching ``filters`` (all pages of ``tasks.list``).

        ``per_page`` asks for larger pages from the first request on (the SDK sends none and
        takes the server's default); the server may clamp it, and later pages follow the
        ``perPage`` it answers. ``strict=False``: see :func:`.pagination.collect_pages`.
        """
        body: dict[str, Any] = {"workspaceId": workspace_id, "filter": list(filters)}
        if per_page is not None:
            body["per_page"] = per_page
        entities = await self._all_pages("tasks.list", body, strict=strict)
        return _parse_entities(TaskInfo, entities, method="tasks.list")

    async def stop_task(self, task_id: TaskId) -> TaskStatus | None:
        """``tasks.stop``; the status the server reports (``None`` if it is not one of the 8).

        Retried like a read: stopping twice is harmless. :class:`TaskNotFound` when the task
        does not exist, which a caller deleting the resource can treat as success.
        """
        method = "tasks.stop"
        try:
            reply = await self._rpc.post(method, {"id": task_id}, parse=_parse_stop_reply)
        except NotFound as exc:
            raise TaskNotFound(method=method, task_id=task_id, server=exc.server) from None
        return TaskStatus.parse(reply)

    async def get_task_logs(
        self,
        task_id: TaskId,
        *,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[LogEntry]:
        """Log lines of a task (GET ``tasks.log.download``), in the server's order.

        ``since`` (timezone-aware) asks for lines after that moment; to follow a log, pass the
        last ``timestamp`` seen. Whether the server treats it as inclusive is unknown, so a
        follower should drop lines it has already seen.
        """
        if limit is not None and limit < 1:
            raise ValueError("limit must be at least 1")
        method = "tasks.log.download"
        query: dict[str, str | int] = {"id": task_id}
        if since is not None:
            query["sinceTime"] = format_since(since)
        if limit is not None:
            query["limit"] = limit
        try:
            return await self._rpc.get(method, query, parse=LogEntry.list_from_reply)
        except NotFound as exc:
            raise TaskNotFound(method=method, task_id=task_id, server=exc.server) from None

    async def tail_task_logs(self, task_id: TaskId, *, lines: int) -> list[LogEntry]:
        """The last ``lines`` log lines, oldest first.

        The server's ``limit`` semantics (first or last N) and ordering are unknown, so this
        downloads the whole log, orders it by timestamp (stable, lines without one keep their
        place at the front) and keeps the last ``lines``. Fine for the short logs of app
        sessions; use :meth:`get_task_logs` with ``since`` to follow a long log.
        """
        if lines < 0:
            raise ValueError("lines must not be negative")
        if lines == 0:
            return []
        entries = await self.get_task_logs(task_id)
        ordered = sorted(
            entries, key=lambda entry: (entry.timestamp is not None, entry.timestamp or 0)
        )
        return ordered[-lines:]

    async def is_app_ready(self, task_id: TaskId) -> bool:
        """Whether the task's app answers ``is_ready`` with ``{"status": "ready"}``, as the SDK's
        ``TaskApi.is_ready`` asks it (``tasks.request.direct``).

        The reply is the app's own, so who refused matters:

        - the app itself (a non-200 with its own JSON body, e.g. its 503 ``{"detail": "Service
          not ready"}``), or the server refusing to pass the command on (another 4xx, e.g. for a
          task that does not run): False, at once and never retried;
        - the server or the network failing (a 5xx of the platform or its proxy, a timeout, a
          dropped connection): retried within ``readiness_attempts``, then :class:`Transient`,
          so a caller can tell "not ready" from "cannot tell now";
        - 401/403: :class:`Unauthorized`; an unknown task: :class:`TaskNotFound`.

        The wait for the app is ``readiness_timeout`` (the body's ``timeout`` asks the server to
        give up as soon).
        """
        method = "tasks.request.direct"
        timeout = self.settings.readiness_timeout
        body = {
            "taskId": task_id,
            "command": "is_ready",
            "context": {"outside_request": True},
            "state": {},
            "skipResponse": False,
            "timeout": math.ceil(timeout),
        }
        try:
            return await self._rpc.post(
                method,
                body,
                parse=_is_ready_reply,
                app_answer=_app_refusal,
                read_timeout=timeout,
                max_attempts=self.settings.readiness_attempts,
            )
        except NotFound as exc:
            raise TaskNotFound(method=method, task_id=task_id, server=exc.server) from None
        except Rejected:
            return False

    async def resolve_app_slug(self, slug: str) -> ModuleId:
        """The module id of an ecosystem slug such as ``supervisely-ecosystem/hello-world-app``.

        :class:`AppNotFound` when no module has it, :class:`AmbiguousApp` when several do.
        Entities whose ``slug`` differs are ignored, in case a server ignores the filter.
        """
        method = "ecosystem.list"
        entities = await self._all_pages(method, {"filter": [filter_eq("slug", slug)]})
        modules = _parse_entities(ModuleInfo, entities, method=method)
        hits = [module.id for module in modules if module.slug in ("", slug)]
        if not hits:
            raise AppNotFound(method=method, app=slug)
        if len(hits) > 1:
            raise AmbiguousApp(method=method, slug=slug, module_ids=hits)
        return hits[0]

    async def get_module(self, module: ModuleId | str, *, version: str | None = None) -> ModuleInfo:
        """``ecosystem.info`` by module id or slug; ``latest_version`` is the newest release."""
        method = "ecosystem.info"
        body: dict[str, Any] = {"slug": module} if isinstance(module, str) else {"id": module}
        if version is not None:
            body["version"] = version
        try:
            return await self._rpc.post(method, body, parse=ModuleInfo.from_reply)
        except NotFound as exc:
            raise AppNotFound(method=method, app=module, server=exc.server) from None

    async def get_agent(self, agent_id: AgentId) -> AgentInfo:
        """``agents.info`` (without the agent's token); :class:`AgentNotFound` on 404."""
        method = "agents.info"
        try:
            return await self._rpc.post(method, {"id": agent_id}, parse=AgentInfo.from_reply)
        except NotFound as exc:
            raise AgentNotFound(method=method, agent_id=agent_id, server=exc.server) from None

    async def _all_pages(
        self, method: str, body: dict[str, Any], *, strict: bool = True
    ) -> list[dict[str, Any]]:
        async def fetch(page_body: dict[str, Any]) -> object:
            return await self._rpc.post(method, page_body, parse=_as_is)

        return await collect_pages(method=method, body=body, fetch=fetch, strict=strict)


def _as_is(reply: object) -> object:
    return reply


def _parse_started(reply: object) -> list[StartedTask]:
    started = StartedTask.list_from_reply(reply)
    if not started:
        raise ReplyShapeError("the array of started tasks is empty")
    return started


def _is_ready_reply(reply: object) -> bool:
    # The app's own 200 reply: anything but {"status": "ready"} means "not ready" (the SDK would
    # raise KeyError on a reply without "status"; a probe has no use for that).
    return isinstance(reply, dict) and reply.get("status") == "ready"


def _app_refusal(response: httpx.Response) -> bool | None:
    """False for a refusal in the app's own words, None for one of the server or a proxy.

    Apps answer through FastAPI (``supervisely/app/fastapi/subapp.py``): a JSON object with
    ``detail``. The platform's errors carry ``error`` (section 5 of the API brief); a proxy's are
    HTML pages.
    """
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict) and "detail" in body and "error" not in body:
        return False
    return None


def _parse_stop_reply(reply: object) -> str:
    status = reply.get("status") if isinstance(reply, dict) else None
    if not isinstance(status, str):
        raise ReplyShapeError("expected an object with a string 'status'")
    return status


def _parse_entities(
    model: type[_Entity], entities: list[dict[str, Any]], *, method: str
) -> list[_Entity]:
    try:
        return [model.from_reply(entity) for entity in entities]
    except ReplyShapeError as exc:
        raise ProtocolError(f"unexpected list entity: {exc}", method=method) from None
