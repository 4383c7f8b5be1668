"""One log line per HTTP request: method, path (ingest tokens shortened), status, duration."""

from __future__ import annotations

import logging
import time

from litestar.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "StatusNotingSend",
    "access_log_middleware",
    "log_request",
    "loggable_path",
    "loggable_request_path",
]

log = logging.getLogger("gethook_lite.access")
_INGEST_PREFIX = "/ingest/"


def loggable_path(path: str) -> str:
    """The path with an ingest token cut to 4 characters: the token is a credential."""
    if path.startswith(_INGEST_PREFIX):
        return _INGEST_PREFIX + path[len(_INGEST_PREFIX) :][:4] + "…"
    return path


def loggable_request_path(scope: Scope) -> str:
    """The request's full path for a log line, its ingest token shortened.

    raw_path, not path: routing rewrites "path" of mounted routes such as /ingest to the part
    after the mount point, which is the bare token.
    """
    raw = scope.get("raw_path")
    return loggable_path(raw.decode("latin-1") if raw else scope["path"])


def access_log_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not log.isEnabledFor(logging.INFO):
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        noted = StatusNotingSend(send)
        try:
            await app(scope, receive, noted)
        finally:
            log_request(scope, noted.status, started)

    return middleware


class StatusNotingSend:
    """An ASGI send that remembers the status of the response it sends (500 until then)."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.status = 500

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        await self._send(message)


def log_request(scope: Scope, status: int, started: float) -> None:
    """The line for one answered request (``started``: its time.perf_counter() at arrival)."""
    duration_ms = round((time.perf_counter() - started) * 1000, 2)
    method = scope.get("method", "")
    path = loggable_request_path(scope)
    log.info(
        "%s %s %s %.2fms",
        method,
        path,
        status,
        duration_ms,
        extra={
            "fields": {
                "method": method,
                "path": path,
                "status": status,
                "duration_ms": duration_ms,
            }
        },
    )
