"""Routes: which source's events (or outbound events) go to which destination."""

from __future__ import annotations

import json

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect

from gethook_lite.api.common import Ctx
from gethook_lite.context import Context
from gethook_lite.domain import destinations, routes, sources
from gethook_lite.errors import BadRequest
from gethook_lite.web.guard import action_session, page_session
from gethook_lite.web.layout import page
from gethook_lite.web.sessions import WebSession

__all__ = ["ROUTE_HANDLERS"]


async def _routes_page(
    ctx: Context, session: WebSession, form_error: str | None = None, status_code: int = 200
) -> Response:
    found = await routes.list_routes(ctx, session.caller)
    source_list = await sources.list_sources(ctx, session.caller)
    destination_list = await destinations.list_destinations(ctx, session.caller)
    return await page(
        ctx,
        session,
        "routes.html",
        "/routes",
        status_code=status_code,
        routes=[{**route, "retry_policy": json.loads(route["retry_policy"])} for route in found],
        sources=source_list,
        destinations=destination_list,
        source_names={source["id"]: source["name"] for source in source_list},
        destination_names={item["id"]: item["name"] for item in destination_list},
        form_error=form_error,
    )


@get("/routes")
async def routes_page(request: Request, ctx: Ctx) -> Response:
    return await _routes_page(ctx, await page_session(request, ctx))


@post("/routes", status_code=303)
async def create_route(request: Request, ctx: Ctx) -> Response:
    """A route with the default retry policy, or another number of attempts."""
    session, form = await action_session(request, ctx)
    attempts = str(form.get("max_attempts") or "").strip()
    try:
        if attempts and not attempts.isdigit():
            raise BadRequest("max_attempts: must be a whole number")
        await routes.create_route(
            ctx,
            session.caller,
            destination_id=str(form.get("destination_id") or ""),
            source_id=str(form.get("source_id") or "") or None,
            event_type_pattern=str(form.get("event_type_pattern") or "").strip() or None,
            retry_policy={"max_attempts": int(attempts)} if attempts else None,
        )
    except BadRequest as exc:
        return await _routes_page(ctx, session, exc.message, 400)
    return Redirect("/routes", status_code=303)


@post("/routes/{route_id:str}/delete", status_code=303)
async def delete_route(request: Request, ctx: Ctx, route_id: FromPath[str]) -> Response:
    session, _ = await action_session(request, ctx)
    await routes.delete_route(ctx, session.caller, route_id)
    return Redirect("/routes", status_code=303)


ROUTE_HANDLERS = [routes_page, create_route, delete_route]
