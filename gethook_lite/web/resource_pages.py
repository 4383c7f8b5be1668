"""Overview, sources, destinations, routes and API keys: each page reads through the same
domain functions as the API, and each button calls the one the API endpoint calls."""

from __future__ import annotations

import json

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect

from gethook_lite.api.common import Ctx
from gethook_lite.api.resources import present_destination
from gethook_lite.context import Context
from gethook_lite.db import web_sessions as dashboard_store
from gethook_lite.domain import accounts, destinations, events, routes, sources, stats
from gethook_lite.ingest.sample_events import send_sample_event
from gethook_lite.samples import provider_for_auth_mode, sample_event_types
from gethook_lite.web.guard import action_session, page_session
from gethook_lite.web.layout import page
from gethook_lite.web.sessions import WebSession

__all__ = ["RESOURCE_HANDLERS"]

OVERVIEW_DAYS = 14


@get("/")
async def overview(request: Request, ctx: Ctx) -> Response:
    session = await page_session(request, ctx)
    summary = await stats.account_stats(ctx, session.caller, OVERVIEW_DAYS)
    totals = summary["totals"]
    finished = totals["delivered"] + totals["failed"]
    peak = max((day["inbound"] + day["outbound"] for day in summary["daily"]), default=0)
    return await page(
        ctx,
        session,
        "overview.html",
        "/",
        summary=summary,
        days=OVERVIEW_DAYS,
        success_rate=round(100 * totals["delivered"] / finished, 1) if finished else None,
        by_status={row["status"]: row["count"] for row in summary["by_status"]},
        peak=max(peak, 1),
        views=events.EVENT_VIEWS,
    )


# -- sources ---------------------------------------------------------------------------------


def _sample_types(source: dict) -> tuple[str, ...]:
    return sample_event_types(provider_for_auth_mode(source["auth_mode"]))


@get("/sources")
async def sources_page(request: Request, ctx: Ctx) -> Response:
    session = await page_session(request, ctx)
    found = await sources.list_sources(ctx, session.caller)
    shaped = [
        {**sources.present_source(ctx, source), "sample_types": _sample_types(source)}
        for source in found
    ]
    return await page(ctx, session, "sources.html", "/sources", sources=shaped)


@post("/sources/{source_id:str}/test-event", status_code=303)
async def send_test_event(request: Request, ctx: Ctx, source_id: FromPath[str]) -> Response:
    session, form = await action_session(request, ctx)
    event_type = str(form.get("event_type") or "").strip() or None
    event_id, _ = await send_sample_event(ctx, session.caller, source_id, event_type)
    return Redirect(f"/events/{event_id}", status_code=303)


# -- destinations ----------------------------------------------------------------------------


async def _destinations_page(
    ctx: Context, session: WebSession, new_secret: dict | None = None
) -> Response:
    found = await destinations.list_destinations(ctx, session.caller)
    pending = await ctx.db.read(
        dashboard_store.open_deliveries_by_destination, session.caller.account_id
    )
    return await page(
        ctx,
        session,
        "destinations.html",
        "/destinations",
        destinations=[present_destination(ctx, destination) for destination in found],
        pending=pending,
        new_secret=new_secret,
    )


@get("/destinations")
async def destinations_page(request: Request, ctx: Ctx) -> Response:
    return await _destinations_page(ctx, await page_session(request, ctx))


@post("/destinations/{destination_id:str}/rotate-secret", status_code=200)
async def rotate_secret(request: Request, ctx: Ctx, destination_id: FromPath[str]) -> Response:
    """The new secret is in this answer only (not a redirect: it must not be shown twice)."""
    session, _ = await action_session(request, ctx)
    rotated = await destinations.rotate_secret(ctx, session.caller, destination_id)
    return await _destinations_page(ctx, session, present_destination(ctx, rotated))


@post("/destinations/{destination_id:str}/active", status_code=303)
async def set_active(request: Request, ctx: Ctx, destination_id: FromPath[str]) -> Response:
    session, form = await action_session(request, ctx)
    active = form.get("active") == "true"
    await destinations.update_destination(ctx, session.caller, destination_id, {"active": active})
    return Redirect("/destinations", status_code=303)


# -- routes ----------------------------------------------------------------------------------


@get("/routes")
async def routes_page(request: Request, ctx: Ctx) -> Response:
    session = await page_session(request, ctx)
    found = await routes.list_routes(ctx, session.caller)
    source_list = await sources.list_sources(ctx, session.caller)
    destination_list = await destinations.list_destinations(ctx, session.caller)
    return await page(
        ctx,
        session,
        "routes.html",
        "/routes",
        routes=[{**route, "retry_policy": json.loads(route["retry_policy"])} for route in found],
        source_names={source["id"]: source["name"] for source in source_list},
        destination_names={item["id"]: item["name"] for item in destination_list},
    )


# -- API keys --------------------------------------------------------------------------------


async def _keys_page(ctx: Context, session: WebSession, new_key: dict | None = None) -> Response:
    keys = await accounts.list_api_keys(ctx, session.caller)
    return await page(
        ctx, session, "api_keys.html", "/api-keys", keys=keys, new_key=new_key, roles=accounts.ROLES
    )


@get("/api-keys")
async def api_keys_page(request: Request, ctx: Ctx) -> Response:
    return await _keys_page(ctx, await page_session(request, ctx))


@post("/api-keys", status_code=201)
async def create_api_key(request: Request, ctx: Ctx) -> Response:
    """The new key's secret is in this answer only."""
    session, form = await action_session(request, ctx)
    key = await accounts.create_api_key(
        ctx, session.caller, str(form.get("name") or ""), str(form.get("role") or "") or None
    )
    return await _keys_page(ctx, session, key)


@post("/api-keys/{key_id:str}/revoke", status_code=303)
async def revoke_api_key(request: Request, ctx: Ctx, key_id: FromPath[str]) -> Response:
    session, _ = await action_session(request, ctx)
    await accounts.revoke_api_key(ctx, session.caller, key_id)
    return Redirect("/api-keys", status_code=303)


RESOURCE_HANDLERS = [
    overview,
    sources_page,
    send_test_event,
    destinations_page,
    rotate_secret,
    set_active,
    routes_page,
    api_keys_page,
    create_api_key,
    revoke_api_key,
]
