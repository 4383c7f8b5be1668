"""Brand settings: the name, logo, colour and contacts an account shows its own customers."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from gethook_lite.clock import format_time
from gethook_lite.context import Context
from gethook_lite.db import branding as store
from gethook_lite.domain.accounts import Caller
from gethook_lite.errors import BadRequest, NotFound
from gethook_lite.ids import new_id

__all__ = [
    "BRAND_FIELDS",
    "get_brand_settings",
    "present_brand_settings",
    "upsert_brand_settings",
    "validate_brand_changes",
]

BRAND_FIELDS = store.BRAND_FIELDS
MAX_TEXT_LENGTH = 200
# URLs of images on CDNs routinely exceed 200 characters; 2048 is what browsers handle everywhere.
MAX_URL_LENGTH = 2048
# RFC 5321 caps a forward path at 254 characters.
MAX_EMAIL_LENGTH = 254

_COLOR = re.compile(r"^#[0-9A-Fa-f]{6}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _text(field: str, value: str) -> str:
    if len(value) > MAX_TEXT_LENGTH:
        raise BadRequest(f"{field}: must be at most {MAX_TEXT_LENGTH} characters")
    return value


def _color(field: str, value: str) -> str:
    if not _COLOR.match(value):
        raise BadRequest(f"{field}: must be a colour written #RRGGBB, such as #1A2B3C")
    return value


def _https_url(field: str, value: str) -> str:
    # The logo is shown on pages served over HTTPS: an http:// image would be mixed content.
    if len(value) > MAX_URL_LENGTH:
        raise BadRequest(f"{field}: must be at most {MAX_URL_LENGTH} characters")
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname or any(c.isspace() for c in value):
        raise BadRequest(f"{field}: must be an absolute https:// URL")
    return value


def _email(field: str, value: str) -> str:
    if len(value) > MAX_EMAIL_LENGTH or not _EMAIL.match(value):
        raise BadRequest(f"{field}: must be an email address")
    return value


_VALIDATORS: dict[str, Callable[[str, str], str]] = {
    "company_name": _text,
    "logo_url": _https_url,
    "primary_color": _color,
    "support_email": _email,
    "docs_title": _text,
}


def validate_brand_changes(changes: dict[str, Any]) -> dict[str, str | None]:
    """Check the given fields; trimmed values, None for null or blank (which clears a field).

    A blank string clears too: the API never returns ``""`` for an absent value, and forms
    send one for an emptied input.
    """
    clean: dict[str, str | None] = {}
    for field, value in changes.items():
        if field not in _VALIDATORS:
            raise BadRequest(f"{field}: is not a brand setting")
        if value is not None and not isinstance(value, str):
            raise BadRequest(f"{field}: expected a string or null")
        value = value.strip() if value is not None else None
        clean[field] = _VALIDATORS[field](field, value) if value else None
    return clean


async def upsert_brand_settings(ctx: Context, caller: Caller, changes: dict[str, Any]) -> dict:
    """Create the account's brand settings or change only the fields given; the settings."""
    clean = validate_brand_changes(changes)
    return await ctx.db.write(
        store.upsert_brand_settings, caller.account_id, new_id("brand"), clean, ctx.clock.now()
    )


async def get_brand_settings(ctx: Context, caller: Caller) -> dict:
    settings = await ctx.db.read(store.get_brand_settings, caller.account_id)
    if settings is None:
        raise NotFound("brand settings have not been set for this account")
    return settings


def present_brand_settings(settings: dict) -> dict:
    """The API shape of brand settings."""
    return {
        "id": settings["id"],
        "account_id": settings["account_id"],
        **{field: settings[field] for field in BRAND_FIELDS},
        "created_at": format_time(settings["created_at"]),
        "updated_at": format_time(settings["updated_at"]),
    }
