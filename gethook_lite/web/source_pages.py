"""Sources: their ingest URLs, creating one, and sending a test event through ingest."""

from __future__ import annotations

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect

from gethook_lite.api.common import Ctx
from gethook_lite.context import Context
from gethook_lite.domain import sources
from gethook_lite.domain.sample_events import send_sample_event
from gethook_lite.errors import BadRequest
from gethook_lite.presets import provider_presets
from gethook_lite.samples import provider_for_auth_mode, sample_event_types
from gethook_lite.web.guard import action_session, page_session
from gethook_lite.web.layout import page
from gethook_lite.web.sessions import WebSession

__all__ = ["SOURCE_HANDLERS"]


async def _sources_page(
    ctx: Context, session: WebSession, form_error: str | None = None, status_code: int = 200
) -> Response:
    found = await sources.list_sources(ctx, session.caller)
    shaped = [
        {
            **sources.present_source(ctx, source),
            "sample_types": sample_event_types(provider_for_auth_mode(source["auth_mode"])),
        }
        for source in found
    ]
    return await page(
        ctx,
        session,
        "sources.html",
        "/sources",
        status_code=status_code,
        sources=shaped,
        providers=provider_presets(),
        form_error=form_error,
    )


@get("/sources")
async def sources_page(request: Request, ctx: Ctx) -> Response:
    return await _sources_page(ctx, await page_session(request, ctx))


@post("/sources", status_code=303)
async def create_source(request: Request, ctx: Ctx) -> Response:
    """A source with no verification, or a provider's with its signing secret (other schemes
    and their settings: POST /v1/sources)."""
    session, form = await action_session(request, ctx)
    provider = str(form.get("provider") or "") or None
    secret = str(form.get("secret") or "")
    try:
        await sources.create_source(
            ctx,
            session.caller,
            name=str(form.get("name") or ""),
            auth_mode=None if provider else "none",
            provider=provider,
            verification_config={"secret": secret} if provider else None,
        )
    except BadRequest as exc:
        return await _sources_page(ctx, session, exc.message, 400)
    return Redirect("/sources", status_code=303)


@post("/sources/{source_id:str}/test-event", status_code=303)
async def send_test_event(request: Request, ctx: Ctx, source_id: FromPath[str]) -> Response:
    session, form = await action_session(request, ctx)
    event_type = str(form.get("event_type") or "").strip() or None
    event_id, _ = await send_sample_event(ctx, session.caller, source_id, event_type)
    return Redirect(f"/events/{event_id}", status_code=303)


@post("/sources/{source_id:str}/delete", status_code=303)
async def delete_source(request: Request, ctx: Ctx, source_id: FromPath[str]) -> Response:
    """Its ingest URL answers 404 from now on; its events stay readable."""
    session, _ = await action_session(request, ctx)
    await sources.delete_source(ctx, session.caller, source_id)
    return Redirect("/sources", status_code=303)


SOURCE_HANDLERS = [sources_page, create_source, send_test_event, delete_source]
