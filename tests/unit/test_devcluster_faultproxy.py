"""The fault proxy breaks a link as networks do: silently, closing nothing, and only the link
it is asked to break."""

import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest

from supervisely_devkit.devcluster.faultproxy import FaultProxy

WATCH = b"GET /apis/supervisely.com/v1alpha1/superviselytasks?watch=true HTTP/1.1\r\n\r\n"
GET = b"GET /apis/supervisely.com/v1alpha1/superviselytasks HTTP/1.1\r\n\r\n"


class Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


@pytest.fixture
def proxy() -> Iterator[FaultProxy]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with FaultProxy(*server.server_address) as started:  # type: ignore[misc]
            yield started
    finally:
        server.shutdown()
        server.server_close()


def connect(proxy: FaultProxy) -> socket.socket:
    return socket.create_connection(("127.0.0.1", proxy.port), timeout=0.3)


def answers(connection: socket.socket, data: bytes) -> bytes | None:
    """What comes back for ``data``; None when nothing does (the link is silent)."""
    connection.sendall(data)
    try:
        return connection.recv(65536)
    except TimeoutError:
        return None


def closed(connection: socket.socket) -> bool:
    """Whether the proxy closed or reset this connection (rather than leaving it silent)."""
    try:
        return connection.recv(65536) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_bytes_pass_both_ways(proxy: FaultProxy) -> None:
    with connect(proxy) as connection:
        assert answers(connection, GET) == GET


def test_silence_drops_the_matching_streams_only_and_closes_nothing(proxy: FaultProxy) -> None:
    with connect(proxy) as watch, connect(proxy) as other:
        assert answers(watch, WATCH) == WATCH
        assert answers(other, GET) == GET

        assert proxy.silence(rb"\?watch=true") == 1

        assert answers(watch, b"more") is None, "silent, yet open"
        assert answers(other, b"more") == b"more"
        with connect(proxy) as later:
            assert answers(later, WATCH) == WATCH, "a new stream is not silenced"


def test_a_black_hole_swallows_everything_until_restored_then_resets(proxy: FaultProxy) -> None:
    with connect(proxy) as before:
        assert answers(before, GET) == GET
        proxy.blackhole()
        assert answers(before, GET) is None
        with connect(proxy) as during:  # accepted, never answered
            assert answers(during, GET) is None

            proxy.restore()

            assert closed(before), "a connection the black hole broke is reset"
            assert closed(during)
    with connect(proxy) as after:
        assert answers(after, GET) == GET
