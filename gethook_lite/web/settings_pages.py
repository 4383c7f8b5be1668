"""Custom domains (register, verify the TXT record, remove) and brand settings."""

from __future__ import annotations

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect

from gethook_lite.api.common import Ctx
from gethook_lite.context import Context
from gethook_lite.domain import branding, domains
from gethook_lite.errors import BadRequest, Conflict, NotFound
from gethook_lite.web.guard import action_session, page_session
from gethook_lite.web.layout import page
from gethook_lite.web.sessions import WebSession

__all__ = ["SETTINGS_HANDLERS"]


async def _domains_page(
    ctx: Context,
    session: WebSession,
    *,
    message: str | None = None,
    form_error: str | None = None,
    status_code: int = 200,
) -> Response:
    rows = await domains.list_custom_domains(ctx, session.caller)
    return await page(
        ctx,
        session,
        "domains.html",
        "/domains",
        status_code=status_code,
        domains=[domains.present_custom_domain(row) for row in rows],
        message=message,
        form_error=form_error,
    )


@get("/domains")
async def domains_page(request: Request, ctx: Ctx) -> Response:
    return await _domains_page(ctx, await page_session(request, ctx))


@post("/domains", status_code=303)
async def create_domain(request: Request, ctx: Ctx) -> Response:
    session, form = await action_session(request, ctx)
    try:
        await domains.create_custom_domain(
            ctx, session.caller, domain=str(form.get("domain") or ""), domain_type=None
        )
    except (BadRequest, Conflict) as exc:
        return await _domains_page(
            ctx, session, form_error=exc.message, status_code=exc.status_code
        )
    return Redirect("/domains", status_code=303)


@post("/domains/{domain_id:str}/verify", status_code=200)
async def verify_domain(request: Request, ctx: Ctx, domain_id: FromPath[str]) -> Response:
    """What DNS answered is the message either way (400 keeps the page, with the reason)."""
    session, _ = await action_session(request, ctx)
    try:
        row = await domains.verify_custom_domain(ctx, session.caller, domain_id)
    except BadRequest as exc:
        return await _domains_page(ctx, session, form_error=exc.message, status_code=400)
    return await _domains_page(ctx, session, message=f"{row['domain']} is verified.")


@post("/domains/{domain_id:str}/delete", status_code=303)
async def delete_domain(request: Request, ctx: Ctx, domain_id: FromPath[str]) -> Response:
    session, _ = await action_session(request, ctx)
    await domains.delete_custom_domain(ctx, session.caller, domain_id)
    return Redirect("/domains", status_code=303)


async def _brand_page(
    ctx: Context,
    session: WebSession,
    *,
    given: dict | None = None,
    message: str | None = None,
    form_error: str | None = None,
    status_code: int = 200,
) -> Response:
    try:
        current = await branding.get_brand_settings(ctx, session.caller)
    except NotFound:
        current = dict.fromkeys(branding.BRAND_FIELDS)
    return await page(
        ctx,
        session,
        "brand.html",
        "/brand",
        status_code=status_code,
        # After a refused save the form shows what was typed, not what is stored.
        brand=given if given is not None else current,
        message=message,
        form_error=form_error,
    )


@get("/brand")
async def brand_page(request: Request, ctx: Ctx) -> Response:
    return await _brand_page(ctx, await page_session(request, ctx))


@post("/brand", status_code=200)
async def save_brand(request: Request, ctx: Ctx) -> Response:
    """Every field of the form is sent: an empty one clears that setting."""
    session, form = await action_session(request, ctx)
    given = {field: str(form.get(field) or "").strip() or None for field in branding.BRAND_FIELDS}
    try:
        await branding.upsert_brand_settings(ctx, session.caller, given)
    except BadRequest as exc:
        return await _brand_page(ctx, session, given=given, form_error=exc.message, status_code=400)
    return await _brand_page(ctx, session, message="Brand settings saved.")


SETTINGS_HANDLERS = [
    domains_page,
    create_domain,
    verify_domain,
    delete_domain,
    brand_page,
    save_brand,
]
