"""Liveness and readiness probes."""

from __future__ import annotations

from litestar import Response, get

from gethook_lite.api.common import Ctx

__all__ = ["healthz", "readyz"]


@get("/healthz", sync_to_thread=False)
def healthz() -> dict:
    return {"data": {"status": "ok"}}


@get("/readyz")
async def readyz(ctx: Ctx) -> Response:
    database_ok = await ctx.db.ping()
    scheduler_ok = ctx.scheduler is None or ctx.scheduler.healthy
    if database_ok and scheduler_ok:
        return Response({"data": {"status": "ready"}})
    problems = [n for n, ok in (("database", database_ok), ("scheduler", scheduler_ok)) if not ok]
    return Response({"error": f"not ready: {', '.join(problems)} not answering"}, status_code=503)
