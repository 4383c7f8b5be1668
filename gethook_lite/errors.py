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
    "ServiceUnavailable",
    "TooManyRequests",
    "Unauthorized",
]


class DomainError(Exception):
    """An error whose message is safe to show the caller."""

    status_code = 400

    def __init__(self, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


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


class PayloadTooLarge(DomainError):
    status_code = 413


class TooManyRequests(DomainError):
    status_code = 429

    def __init__(self, message: str, retry_after_seconds: int) -> None:
        super().__init__(message, {"Retry-After": str(max(1, retry_after_seconds))})


class ServiceUnavailable(DomainError):
    status_code = 503
