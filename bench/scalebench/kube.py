"""SuperviselyTask objects over the API server's REST API, many requests in flight at once.

An ``aiohttp`` session instead of kubectl (a process per object), the official client (a thread
per request in flight) or ``httpx``: the benchmark must load the API server, not itself, and
httpcore's pool spends about 9 ms of CPU per request at 32 in flight (it rescans every
connection for every request), which made the benchmark's own process the floor's bottleneck.
The address and credentials come from the kubeconfig through the official client's loader, so
the same code runs against the local control plane or any other cluster.
"""

import asyncio
import json
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from supervisely_operator.api import resource

IN_FLIGHT = 32
"""Requests in flight for every mass operation (creates, status patches, deletes)."""
REQUEST_TIMEOUT = 30.0
ATTEMPTS = 4
"""Per request; a loaded API server may answer 429 or 5xx, and one lost object spoils a run."""
RETRY_PAUSE = 0.5
RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})

_Item = TypeVar("_Item")


class KubeRequestError(RuntimeError):
    """The API server refused a request after every attempt."""


def _connection(kubeconfig: Path) -> tuple[str, ssl.SSLContext | bool, dict[str, str]]:
    """Base URL, TLS settings and auth headers, exactly as the official client reads them."""
    configuration = k8s_client.Configuration()
    k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=str(kubeconfig), client_configuration=configuration
    )
    headers: dict[str, str] = {}
    authorization = configuration.api_key.get("authorization")
    if authorization:
        headers["Authorization"] = authorization
    tls: ssl.SSLContext | bool = False
    if configuration.host.startswith("https"):
        if configuration.verify_ssl:
            tls = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
        else:
            tls = ssl.create_default_context()
            tls.check_hostname = False
            tls.verify_mode = ssl.CERT_NONE
        if configuration.cert_file and configuration.key_file:
            tls.load_cert_chain(configuration.cert_file, configuration.key_file)
    return configuration.host.rstrip("/"), tls, headers


@dataclass(frozen=True)
class Kube:
    """A session for one cluster: its base URL beside it, since the session has none."""

    session: aiohttp.ClientSession
    base_url: str

    def url(self, path: str) -> str:
        return self.base_url + path


@asynccontextmanager
async def kube_session(kubeconfig: Path, *, for_watch: bool = False) -> AsyncIterator[Kube]:
    """A session for the cluster; ``for_watch`` lifts the read timeout for long streams."""
    base_url, tls, headers = _connection(kubeconfig)
    timeout = aiohttp.ClientTimeout(
        total=None if for_watch else REQUEST_TIMEOUT, connect=REQUEST_TIMEOUT
    )
    connector = aiohttp.TCPConnector(limit=IN_FLIGHT * 2, ssl=tls)
    async with aiohttp.ClientSession(
        connector=connector, headers=headers, timeout=timeout
    ) as session:
        yield Kube(session, base_url)


def collection_path(namespace: str) -> str:
    """The namespaced collection URL path of SuperviselyTask objects."""
    return f"/apis/{resource.GROUP}/{resource.VERSION}/namespaces/{namespace}/{resource.PLURAL}"


class TaskObjects:
    """SuperviselyTask objects of one namespace: create, patch status, delete, list."""

    def __init__(self, kube: Kube, namespace: str) -> None:
        self.kube = kube
        self.namespace = namespace
        self.path = collection_path(namespace)
        self.retries = 0

    async def create(self, manifest: Mapping[str, Any]) -> dict[str, Any] | None:
        """Create one object; 409 (a retried create that had landed) counts as done. The
        created object (None after a 409)."""
        created: dict[str, Any] = await self._send(
            "POST", self.path, json=manifest, ok=(201, 200, 409)
        )
        return created if created.get("kind") == resource.KIND else None

    async def patch_status(self, name: str, status: Mapping[str, Any]) -> None:
        """Merge-patch the status subresource, as a controller writes it."""
        await self._merge_patch(f"{self.path}/{name}/status", {"status": dict(status)})

    async def list(self) -> list[dict[str, Any]]:
        """Every object of the namespace."""
        found = await self._send("GET", self.path, ok=(200,))
        items: list[dict[str, Any]] = found["items"]
        return items

    async def patch_spec(self, name: str, spec: Mapping[str, Any]) -> None:
        """Merge-patch the spec, as ``kubectl patch --type=merge`` does."""
        await self._merge_patch(f"{self.path}/{name}", {"spec": dict(spec)})

    async def _merge_patch(self, path: str, body: Mapping[str, Any]) -> None:
        await self._send(
            "PATCH",
            path,
            data=json.dumps(body),
            headers={"Content-Type": "application/merge-patch+json"},
            ok=(200,),
        )

    async def delete(self, name: str) -> None:
        """Ask for deletion (finalizers may keep the object a while); 404 counts as done."""
        await self._send("DELETE", f"{self.path}/{name}", ok=(200, 202, 404))

    async def any_left(self) -> bool:
        """Whether any object exists (a list of one: cheap at any size)."""
        found = await self._send("GET", self.path, params={"limit": "1"}, ok=(200,))
        return bool(found["items"])

    async def _send(self, method: str, path: str, *, ok: tuple[int, ...], **kwargs: Any) -> Any:
        """The reply's JSON body."""
        problem = ""
        for attempt in range(ATTEMPTS):
            if attempt:
                self.retries += 1
                await asyncio.sleep(RETRY_PAUSE * attempt)
            try:
                async with self.kube.session.request(
                    method, self.kube.url(path), **kwargs
                ) as reply:
                    body = await reply.read()
                    if reply.status in ok:
                        return json.loads(body) if body else None
                    problem = f"HTTP {reply.status}: {body[:300].decode(errors='replace')}"
                    if reply.status not in RETRIED_STATUSES:
                        break
            except (aiohttp.ClientError, TimeoutError) as exc:
                problem = repr(exc)
        raise KubeRequestError(f"{method} {path}: {problem}")


async def run_bounded(
    items: Iterable[_Item], work: Callable[[_Item], Awaitable[None]], *, in_flight: int = IN_FLIGHT
) -> list[Exception]:
    """Run ``work`` on every item with ``in_flight`` at a time; the failures, not raised.

    Workers pull from one shared iterator, so there is never a task per item.
    """
    iterator = iter(items)
    failures: list[Exception] = []

    async def worker() -> None:
        for item in iterator:
            try:
                await work(item)
            except KubeRequestError as exc:
                failures.append(exc)

    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return failures
