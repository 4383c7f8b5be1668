"""Which routes an event matches, from an in-memory copy of the routing table.

Ingest asks this on every request, so the routes of each (account, source) are cached with
their patterns compiled, and dropped whenever a route, destination or source changes
(``forget_routes``). A delivery created from a copy that went stale a moment ago is harmless:
the scheduler cancels, at claim time, deliveries whose destination is no longer active.

Matching is linear per route (``gethook_lite.patterns``) and routes per source are capped, but
a source with many routes and long hostile patterns can still take milliseconds: those are
matched in a worker thread, where the interpreter hands the event loop its turn every few
milliseconds instead of once the whole table is done.
"""

from __future__ import annotations

import asyncio

from gethook_lite.constants import ROUTING_INLINE_MAX_ROUTES
from gethook_lite.context import Context
from gethook_lite.db import resources as store
from gethook_lite.patterns import CompiledPattern, compile_pattern

__all__ = ["RoutingTable", "forget_routes", "matching_routes"]

# The live routes of one (account, source), each with its compiled pattern.
RoutingTable = list[tuple[dict, CompiledPattern]]


async def matching_routes(
    ctx: Context, account_id: str, source_id: str | None, event_type: str | None
) -> list[dict]:
    """The active routes an event matches, at most one per destination."""
    key = (account_id, source_id)
    table = ctx.routing_tables.get(key)
    if table is None:
        generation = ctx.routing_tables.generation
        routes = await ctx.db.read(store.matching_routes, account_id, source_id)
        table = [(route, compile_pattern(route["event_type_pattern"])) for route in routes]
        ctx.routing_tables.put(key, table, generation)
    if len(table) > ROUTING_INLINE_MAX_ROUTES:
        return await asyncio.to_thread(_match, table, event_type)
    return _match(table, event_type)


def _match(table: RoutingTable, event_type: str | None) -> list[dict]:
    matched: dict[str, dict] = {}
    for route, pattern in table:
        if route["destination_id"] not in matched and pattern.matches(event_type):
            matched[route["destination_id"]] = route
    return list(matched.values())


def forget_routes(ctx: Context) -> None:
    """Drop the cached routing table (after any change to routes, destinations or sources)."""
    ctx.routing_tables.forget()
