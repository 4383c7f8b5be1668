"""A real HTTP receiver on 127.0.0.1 that records what it gets and answers as told."""

from __future__ import annotations

import contextlib
import http.server
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Received", "Receiver", "Reply"]


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (a slow or hanging receiver)
    raw: bytes | None = None  # written as is instead of a proper answer, then the socket closes


class Receiver:
    """Answers each request with ``script(n)`` (n = 1-based request count) or 200 ok.

    ``paths`` gives fixed replies by request path (one receiver playing several endpoints on
    the same host:port); other paths follow ``script``.
    """

    def __init__(
        self,
        script: Callable[[int], Reply] | None = None,
        paths: dict[str, Reply] | None = None,
        port: int = 0,
    ) -> None:
        self.script = script or (lambda n: Reply())
        self.paths = paths or {}
        self.requests: list[Received] = []
        # Requests being answered right now, and the most there ever were at once.
        self.in_flight = 0
        self.peak_in_flight = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.requests.append(
                        Received(
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                            time.time(),
                        )
                    )
                    count = len(receiver.requests)
                    receiver.in_flight += 1
                    receiver.peak_in_flight = max(receiver.peak_in_flight, receiver.in_flight)
                try:
                    reply = receiver.paths.get(self.path) or receiver.script(count)
                    if reply.delay:
                        receiver._stop.wait(reply.delay)
                    # The client may stop reading (as it should for huge bodies).
                    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                        self._answer(reply)
                finally:
                    with receiver._lock:
                        receiver.in_flight -= 1

            def _answer(self, reply: Reply) -> None:
                if reply.raw is not None:
                    self.wfile.write(reply.raw)
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, *args) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def url_for(self, path: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def received(self, path: str) -> list[Received]:
        with self._lock:
            return [request for request in self.requests if request.path == path]

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Wait until at least ``count`` requests arrived; return them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            time.sleep(0.01)
        raise AssertionError(f"receiver got {len(self.requests)} requests, expected {count}")
