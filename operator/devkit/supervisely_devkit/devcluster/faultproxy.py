"""A loopback TCP proxy whose link a test can break the way networks break: silently.

One client (an operator replica, say) talks to the API server through its own proxy, so a test
can cut that client off while others still get through. Nothing is closed when the link breaks:

- ``blackhole()``: bytes in either direction are dropped, and new connections are accepted and
  then held without an answer, as behind a firewall that drops packets. ``restore()`` resets
  every connection that saw the black hole (its data is lost, as a real client would find once
  its TCP gave up) and lets new ones through again.
- ``silence(pattern)``: the open connections whose last request line matches ``pattern`` (a
  watch, say) stop carrying bytes, and stay open even when the server closes its side: a flow
  dropped by a NAT or a load balancer. Connections opened later are not affected.

It speaks TCP only; the request line is read from the client's bytes, so it works for plain
HTTP, which is what the discovery front serves on loopback. It runs on its own event loop in a
daemon thread, as the front does (see ``front_thread``).
"""

import asyncio
import contextlib
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import yaml

_T = TypeVar("_T")
_REQUEST_LINE = re.compile(rb"^[A-Z]+ \S+ HTTP/1\.[01]\r\n")
CHUNK = 64 * 1024


@dataclass(eq=False)
class _Link:
    """One client connection and, unless held in the black hole, its upstream connection."""

    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    request_line: bytes = b""
    silent: bool = False
    blackholed: bool = False
    tasks: list["asyncio.Task[None]"] = field(default_factory=list)

    def abort(self) -> None:
        for writer in (self.client, self.upstream):
            if writer is not None and writer.transport is not None:
                writer.transport.abort()


class FaultProxy:
    """A TCP proxy from a free loopback port to ``upstream`` (host, port); start it first."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._links: set[_Link] = set()
        self._blackholed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, timeout: float = 10.0) -> "FaultProxy":
        self._thread = threading.Thread(target=self._main, name="fault-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout) or not self.port:
            raise RuntimeError(f"the fault proxy did not start within {timeout:.0f} s")
        return self

    def stop(self) -> None:
        """Close every connection and the port; safe to call twice."""
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(stopping.set)
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def __enter__(self) -> "FaultProxy":
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def blackhole(self) -> None:
        """Drop every byte from now on, in both directions, and hold new connections."""
        self._in_loop(self._blackhole)

    def restore(self) -> None:
        """Reset the connections the black hole broke; new connections go through again."""
        self._in_loop(self._restore)

    def silence(self, pattern: bytes) -> int:
        """Silence the open connections whose last request line matches the regular expression
        ``pattern``; how many there were."""
        return self._in_loop(lambda: self._silence(re.compile(pattern)))

    def _in_loop(self, function: Callable[[], _T]) -> _T:
        assert self._loop is not None, "the fault proxy is not started"
        done = asyncio.run_coroutine_threadsafe(self._call(function), self._loop)
        return done.result(timeout=10)

    async def _call(self, function: Callable[[], _T]) -> _T:
        return function()

    def _blackhole(self) -> None:
        self._blackholed = True
        for link in self._links:
            link.blackholed = True

    def _restore(self) -> None:
        self._blackholed = False
        for link in [link for link in self._links if link.blackholed]:
            link.abort()

    def _silence(self, pattern: re.Pattern[bytes]) -> int:
        matching = [link for link in self._links if pattern.search(link.request_line)]
        for link in matching:
            link.silent = True
        return len(matching)

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        finally:
            self._ready.set()  # start() then finds no port and says so

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stopping.wait()
            for link in list(self._links):
                link.abort()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link = _Link(client=writer, blackholed=self._blackholed)
        self._links.add(link)
        try:
            if link.blackholed:  # accepted, then never answered
                while await reader.read(CHUNK):
                    pass
                return
            try:
                upstream_reader, link.upstream = await asyncio.open_connection(*self._upstream)
            except OSError:
                return
            await asyncio.gather(
                self._pump(reader, link.upstream, link, from_client=True),
                self._pump(upstream_reader, writer, link, from_client=False),
                return_exceptions=True,
            )
        finally:
            self._links.discard(link)
            link.abort()

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        link: _Link,
        *,
        from_client: bool,
    ) -> None:
        while chunk := await reader.read(CHUNK):
            if from_client and _REQUEST_LINE.match(chunk):
                link.request_line = chunk.split(b"\r\n", 1)[0]
            if link.silent or link.blackholed:
                continue
            writer.write(chunk)
            await writer.drain()
        if not (link.silent or link.blackholed):
            link.abort()  # one side closed: close the other, as a proxy does
        # A dropped flow carries no close either: the other side keeps waiting.


def kubeconfig_through(proxy: FaultProxy, kubeconfig: Path, path: Path) -> Path:
    """A copy of ``kubeconfig`` whose server is reached through ``proxy`` (same scheme)."""
    config = yaml.safe_load(kubeconfig.read_text())
    for cluster in config["clusters"]:
        cluster["cluster"]["server"] = proxy.url
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def upstream_of(kubeconfig: Path) -> tuple[str, int]:
    """The (host, port) a plain-HTTP kubeconfig's current server listens on."""
    config = yaml.safe_load(kubeconfig.read_text())
    server = urlsplit(config["clusters"][0]["cluster"]["server"])
    if server.scheme != "http" or server.hostname is None or server.port is None:
        raise ValueError(f"not a plain-HTTP loopback server: {server.geturl()}")
    return server.hostname, server.port
