"""Destinations' custom headers at rest: encrypted like ``auth_config`` (users put tokens there).

The ``custom_headers`` column holds a Fernet token of the headers' JSON. Rows written before
encryption hold the JSON itself (it starts with ``{``, a Fernet token never does); they are
still read, and the start-up pass in ``gethook_lite.tasks.header_sealing`` encrypts them.
"""

from __future__ import annotations

import json

from gethook_lite.secrets_box import SecretBox

__all__ = ["is_plaintext", "open_custom_headers", "seal_custom_headers"]


def seal_custom_headers(box: SecretBox, headers: dict[str, str] | None) -> str | None:
    """The stored form of ``headers`` (None when there are none)."""
    return box.encrypt(json.dumps(headers)) if headers else None


def open_custom_headers(box: SecretBox, stored: str | None) -> dict[str, str] | None:
    """The headers from their stored form, encrypted or (written before encryption) plain."""
    if not stored:
        return None
    return json.loads(stored if is_plaintext(stored) else box.decrypt(stored))


def is_plaintext(stored: str) -> bool:
    """Whether a stored value predates encryption (JSON, not a Fernet token)."""
    return stored.lstrip().startswith("{")
