"""The overview: the account's stats (the same as GET /v1/stats) over two weeks."""

from __future__ import annotations

from litestar import Request, Response, get

from gethook_lite.api.common import Ctx
from gethook_lite.domain import stats
from gethook_lite.web.guard import page_session
from gethook_lite.web.layout import page

__all__ = ["OVERVIEW_DAYS", "overview"]

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
    )
