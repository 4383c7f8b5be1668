"""The dashboard's router: its pages, static files, security headers and HTML error pages."""

from __future__ import annotations

import logging
from importlib import resources
from urllib.parse import quote

from litestar import MediaType, Request, Response, Router
from litestar.exceptions import HTTPException
from litestar.response import Redirect
from litestar.static_files import create_static_files_router

from gethook_lite.db import StorageError
from gethook_lite.errors import DomainError
from gethook_lite.web.auth_pages import AUTH_HANDLERS, safe_next
from gethook_lite.web.destination_pages import DESTINATION_HANDLERS
from gethook_lite.web.event_pages import EVENT_HANDLERS
from gethook_lite.web.export_pages import EXPORT_HANDLERS
from gethook_lite.web.guard import SignInRequired
from gethook_lite.web.key_pages import KEY_HANDLERS
from gethook_lite.web.live_events import LIVE_EVENTS_PATH, live_events
from gethook_lite.web.overview_page import overview
from gethook_lite.web.render import html
from gethook_lite.web.route_pages import ROUTE_HANDLERS
from gethook_lite.web.security import security_headers_middleware
from gethook_lite.web.settings_pages import SETTINGS_HANDLERS
from gethook_lite.web.source_pages import SOURCE_HANDLERS

__all__ = ["web_router"]

log = logging.getLogger("gethook_lite.web")


def _sign_in_required(request: Request, _: SignInRequired) -> Response:
    if request.url.path.endswith("/rows") or request.url.path == LIVE_EVENTS_PATH:
        # The background refresh or stream: say so; the page script reloads into sign-in.
        return Response("", status_code=401, media_type=MediaType.TEXT)
    if request.method != "GET":
        # A form posted after the session ended: sign in again, then start over.
        return Redirect("/login", status_code=303)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    query = "" if target == "/" else f"?next={quote(safe_next(target), safe='')}"
    return Redirect(f"/login{query}", status_code=303)


def _error_page(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return html("error.html", status_code=status, headers=headers, status=status, message=message)


def _domain_error(_: Request, exc: DomainError) -> Response:
    return _error_page(exc.status_code, exc.message, exc.headers)


def _storage_error(request: Request, exc: StorageError) -> Response:
    log.error("storage error on %s %s: %s", request.method, request.url.path, exc)
    return _error_page(503, "The database is unavailable right now; try again shortly.")


def _http_exception(_: Request, exc: HTTPException) -> Response:
    status = exc.status_code
    message = {404: "There is no such page.", 405: "That action is not available here."}.get(
        status, "The request could not be handled." if status < 500 else "Something went wrong."
    )
    if status >= 500:
        log.error("internal error: %s", exc.detail)
    return _error_page(status, message)


def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _error_page(500, "Something went wrong; the details are in the server log.")


_STATIC = resources.files("gethook_lite.web") / "static"

web_router = Router(
    "/",
    route_handlers=[
        *AUTH_HANDLERS,
        live_events,
        *EVENT_HANDLERS,
        overview,
        *SOURCE_HANDLERS,
        *DESTINATION_HANDLERS,
        *ROUTE_HANDLERS,
        *KEY_HANDLERS,
        *EXPORT_HANDLERS,
        *SETTINGS_HANDLERS,
        create_static_files_router(path="/static", directories=[str(_STATIC)]),
    ],
    middleware=[security_headers_middleware],
    exception_handlers={
        SignInRequired: _sign_in_required,
        DomainError: _domain_error,
        StorageError: _storage_error,
        HTTPException: _http_exception,
        Exception: _unexpected,
    },
    include_in_schema=False,
)
