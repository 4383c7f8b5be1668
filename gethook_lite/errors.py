"""The domain's exceptions; each carries the HTTP status it maps to."""

from __future__ import annotations

__all__ = [
    "BadRequest",
    "Conflict",
    "DomainError",
    "Forbidden",
    "MethodNotAllowed",
    "NotFound",
    "PayloadTooLarge",
    "RequestTimeout",
    "ServiceUnavailable",
    "TooManyRequests",
    "Unauthorized",
]


class DomainError(Exception):
    """An error whose message is safe to show the caller."""

    status_code = 400

    def __init__(
        self,
        message: str,
        headers: dict[str, str] | None = None,
        *,
        details: dict[str, object] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}
        # More keys of the error body beside "error" (e.g. a machine-readable "code"); never
        # "error" itself.
        self.details = details or {}


class BadRequest(DomainError):
    status_code = 400


class Unauthorized(DomainError):
    status_code = 401


class Forbidden(DomainError):
    status_code = 403


class NotFound(DomainError):
    status_code = 404


class MethodNotAllowed(DomainError):
    status_code = 405


class Conflict(DomainError):
    status_code = 409


class RequestTimeout(DomainError):
    """What was waited for did not happen in time (GET /v1/events/wait)."""

    status_code = 408


class PayloadTooLarge(DomainError):
    status_code = 413


class TooManyRequests(DomainError):
    status_code = 429

    def __init__(self, message: str, retry_after_seconds: int) -> None:
        super().__init__(message, {"Retry-After": str(max(1, retry_after_seconds))})


class ServiceUnavailable(DomainError):
    status_code = 503
