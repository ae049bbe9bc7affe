"""The services' HTTP server stays up under idle and half-open connections (no thread per
socket, no socket held for ever) and binds loopback unless told otherwise."""

from __future__ import annotations

import socket
import threading
import time
import urllib.request
from collections.abc import Iterator

import pytest

from services.http_server import DEFAULT_HOST, BoundedHTTPServer, TimeoutHandler, listen
from twin.errors import InputError

DEADLINE_S = 60.0


class Hello(TimeoutHandler):
    timeout = 0.5  # seconds a connection may send nothing

    def do_GET(self) -> None:
        body = b"hello"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server() -> Iterator[BoundedHTTPServer]:
    srv = listen(DEFAULT_HOST, 0, Hello, name="test-http", option="--port")
    yield srv
    srv.shutdown()
    srv.server_close()


def _url(srv: BoundedHTTPServer) -> str:
    host, port = srv.server_address[:2]
    return f"http://{host}:{port}/"


def _get_eventually(url: str) -> bytes:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return bytes(resp.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_idle_and_half_open_connections_hold_no_thread_for_long(
    server: BoundedHTTPServer,
) -> None:
    host, port = server.server_address[:2]
    threads_before = threading.active_count()
    idle = [socket.create_connection((host, port)) for _ in range(100)]
    half = socket.create_connection((host, port))
    half.sendall(b"GET / HT")  # a request line that never ends
    try:
        # bounded: a fixed pool, not a thread per connection
        assert threading.active_count() <= threads_before + 8
        # the half-open connection is closed by the server once it times out
        half.settimeout(DEADLINE_S)
        assert half.recv(1024) == b""
        # and the server answers again once the idle sockets have timed out or been refused
        assert _get_eventually(_url(server)) == b"hello"
    finally:
        for sock in (*idle, half):
            sock.close()


def test_services_listen_on_loopback_by_default() -> None:
    assert DEFAULT_HOST == "127.0.0.1"
    from services.cli import build_parser as cli_parser
    from services.projector.main import build_parser

    assert build_parser().parse_args(["--bootstrap-server", "k:9092"]).host == "127.0.0.1"
    args = cli_parser().parse_args(["run", "demo", "--metrics-port", "9107"])
    assert args.metrics_host == "127.0.0.1"


@pytest.mark.parametrize("port", [99999, -1])
def test_a_bad_port_is_an_input_error_naming_the_option(port: int) -> None:
    with pytest.raises(InputError, match="--metrics-port.*cannot listen"):
        listen(DEFAULT_HOST, port, Hello, name="x", option="--metrics-port")


def test_a_busy_port_is_an_input_error(server: BoundedHTTPServer) -> None:
    with pytest.raises(InputError, match="cannot listen"):
        listen(DEFAULT_HOST, server.server_address[1], Hello, name="x", option="--port")
