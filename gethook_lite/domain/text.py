"""Validation of plain text fields shared by every resource."""

from __future__ import annotations

from gethook_lite.errors import BadRequest

__all__ = ["require_text"]


def require_text(value: str, field: str, max_length: int = 200) -> str:
    """A trimmed, non-empty string of at most ``max_length`` characters; 400 naming the field."""
    value = (value or "").strip()
    if not value:
        raise BadRequest(f"{field}: must not be empty")
    if len(value) > max_length:
        raise BadRequest(f"{field}: must be at most {max_length} characters")
    return value
