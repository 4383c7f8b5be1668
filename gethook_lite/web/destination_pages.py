"""Destinations: pending deliveries, create, rotate the signing secret, activate/deactivate,
pause/resume (and the circuit breaker's state)."""

from __future__ import annotations

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect

from gethook_lite.api.common import Ctx
from gethook_lite.api.resources import present_destination
from gethook_lite.context import Context
from gethook_lite.db import web_sessions as dashboard_store
from gethook_lite.domain import destination_control, destinations
from gethook_lite.domain.destination_health import destination_health
from gethook_lite.errors import BadRequest
from gethook_lite.web.guard import action_session, page_session
from gethook_lite.web.layout import page
from gethook_lite.web.sessions import WebSession

__all__ = ["DESTINATION_HANDLERS"]


async def _destinations_page(
    ctx: Context,
    session: WebSession,
    *,
    new_secret: dict | None = None,
    form_error: str | None = None,
    status_code: int = 200,
) -> Response:
    found = await destinations.list_destinations(ctx, session.caller)
    views = await destination_control.control_views(ctx, [row["id"] for row in found])
    pending = await ctx.db.read(
        dashboard_store.open_deliveries_by_destination, session.caller.account_id
    )
    return await page(
        ctx,
        session,
        "destinations.html",
        "/destinations",
        status_code=status_code,
        destinations=[present_destination(ctx, row, views[row["id"]]) for row in found],
        pending=pending,
        health=await destination_health(ctx, session.caller),
        new_secret=new_secret,
        form_error=form_error,
    )


@get("/destinations")
async def destinations_page(request: Request, ctx: Ctx) -> Response:
    return await _destinations_page(ctx, await page_session(request, ctx))


@post("/destinations", status_code=200)
async def create_destination(request: Request, ctx: Ctx) -> Response:
    """Its signing secret is in this answer only (auth and custom headers: the API)."""
    session, form = await action_session(request, ctx)
    timeout = str(form.get("timeout_seconds") or "").strip()
    try:
        if timeout and not timeout.isdigit():
            raise BadRequest("timeout_seconds: must be a whole number of seconds")
        created = await destinations.create_destination(
            ctx,
            session.caller,
            name=str(form.get("name") or ""),
            url=str(form.get("url") or "").strip(),
            signing_secret=None,
            timeout_seconds=int(timeout) if timeout else None,
            auth_config=None,
            custom_headers=None,
            preset=None,
        )
    except BadRequest as exc:
        return await _destinations_page(ctx, session, form_error=exc.message, status_code=400)
    return await _destinations_page(ctx, session, new_secret=present_destination(ctx, created))


@post("/destinations/{destination_id:str}/rotate-secret", status_code=200)
async def rotate_secret(request: Request, ctx: Ctx, destination_id: FromPath[str]) -> Response:
    """The new secret is in this answer only (not a redirect: it must not be shown twice)."""
    session, _ = await action_session(request, ctx)
    rotated = await destinations.rotate_secret(ctx, session.caller, destination_id)
    return await _destinations_page(ctx, session, new_secret=present_destination(ctx, rotated))


@post("/destinations/{destination_id:str}/active", status_code=303)
async def set_active(request: Request, ctx: Ctx, destination_id: FromPath[str]) -> Response:
    session, form = await action_session(request, ctx)
    active = form.get("active") == "true"
    await destinations.update_destination(ctx, session.caller, destination_id, {"active": active})
    return Redirect("/destinations", status_code=303)


@post("/destinations/{destination_id:str}/paused", status_code=303)
async def set_paused(request: Request, ctx: Ctx, destination_id: FromPath[str]) -> Response:
    """Pause (hold its deliveries) or resume (release them, oldest first)."""
    session, form = await action_session(request, ctx)
    if form.get("paused") == "true":
        await destination_control.pause_destination(ctx, session.caller, destination_id)
    else:
        await destination_control.resume_destination(ctx, session.caller, destination_id)
    return Redirect("/destinations", status_code=303)


@post("/destinations/{destination_id:str}/delete", status_code=303)
async def delete_destination(request: Request, ctx: Ctx, destination_id: FromPath[str]) -> Response:
    """Its routes go with it and its pending deliveries are cancelled."""
    session, _ = await action_session(request, ctx)
    await destinations.delete_destination(ctx, session.caller, destination_id)
    return Redirect("/destinations", status_code=303)


DESTINATION_HANDLERS = [
    destinations_page,
    create_destination,
    rotate_secret,
    set_active,
    set_paused,
    delete_destination,
]
