"""The ingest front: /ingest/... answered before Litestar's routing and middleware.

Litestar's layers around a route (its exception middleware twice, the router, the route's
middleware stack, scope state) cost about as much CPU per webhook as storing the webhook.
The app hands every http request whose path starts with /ingest/ to IngestFront, which does
what those layers do for this one mount, in the same order, with their own code where it
shows on the wire:

1. the router's Host check (an invalid Host is a 400, answered without an access-log line);
2. the mount's path rewrite (``scope["path"]`` becomes the part below /ingest);
3. the access log (only with server.access_log), then blank query values dropped;
4. the route (ingest_route.answer_ingest); an exception leaves through the app's exception
   handlers, exactly as Litestar's ExceptionHandlerMiddleware sends it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from litestar._asgi.utils import is_valid_host
from litestar.exceptions import ClientException
from litestar.middleware._internal.exceptions.middleware import ExceptionHandlerMiddleware
from litestar.utils import normalize_path
from litestar.utils.scope.state import ScopeState

from gethook_lite.api.access_log import StatusNotingSend, access_log_middleware, log_request
from gethook_lite.api.access_log import log as access_log
from gethook_lite.api.common import blank_query_values_middleware, without_blank_values
from gethook_lite.api.ingest_route import answer_ingest, send_answer

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.types import Receive, Scope, Send

__all__ = ["INGEST_PREFIX", "IngestFront"]

INGEST_PREFIX = "/ingest/"
_MOUNT = "/ingest"


class IngestFront:
    """Serves http requests to /ingest/... for ``app`` (see the module's docstring)."""

    def __init__(self, app: Litestar) -> None:
        _check_nothing_else_wraps_routes(app)
        self._app = app
        self._access_log_on = access_log_middleware in app.middleware
        # The exception handling Litestar's routes use; its handle_request_exception is what
        # turns an exception into the response (the envelope from api/errors.py).
        self._errors = ExceptionHandlerMiddleware(app=app, debug=None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # What Litestar.__call__ sets up before anything else runs.
        scope["app"] = scope["litestar_app"] = self._app
        scope.setdefault("state", {})
        first_host, several_hosts = _hosts(scope["headers"])
        if first_host is not None and not is_valid_host(first_host):
            # The router refuses this before routing: no route, so no access-log line.
            await self._answer_error(scope, receive, send, ClientException("Invalid host header"))
            return
        scope["path"] = _below_mount(scope["path"])
        if self._access_log_on and access_log.isEnabledFor(logging.INFO):
            await self._logged(scope, receive, send, several_hosts)
        else:
            await self._serve(scope, receive, send, several_hosts)

    async def _logged(self, scope: Scope, receive: Receive, send: Send, several: bool) -> None:
        """The access log middleware's work: one line once the request is answered."""
        started = time.perf_counter()
        status = 500  # what the line says if no answer was sent
        try:
            status = await self._serve(scope, receive, send, several)
        finally:
            log_request(scope, status, started)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, several: bool) -> int:
        """Answer the request; return the status sent (500 if none was)."""
        query = scope.get("query_string", b"")
        if query:
            scope["query_string"] = without_blank_values(query)
        try:
            answer = await answer_ingest(self._app.state.ctx, scope, receive, several)
        except Exception as exc:
            return await self._answer_error(scope, receive, send, exc)
        if answer is None:
            return 500
        await send_answer(send, answer)
        return answer.status

    async def _answer_error(
        self, scope: Scope, receive: Receive, send: Send, exc: Exception
    ) -> int:
        """Send the app's error response for ``exc``; return its status."""
        ScopeState.from_scope(scope).exception_handlers = self._app.exception_handlers
        noted = StatusNotingSend(send)
        await self._errors.handle_request_exception(
            litestar_app=self._app, scope=scope, receive=receive, send=noted, exc=exc
        )
        return noted.status


def _check_nothing_else_wraps_routes(app: Litestar) -> None:
    """The front repeats what this app puts around its routes (the access log, blank query
    values) and nothing else: anything added later would be skipped for /ingest, silently,
    so it refuses to start instead."""
    extra_middleware = [
        middleware
        for middleware in app.middleware
        if middleware not in (access_log_middleware, blank_query_values_middleware)
    ]
    hooks = (
        app.before_send,
        app.after_exception,
        app.cors_config,
        app.allowed_hosts,
        app.compression_config,
        app.csrf_config,
        app.before_request,
        app.after_request,
    )
    if extra_middleware or any(hooks):
        raise RuntimeError(
            "the ingest front does not repeat this app's added middleware or hooks:"
            " repeat them in api/ingest_front.py, or let Litestar route /ingest"
        )


def _hosts(headers: Iterable[tuple[bytes, bytes]]) -> tuple[bytes | None, bool]:
    """The first Host header, and whether there are several (or one listing two hosts)."""
    first: bytes | None = None
    several = False
    for name, value in headers:
        if name == b"host":
            if first is None:
                first = value
                several = b"," in value
            else:
                several = True
    return first, several


def _below_mount(path: str) -> str:
    """The path as Litestar's /ingest mount hands it to its route: normalised (no repeated
    or trailing slashes), the part below /ingest, ending in a slash."""
    if "//" not in path and not path.endswith("/"):
        return path[len(_MOUNT) :] + "/"  # the usual /ingest/<token>, already normal
    below = normalize_path(path)[len(_MOUNT) :] or "/"
    return below if below.endswith("/") else f"{below}/"
