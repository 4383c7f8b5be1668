"""The change feed behind GET /v1/events/stream, for the app's lifetime."""

from __future__ import annotations

from gethook_lite.context import Context
from gethook_lite.domain.stream_feed import ChangeFeed

__all__ = ["start"]


async def start(ctx: Context) -> ChangeFeed:
    feed = ChangeFeed(ctx.db, ctx.settings.live)
    ctx.change_feed = feed
    feed.start()
    return feed
