"""The real operator, in-process, against kmock as its Kubernetes API.

Why this tier exists: the local control plane of the e2e tests has no core v1 API, so Secrets
cannot be read there (its front serves Events from memory, a stand-in). Here kmock (by kopf's
author) stands in for the whole Kubernetes API, the project's simulator stands in for
Supervisely, and nothing of the operator is mocked: kopf runs our ``registry``
(controller/registry.py) with the same options as ``supervisely-operator run``, its login
handler and our ``KubeApi`` both read a kubeconfig that points at kmock, and every request is
recorded for the tests to assert on. kopf runs on an event loop of its own (see
:class:`OperatorThread`); kmock and the simulator run on the test's.

kmock's emulator keeps objects in memory but, by design, treats writes as plain dict merges.
:class:`ApiServerEmulator` adds the few semantics of a real API server the operator depends on
(resourceVersion preconditions above all); everything else is kmock's own behaviour.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import itertools
import json
import secrets
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar
from uuid import uuid4

import aiohttp.web
import attrs
import jsonpatch
import jsonpointer
import kmock
import kopf
import kubernetes
import yaml
from typing_extensions import override

from supervisely_operator.api import (
    SecretReference,
    SuperviselyTaskSpec,
    SuperviselyTaskStatus,
    resource,
)
from supervisely_operator.controller.runner import operator_options
from supervisely_operator.controller.settings import OperatorSettings
from supervisely_operator.reconcile.situation import (
    CallFailed,
    NothingToObserve,
    Observation,
    Started,
    StartOutcome,
    Timing,
)

# The official client imports its API classes lazily, and CoreV1Api alone takes a couple of
# seconds to import: pay that once at collection, not inside the first test's time budget.
kubernetes.client.CoreV1Api  # noqa: B018

TASKS = kmock.resource(resource.GROUP, resource.VERSION, resource.PLURAL)
CRONS = kmock.resource(resource.GROUP, resource.VERSION, resource.CRON_PLURAL)
EVENTS = kmock.resource("", "v1", "events")
SECRETS = kmock.resource("", "v1", "secrets")
NAMESPACES = kmock.resource("", "v1", "namespaces")

CONFLICT_MESSAGE = (
    'Operation cannot be fulfilled on {plural} "{name}": the object has been modified; '
    "please apply your changes to the latest version and try again"
)
"""kube-apiserver's words for a failed resourceVersion precondition."""

_T = TypeVar("_T")
ObjectKey = tuple[kmock.resource, str | None, str]


WriteHook = Callable[[kmock.Request], Mapping[str, Any] | None]
"""Sees a write before it is applied; a merge patch it returns lands first, as another client's
(to the status subresource when it holds ``status``, else to the object)."""


@attrs.define(kw_only=True)
class ApiServerEmulator(kmock.KubernetesEmulator):
    """kmock's in-memory Kubernetes API, with the write semantics the operator relies on.

    - Creation assigns ``uid``, ``resourceVersion``, ``creationTimestamp``, ``generation`` and,
      for ``generateName`` (kopf's Events use it), a name: kmock alone refuses the second
      Event with 409, as it keys objects by name.
    - Every write moves ``resourceVersion``. A merge patch that carries
      ``metadata.resourceVersion`` is a precondition: 409 Conflict when it is not current. A
      JSON patch whose ``test`` op fails gets 422 (kopf guards its finalizer patch so).
    - Writes to ``/status`` change only ``status``; writes to the object never change it, unless
      the resource has no status subresource (kopf's peering objects); ``generation`` moves
      when ``spec`` does.
    - :meth:`before_write` shows a test each write before it is applied, and
      :meth:`race_next_write` puts another client's write right in front of one of the
      operator's: a genuine conflict rather than a canned 409 reply.

    Precondition check and write happen under kmock's own lock, as one step. (kmock's own
    ``>>`` sinks cannot serve here: a reaction with a sink and no payload fires only once.)
    Deletion is kmock's own; these tests delete nothing (the e2e tests cover deletion).
    """

    _versions: Iterator[int] = attrs.field(factory=lambda: itertools.count(1), init=False)
    _write_hooks: list[WriteHook] = attrs.field(factory=list, init=False)

    def before_write(self, hook: WriteHook) -> None:
        """Call ``hook`` with every PATCH before it is applied (see ``WriteHook``)."""
        self._write_hooks.append(hook)

    def race_next_write(
        self, matches: Callable[[kmock.Request], bool], competing_patch: Mapping[str, Any]
    ) -> None:
        """Right before the next write that ``matches``, merge ``competing_patch`` into it."""

        def race_once(request: kmock.Request) -> Mapping[str, Any] | None:
            if not matches(request):
                return None
            self._write_hooks.remove(race_once)
            return competing_patch

        self.before_write(race_once)

    @override
    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        if request.resource is not None and request.action == kmock.action.CREATE:
            # kmock dispatches on the very request object it recorded, so the server's fields
            # go into its parsed data in place; ``request.body`` keeps the bytes as sent.
            self._assign_server_fields(request.data)
        elif request.resource is not None and request.action == kmock.action.UPDATE:
            assert request.name is not None, "kmock reads a nameless PATCH as no update at all"
            key: ObjectKey = (request.resource, request.namespace, request.name)
            for hook in list(self._write_hooks):
                competing_patch = hook(request)
                if competing_patch is not None:
                    # Another client writes status through /status, as the API demands.
                    competing_to = "status" if "status" in competing_patch else None
                    await self._write(key, competing_patch, subresource=competing_to)
            await self._write(key, request.data, subresource=request.subresource)
            # Stored above; kmock's own _handle would store it a second time, so skip to the
            # plain dispatcher: user reactions first, then the emulator's fallback reply.
            return await super(kmock.KubernetesEmulator, self)._handle(request)
        return await super()._handle(request)

    def _assign_server_fields(self, created: dict[str, Any]) -> None:
        metadata = created.setdefault("metadata", {})
        if not metadata.get("name") and metadata.get("generateName"):
            metadata["name"] = metadata["generateName"] + secrets.token_hex(3)
        metadata["uid"] = str(uuid4())
        metadata["resourceVersion"] = str(next(self._versions))
        metadata["creationTimestamp"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if "spec" in created:
            metadata["generation"] = 1

    async def _write(self, key: ObjectKey, body: Any, *, subresource: str | None) -> None:
        async with self._lock:
            if key not in self._objects or self._objects[key].deleted:
                raise kmock.KubernetesObjectNotFoundError()
            stored = self._objects[key]
            current = copy.deepcopy(stored.raw)
            patched = _patched(current, body, plural=key[0].plural or "", name=key[2])
            if subresource == "status":
                patched = {**current, "status": patched.get("status")}
            elif key[0] not in self.resources or "status" in self.resources[key[0]].subresources:
                patched["status"] = current.get("status")
            # else: no status subresource (kopf's peering objects), status is written in place
            patched = {field: value for field, value in patched.items() if value is not None}
            metadata = patched.setdefault("metadata", {})
            metadata["resourceVersion"] = str(next(self._versions))
            if patched.get("spec") != current.get("spec"):
                metadata["generation"] = current["metadata"].get("generation", 0) + 1
            stored.history.append(patched)
            await self._buses[key[0]].put({"type": "MODIFIED", "object": patched})
            if metadata.get("deletionTimestamp") and not metadata.get("finalizers"):
                stored.delete()
                await self._buses[key[0]].put({"type": "DELETED", "object": patched})


def _patched(current: dict[str, Any], body: Any, *, plural: str, name: str) -> dict[str, Any]:
    """``current`` with a JSON patch (a list) or a JSON merge patch (a dict) applied."""
    if isinstance(body, list):
        try:
            result: dict[str, Any] = jsonpatch.apply_patch(current, body)
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as error:
            raise kmock.KubernetesError(422, "Invalid", str(error)) from None
        return result
    if not isinstance(body, Mapping):
        raise kmock.KubernetesError(400, "BadRequest", f"not a patch: {body!r}")
    expected = (body.get("metadata") or {}).get("resourceVersion")
    if expected is not None and expected != current["metadata"]["resourceVersion"]:
        raise kmock.KubernetesError(
            409, "Conflict", CONFLICT_MESSAGE.format(plural=plural, name=name)
        )
    merged: dict[str, Any] = apply_merge_patch(current, body)
    return merged


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386, section 2, as written: ``null`` removes, objects merge, the rest replaces."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    return result


@asynccontextmanager
async def serving_api_emulator() -> AsyncIterator[ApiServerEmulator]:
    """An :class:`ApiServerEmulator` on a loopback port, discovering what the operator uses.

    ``namespaces`` must be discoverable even for a cluster-wide operator: kopf's namespace
    observer waits for it before it starts any watch.
    """
    async with ApiServerEmulator() as emulator, kmock.Server(emulator, host="127.0.0.1"):
        emulator.resources[TASKS] = kmock.ResourceInfo(
            kind=resource.KIND,
            singular=resource.SINGULAR,
            namespaced=True,
            shortnames=set(resource.SHORT_NAMES),
            categories=set(resource.CATEGORIES),
            subresources={"status"},
            verbs={"get", "list", "watch", "create", "patch", "delete"},
        )
        emulator.resources[CRONS] = kmock.ResourceInfo(
            kind=resource.CRON_KIND,
            singular=resource.CRON_SINGULAR,
            namespaced=True,
            shortnames=set(resource.CRON_SHORT_NAMES),
            categories=set(resource.CATEGORIES),
            subresources={"status"},
            verbs={"get", "list", "watch", "create", "patch", "delete"},
        )
        emulator.resources[NAMESPACES] = kmock.ResourceInfo(
            kind="Namespace", namespaced=False, verbs={"get", "list", "watch"}
        )
        emulator.resources[EVENTS] = kmock.ResourceInfo(
            kind="Event", namespaced=True, verbs={"create", "list"}
        )
        emulator.resources[SECRETS] = kmock.ResourceInfo(
            kind="Secret", namespaced=True, verbs={"get", "create"}
        )
        yield emulator


def write_kubeconfig(path: Path, server: str) -> Path:
    """A kubeconfig for a plain-HTTP server that needs no credentials (kmock)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "kmock", "cluster": {"server": server}}],
        "users": [{"name": "tester", "user": {}}],
        "contexts": [{"name": "kmock", "context": {"cluster": "kmock", "user": "tester"}}],
        "current-context": "kmock",
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


class OperatorThread:
    """The operator on an event loop of its own, in a thread, as ``kopf.testing.KopfRunner`` does.

    kopf takes every task created in its loop after it started for one of its own: at exit it
    waits five seconds for them, then cancels them, and a test's teardown that awaits the
    operator is such a task. A loop of its own keeps kopf's bookkeeping to kopf's tasks; the
    test talks to it only as the cluster and Supervisely do, over loopback HTTP.
    """

    def __init__(self, config: OperatorSettings, *, remotes: object | None = None) -> None:
        self._config = config
        self._remotes = remotes
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="operator-under-test", daemon=True)

    def _run(self) -> None:
        options = operator_options(self._config)
        if self._remotes is not None:
            options["memo"]["remotes"] = self._remotes
        try:
            asyncio.run(kopf.operator(**options, stop_flag=self._stop, ready_flag=self._ready))
        except BaseException as error:  # re-raised in the test's thread by check()
            self._error = error

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    @property
    def exited(self) -> bool:
        return not self._thread.is_alive()

    def check(self) -> None:
        """Raise what made the operator exit, if anything did."""
        if self._error is not None:
            raise AssertionError("the operator failed") from self._error

    async def halt(self) -> None:
        """Stop it as SIGTERM would, wait until it has exited, raise what made it fail."""
        self.stop()
        await wait_until(lambda: self.exited, what="operator stopped", within=15)
        self.check()


@asynccontextmanager
async def running_operator(
    config: OperatorSettings, *, remotes: object | None = None
) -> AsyncIterator[OperatorThread]:
    """Run the operator as ``supervisely-operator run`` would, until the block exits.

    ``remotes`` replaces the remote seam (the shell's one fake); by default it is the real one.
    """
    operator = OperatorThread(config, remotes=remotes)
    operator.start()
    try:
        await wait_until(lambda: operator.ready or operator.exited, what="operator ready")
        operator.check()
        assert not operator.exited, "the operator exited during its startup"
        yield operator
    finally:
        await operator.halt()


class OperatorStarter(Protocol):
    """Starts the operator with this environment (on top of the ``fast_operator_env`` fixture);
    a test may stop it early (``halt``), else it stops when the test ends."""

    def __call__(
        self, *, remotes: object | None = None, **env: str
    ) -> Awaitable[OperatorThread]: ...


class Cluster:
    """What a test does to the cluster, over HTTP as any client would, and what it reads back."""

    def __init__(self, api: ApiServerEmulator) -> None:
        self.api = api

    async def create(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST an object as kubectl would; the stored object."""
        async with self.api.post(path, json=body) as reply:
            created: dict[str, Any] = await reply.json()
            assert reply.status == 200, created
        return created

    async def patch(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Merge-patch an object as ``kubectl patch --type=merge`` would; the stored object."""
        headers = {"Content-Type": "application/merge-patch+json"}
        async with self.api.patch(path, json=body, headers=headers) as reply:
            patched: dict[str, Any] = await reply.json()
            assert reply.status == 200, patched
        return patched

    async def delete(self, path: str) -> None:
        """DELETE an object as kubectl would (it stays while finalizers hold it)."""
        async with self.api.delete(path) as reply:
            assert reply.status == 200, await reply.text()

    def exists(self, name: str, *, namespace: str) -> bool:
        """Whether the SuperviselyTask is stored (not yet released by its finalizers)."""
        key = (TASKS, namespace, name)
        return key in self.api.objects and not self.api.objects[key].deleted

    async def create_task(self, name: str, spec: Mapping[str, Any], *, namespace: str) -> str:
        """Create a SuperviselyTask; its uid."""
        created = await self.create(
            f"/apis/{resource.GROUP}/{resource.VERSION}/namespaces/{namespace}/{resource.PLURAL}",
            {
                "apiVersion": resource.API_VERSION,
                "kind": resource.KIND,
                "metadata": {"name": name, "namespace": namespace},
                "spec": dict(spec),
            },
        )
        uid: str = created["metadata"]["uid"]
        return uid

    async def create_secret(self, name: str, data: Mapping[str, str], *, namespace: str) -> None:
        """Create an Opaque Secret; values are base64-encoded as the API stores them."""
        await self.create(
            f"/api/v1/namespaces/{namespace}/secrets",
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": name, "namespace": namespace},
                "type": "Opaque",
                "data": _b64(data),
            },
        )

    async def update_secret(self, name: str, data: Mapping[str, str], *, namespace: str) -> None:
        """Set these keys of a Secret (a rotation, say); the others stay."""
        await self.patch(f"/api/v1/namespaces/{namespace}/secrets/{name}", {"data": _b64(data)})

    def delete_secret(self, name: str, *, namespace: str) -> None:
        """The Secret is gone, as a namespace deletion takes it."""
        self.api.objects[SECRETS, namespace, name].delete()

    def task(self, name: str, *, namespace: str) -> dict[str, Any]:
        """The SuperviselyTask as stored now."""
        stored: dict[str, Any] = self.api.objects[TASKS, namespace, name].raw
        return stored

    def versions(self, name: str, *, namespace: str) -> list[dict[str, Any]]:
        """Every version of the SuperviselyTask the API stored, oldest first."""
        history = self.api.objects[TASKS, namespace, name].history
        return [version.raw for version in history if version is not None]

    def status(self, name: str, *, namespace: str) -> dict[str, Any]:
        """The stored status, empty while there is none."""
        status: dict[str, Any] = self.task(name, namespace=namespace).get("status") or {}
        return status

    def requests(self, method: str, path: str) -> list[kmock.Request]:
        """The requests with this method and exact path, in arrival order."""
        return [r for r in self.api if r.method == method and r.url.path == path]

    def events(self, *, namespace: str) -> list[dict[str, Any]]:
        """Every Event posted in ``namespace``, in order, as sent."""
        posts = self.requests("POST", f"/api/v1/namespaces/{namespace}/events")
        return [sent(post) for post in posts]

    def event_reasons(self, *, namespace: str) -> list[str]:
        """The reasons of the Events posted in ``namespace``, in order."""
        return [event["reason"] for event in self.events(namespace=namespace)]

    def status_patches(self, name: str, *, namespace: str) -> list[kmock.Request]:
        """The operator's writes to the status subresource of one SuperviselyTask."""
        return self.requests("PATCH", f"{task_path(name, namespace=namespace)}/status")

    def server_faults(self) -> list[Exception]:
        """What went wrong inside the emulator itself (as opposed to a deliberate 4xx answer)."""
        return [
            error
            for error in self.api.errors
            if not (isinstance(error, kmock.KubernetesError) and 400 <= error.status < 500)
        ]

    def refusals(self, status: int) -> list[kmock.KubernetesError]:
        """The deliberate API errors with this HTTP status the emulator answered with."""
        return [
            error
            for error in self.api.errors
            if isinstance(error, kmock.KubernetesError) and error.status == status
        ]


def _b64(data: Mapping[str, str]) -> dict[str, str]:
    return {key: base64.b64encode(value.encode()).decode() for key, value in data.items()}


def task_path(name: str, *, namespace: str) -> str:
    return (
        f"/apis/{resource.GROUP}/{resource.VERSION}/namespaces/{namespace}/{resource.PLURAL}/{name}"
    )


def condition(status: Mapping[str, Any], type_: str) -> dict[str, Any]:
    """The condition of this type; empty while there is none."""
    found: dict[str, Any] = next(
        (c for c in status.get("conditions", []) if c["type"] == type_), {}
    )
    return found


async def wait_until(check: Callable[[], _T | None], *, what: str, within: float = 20.0) -> _T:
    """Poll ``check`` until it returns something truthy, and return that; fail after ``within``
    (generous: it bounds only a failing test, and a loaded 2-core machine is slow)."""
    deadline = time.monotonic() + within
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} within {within} s")
        await asyncio.sleep(0.02)
    return result


def sent(request: kmock.Request) -> Any:
    """A request's JSON body exactly as the client sent it (kmock's ``data`` may be amended)."""
    return json.loads(request.body)


def json_text(value: Any) -> str:
    """A value as one JSON string, for "this secret appears nowhere" checks."""
    return json.dumps(value, sort_keys=True, default=str)


PASS_TIMING = Timing(
    resync_interval=300.0,
    transition_recheck=2.0,
    start_grace=120.0,
    outage_min_delay=2.0,
    outage_max_delay=300.0,
)
"""The timing of a pass run without kopf (the production defaults' shape, short delays)."""


class StartsTask7001:
    """A remote seam that sees nothing yet and starts task 7001 when asked (recording the
    marker of each start), for passes run without kopf."""

    def __init__(self) -> None:
        self.started: list[str] = []

    async def observe(
        self,
        *,
        spec: SuperviselyTaskSpec,
        status: SuperviselyTaskStatus,
        refresh_requested: str | None,
        deleting: bool,
        sources: Mapping[str, SecretReference | None] | None = None,
    ) -> Observation:
        return Observation(task=NothingToObserve())

    async def start(
        self, spec: SuperviselyTaskSpec, *, marker: str, params: Mapping[str, Any]
    ) -> StartOutcome:
        self.started.append(marker)
        return Started(task_id=7001, module_id=103, agent_id=None, session_url="fake://7001")

    async def stop(self, task_id: int) -> CallFailed | None:
        return None

    def pause(self) -> None:
        pass

    def release(self) -> None:
        pass
