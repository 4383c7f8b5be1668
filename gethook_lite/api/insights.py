"""Exports and stats: export jobs and their files, account stats, public platform stats."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Router, get, post
from litestar.params import FromPath, JSONBody, Parameter
from litestar.response import File

from gethook_lite.api.common import (
    AUTH_GUARDS,
    AUTHENTICATED,
    Ctx,
    CurrentCaller,
    Envelope,
    ReadModel,
    enveloped,
)
from gethook_lite.api.metrics import require_operator_token
from gethook_lite.domain import exports, stats

__all__ = ["insights_router", "public_insights_router"]

MAX_EXPORTS_PAGE = 500


class CreateExport(msgspec.Struct, kw_only=True):
    """POST /v1/exports: ``format`` jsonl or csv; ``direction`` inbound, outbound or all."""

    # Plain strings (not Literal): the domain names the allowed values in its 400 messages.
    format: str
    direction: str = "all"
    status: str | None = None
    source_id: str | None = None
    since: str | None = None
    until: str | None = None
    include_attempts: bool = False


class ExportJob(ReadModel):
    """An export of events to a file; download it once ``completed``, before ``expires_at``."""

    id: str
    account_id: str
    status: Literal["pending", "running", "completed", "failed"]
    format: Literal["jsonl", "csv"]
    # The request's filters, as given.
    filters: dict[str, Any]
    row_count: int | None
    size_bytes: int | None
    error: str | None
    created_at: str
    completed_at: str | None
    expires_at: str | None


class StatusCount(ReadModel):
    """How many of the account's events are in one status."""

    status: str
    count: int


class DayCounts(ReadModel):
    """One UTC day: events received/published, and those that ended delivered or failed."""

    date: str
    inbound: int
    outbound: int
    delivered: int
    failed: int


class Totals(ReadModel):
    """The window's events, and those that ended delivered or failed."""

    total: int
    delivered: int
    failed: int


class Stats(ReadModel):
    """An account's events over the last days."""

    by_status: list[StatusCount]
    daily: list[DayCounts]
    totals: Totals


class PlatformStats(ReadModel):
    """Instance-wide figures for a public landing page."""

    events_processed: int
    events_delivered: int
    delivery_attempts: int
    success_rate_pct: float


@post("/exports", tags=["Exports"], status_code=202, summary="Start an export")
async def create_export(
    ctx: Ctx, caller: CurrentCaller, data: JSONBody[CreateExport]
) -> Envelope[ExportJob]:
    """Queue an export of the caller's events; the job starts `pending`."""
    job = await exports.create_export(ctx, caller, **msgspec.structs.asdict(data))
    return enveloped(exports.present_export(job), ExportJob)


@get("/exports", tags=["Exports"], summary="List exports")
async def list_exports(
    ctx: Ctx,
    caller: CurrentCaller,
    limit: Annotated[int, Parameter(ge=1, le=MAX_EXPORTS_PAGE, description="newest first")] = 50,
) -> Envelope[list[ExportJob]]:
    """The caller's export jobs, newest first."""
    jobs = await exports.list_exports(ctx, caller, limit)
    return enveloped([exports.present_export(job) for job in jobs], list[ExportJob])


@get("/exports/{export_id:str}", tags=["Exports"], summary="Get an export")
async def get_export(
    ctx: Ctx, caller: CurrentCaller, export_id: FromPath[str]
) -> Envelope[ExportJob]:
    """One export job."""
    return enveloped(
        exports.present_export(await exports.get_export(ctx, caller, export_id)), ExportJob
    )


@get(
    "/exports/{export_id:str}/download",
    tags=["Exports"],
    summary="Download an export's file",
    media_type="application/octet-stream",
)
async def download_export(ctx: Ctx, caller: CurrentCaller, export_id: FromPath[str]) -> File:
    """Stream the finished file as an attachment named ``<id>.<ext>`` (JSON lines or CSV);
    409 while the job is not completed."""
    download = await exports.download_export(ctx, caller, export_id)
    return File(
        path=download.path,
        filename=download.filename,
        media_type=download.media_type,
        content_disposition_type="attachment",
    )


@get("/stats", tags=["Stats"], summary="Account stats")
async def account_stats(
    ctx: Ctx,
    caller: CurrentCaller,
    days: Annotated[
        int, Parameter(ge=1, le=stats.MAX_DAYS, description="UTC days, today included")
    ] = stats.DEFAULT_DAYS,
) -> Envelope[Stats]:
    """Counts of the caller's events by status and by day."""
    return enveloped(await stats.account_stats(ctx, caller, days), Stats)


@get("/platform-stats", tags=["Stats"], summary="Platform stats")
async def platform_stats(request: Request, ctx: Ctx) -> Envelope[PlatformStats]:
    """Instance-wide figures; 404 when the operator turned them off, and 401 without the
    operator's token when ``server.platform_stats_token`` is set."""
    if ctx.settings.server.platform_stats:
        require_operator_token(request, ctx.settings.server.platform_stats_token, "platform stats")
    return enveloped(await stats.platform_stats(ctx), PlatformStats)


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
    guards=AUTH_GUARDS,
)
# Endpoints without API-key auth (GET /v1/platform-stats: none, or its own token).
public_insights_router = Router("/v1", route_handlers=[platform_stats])
