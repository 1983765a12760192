"""The discovery front: a loopback HTTP proxy that makes ``apiextensions-apiserver`` look whole.

The server alone serves no ``/api``, no ``/apis`` and no OpenAPI for custom
resources, so kubectl and kopf cannot find anything. The front answers those
(see ``discovery`` and ``openapi``, built from the CRDs on every request so a
fresh CRD shows at once) and streams everything else to the server unchanged:
bodies, status codes, query strings and headers, watch streams chunk by chunk,
and a request without ``Content-Type`` stays without one (the server reads it as
JSON; an added ``application/octet-stream`` would get 415, and the ``kubernetes``
client 37.x sends creates without it). Redirects and cookies pass through too.

The front speaks plain HTTP, and only on loopback: a kubeconfig then needs no
certificates, and the front itself presents the admin client certificate
upstream. For that reason it drops ``Authorization`` headers: a bearer token
would send the server to its token-review webhook, which is the server itself
and times out.

Like a load balancer that routes only to a ready API server, it answers 503 where the server
answers a bare "404 page not found" for a resource of an established CRD: a restarted server
does so for a moment, until it serves its CRDs again, and a client (kopf's watcher) would take
that for the resource gone for good.
"""

import asyncio
import contextlib
import json
import logging
import re
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from yarl import URL

from supervisely_devkit.devcluster import discovery, openapi
from supervisely_devkit.devcluster.events import EventError, EventStore, Selector

logger = logging.getLogger(__name__)

CRD_LIST_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
APIEXTENSIONS_OPENAPI_PATH = "/openapi/v3/apis/apiextensions.k8s.io/v1"
# Requests to the API server are small (etcd caps objects at 1.5 MiB), but be generous.
MAX_REQUEST_BYTES = 64 * 1024 * 1024
UPSTREAM_CONNECT_TIMEOUT = 10.0
# Discovery fetches are small and local; a slow answer means the server is in trouble.
UPSTREAM_FETCH_TIMEOUT = 15.0

_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
_NOT_FORWARDED_UPSTREAM = _HOP_BY_HOP | {"host", "content-length", "authorization"}
# The client library adds these when absent; a proxy must not invent them.
_NEVER_ADDED = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")

_RESOURCE_PATH = re.compile(
    r"^/apis/(?P<group>[^/]+)/(?P<version>[^/]+)/(?:namespaces/[^/]+/)?(?P<plural>[^/]+)(?:/|$)"
)
_GROUP_PATH = re.compile(r"^/apis/(?P<group>[^/]+)/?$")
_GROUP_VERSION_PATH = re.compile(r"^/apis/(?P<group>[^/]+)/(?P<version>[^/]+)/?$")
_OPENAPI_GV_PATH = re.compile(r"^/openapi/v3/apis/(?P<group>[^/]+)/(?P<version>[^/]+)/?$")
_EVENTS_PATH = re.compile(
    r"^/api/v1/(?:namespaces/(?P<namespace>[^/]+)/)?events(?:/(?P<name>[^/]+))?/?$"
)


@dataclass(frozen=True)
class UpstreamConfig:
    """Where the real API server is and how to present ourselves to it."""

    url: str
    ssl_context: ssl.SSLContext | None = field(default=None, compare=False)


def client_ssl_context(*, ca_cert: str, client_cert: str, client_key: str) -> ssl.SSLContext:
    """TLS that verifies the server against our CA and presents the admin certificate."""
    context = ssl.create_default_context(cafile=ca_cert)
    context.load_cert_chain(client_cert, client_key)
    return context


class UpstreamUnavailableError(RuntimeError):
    """The API server did not answer a request the front needed for discovery."""


def _status(code: int, *, reason: str, message: str) -> web.Response:
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    return web.json_response(body, status=code)


class DiscoveryFront:
    """The aiohttp application and its upstream session; start it inside a running loop."""

    def __init__(self, *, upstream: UpstreamConfig) -> None:
        self.upstream = upstream
        self._base = upstream.url.rstrip("/")
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self._meta_schemas: dict[str, Any] | None = None
        self.events = EventStore()
        self.url = ""

    async def start(self, *, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on ``host:port`` (0: any free port) and return the front's URL."""
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=self.upstream.ssl_context or True, limit=0),
            # Bytes go through as the server sent them (gzip included); no redirects followed.
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=UPSTREAM_CONNECT_TIMEOUT),
        )
        app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        # Cancel a handler when its client goes away, so an idle watch frees its upstream.
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        # Bound here, not by port number, so the port is known and cannot be taken meanwhile.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            await web.SockSite(self._runner, sock).start()
        except BaseException:
            sock.close()
            raise
        bound_host, bound_port = sock.getsockname()[:2]
        self.url = f"http://{bound_host}:{bound_port}"
        logger.info("Discovery front on %s for %s", self.url, self._base)
        return self.url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("the discovery front is not started")
        return self._session

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        events = _EVENTS_PATH.match(request.path)
        if events is not None:
            try:
                return await self._events(request, events["namespace"], events["name"])
            except EventError as error:
                return _status(error.code, reason=error.reason, message=error.message)
        if request.method == "GET":
            handler = self._local_handler(request.path)
            if handler is not None:
                try:
                    return await handler(request)
                except UpstreamUnavailableError as exc:
                    return _status(503, reason="ServiceUnavailable", message=str(exc))
        return await self._proxy(request)

    def _local_handler(
        self, path: str
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]] | None:
        if path in ("/api", "/api/"):
            return self._api
        if path in ("/api/v1", "/api/v1/"):
            return self._core_v1
        if path in ("/apis", "/apis/"):
            return self._apis
        if _GROUP_PATH.match(path) or _GROUP_VERSION_PATH.match(path):
            return self._group_discovery
        if path in (openapi.OPENAPI_ROOT_PATH, f"{openapi.OPENAPI_ROOT_PATH}/"):
            return self._openapi_root
        if _OPENAPI_GV_PATH.match(path):
            return self._openapi_group_version
        return None

    async def _fetch_json(self, path: str) -> tuple[int, Any]:
        """GET a small JSON document from the server; (status, parsed body or None)."""
        try:
            async with self.session.get(
                self._base + path,
                headers={"Accept": "application/json", "Accept-Encoding": "identity"},
                timeout=aiohttp.ClientTimeout(total=UPSTREAM_FETCH_TIMEOUT),
                allow_redirects=False,
            ) as response:
                body = await response.read()
                if response.status != 200 or not body:
                    return response.status, None
                return response.status, json.loads(body)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise UpstreamUnavailableError(f"GET {path} on the API server failed: {exc!r}") from exc

    async def _crds(self) -> list[discovery.CrdSummary]:
        status, body = await self._fetch_json(CRD_LIST_PATH)
        if body is None:
            raise UpstreamUnavailableError(f"listing CRDs on the API server gave HTTP {status}")
        return discovery.summarize_crds(body)

    async def _api(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(discovery.api_versions(server_address=request.host))

    async def _core_v1(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(discovery.core_v1_resources())

    async def _apis(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(discovery.api_group_list(await self._crds()))

    async def _group_discovery(self, request: web.Request) -> web.StreamResponse:
        """Pass the server's own answer; make one from the CRDs only where it has none."""
        upstream = await self._buffered(request)
        if upstream.status != 404:
            return upstream
        crds = await self._crds()
        match = _GROUP_VERSION_PATH.match(request.path)
        if match:
            document = discovery.api_resource_list(
                crds, group=match["group"], version=match["version"]
            )
        else:
            group_match = _GROUP_PATH.match(request.path)
            document = (
                discovery.api_group(crds, group=group_match["group"]) if group_match else None
            )
        return upstream if document is None else web.json_response(document)

    async def _not_served_yet(self, path: str, upstream: aiohttp.ClientResponse) -> bool:
        """A bare 404 (no Status) for a resource of an established CRD: the server has not
        installed that CRD's handler yet. A missing object gets a Status, and passes."""
        match = _RESOURCE_PATH.match(path)
        if match is None or upstream.content_type == "application/json":
            return False
        try:
            crds = await self._crds()
        except UpstreamUnavailableError:
            return True  # it cannot even list its CRDs: starting
        return any(
            crd.group == match["group"]
            and crd.plural == match["plural"]
            and any(version.name == match["version"] for version in crd.versions)
            for crd in crds
        )

    async def _documents(self) -> dict[tuple[str, str], discovery.JsonObject]:
        crds = await self._crds()
        meta = await self._meta()
        documents = {}
        for group, versions in discovery.group_versions(crds).items():
            for version in versions:
                document = openapi.group_version_document(
                    crds, group=group, version=version, meta_schemas=meta
                )
                if document is not None:
                    documents[(group, version)] = document
        return documents

    async def _meta(self) -> dict[str, Any]:
        """ObjectMeta and friends from the server's own document, read once and kept."""
        if self._meta_schemas is None:
            status, body = await self._fetch_json(APIEXTENSIONS_OPENAPI_PATH)
            if body is None:
                logger.warning(
                    "No OpenAPI from the server (HTTP %s); using minimal metadata", status
                )
                return {}
            self._meta_schemas = openapi.meta_schemas_from(body)
        return self._meta_schemas

    async def _openapi_root(self, request: web.Request) -> web.StreamResponse:
        status, root = await self._fetch_json(openapi.OPENAPI_ROOT_PATH)
        if root is None:
            logger.warning("The server's /openapi/v3 answered HTTP %s; listing CRDs only", status)
            root = {"paths": {}}
        merged = openapi.root_with_documents(root, documents=await self._documents())
        return web.json_response(merged, headers={"Cache-Control": "no-cache, private"})

    async def _openapi_group_version(self, request: web.Request) -> web.StreamResponse:
        match = _OPENAPI_GV_PATH.match(request.path)
        if match is None:
            return await self._proxy(request)
        crds = await self._crds()
        document = openapi.group_version_document(
            crds, group=match["group"], version=match["version"], meta_schemas=await self._meta()
        )
        if document is None:
            return await self._proxy(request)
        return web.json_response(document, headers={"Cache-Control": "no-cache, private"})

    async def _events(
        self, request: web.Request, namespace: str | None, name: str | None
    ) -> web.StreamResponse:
        """Core v1 Events from the front's own store (see ``events``)."""
        store, query = self.events, request.query
        if request.method == "POST" and namespace is not None and name is None:
            try:
                body = json.loads(await request.read())
            except ValueError:
                raise EventError(400, "BadRequest", "the body is not JSON") from None
            return web.json_response(store.create(namespace, body), status=201)
        if request.method == "GET" and name is not None and namespace is not None:
            return web.json_response(store.get(namespace, name))
        if request.method == "DELETE" and name is not None and namespace is not None:
            return web.json_response(store.delete(namespace, name))
        if request.method != "GET" or name is not None:
            raise EventError(405, "MethodNotAllowed", f"{request.method} is not served for events")
        fields = Selector.parse(query.get("fieldSelector"), fields=True)
        labels = Selector.parse(query.get("labelSelector"), fields=False)
        if query.get("watch") not in ("true", "1"):
            return web.json_response(store.list(namespace, fields=fields, labels=labels))
        changes = store.watch(
            namespace, fields=fields, labels=labels, resource_version=query.get("resourceVersion")
        )
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        timeout = float(query.get("timeoutSeconds") or 0) or None
        with contextlib.suppress(TimeoutError, ConnectionError):
            async with asyncio.timeout(timeout):
                async for change in changes:
                    await response.write(json.dumps(change).encode() + b"\n")
        return response

    async def _upstream_request(
        self, request: web.Request, body: bytes | None
    ) -> aiohttp.ClientResponse:
        headers = [
            (k, v) for k, v in request.headers.items() if k.lower() not in _NOT_FORWARDED_UPSTREAM
        ]
        return await self.session.request(
            request.method,
            URL(self._base + request.raw_path, encoded=True),
            headers=headers,
            data=body,
            skip_auto_headers=_NEVER_ADDED,
            allow_redirects=False,
        )

    async def _request_body(self, request: web.Request) -> bytes | None:
        return await request.read() if request.body_exists else None

    async def _buffered(self, request: web.Request) -> web.Response:
        """The server's answer to a small request, fully read (for discovery fallbacks)."""
        try:
            upstream = await self._upstream_request(request, await self._request_body(request))
            async with upstream:
                body = await upstream.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            return _status(502, reason="BadGateway", message=f"API server unreachable: {exc!r}")
        return web.Response(
            status=upstream.status,
            body=body,
            headers=_response_headers(upstream, keep_length=False),
        )

    async def _proxy(self, request: web.Request) -> web.StreamResponse:
        """Stream one request to the server and its answer back, chunk by chunk."""
        body = await self._request_body(request)
        try:
            upstream = await self._upstream_request(request, body)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return _status(502, reason="BadGateway", message=f"API server unreachable: {exc!r}")
        if upstream.status == 404 and await self._not_served_yet(request.path, upstream):
            upstream.release()
            return _status(
                503,
                reason="ServiceUnavailable",
                message="the API server does not serve this resource yet (it is starting)",
            )
        async with upstream:
            finished = False
            try:
                response = web.StreamResponse(
                    status=upstream.status,
                    reason=upstream.reason,
                    headers=_response_headers(upstream, keep_length=True),
                )
                await response.prepare(request)
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
                await response.write_eof()
                finished = True
            except (aiohttp.ClientError, ConnectionError) as exc:
                # One side broke mid-stream. The status line is gone already, so the only
                # honest signal left is to cut the client's connection (an unfinished
                # chunked body tells it the answer is incomplete).
                logger.debug("Stream of %s %s broke: %r", request.method, request.path, exc)
                if request.transport is not None:
                    request.transport.close()
            finally:
                if not finished:  # broken, or cancelled because the client left
                    _abort_upstream(upstream)
            return response


def _abort_upstream(upstream: aiohttp.ClientResponse) -> None:
    """Drop an unfinished upstream connection at once (a watch whose client left, say).

    A plain close would start a polite TLS shutdown that nobody tracks and that
    can still be pending when the front stops, leaking its socket.
    """
    connection = upstream.connection
    if connection is not None and connection.transport is not None:
        connection.transport.abort()


def _response_headers(
    upstream: aiohttp.ClientResponse, *, keep_length: bool
) -> list[tuple[str, str]]:
    dropped = _HOP_BY_HOP if keep_length else _HOP_BY_HOP | {"content-length"}
    return [(k, v) for k, v in upstream.headers.items() if k.lower() not in dropped]
