"""Run the discovery front beside synchronous code: a daemon thread with its own event loop.

Tests and the CLI drive the cluster synchronously (kubectl subprocesses, the
blocking ``kubernetes`` client), so the front cannot live on their loop. A
thread was chosen over a child process: it starts in milliseconds (no second
interpreter importing aiohttp), it cannot outlive the process that owns the
cluster, a startup error comes back as an exception instead of a log to dig
in, and socket I/O releases the GIL, so it does not slow the tests down.
"""

import asyncio
import contextlib
import logging
import threading

from supervisely_devkit.devcluster.front import DiscoveryFront, UpstreamConfig

logger = logging.getLogger(__name__)


class FrontStartError(RuntimeError):
    """The front did not come up; the cause is chained."""


class FrontThread:
    """One discovery front on its own loop in a daemon thread; ``start()`` returns its URL."""

    def __init__(self, *, upstream: UpstreamConfig, host: str = "127.0.0.1") -> None:
        self._upstream = upstream
        self._host = host
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def start(self, *, timeout: float = 10.0) -> str:
        self._thread = threading.Thread(
            target=self._main, name="devcluster-discovery-front", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(timeout):
            raise FrontStartError(f"the discovery front did not start within {timeout:.0f} s")
        if self._error is not None:
            raise FrontStartError(f"the discovery front failed to start: {self._error!r}") from (
                self._error
            )
        return self.url

    def stop(self, *, timeout: float = 10.0) -> None:
        """Ask the loop to close the front, and wait for the thread to finish."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            # The loop may close between the check and the call; then there is nothing to stop.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.error("The discovery front thread did not stop within %.0f s", timeout)
            self._thread = None

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to start() or logged, never lost
            if not self._ready.is_set():
                self._error = exc
                self._ready.set()
            else:
                logger.exception("The discovery front crashed")

    async def _serve(self) -> None:
        front = DiscoveryFront(upstream=self._upstream)
        try:
            self.url = await front.start(host=self._host)
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self._ready.set()
            await self._stop.wait()
        finally:
            await front.close()
