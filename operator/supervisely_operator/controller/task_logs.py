"""A SuperviselyTask's log from the command line (``supervisely-operator logs slytask/NAME``).

The resource says which task (its ``status.taskId``, or one of ``previousTaskIds``) and which
credentials (its ``credentialsSecretRef``, read from its namespace with the user's own Kubernetes
credentials, else ``SERVER_ADDRESS``/``API_TOKEN`` of the environment: the operator's rule, through
the operator's :class:`ClientPool`). The log is read as the official SDK's ``get_logs`` reads it:
``tasks.log.download`` with ``sinceTime``, page after page, and again while following.

Whether the server's ``sinceTime`` is inclusive is unknown (the API brief says so), so each read
asks from one millisecond before the last line it has, and drops what it already gave: no line
is lost or repeated either way, unless two adjacent milliseconds hold more lines than a page
(1,000), which ``sinceTime`` cannot page through. Every message here names what to fix and never
the token.
"""

import asyncio
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from supervisely_operator.api import SecretReference, SuperviselyTaskStatus
from supervisely_operator.api.status import PREVIOUS_TASK_IDS_LIMIT
from supervisely_operator.controller.credentials import ClientPool, Credentials
from supervisely_operator.controller.kube import KubeApi, KubeRefused, ObjectGone
from supervisely_operator.remote import CredentialsUnavailable
from supervisely_operator.supervisely import (
    ClientSettings,
    LogEntry,
    SuperviselyClient,
    SuperviselyError,
    TaskId,
    TaskNotFound,
    TaskStatus,
    Transient,
    Unauthorized,
)

PAGE_SIZE: Final = 1000
"""Lines asked per ``tasks.log.download``; a server may answer with fewer."""
FOLLOW_INTERVAL: Final = 2.0
"""Seconds between reads while following, as the operator's transition polls."""
ENDED: Final = frozenset({TaskStatus.FINISHED, TaskStatus.ERROR, TaskStatus.STOPPED})
_STEP_BACK: Final = timedelta(milliseconds=1)


class LogsRefused(Exception):
    """Why the log cannot be shown, in words for the user (the CLI prints it, no traceback)."""


_DURATION = re.compile(r"^(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?$")


def parse_since(value: str, *, now: datetime) -> datetime:
    """``--since``: a duration back from ``now`` (``90s``, ``10m``, ``1h30m``, as kubectl's) or
    an RFC 3339 time with its zone (``2026-12-07T10:00:00Z``, as kubectl's ``--since-time``)."""
    match = _DURATION.match(value)
    if value and match is not None:
        hours, minutes, seconds = (int(match[part] or 0) for part in "hms")
        return now - timedelta(hours=hours, minutes=minutes, seconds=seconds)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise LogsRefused(
            f"--since {value!r} is neither a duration (90s, 10m, 1h30m) nor an RFC 3339 time "
            "with a zone (2026-12-07T10:00:00Z)"
        )
    return moment


@dataclass(frozen=True)
class LogRequest:
    """What the user asked for."""

    namespace: str
    name: str
    task_id: int | None = None
    since: datetime | None = None
    tail: int | None = None
    follow: bool = False


@dataclass(frozen=True)
class ChosenTask:
    """The task whose log is shown, and a note for the user when it is not the obvious one."""

    task_id: int
    note: str | None = None


def choose_task(status: SuperviselyTaskStatus, request: LogRequest) -> ChosenTask:
    """The current task, or the one asked for if it is (or was) the resource's."""
    resource = f"slytask/{request.name}"
    tasks = [*status.previous_task_ids, *([status.task_id] if status.task_id else [])]
    if request.task_id is not None:
        if request.task_id not in tasks:
            known = ", ".join(str(task) for task in reversed(tasks)) or "none yet"
            raise LogsRefused(
                f"task {request.task_id} is not one of {resource}'s tasks (newest first: {known}; "
                f"status.previousTaskIds keeps the last {PREVIOUS_TASK_IDS_LIMIT})"
            )
        return ChosenTask(request.task_id)
    if status.task_id is not None:
        return ChosenTask(status.task_id)
    if status.previous_task_ids:
        last = status.previous_task_ids[-1]
        phase = status.phase or "Pending"
        return ChosenTask(last, f"{resource} has no current task ({phase}); its last was {last}")
    if status.start_request is not None:
        raise LogsRefused(
            f"{resource} has no task yet: a start was requested at "
            f"{status.start_request.requested_at.isoformat()} and Supervisely has not answered it"
        )
    phase = status.phase or "not reconciled yet"
    raise LogsRefused(f"{resource} has no task yet (phase {phase}); its log appears once it starts")


class TaskLog:
    """One task's log, read in pages with ``sinceTime``; each call returns the lines not yet
    returned, oldest first."""

    def __init__(
        self,
        client: SuperviselyClient,
        task_id: int,
        *,
        since: datetime | None = None,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self._client = client
        self._task_id = TaskId(task_id)
        self._since = since
        self._page_size = page_size
        self._last: datetime | None = None
        self._at_last: Counter[tuple[str, str]] = Counter()
        """The lines already returned that carry the latest timestamp, by (level, message)."""

    async def new_lines(self) -> list[LogEntry]:
        """Every line written since the last call (the first call: since ``since``)."""
        lines: list[LogEntry] = []
        back = _STEP_BACK
        while True:
            since = self._since if self._last is None else self._last - back
            page = await self._client.get_task_logs(
                self._task_id, since=since, limit=self._page_size
            )
            fresh = self._fresh(page)
            lines.extend(fresh)
            if len(page) < self._page_size:
                return lines
            if fresh:
                back = _STEP_BACK
            elif back > -_STEP_BACK:
                # A full page of lines already given: the lines about the cursor's millisecond
                # outnumber a page, which sinceTime cannot page through. Ask from that
                # millisecond, then from the next (its surplus is skipped): never stuck.
                back -= _STEP_BACK
            else:
                return lines

    def _fresh(self, page: Sequence[LogEntry]) -> list[LogEntry]:
        """The lines of ``page`` not returned before; moves the cursor past them."""
        fresh = []
        seen = Counter(self._at_last)
        for entry in page:
            stamp = entry.timestamp
            if stamp is not None and self._last is not None:
                if stamp < self._last:
                    continue
                key = (entry.level, entry.message)
                if stamp == self._last and seen[key] > 0:
                    seen[key] -= 1
                    continue
            fresh.append(entry)
            if stamp is None:
                continue
            if self._last is None or stamp > self._last:
                self._last, self._at_last = stamp, Counter()
            self._at_last[(entry.level, entry.message)] += 1
        return fresh

    async def ended(self) -> bool:
        """Whether the task has ended (or is gone): no line comes after this."""
        try:
            info = await self._client.get_task(self._task_id)
        except TaskNotFound:
            return True
        return info.status in ENDED


def format_entry(entry: LogEntry, *, timestamps: bool) -> str:
    """One line of output: the message, after its time and level when asked."""
    if not timestamps:
        return entry.message
    stamp = entry.timestamp.isoformat().replace("+00:00", "Z") if entry.timestamp else "-"
    return f"{stamp} {entry.level:<7} {entry.message}"


async def show_logs(
    kube: KubeApi,
    request: LogRequest,
    *,
    environment: Credentials | None,
    write: Callable[[LogEntry], None],
    note: Callable[[str], None],
    interval: float = FOLLOW_INTERVAL,
    settings: ClientSettings | None = None,
) -> None:
    """Write the task's log line by line; follow it until the task ends when asked."""
    obj = await _resource(kube, request)
    status = SuperviselyTaskStatus.model_validate(obj.get("status") or {})
    chosen = choose_task(status, request)
    if chosen.note:
        note(chosen.note)
    secret = (obj.get("spec") or {}).get("credentialsSecretRef")
    reference = SecretReference.model_validate(secret) if secret else None
    source = (
        f"the Secret {request.namespace}/{reference.name} (spec.credentialsSecretRef)"
        if reference is not None
        else "SERVER_ADDRESS and API_TOKEN of this environment"
    )
    pool = ClientPool(
        kube=kube,
        default=environment,
        settings=settings or ClientSettings(),
        secret_cache_seconds=0,
    )
    try:
        client = await _client(pool, request, reference)
    except BaseException:
        await pool.aclose()
        raise
    try:
        log = TaskLog(client, chosen.task_id, since=request.since)
        await _copy(log, request, write=write, interval=interval)
    except Unauthorized as refused:
        raise LogsRefused(
            f"Supervisely ({client.server}) refused the API token from {source} "
            f"(HTTP {refused.status}): fix that token"
        ) from None
    except TaskNotFound:
        raise LogsRefused(
            f"task {chosen.task_id} no longer exists on Supervisely ({client.server})"
        ) from None
    except Transient as outage:
        raise LogsRefused(f"Supervisely ({client.server}) did not answer: {outage}") from None
    except SuperviselyError as error:
        raise LogsRefused(f"Supervisely ({client.server}): {error}") from None
    finally:
        await pool.aclose()


async def _resource(kube: KubeApi, request: LogRequest) -> dict[str, Any]:
    try:
        return await kube.get(namespace=request.namespace, name=request.name)
    except ObjectGone:
        raise LogsRefused(
            f"superviselytask {request.name!r} not found in namespace {request.namespace!r}"
        ) from None
    except KubeRefused as error:
        raise LogsRefused(
            f"the Kubernetes API refused to read slytask/{request.name}: {error}"
        ) from None


async def _client(
    pool: ClientPool, request: LogRequest, reference: SecretReference | None
) -> SuperviselyClient:
    try:
        return await pool.client_for(namespace=request.namespace, secret_ref=reference)
    except CredentialsUnavailable as error:
        raise LogsRefused(
            f"no usable Supervisely credentials for slytask/{request.name}: {error.message}"
        ) from None


async def _copy(
    log: TaskLog, request: LogRequest, *, write: Callable[[LogEntry], None], interval: float
) -> None:
    lines = await log.new_lines()
    if request.tail is not None:
        lines = lines[-request.tail :] if request.tail > 0 else []
    for line in lines:
        write(line)
    if not request.follow:
        return
    ended = False
    while not ended:
        # Asked before the read, so that a read after the end is the last: nothing is missed.
        ended = await log.ended()
        if not ended:
            await asyncio.sleep(interval)
        for line in await log.new_lines():
            write(line)
