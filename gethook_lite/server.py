"""How ``gethook serve`` runs uvicorn, with the bounds a client meets before authentication.

uvicorn's httptools protocol (the fast one, and its default) keeps reading a header block of any
size into memory, lets a client take any time to send it and the body, and accepts connections
until the process runs out of file descriptors. ``GuardedHttpToolsProtocol`` is a small
subclass that adds, per connection:

- the request line and headers: at most ``max_header_bytes`` bytes and ``max_headers`` lines,
  checked as bytes arrive (before the parser buffers them): 431;
- more than one ``Host`` header, or one that lists several (``Host: a, b``): 400 (a second
  host would let a request past the custom-domain guard, which reads one);
- the time to send the headers (from the connection opening or the request's first byte) and
  then the whole body: 408;
- open connections: beyond ``max_connections`` a new one is answered 503 at once.

Each answer is our JSON envelope. It relies on uvicorn's HttpToolsProtocol internals
(``parser``, ``cycle``, the parser callbacks), so pyproject.toml pins uvicorn's minor range.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import http
import logging
import resource
from collections.abc import Iterator
from typing import Any, ClassVar

import httptools
import msgspec
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gethook_lite.config import Settings
from gethook_lite.constants import (
    EVENT_STREAM_PATH,
    EVENT_WAIT_PATH,
    FD_RESERVE,
    MAX_LINGERING_REFUSALS,
    REFUSAL_LINGER_SECONDS,
)

__all__ = [
    "GuardedHttpToolsProtocol",
    "HttpLimits",
    "connection_cap",
    "start_up_without_gc",
    "uvicorn_config",
]

log = logging.getLogger("gethook_lite.server")


class HttpLimits(msgspec.Struct, frozen=True, kw_only=True):
    max_header_bytes: int
    max_headers: int
    header_timeout: float
    body_timeout: float
    max_connections: int


class _Refusal(Exception):
    """Raised inside a parser callback to stop parsing and answer ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header, time and connection bounds (module docstring).

    ``uvicorn_config`` makes a subclass with ``limits`` set; uvicorn builds one per connection.
    """

    limits: ClassVar[HttpLimits]
    # Refused connections still lingering, for every connection of the server (one event loop).
    lingering: ClassVar[int] = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reading_headers = True  # between a message's end (or the start) and its headers
        self._reading_body = False
        self._header_bytes = 0
        self._header_lines = 0
        self._host_seen = False
        self._refused = False
        self._header_deadline: asyncio.TimerHandle | None = None
        self._body_deadline: asyncio.TimerHandle | None = None
        self._linger: asyncio.TimerHandle | None = None

    # -- connection ----------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.limits.max_connections:
            self.transport = transport
            self._refuse(503, "the server has too many open connections; try again shortly")
            return
        super().connection_made(transport)
        # A new connection must send its headers in time, even if it never sends a byte.
        self._header_deadline = self.loop.call_later(
            self.limits.header_timeout, self._on_header_timeout
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadlines()
        if self._linger is not None:
            self._end_linger()
        if self.flow is None:  # refused at the cap: uvicorn never saw this connection
            self.transport.close()
            return
        super().connection_lost(exc)

    def shutdown(self) -> None:
        # A live event stream never completes by itself (nor a long wait for events soon):
        # graceful shutdown would wait for it until its timeout. Closing the connection ends
        # it now; a stream's reader resumes by cursor, a waiter asks again.
        cycle = self.cycle
        if (
            cycle is not None
            and not cycle.response_complete
            and cycle.scope.get("path") in (EVENT_STREAM_PATH, EVENT_WAIT_PATH)
        ):
            self.transport.close()
            return
        super().shutdown()

    def eof_received(self) -> None:
        # While lingering after a refusal, the client's EOF ends the connection at once.
        if not self._refused:
            super().eof_received()

    # -- bytes in ------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # lingering: discard
        self._unset_keepalive_if_required()
        limit = self.limits.max_header_bytes
        while data:
            if self._reading_headers:
                # Feed the parser no more header bytes than allowed: it buffers a header line
                # whole before calling us, so the check must happen here, before it sees them.
                room = limit - self._header_bytes
                if room <= 0:
                    self._refuse_headers_too_large()
                    return
                piece, data = data[:room], data[room:]
                self._header_bytes += len(piece)
            else:
                # Body bytes; a pipelined request's headers in the same read are not counted
                # (at most one read more than the limit, once).
                piece, data = data, b""
            if not self._feed(piece):
                return
            if data and self._reading_headers:
                self._refuse_headers_too_large()
                return
        if self._reading_headers and self._header_bytes and self._header_deadline is None:
            self._header_deadline = self.loop.call_later(
                self.limits.header_timeout, self._on_header_timeout
            )
        elif self._reading_body and self._body_deadline is None:
            self._body_deadline = self.loop.call_later(
                self.limits.body_timeout, self._on_body_timeout
            )

    def _feed(self, data: bytes) -> bool:
        """Parse ``data``; False when the connection was answered and must not read on."""
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            refusal = exc.__context__
            if isinstance(refusal, _Refusal):
                self._refuse(refusal.status, refusal.message)
            else:  # as uvicorn does: a failing callback makes the request a 400
                log.warning("invalid HTTP request received", exc_info=refusal)
                self._refuse(400, "the request is not valid HTTP/1.1")
            return False
        except httptools.HttpParserUpgrade:
            self._unsupported_upgrade_warning()
        except httptools.HttpParserError:
            log.debug("invalid HTTP request received")
            self._refuse(400, "the request is not valid HTTP/1.1")
            return False
        return not self.transport.is_closing()

    # -- parser callbacks ----------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_lines = 0
        self._host_seen = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_lines += 1
        if self._header_lines > self.limits.max_headers:
            raise _Refusal(431, f"more than {self.limits.max_headers} request headers")
        name = name.lower()
        if name == b"host":
            if self._host_seen or b"," in value:
                raise _Refusal(400, "more than one Host header")
            self._host_seen = True
        elif name == b"expect" and value.lower() == b"100-continue":
            self.expect_100_continue = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._reading_headers = False
        self._reading_body = True
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._reading_headers = True
        self._reading_body = False
        self._header_bytes = 0
        if self._body_deadline is not None:
            self._body_deadline.cancel()
            self._body_deadline = None
        super().on_message_complete()

    # -- deadlines -----------------------------------------------------------------------------

    def _on_header_timeout(self) -> None:
        self._header_deadline = None
        if self.transport.is_closing() or self._refused:
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined request waits behind one still being answered: that one is bounded
            # by the application, so look again later.
            self._header_deadline = self.loop.call_later(
                self.limits.header_timeout, self._on_header_timeout
            )
        elif self._header_bytes:
            self._refuse(408, "the request headers did not arrive in time")
        else:
            self.transport.close()  # opened and never used: nobody to answer

    def _on_body_timeout(self) -> None:
        self._body_deadline = None
        if self.transport.is_closing() or self._refused:
            return
        self._refuse(408, "the request body did not arrive in time")

    def _cancel_deadlines(self) -> None:
        for handle in (self._header_deadline, self._body_deadline):
            if handle is not None:
                handle.cancel()
        self._header_deadline = self._body_deadline = None

    # -- refusing ------------------------------------------------------------------------------

    def _refuse_headers_too_large(self) -> None:
        self._refuse(431, f"the request headers exceed {self.limits.max_header_bytes} bytes")

    def _refuse(self, status: int, message: str) -> None:
        """Answer ``status`` with the envelope (unless a response already started), stop
        reading requests, and close after a short linger."""
        self._refused = True
        self._cancel_deadlines()
        cycle = self.cycle
        answered = cycle is not None and cycle.response_started and not cycle.response_complete
        if cycle is not None and not cycle.response_complete:
            # The application, if it still waits for the body, sees a disconnect; whatever it
            # sends later is dropped.
            cycle.disconnected = True
            cycle.message_event.set()
        cls = type(self)
        if answered or cls.lingering >= MAX_LINGERING_REFUSALS:
            self.transport.close()
            return
        self.transport.write(_error_response(status, message, self.server_state.default_headers))
        if self.transport.can_write_eof():
            self.transport.write_eof()
        cls.lingering += 1
        self._linger = self.loop.call_later(REFUSAL_LINGER_SECONDS, self._end_linger)

    def _end_linger(self) -> None:
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
            type(self).lingering -= 1
        self.transport.close()


def _error_response(status: int, message: str, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    body = msgspec.json.encode({"error": message})
    lines = [f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}".encode()]
    lines += [name + b": " + value for name, value in default_headers]
    lines += [
        b"content-type: application/json",
        b"content-length: " + str(len(body)).encode(),
        b"connection: close",
    ]
    if status == 503:
        lines.append(b"retry-after: 1")
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def connection_cap(settings: Settings) -> int:
    """``server.max_connections``, lowered to what the open-file limit leaves room for.

    The soft limit is raised toward the hard one first (as the Go runtime does), so that the
    common default of 1,024 does not end in EMFILE errors under many slow clients.
    """
    wanted = settings.server.max_connections
    others = settings.delivery.concurrency + FD_RESERVE
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = wanted + others
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        if target > soft:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
                soft = target
            except (ValueError, OSError):
                pass
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return wanted
    cap = max(1, soft - others)
    log.warning(
        "server.max_connections %d lowered to %d: the open-file limit is %d and %d files are "
        "kept for deliveries and the database (raise it with `ulimit -n`)",
        wanted,
        cap,
        soft,
        others,
    )
    return cap


@contextlib.contextmanager
def start_up_without_gc() -> Iterator[None]:
    """No garbage collection while the server's code is imported and its app built.

    That allocates a few hundred thousand objects which live as long as the process; the
    collector would walk them all again and again as they pile up (~50 ms of a ~0.7 s start-up,
    issue 13) and find little to free. Afterwards they are frozen (``gc.freeze``): left out of
    every later collection too, which then never walks them (a full collection of them costs
    ~50 ms). The price: the ~2,000 objects of start-up that were already garbage stay.
    """
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def uvicorn_config(settings: Settings, app: Any) -> uvicorn.Config:
    """The uvicorn configuration of ``gethook serve`` (also used by the benchmark's ceiling)."""
    server = settings.server
    limits = HttpLimits(
        max_header_bytes=server.max_header_bytes,
        max_headers=server.max_headers,
        header_timeout=server.header_timeout_seconds,
        body_timeout=server.body_timeout_seconds,
        max_connections=connection_cap(settings),
    )
    protocol = type("GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,), {"limits": limits})
    return uvicorn.Config(
        app,
        host=server.host,
        port=server.port,
        http=protocol,
        # No WebSocket endpoint exists; an Upgrade request is answered as plain HTTP.
        ws="none",
        log_config=None,
        # Our own access log (api/access_log.py) shortens ingest tokens; uvicorn's would not.
        access_log=False,
        timeout_graceful_shutdown=10,
        # An idle keep-alive connection is closed after 5 s.
        timeout_keep_alive=5,
    )
