"""API keys: list, create (the secret shown once), revoke."""

from __future__ import annotations

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect

from gethook_lite.api.common import Ctx
from gethook_lite.context import Context
from gethook_lite.domain import accounts
from gethook_lite.errors import BadRequest
from gethook_lite.web.guard import action_session, page_session
from gethook_lite.web.layout import page
from gethook_lite.web.sessions import WebSession

__all__ = ["KEY_HANDLERS"]


async def _keys_page(
    ctx: Context,
    session: WebSession,
    *,
    new_key: dict | None = None,
    form_error: str | None = None,
    status_code: int = 200,
) -> Response:
    keys = await accounts.list_api_keys(ctx, session.caller)
    return await page(
        ctx,
        session,
        "api_keys.html",
        "/api-keys",
        status_code=status_code,
        keys=keys,
        new_key=new_key,
        roles=accounts.ROLES,
        form_error=form_error,
    )


@get("/api-keys")
async def api_keys_page(request: Request, ctx: Ctx) -> Response:
    return await _keys_page(ctx, await page_session(request, ctx))


@post("/api-keys", status_code=200)
async def create_api_key(request: Request, ctx: Ctx) -> Response:
    """The new key's secret is in this answer only."""
    session, form = await action_session(request, ctx)
    try:
        key = await accounts.create_api_key(
            ctx, session.caller, str(form.get("name") or ""), str(form.get("role") or "") or None
        )
    except BadRequest as exc:
        return await _keys_page(ctx, session, form_error=exc.message, status_code=400)
    return await _keys_page(ctx, session, new_key=key)


@post("/api-keys/{key_id:str}/revoke", status_code=303)
async def revoke_api_key(request: Request, ctx: Ctx, key_id: FromPath[str]) -> Response:
    session, _ = await action_session(request, ctx)
    await accounts.revoke_api_key(ctx, session.caller, key_id)
    return Redirect("/api-keys", status_code=303)


KEY_HANDLERS = [api_keys_page, create_api_key, revoke_api_key]
