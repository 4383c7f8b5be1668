"""Sources: where inbound webhooks arrive, and how each is verified."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from gethook_lite.clock import format_time
from gethook_lite.context import Context
from gethook_lite.db import resources as store
from gethook_lite.domain.accounts import Caller
from gethook_lite.domain.routing import forget_routes
from gethook_lite.domain.text import require_text
from gethook_lite.errors import BadRequest, NotFound
from gethook_lite.ids import new_id
from gethook_lite.ingest.verification import (
    AUTH_MODES,
    SECRET_FIELDS,
    VerificationConfigError,
    is_masked_secret,
    mask_config,
    validate_verification_config,
)
from gethook_lite.presets import get_provider_preset

__all__ = [
    "LiveSource",
    "create_source",
    "delete_source",
    "forget_cached_sources",
    "get_source",
    "list_sources",
    "live_source_for_token",
    "present_source",
    "update_source",
]

# 24 random bytes = 192 bits, url-safe: the token is the ingest endpoint's only credential.
PATH_TOKEN_BYTES = 24


@dataclass(frozen=True, slots=True)
class LiveSource:
    """What ingest needs to know about a source, with its secrets decrypted (kept in memory)."""

    id: str
    account_id: str
    auth_mode: str
    verification_config: dict[str, Any]
    custom_domain: str | None
    # Captures every request raw: any method, sub-paths, no dedupe (docs/sink.md).
    sink: bool = False


async def create_source(
    ctx: Context,
    caller: Caller,
    *,
    name: str,
    auth_mode: str | None,
    provider: str | None,
    verification_config: dict | None,
    custom_domain: dict | None = None,
    sink: bool = False,
) -> dict:
    """Create a source with a fresh ingest token; its verification secrets are encrypted.

    ``custom_domain`` is a verified domain of the caller's (domains.attachable_domain);
    ``sink`` makes it capture every request raw (docs/sink.md).
    """
    name = require_text(name, "name")
    auth_mode = _resolve_auth_mode(auth_mode, provider)
    try:
        config = validate_verification_config(auth_mode, verification_config)
    except VerificationConfigError as exc:
        raise BadRequest(str(exc)) from None
    source = {
        "id": new_id("src"),
        "account_id": caller.account_id,
        "name": name,
        "path_token": secrets.token_urlsafe(PATH_TOKEN_BYTES),
        "status": "active",
        "auth_mode": auth_mode,
        "provider": provider,
        "verification_config_enc": ctx.secrets.encrypt(json.dumps(config)) if config else None,
        "custom_domain_id": custom_domain["id"] if custom_domain else None,
        "sink": int(sink),
        "created_at": ctx.clock.now(),
    }
    await ctx.db.write(store.insert_source, source)
    return {**source, "custom_domain": custom_domain["domain"] if custom_domain else None}


async def update_source(
    ctx: Context, caller: Caller, source_id: str, changes: dict[str, Any]
) -> dict:
    """Rename a source, move it to a verified custom domain (``custom_domain``: a row or None),
    turn sink capture on or off (``sink``), or change how its requests are verified
    (``auth_mode``, ``provider``, ``verification_config``), validated as on create.

    Its ingest token stays the same, so the URL registered with a provider keeps working; the
    next request through it is verified with the new settings.
    """
    current = await get_source(ctx, caller, source_id)
    name = require_text(changes["name"], "name") if "name" in changes else current["name"]
    domain_id = current["custom_domain_id"]
    if "custom_domain" in changes:
        domain_id = changes["custom_domain"]["id"] if changes["custom_domain"] else None
    verification = None
    if any(key in changes for key in _VERIFICATION_CHANGES):
        verification = _patched_verification(ctx, current, changes)
    sink = bool(changes["sink"]) if "sink" in changes else bool(current["sink"])
    updated = await ctx.db.write(
        _apply_update, caller.account_id, source_id, name, domain_id, verification, sink
    )
    if updated is None:
        raise NotFound("source not found")
    # Ingest caches sources by token: the old secret must stop verifying at once.
    forget_cached_sources(ctx, current["path_token"])
    return updated


_VERIFICATION_CHANGES = ("auth_mode", "provider", "verification_config")


def _apply_update(
    conn,
    account_id: str,
    source_id: str,
    name: str,
    domain_id: str | None,
    verification: tuple[str, str | None, str | None] | None,
    sink: bool,
) -> dict | None:
    """One transaction: the rename/domain move and the verification change land together."""
    updated = store.update_source(conn, account_id, source_id, name, domain_id, sink)
    if updated is not None and verification is not None:
        updated = store.update_source_verification(conn, account_id, source_id, *verification)
    return updated


def _patched_verification(
    ctx: Context, current: dict, changes: dict[str, Any]
) -> tuple[str, str | None, str | None]:
    """(auth_mode, provider, encrypted config) after a PATCH; 400 naming the field if invalid.

    ``verification_config`` is merged into the current one while the mode stays (RFC 7396:
    given keys overwrite, null removes an optional key, omitted secrets are kept); a new mode
    starts from the given config alone, as a create would.
    """
    provider = changes.get("provider")
    if provider is not None or "auth_mode" in changes:
        auth_mode = _resolve_auth_mode(changes.get("auth_mode"), provider)
    else:
        auth_mode = current["auth_mode"]
    mode_changed = auth_mode != current["auth_mode"]
    if "provider" not in changes:
        # A provider names a scheme; it no longer describes the source once the mode changes.
        provider = None if mode_changed else current["provider"]
    given = changes.get("verification_config")
    _refuse_masked_secrets(auth_mode, given)
    if "verification_config" not in changes:
        config_in = None if mode_changed else _decrypted_config(ctx, current)
    elif mode_changed or given is None:
        config_in = given
    else:
        config_in = {**_decrypted_config(ctx, current), **given}
    try:
        config = validate_verification_config(auth_mode, config_in)
    except VerificationConfigError as exc:
        raise BadRequest(str(exc)) from None
    return auth_mode, provider, ctx.secrets.encrypt(json.dumps(config)) if config else None


def _refuse_masked_secrets(auth_mode: str, config: Any) -> None:
    """A config read back from GET carries masks, not secrets: never store a mask as one."""
    if not isinstance(config, dict):
        return
    for field in SECRET_FIELDS.get(auth_mode, ()):
        if is_masked_secret(config.get(field)):
            raise BadRequest(
                f"verification_config.{field}: is the masked value shown on read;"
                " send the secret itself, or leave the field out to keep it"
            )


def _resolve_auth_mode(auth_mode: str | None, provider: str | None) -> str:
    """The auth mode: a provider preset's scheme, the given mode, or ``none``."""
    if provider is not None:
        preset = get_provider_preset(provider)
        if preset is None:
            raise BadRequest(f"provider: unknown provider preset {provider!r}")
        if auth_mode is not None and auth_mode != preset.auth_mode:
            raise BadRequest(f"auth_mode: provider {provider!r} uses {preset.auth_mode!r}")
        return preset.auth_mode
    auth_mode = auth_mode or "none"
    if auth_mode not in AUTH_MODES:
        raise BadRequest(f"auth_mode: must be one of {', '.join(AUTH_MODES)}")
    return auth_mode


async def get_source(ctx: Context, caller: Caller, source_id: str) -> dict:
    """The caller's live source; 404 for unknown, deleted or another account's ids."""
    source = await ctx.db.read(store.get_source, caller.account_id, source_id)
    if source is None:
        raise NotFound("source not found")
    return source


async def list_sources(ctx: Context, caller: Caller) -> list[dict]:
    """The caller's live sources, oldest first."""
    return await ctx.db.read(store.list_sources, caller.account_id)


async def delete_source(ctx: Context, caller: Caller, source_id: str) -> None:
    """Soft-delete a source (its events stay) and its routes; its token stops working at once."""
    source = await get_source(ctx, caller, source_id)
    deleted = await ctx.db.write(store.delete_source, caller.account_id, source_id, ctx.clock.now())
    forget_routes(ctx)  # the source's routes were deleted with it
    # The ingest URL must answer 404 from now on, not after a cache expiry.
    forget_cached_sources(ctx, source["path_token"])
    if not deleted:
        raise NotFound("source not found")


async def live_source_for_token(ctx: Context, path_token: str) -> LiveSource | None:
    """The source behind an ingest token, cached: ingest looks this up on every request."""
    cached = ctx.sources_by_token.get(path_token)
    if cached is not None:
        return cached
    generation = ctx.sources_by_token.generation
    row = await ctx.db.read(store.find_source_by_token, path_token)
    live = _live_source(ctx, row) if row else None
    # Only live sources are cached; unknown tokens are not, so a spray of random tokens
    # cannot grow the cache. Nor is a source read before a concurrent delete.
    if live is not None:
        ctx.sources_by_token.put(path_token, live, generation)
    return live


def forget_cached_sources(ctx: Context, path_token: str | None = None) -> None:
    """Drop one cached source, or every one (after a change that affects many, e.g. a domain)."""
    ctx.sources_by_token.forget(path_token)


def _live_source(ctx: Context, row: dict) -> LiveSource:
    """What ingest needs from a source row, secrets decrypted."""
    return LiveSource(
        id=row["id"],
        account_id=row["account_id"],
        auth_mode=row["auth_mode"],
        verification_config=_decrypted_config(ctx, row),
        custom_domain=row.get("custom_domain"),
        sink=bool(row["sink"]),
    )


def _decrypted_config(ctx: Context, row: dict) -> dict[str, Any]:
    """The verification config in clear ({} when the mode has none)."""
    encrypted = row["verification_config_enc"]
    return json.loads(ctx.secrets.decrypt(encrypted)) if encrypted else {}


def present_source(ctx: Context, source: dict) -> dict:
    """The API shape of a source; secrets in its verification config are masked."""
    config = _decrypted_config(ctx, source)
    base = (
        f"https://{source['custom_domain']}"
        if source.get("custom_domain")
        else ctx.settings.server.base_url()
    )
    return {
        "id": source["id"],
        "account_id": source["account_id"],
        "name": source["name"],
        "path_token": source["path_token"],
        "ingest_url": f"{base}/ingest/{source['path_token']}",
        "status": source["status"],
        "auth_mode": source["auth_mode"],
        "provider": source["provider"],
        "verification_config": mask_config(source["auth_mode"], config) if config else None,
        "custom_domain_id": source["custom_domain_id"],
        "sink": bool(source["sink"]),
        "created_at": format_time(source["created_at"]),
    }
