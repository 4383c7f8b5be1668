"""Which routes an event matches, from an in-memory copy of the routing table.

Ingest asks this on every request, so the routes of each (account, source) are cached and
dropped whenever a route, destination or source changes (``forget_routes``). A delivery
created from a copy that went stale a moment ago is harmless: the scheduler cancels, at claim
time, deliveries whose destination is no longer active.
"""

from __future__ import annotations

from gethook_lite.context import Context
from gethook_lite.db import resources as store
from gethook_lite.patterns import matches

__all__ = ["forget_routes", "matching_routes"]

_CACHE = "routes_by_source"
_GENERATION = "routes_generation"


async def matching_routes(
    ctx: Context, account_id: str, source_id: str | None, event_type: str | None
) -> list[dict]:
    """The active routes an event matches, at most one per destination."""
    key = (account_id, source_id)
    cache: dict = ctx.caches.setdefault(_CACHE, {})
    routes = cache.get(key)
    if routes is None:
        generation = ctx.caches.get(_GENERATION, 0)
        routes = await ctx.db.read(store.matching_routes, account_id, source_id)
        # Keep the copy only if no change happened while it was being read.
        if ctx.caches.get(_GENERATION, 0) == generation:
            cache[key] = routes
    matched: dict[str, dict] = {}
    for route in routes:
        if route["destination_id"] not in matched and matches(
            route["event_type_pattern"], event_type
        ):
            matched[route["destination_id"]] = route
    return list(matched.values())


def forget_routes(ctx: Context) -> None:
    """Drop the cached routing table (after any change to routes, destinations or sources)."""
    ctx.caches[_GENERATION] = ctx.caches.get(_GENERATION, 0) + 1
    ctx.caches.pop(_CACHE, None)
