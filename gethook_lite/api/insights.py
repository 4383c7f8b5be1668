"""Exports and stats: export jobs and their files, account stats, public platform stats."""

from __future__ import annotations

import msgspec
from litestar import Request, Router, get, post
from litestar.params import FromPath
from litestar.response import File

from gethook_lite.api.common import AUTHENTICATED, Ctx, CurrentCaller, data, decode_body, query_int
from gethook_lite.api.metrics import require_operator_token
from gethook_lite.domain import exports, stats

__all__ = ["insights_router", "public_insights_router"]

MAX_EXPORTS_PAGE = 500


class CreateExport(msgspec.Struct, kw_only=True):
    # Plain strings (not Literal): the domain names the allowed values in its 400 messages.
    format: str
    direction: str = "all"
    status: str | None = None
    source_id: str | None = None
    since: str | None = None
    until: str | None = None
    include_attempts: bool = False


@post("/exports", status_code=202)
async def create_export(request: Request, ctx: Ctx, caller: CurrentCaller) -> dict:
    """Queue an export of the caller's events; the job starts `pending`."""
    body = decode_body(await request.body(), CreateExport)
    job = await exports.create_export(ctx, caller, **msgspec.structs.asdict(body))
    return data(exports.present_export(job))


@get("/exports")
async def list_exports(request: Request, ctx: Ctx, caller: CurrentCaller) -> dict:
    limit = query_int(request, "limit", 50, 1, MAX_EXPORTS_PAGE)
    jobs = await exports.list_exports(ctx, caller, limit)
    return data([exports.present_export(job) for job in jobs])


@get("/exports/{export_id:str}")
async def get_export(ctx: Ctx, caller: CurrentCaller, export_id: FromPath[str]) -> dict:
    return data(exports.present_export(await exports.get_export(ctx, caller, export_id)))


@get("/exports/{export_id:str}/download")
async def download_export(ctx: Ctx, caller: CurrentCaller, export_id: FromPath[str]) -> File:
    """Stream the finished file as an attachment named ``<id>.<ext>``."""
    download = await exports.download_export(ctx, caller, export_id)
    return File(
        path=download.path,
        filename=download.filename,
        media_type=download.media_type,
        content_disposition_type="attachment",
    )


@get("/stats")
async def account_stats(request: Request, ctx: Ctx, caller: CurrentCaller) -> dict:
    days = query_int(request, "days", stats.DEFAULT_DAYS, 1, stats.MAX_DAYS)
    return data(await stats.account_stats(ctx, caller, days))


@get("/platform-stats")
async def platform_stats(request: Request, ctx: Ctx) -> dict:
    if ctx.settings.server.platform_stats:
        require_operator_token(request, ctx.settings.server.platform_stats_token, "platform stats")
    return data(await stats.platform_stats(ctx))


insights_router = Router(
    "/v1",
    route_handlers=[
        create_export,
        list_exports,
        get_export,
        download_export,
        account_stats,
    ],
    dependencies=AUTHENTICATED,
)
# Endpoints without API-key auth (GET /v1/platform-stats: none, or its own token).
public_insights_router = Router("/v1", route_handlers=[platform_stats])
