"""Exports: start one with the list's filters, watch its progress, download the file."""

from __future__ import annotations

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import File, Redirect

from gethook_lite.api.common import Ctx
from gethook_lite.context import Context
from gethook_lite.domain import events, exports, sources
from gethook_lite.errors import BadRequest, NotFound
from gethook_lite.web.event_pages import as_utc
from gethook_lite.web.guard import action_session, page_session
from gethook_lite.web.layout import page
from gethook_lite.web.render import html
from gethook_lite.web.sessions import WebSession

__all__ = ["EXPORT_HANDLERS"]

# The page shows the newest jobs; older ones stay readable through GET /v1/exports.
SHOWN_EXPORTS = 50
# While a job is pending or running, the list refreshes itself this often.
EXPORTS_POLL_MILLISECONDS = 2000


async def _jobs(ctx: Context, session: WebSession) -> list[dict]:
    found = await exports.list_exports(ctx, session.caller, SHOWN_EXPORTS)
    return [exports.present_export(job) for job in found]


def _in_progress(jobs: list[dict]) -> bool:
    return any(job["status"] in ("pending", "running") for job in jobs)


async def _exports_page(
    ctx: Context, session: WebSession, form_error: str | None = None, status_code: int = 200
) -> Response:
    jobs = await _jobs(ctx, session)
    return await page(
        ctx,
        session,
        "exports.html",
        "/exports",
        status_code=status_code,
        jobs=jobs,
        in_progress=_in_progress(jobs),
        poll_ms=EXPORTS_POLL_MILLISECONDS,
        formats=exports.EXPORT_FORMATS,
        directions=exports.DIRECTIONS,
        statuses=events.EVENT_STATUSES,
        sources=await sources.list_sources(ctx, session.caller),
        form_error=form_error,
    )


@get("/exports")
async def exports_page(request: Request, ctx: Ctx) -> Response:
    return await _exports_page(ctx, await page_session(request, ctx))


@get("/exports/rows")
async def export_rows(request: Request, ctx: Ctx) -> Response:
    """The jobs table's rows alone, for the page's refresh while a job runs."""
    session = await page_session(request, ctx)
    return html("_export_rows.html", jobs=await _jobs(ctx, session))


@post("/exports", status_code=303)
async def create_export(request: Request, ctx: Ctx) -> Response:
    session, form = await action_session(request, ctx)
    try:
        await exports.create_export(
            ctx,
            session.caller,
            format=str(form.get("format") or ""),
            direction=str(form.get("direction") or "all"),
            status=str(form.get("status") or "") or None,
            source_id=str(form.get("source_id") or "") or None,
            since=as_utc(str(form.get("since") or "")),
            until=as_utc(str(form.get("until") or "")),
            include_attempts=form.get("include_attempts") == "on",
        )
    except (BadRequest, NotFound) as exc:
        return await _exports_page(ctx, session, exc.message, exc.status_code)
    return Redirect("/exports", status_code=303)


@get("/exports/{export_id:str}/download")
async def download_export(request: Request, ctx: Ctx, export_id: FromPath[str]) -> File:
    session = await page_session(request, ctx)
    download = await exports.download_export(ctx, session.caller, export_id)
    return File(
        path=download.path,
        filename=download.filename,
        media_type=download.media_type,
        content_disposition_type="attachment",
    )


EXPORT_HANDLERS = [exports_page, export_rows, create_export, download_export]
