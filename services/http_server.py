"""A small HTTP server for the services' endpoints, safe to expose: bounded and with timeouts.

``http.server.ThreadingHTTPServer`` starts a thread per connection and waits for a request
line for ever, so 1,000 idle sockets hold 1,000 threads and a half-sent request line holds one
for good. :class:`BoundedHTTPServer` hands connections to a fixed pool of workers, closes
connections beyond what the pool and a short backlog can hold at once, and every handler
(:class:`TimeoutHandler`) gives up on a connection that sends nothing for
:data:`IDLE_TIMEOUT_S`. Requests are HTTP/1.0 (one per connection), which is what Prometheus
scrapes and probes need.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from twin.errors import InputError

IDLE_TIMEOUT_S = 10.0
WORKERS = 8
BACKLOG = 64
DEFAULT_HOST = "127.0.0.1"
"""Services listen on loopback unless told otherwise (``--host 0.0.0.0`` in containers)."""


class TimeoutHandler(BaseHTTPRequestHandler):
    """Gives up on a connection idle for :data:`IDLE_TIMEOUT_S` (``socket.timeout``)."""

    timeout = IDLE_TIMEOUT_S

    def log_message(self, format: str, *args: Any) -> None:
        pass  # scrapes every few seconds would drown the log


class BoundedHTTPServer(HTTPServer):
    """At most ``workers`` connections served at once and ``backlog`` waiting; more are
    closed at once (the client sees a reset and retries, as Prometheus does)."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        *,
        workers: int = WORKERS,
        backlog: int = BACKLOG,
    ) -> None:
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="http")
        self._slots = threading.BoundedSemaphore(workers + backlog)
        super().__init__(address, handler)  # binds: may raise, after the pool exists

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)  # overloaded: refuse rather than queue without end
            return
        self._pool.submit(self._serve, request, client_address)

    def _serve(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up or timed out is not the server's error

    def server_close(self) -> None:
        super().server_close()
        self._pool.shutdown(wait=False, cancel_futures=True)


def listen(
    host: str, port: int, handler: type[BaseHTTPRequestHandler], *, name: str, option: str
) -> BoundedHTTPServer:
    """Bind ``host:port`` and serve in a daemon thread (``.shutdown()`` stops it); a port
    that cannot be bound is an :class:`InputError` naming ``option``."""
    try:
        server = BoundedHTTPServer((host, port), handler)
    except (OSError, OverflowError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InputError(
            f"cannot listen on {host}:{port} ({reason})",
            field=option,
            allowed="a free port 1-65535 on an address of this host",
        ) from None
    threading.Thread(target=server.serve_forever, name=name, daemon=True).start()
    return server


def closed_by_peer(sock: socket.socket) -> bool:
    """True if the other side closed ``sock`` (a test helper for idle timeouts)."""
    with contextlib.suppress(BlockingIOError):
        return sock.recv(1, socket.MSG_PEEK) == b""
    return False
