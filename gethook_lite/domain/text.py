"""Validation of plain text fields shared by every resource."""

from __future__ import annotations

import base64

from gethook_lite.clock import parse_time
from gethook_lite.errors import BadRequest

__all__ = ["optional_time", "require_text", "text_or_base64"]


def require_text(value: str, field: str, max_length: int = 200) -> str:
    """A trimmed, non-empty string of at most ``max_length`` characters; 400 naming the field."""
    value = (value or "").strip()
    if not value:
        raise BadRequest(f"{field}: must not be empty")
    if len(value) > max_length:
        raise BadRequest(f"{field}: must be at most {max_length} characters")
    return value


def optional_time(value: str | None, field: str) -> float | None:
    """An optional RFC 3339 timestamp as unix seconds; 400 naming the field otherwise."""
    if value is None:
        return None
    try:
        return parse_time(value)
    except ValueError:
        raise BadRequest(f"{field}: must be an RFC 3339 timestamp") from None


def text_or_base64(body: bytes) -> tuple[str, str | None]:
    """A stored body as the API sends it: UTF-8 text as is, anything else as base64 (the second
    value names that encoding, None for text)."""
    try:
        return body.decode("utf-8"), None
    except UnicodeDecodeError:
        return base64.b64encode(body).decode(), "base64"
