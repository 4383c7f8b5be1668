"""Every error leaves as ``{"error": "..."}``, framework errors included."""

from __future__ import annotations

import logging

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException

from gethook_lite.api.access_log import loggable_request_path
from gethook_lite.db import StorageError
from gethook_lite.errors import DomainError

__all__ = ["EXCEPTION_HANDLERS"]

log = logging.getLogger("gethook_lite.api")


def _error(message: str, status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(
        {"error": message}, status_code=status, headers=headers, media_type=MediaType.JSON
    )


def _domain_error(_: Request, exc: DomainError) -> Response:
    return _error(exc.message, exc.status_code, exc.headers)


def _storage_error(request: Request, exc: StorageError) -> Response:
    path = loggable_request_path(request.scope)
    log.error("storage error on %s %s: %s", request.method, path, exc)
    return _error(
        "the database is unavailable right now; try again shortly", 503, {"Retry-After": "1"}
    )


def _http_exception(_: Request, exc: HTTPException) -> Response:
    message = exc.detail or "request failed"
    if isinstance(exc, ValidationException) and isinstance(exc.extra, list) and exc.extra:
        first = exc.extra[0]
        if isinstance(first, dict) and first.get("key"):
            message = f"{first['key']}: {first.get('message', 'is invalid')}"
    if exc.status_code == 404 and message == "Not Found":
        message = "no such endpoint"
    elif exc.status_code == 405:
        message = "method not allowed on this endpoint"
    elif exc.status_code == 413:
        message = "request body is too large"
    elif exc.status_code >= 500:
        log.error("internal error: %s", message)
        message = "internal server error"
    return _error(message, exc.status_code, getattr(exc, "headers", None))


def _unexpected(request: Request, exc: Exception) -> Response:
    # The traceback goes to the log only; the caller learns nothing about our internals.
    # The path is shortened: an ingest token is a credential and logs are widely readable.
    path = loggable_request_path(request.scope)
    log.exception("unhandled error on %s %s", request.method, path, exc_info=exc)
    return _error("internal server error", 500)


EXCEPTION_HANDLERS = {
    DomainError: _domain_error,
    StorageError: _storage_error,
    HTTPException: _http_exception,
    Exception: _unexpected,
}
