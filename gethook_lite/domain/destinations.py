"""Destinations: the endpoints events are delivered to, with their auth and signing secret."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

from gethook_lite.context import Context
from gethook_lite.custom_headers import open_custom_headers, seal_custom_headers
from gethook_lite.db import deliveries as delivery_store
from gethook_lite.db import resources as store
from gethook_lite.delivery.network_policy import BlockedAddress, InvalidDestinationUrl
from gethook_lite.delivery.signing import decode_signing_secret, generate_signing_secret
from gethook_lite.domain.accounts import Caller
from gethook_lite.domain.routing import forget_routes
from gethook_lite.domain.text import require_text
from gethook_lite.errors import BadRequest, NotFound
from gethook_lite.ids import new_id
from gethook_lite.presets import DestinationPreset, get_destination_preset

__all__ = [
    "AUTH_TYPES",
    "create_destination",
    "decode_custom_headers",
    "decrypted_auth_config",
    "delete_destination",
    "get_destination",
    "list_destinations",
    "masked_auth_config",
    "rotate_secret",
    "update_destination",
]

TIMEOUT_RANGE = (1, 120)
DEFAULT_TIMEOUT_SECONDS = 30
MAX_CUSTOM_HEADERS = 32
MAX_HEADER_VALUE_LENGTH = 4096
MAX_URL_LENGTH = 2048

# Each auth type: its required fields and which of them are secrets.
AUTH_TYPES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "bearer": (("token",), ("token",)),
    "basic": (("username", "password"), ("password",)),
    "api_key": (("header", "value"), ("value",)),
}

# Headers a destination may not set: hop-by-hop ones, ones the HTTP client owns, and ones
# that carry our signature or auth (a custom header must not be able to forge them).
_RESERVED_HEADERS = frozenset(
    {
        "host", "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade",
        "te", "trailer", "trailers", "proxy-authorization", "proxy-authenticate",
        "proxy-connection", "content-encoding", "expect", "user-agent", "authorization",
        "content-type",  # the event's own content type is sent, byte for byte with its body
    }
)  # fmt: skip
_RESERVED_PREFIXES = ("webhook-", "x-gethook-", "proxy-")
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,100}$")
# Reserved for custom headers, but an api_key auth config may name it ("Token abc" schemes).
_AUTH_HEADER = frozenset({"authorization"})


# -- validation --------------------------------------------------------------------------


def _url_error(exc: ValueError) -> BadRequest:
    # The policy's messages start with "url ..." themselves; the field is named once.
    return BadRequest(f"url: {str(exc).removeprefix('url ')}")


def validate_url(ctx: Context, url: str) -> str:
    """An absolute http(s) URL without credentials that the network policy allows (no DNS)."""
    url = require_text(url, "url", MAX_URL_LENGTH)
    try:
        ctx.network_policy.check_url(url)
    except (InvalidDestinationUrl, BlockedAddress) as exc:
        raise _url_error(exc) from None
    return url


async def check_url_resolves_safely(ctx: Context, url: str) -> None:
    """Refuse a URL whose host resolves to a blocked address now (checked again at delivery)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        await ctx.network_policy.check_host(parts.hostname or "", port)
    except BlockedAddress as exc:
        raise _url_error(exc) from None


def validate_timeout(value: int | None) -> int:
    """The timeout in seconds, default 30; 400 outside 1..120."""
    if value is None:
        return DEFAULT_TIMEOUT_SECONDS
    low, high = TIMEOUT_RANGE
    if isinstance(value, bool) or not low <= value <= high:
        raise BadRequest(f"timeout_seconds: must be between {low} and {high}")
    return value


def validate_auth_config(config: dict | None, expected_type: str | None = None) -> dict | None:
    """The auth config to store (only the fields of its type), or None; 400 naming the field."""
    if config is None:
        if expected_type:
            raise BadRequest(f"auth_config: the preset needs {expected_type!r} auth")
        return None
    auth_type = config.get("type")
    # Checked as a string first: a list or object here is unhashable (a 500 otherwise).
    if not isinstance(auth_type, str) or auth_type not in AUTH_TYPES:
        raise BadRequest(f"auth_config.type: must be one of {', '.join(AUTH_TYPES)}")
    if expected_type and auth_type != expected_type:
        raise BadRequest(f"auth_config.type: the preset needs {expected_type!r}")
    required, _ = AUTH_TYPES[auth_type]
    clean = {"type": auth_type}
    for field in required:
        value = config.get(field)
        if not isinstance(value, str) or not value.strip():
            raise BadRequest(f"auth_config.{field}: is required and must be a non-empty string")
        if _has_control_characters(value):
            raise BadRequest(
                f"auth_config.{field}: must not contain line breaks or control characters"
            )
        clean[field] = value
    if auth_type == "basic" and ":" in clean["username"]:
        # RFC 7617: the first colon separates user from password, so the receiver would split
        # this username in the wrong place.
        raise BadRequest("auth_config.username: must not contain ':'")
    if auth_type == "api_key":
        # Authorization is allowed here: with api_key auth it is the credential itself.
        clean["header"] = _validate_header_name(
            clean["header"], "auth_config.header", allowed=_AUTH_HEADER
        )
    return clean


def validate_custom_headers(headers: dict | None) -> dict[str, str] | None:
    """The custom headers to store (None when empty); 400 naming the offending header."""
    if headers is None:
        return None
    if len(headers) > MAX_CUSTOM_HEADERS:
        raise BadRequest(f"custom_headers: at most {MAX_CUSTOM_HEADERS} headers")
    clean: dict[str, str] = {}
    seen: set[str] = set()
    for name, value in headers.items():
        field = f"custom_headers.{name}"
        name = _validate_header_name(name, field)
        if name.lower() in seen:
            # Header names are case-insensitive: which of the two would be sent is a guess.
            raise BadRequest(f"{field}: is given twice (header names ignore case)")
        seen.add(name.lower())
        if not isinstance(value, str):
            raise BadRequest(f"{field}: must be a string")
        if _has_control_characters(value) or len(value) > MAX_HEADER_VALUE_LENGTH:
            raise BadRequest(
                f"{field}: must be one line of at most {MAX_HEADER_VALUE_LENGTH} characters"
                " without control characters"
            )
        clean[name] = value
    return clean or None


def _merge_headers(preset: dict[str, str], custom: dict[str, str] | None) -> dict[str, str] | None:
    """A preset's extra headers overlaid with the user's (which win, case-insensitively)."""
    custom = custom or {}
    overridden = {name.lower() for name in custom}
    merged = {name: value for name, value in preset.items() if name.lower() not in overridden}
    merged.update(custom)
    return merged or None


def _check_header_clash(headers: dict[str, str] | None, auth: dict | None) -> None:
    """Refuse a custom header that is also the api_key auth header: both would be sent."""
    if not headers or not auth or auth["type"] != "api_key":
        return
    for name in headers:
        if name.lower() == auth["header"].lower():
            raise BadRequest(
                f"custom_headers.{name}: is the auth_config header; set its value there only"
            )


def _has_control_characters(value: str) -> bool:
    # A line break would inject a header; NUL and the like make every delivery fail instead.
    return any((ord(ch) < 32 and ch != "\t") or ord(ch) == 127 for ch in value)


def _validate_header_name(name: str, field: str, allowed: frozenset[str] = frozenset()) -> str:
    if not _HEADER_NAME.match(name):
        raise BadRequest(f"{field}: is not a valid header name")
    lowered = name.lower()
    if lowered in allowed:
        return name
    if lowered in _RESERVED_HEADERS or lowered.startswith(_RESERVED_PREFIXES):
        raise BadRequest(f"{field}: {lowered} is reserved and cannot be set")
    return name


def validate_signing_secret(secret: str | None) -> str:
    """The given whsec_ secret, or a generated one when none is given."""
    if secret is None:
        return generate_signing_secret()
    try:
        decode_signing_secret(secret)
    except ValueError as exc:
        raise BadRequest(f"signing_secret: {exc}") from None
    return secret


# -- secrets at rest ---------------------------------------------------------------------------


def _encrypt_json(ctx: Context, value: dict | None) -> str | None:
    return ctx.secrets.encrypt(json.dumps(value)) if value else None


def decrypted_auth_config(ctx: Context, destination: dict) -> dict | None:
    """The auth config in clear (delivery needs it), or None."""
    encrypted = destination["auth_config_enc"]
    return json.loads(ctx.secrets.decrypt(encrypted)) if encrypted else None


def masked_auth_config(ctx: Context, destination: dict) -> dict | None:
    """The auth config with its secret fields replaced by ``****`` (for API answers)."""
    config = decrypted_auth_config(ctx, destination)
    if config is None:
        return None
    _, secret_fields = AUTH_TYPES[config["type"]]
    return {key: ("****" if key in secret_fields else value) for key, value in config.items()}


# -- operations --------------------------------------------------------------------------------


async def create_destination(
    ctx: Context,
    caller: Caller,
    *,
    name: str,
    url: str,
    signing_secret: str | None,
    timeout_seconds: int | None,
    auth_config: dict | None,
    custom_headers: dict | None,
    preset: str | None,
) -> dict:
    """Create a destination; the answer carries the signing secret (its only appearance)."""
    found = _preset(preset)
    name = require_text(name, "name")
    url = validate_url(ctx, url)
    await check_url_resolves_safely(ctx, url)
    headers = _merge_headers(
        found.extra_headers if found else {}, validate_custom_headers(custom_headers)
    )
    auth = validate_auth_config(auth_config, found.auth_type if found else None)
    _check_header_clash(headers, auth)
    secret = validate_signing_secret(signing_secret)
    now = ctx.clock.now()
    destination = {
        "id": new_id("dest"),
        "account_id": caller.account_id,
        "name": name,
        "url": url,
        "active": 1,
        "timeout_seconds": validate_timeout(timeout_seconds),
        "auth_config_enc": _encrypt_json(ctx, auth),
        "custom_headers": seal_custom_headers(ctx.secrets, headers),
        "preset": preset,
        "signing_secret_enc": ctx.secrets.encrypt(secret),
        "previous_secret_enc": None,
        "previous_secret_expires_at": None,
        "created_at": now,
        "updated_at": now,
    }
    await ctx.db.write(store.insert_destination, destination)
    return {**destination, "signing_secret": secret}


def _preset(preset_id: str | None) -> DestinationPreset | None:
    """The destination preset named in a request, or None; 400 when the id is unknown."""
    if preset_id is None:
        return None
    found = get_destination_preset(preset_id)
    if found is None:
        raise BadRequest(f"preset: unknown destination preset {preset_id!r}")
    return found


async def get_destination(ctx: Context, caller: Caller, destination_id: str) -> dict:
    """The caller's live destination; 404 for unknown, deleted or another account's ids."""
    destination = await ctx.db.read(store.get_destination, caller.account_id, destination_id)
    if destination is None:
        raise NotFound("destination not found")
    return destination


async def list_destinations(ctx: Context, caller: Caller) -> list[dict]:
    """The caller's live destinations, oldest first."""
    return await ctx.db.read(store.list_destinations, caller.account_id)


async def update_destination(
    ctx: Context, caller: Caller, destination_id: str, patch: dict[str, Any]
) -> dict:
    """Apply a PATCH; only the fields present in ``patch`` change (None clears auth/headers)."""
    current = await get_destination(ctx, caller, destination_id)
    changes = await _validated_changes(ctx, current, patch)
    if not changes:
        return current
    changes["updated_at"] = ctx.clock.now()
    # Deactivating cancels what is queued; cancelling again when already inactive is a no-op.
    deactivated = changes.get("active") == 0
    updated = await ctx.db.write(
        _update_and_cancel, caller.account_id, destination_id, changes, deactivated
    )
    forget_routes(ctx)  # a destination turned on or off changes which routes are live
    if updated is None:
        raise NotFound("destination not found")
    return updated


async def _validated_changes(ctx: Context, current: dict, patch: dict[str, Any]) -> dict:
    """The column changes of a PATCH, every field validated before anything is written."""
    changes: dict[str, Any] = {}
    if "name" in patch:
        changes["name"] = require_text(patch["name"], "name")
    if "url" in patch:
        changes["url"] = validate_url(ctx, patch["url"])
        await check_url_resolves_safely(ctx, changes["url"])
    if "timeout_seconds" in patch:
        changes["timeout_seconds"] = validate_timeout(patch["timeout_seconds"])
    if "active" in patch:
        if not isinstance(patch["active"], bool):
            raise BadRequest("active: must be true or false")
        changes["active"] = int(patch["active"])
    if "auth_config" in patch or "custom_headers" in patch:
        changes.update(_auth_and_header_changes(ctx, current, patch))
    return changes


def _auth_and_header_changes(ctx: Context, current: dict, patch: dict[str, Any]) -> dict:
    """Changes to auth and headers, checked together: they must not set the same header."""
    # The destination keeps its preset, so the preset's auth type and headers still apply.
    found = get_destination_preset(current["preset"]) if current["preset"] else None
    changes: dict[str, Any] = {}
    if "auth_config" in patch:
        auth = validate_auth_config(patch["auth_config"], found.auth_type if found else None)
        changes["auth_config_enc"] = _encrypt_json(ctx, auth)
    else:
        auth = decrypted_auth_config(ctx, current)
    if "custom_headers" in patch:
        headers = _merge_headers(
            found.extra_headers if found else {}, validate_custom_headers(patch["custom_headers"])
        )
        changes["custom_headers"] = seal_custom_headers(ctx.secrets, headers)
    else:
        headers = decode_custom_headers(ctx, current)
    _check_header_clash(headers, auth)
    return changes


def _update_and_cancel(conn, account_id, destination_id, changes, cancel_pending):
    updated = store.update_destination(conn, account_id, destination_id, changes)
    if updated is not None and cancel_pending:
        delivery_store.cancel_open_deliveries(
            conn, destination_id, changes["updated_at"], "destination deactivated"
        )
    return updated


async def rotate_secret(ctx: Context, caller: Caller, destination_id: str) -> dict:
    """A new signing secret; the previous one keeps signing through the grace period."""
    secret = generate_signing_secret()
    rotated = await ctx.db.write(
        _rotate,
        caller.account_id,
        destination_id,
        ctx.secrets.encrypt(secret),
        ctx.clock.now(),
        ctx.settings.delivery.secret_rotation_grace_seconds,
    )
    if rotated is None:
        raise NotFound("destination not found")
    return {**rotated, "signing_secret": secret}


def _rotate(conn, account_id, destination_id, new_secret_enc, now, grace) -> dict | None:
    # Read and write in one transaction: two rotations at once must each keep the secret
    # they replace, not one read before the other's write.
    current = store.get_destination(conn, account_id, destination_id)
    if current is None:
        return None
    changes = {
        "signing_secret_enc": new_secret_enc,
        "previous_secret_enc": current["signing_secret_enc"] if grace else None,
        "previous_secret_expires_at": now + grace if grace else None,
        "updated_at": now,
    }
    return store.update_destination(conn, account_id, destination_id, changes)


async def delete_destination(ctx: Context, caller: Caller, destination_id: str) -> None:
    """Soft-delete a destination, remove its routes and cancel its queued deliveries."""
    deleted = await ctx.db.write(
        _delete_and_cancel, caller.account_id, destination_id, ctx.clock.now()
    )
    forget_routes(ctx)
    if not deleted:
        raise NotFound("destination not found")


def _delete_and_cancel(conn, account_id, destination_id, now) -> bool:
    if not store.delete_destination(conn, account_id, destination_id, now):
        return False
    delivery_store.cancel_open_deliveries(conn, destination_id, now, "destination deleted")
    return True


def decode_custom_headers(ctx: Context, destination: dict) -> dict[str, str] | None:
    """The stored (encrypted) custom headers as a dict, or None."""
    return open_custom_headers(ctx.secrets, destination["custom_headers"])
