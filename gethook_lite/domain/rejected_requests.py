"""Requests refused by verification: kept so their sender can see why, and listed per source."""

from __future__ import annotations

import logging

import msgspec

from gethook_lite.context import Context
from gethook_lite.db import StorageError
from gethook_lite.db import rejected_requests as store
from gethook_lite.domain.accounts import Caller
from gethook_lite.domain.sources import LiveSource, get_source
from gethook_lite.ids import new_id

__all__ = ["list_rejected_requests", "record_rejection"]

log = logging.getLogger(__name__)


async def record_rejection(
    ctx: Context,
    source: LiveSource,
    kept_headers: dict[str, str],
    body: bytes,
    reason: str,
    now: float,
) -> None:
    """Keep one refused request (credentials already redacted, body capped).

    Best effort: a storage fault must not turn the sender's 401 into a 503.
    """
    settings = ctx.settings.live
    if settings.rejected_per_source == 0:
        return
    row = {
        "id": new_id("rej"),
        "account_id": source.account_id,
        "source_id": source.id,
        "reason": reason,
        "headers": msgspec.json.encode(kept_headers).decode(),
        "body": body[: settings.rejected_body_bytes],
        "body_size": len(body),
        "received_at": now,
    }
    try:
        await ctx.db.write(store.insert_rejected, row, settings.rejected_per_source)
    except StorageError as exc:
        log.warning("cannot keep a rejected request of %s: %s", source.id, exc)
        return
    ctx.changes_committed()


async def list_rejected_requests(
    ctx: Context, caller: Caller, source_id: str, limit: int
) -> list[dict]:
    """The caller's source's most recent rejected requests, newest first (404 if not its)."""
    await get_source(ctx, caller, source_id)
    return await ctx.db.read(store.list_rejected, caller.account_id, source_id, limit)
