"""Destinations: the endpoints events are delivered to, with their auth and signing secret.

The use cases (create, read, update, rotate the secret, delete); what makes a field valid is in
``gethook_lite.domain.destination_rules``."""

from __future__ import annotations

import json
from typing import Any

from gethook_lite.context import Context
from gethook_lite.custom_headers import open_custom_headers, seal_custom_headers
from gethook_lite.db import deliveries as delivery_store
from gethook_lite.db import resources as store
from gethook_lite.delivery.signing import generate_signing_secret
from gethook_lite.domain.accounts import Caller
from gethook_lite.domain.destination_pacing import pacing_changes
from gethook_lite.domain.destination_rules import (
    AUTH_TYPES,
    check_header_clash,
    check_url_resolves_safely,
    merge_headers,
    validate_auth_config,
    validate_custom_headers,
    validate_signing_secret,
    validate_timeout,
    validate_url,
)
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
    forward_original_headers: bool = False,
    pacing: dict[str, Any] | None = None,
) -> dict:
    """Create a destination; the answer carries the signing secret (its only appearance).

    ``pacing``: its rate_limit, max_concurrency and ordering (each optional)."""
    found = _preset(preset)
    defaults = {"rate_limit": None, "max_concurrency": None, "ordering": None}
    paced = _pacing_changes(ctx, {**defaults, **(pacing or {})})
    name = require_text(name, "name")
    url = validate_url(ctx.network_policy, url)
    await check_url_resolves_safely(ctx.network_policy, url)
    headers = merge_headers(
        found.extra_headers if found else {}, validate_custom_headers(custom_headers)
    )
    auth = validate_auth_config(auth_config, found.auth_type if found else None)
    check_header_clash(headers, auth)
    secret = validate_signing_secret(signing_secret)
    now = ctx.clock.now()
    destination = {
        "id": new_id("dest"),
        "account_id": caller.account_id,
        "name": name,
        "url": url,
        "active": 1,
        "timeout_seconds": validate_timeout(timeout_seconds),
        "forward_original_headers": _flag(forward_original_headers, "forward_original_headers"),
        "auth_config_enc": _encrypt_json(ctx, auth),
        "custom_headers": seal_custom_headers(ctx.secrets, headers),
        "preset": preset,
        "signing_secret_enc": ctx.secrets.encrypt(secret),
        "previous_secret_enc": None,
        "previous_secret_expires_at": None,
        **paced,
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
        _update_and_cancel,
        caller.account_id,
        destination_id,
        changes,
        deactivated,
        withdraw_waiting_claims(ctx, destination_id),
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
        changes["url"] = validate_url(ctx.network_policy, patch["url"])
        await check_url_resolves_safely(ctx.network_policy, changes["url"])
    if "timeout_seconds" in patch:
        changes["timeout_seconds"] = validate_timeout(patch["timeout_seconds"])
    if "active" in patch:
        changes["active"] = _flag(patch["active"], "active")
    if "forward_original_headers" in patch:
        flag = _flag(patch["forward_original_headers"], "forward_original_headers")
        changes["forward_original_headers"] = flag
    if "auth_config" in patch or "custom_headers" in patch:
        changes.update(_auth_and_header_changes(ctx, current, patch))
    changes.update(_pacing_changes(ctx, patch))
    return changes


def _pacing_changes(ctx: Context, fields: dict[str, Any]) -> dict[str, Any]:
    return pacing_changes(fields, ctx.settings.delivery.per_destination_concurrency)


def _flag(value: object, field: str) -> int:
    """A boolean option as stored (0 or 1); 400 for anything but true or false."""
    if not isinstance(value, bool):
        raise BadRequest(f"{field}: must be true or false")
    return int(value)


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
        headers = merge_headers(
            found.extra_headers if found else {}, validate_custom_headers(patch["custom_headers"])
        )
        changes["custom_headers"] = seal_custom_headers(ctx.secrets, headers)
    else:
        headers = decode_custom_headers(ctx, current)
    check_header_clash(headers, auth)
    return changes


def _update_and_cancel(conn, account_id, destination_id, changes, cancel_pending, withdrawn):
    # Claims made ahead under the old settings are claimed again under the new ones.
    delivery_store.release_claims(conn, withdrawn)
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
        _delete_and_cancel,
        caller.account_id,
        destination_id,
        ctx.clock.now(),
        withdraw_waiting_claims(ctx, destination_id),
    )
    forget_routes(ctx)
    if not deleted:
        raise NotFound("destination not found")


def _delete_and_cancel(conn, account_id, destination_id, now, withdrawn) -> bool:
    delivery_store.release_claims(conn, withdrawn)  # then cancelled with the rest
    if not store.delete_destination(conn, account_id, destination_id, now):
        return False
    delivery_store.cancel_open_deliveries(conn, destination_id, now, "destination deleted")
    return True


def withdraw_waiting_claims(ctx: Context, destination_id: str) -> list[tuple[int, str, float]]:
    """The destination's deliveries the scheduler claimed ahead and has not sent, taken back
    for the caller's write to release (delivery.scheduler.Scheduler.withdraw_waiting)."""
    if ctx.scheduler is None:
        return []
    withdrawn: list[tuple[int, str, float]] = ctx.scheduler.withdraw_waiting(destination_id)
    return withdrawn


def decode_custom_headers(ctx: Context, destination: dict) -> dict[str, str] | None:
    """The stored (encrypted) custom headers as a dict, or None."""
    return open_custom_headers(ctx.secrets, destination["custom_headers"])
