"""Routes: which events (by source and type pattern) go to which destination, how retried."""

from __future__ import annotations

import json

import msgspec

from gethook_lite.config import RoutesSettings
from gethook_lite.context import Context
from gethook_lite.db import resources as store
from gethook_lite.db import route_counts
from gethook_lite.delivery.retry import PolicyError, validate_retry_policy
from gethook_lite.domain.accounts import Caller
from gethook_lite.domain.destination_pacing import validate_ordering
from gethook_lite.domain.routing import forget_routes
from gethook_lite.errors import BadRequest, Conflict, NotFound
from gethook_lite.ids import new_id
from gethook_lite.patterns import validate_event_type_pattern

__all__ = ["create_route", "delete_route", "list_routes"]


async def create_route(
    ctx: Context,
    caller: Caller,
    *,
    destination_id: str,
    source_id: str | None,
    event_type_pattern: str | None,
    retry_policy: dict | None,
    ordering: str | None = None,
) -> dict:
    """Create a route; both ids must be the caller's live resources (404 otherwise).

    The routes of a source (and an account's outbound ones) are all matched on every event,
    so their number is capped (409 naming the setting).
    """
    limits = ctx.settings.routes
    try:
        pattern = validate_event_type_pattern(event_type_pattern, limits.max_pattern_length)
    except ValueError as exc:
        # The pattern module's messages start with the field name; it is named once here.
        message = str(exc).removeprefix("event_type_pattern ")
        raise BadRequest(f"event_type_pattern: {message}") from None
    _check_numbers_fit(retry_policy)
    try:
        policy = validate_retry_policy(retry_policy)
    except PolicyError as exc:
        raise BadRequest(f"{exc.field}: {exc.message}") from None
    route = {
        "id": new_id("route"),
        "account_id": caller.account_id,
        "source_id": source_id,
        "destination_id": destination_id,
        "event_type_pattern": pattern,
        "retry_policy": json.dumps(msgspec.structs.asdict(policy)),
        "active": 1,
        # FIFO here: this route's deliveries to its destination go one at a time, in order.
        "ordering": validate_ordering(ordering),
        "created_at": ctx.clock.now(),
    }
    await ctx.db.write(_insert_checked, route, limits)
    forget_routes(ctx)
    return route


def _check_numbers_fit(retry_policy: dict | None) -> None:
    """Refuse integers too large for a float: the policy check converts them (OverflowError)."""
    for key, value in (retry_policy or {}).items():
        if isinstance(value, int):
            try:
                float(value)
            except OverflowError:
                raise BadRequest(f"retry_policy.{key}: is out of range") from None


def _insert_checked(conn, route: dict, limits: RoutesSettings) -> None:
    # Checked in the same transaction as the insert, so a concurrent delete (or create) cannot
    # slip between the check and the write; ids of another account are simply "not found".
    account_id = route["account_id"]
    if store.get_destination(conn, account_id, route["destination_id"]) is None:
        raise NotFound("destination not found")
    source_id = route["source_id"]
    if source_id is not None and store.get_source(conn, account_id, source_id) is None:
        raise NotFound("source not found")
    if route_counts.live_routes_of_account(conn, account_id) >= limits.max_per_account:
        raise Conflict(
            f"routes: the account already has {limits.max_per_account} routes, the limit"
            " (routes.max_per_account); delete one first"
        )
    if route_counts.live_routes_of_source(conn, account_id, source_id) >= limits.max_per_source:
        which = "this source" if source_id is not None else "outbound events (no source)"
        raise Conflict(
            f"routes: {which} already has {limits.max_per_source} routes, the limit"
            " (routes.max_per_source); delete one first"
        )
    store.insert_route(conn, route)


async def list_routes(ctx: Context, caller: Caller) -> list[dict]:
    """The caller's live routes, oldest first."""
    return await ctx.db.read(store.list_routes, caller.account_id)


async def delete_route(ctx: Context, caller: Caller, route_id: str) -> None:
    """Soft-delete a route (queued deliveries keep its retry policy)."""
    deleted = await ctx.db.write(store.delete_route, caller.account_id, route_id, ctx.clock.now())
    forget_routes(ctx)
    if not deleted:
        raise NotFound("route not found")
