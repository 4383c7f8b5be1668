"""Every error leaves as ``{"error": "..."}``, framework errors included."""

from __future__ import annotations

import logging
import re

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import ExceptionHandlersMap

from gethook_lite.api.access_log import loggable_request_path
from gethook_lite.db import StorageError
from gethook_lite.errors import DomainError

__all__ = ["EXCEPTION_HANDLERS", "describe_parameter_error"]

log = logging.getLogger("gethook_lite.api")

# Litestar's (msgspec's) words for a bad query or path parameter, and ours.
_PARAMETER_ERRORS = (
    (re.compile(r"Expected `int`, got `\w+`"), "must be an integer"),
    (re.compile(r"Expected `int` >= (?P<n>-?\d+)"), "must be at least {n}"),
    (re.compile(r"Expected `int` <= (?P<n>-?\d+)"), "must be at most {n}"),
    (re.compile(r"Expected `str` of length <= (?P<n>\d+)"), "must be at most {n} characters"),
    (re.compile(r"Expected `str` of length >= (?P<n>\d+)"), "must be at least {n} characters"),
    (re.compile(r"Missing required"), "is required"),
)


def _error(
    message: str,
    status: int,
    headers: dict[str, str] | None = None,
    details: dict[str, object] | None = None,
) -> Response:
    # Details add keys beside "error" (a "code", counts); the message always stays "error".
    extra = {key: value for key, value in (details or {}).items() if key != "error"}
    body = {"error": message, **extra}
    return Response(body, status_code=status, headers=headers, media_type=MediaType.JSON)


def _domain_error(_: Request, exc: DomainError) -> Response:
    return _error(exc.message, exc.status_code, exc.headers, exc.details)


def _storage_error(request: Request, exc: StorageError) -> Response:
    path = loggable_request_path(request.scope)
    log.error("storage error on %s %s: %s", request.method, path, exc)
    return _error(
        "the database is unavailable right now; try again shortly", 503, {"Retry-After": "1"}
    )


def describe_parameter_error(name: str, message: str) -> str:
    """``limit`` + ``Expected `int` <= 500`` → ``limit: must be at most 500``."""
    for pattern, wording in _PARAMETER_ERRORS:
        match = pattern.match(message)
        if match:
            return f"{name}: {wording.format(**match.groupdict())}"
    # Anything else: msgspec's own words, which already say what was expected.
    return f"{name}: {message[:1].lower()}{message[1:].replace('`', '')}"


def _http_exception(_: Request, exc: HTTPException) -> Response:
    message = exc.detail or "request failed"
    if isinstance(exc, ValidationException) and isinstance(exc.extra, list) and exc.extra:
        # Query and path parameters (bodies are decoded by ApiRequest with their own errors).
        first = exc.extra[0]
        if isinstance(first, dict) and first.get("key"):
            message = describe_parameter_error(
                str(first["key"]), str(first.get("message") or "is invalid")
            )
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


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    DomainError: _domain_error,
    StorageError: _storage_error,
    HTTPException: _http_exception,
    Exception: _unexpected,
}
