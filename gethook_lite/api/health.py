"""Liveness and readiness probes."""

from __future__ import annotations

from litestar import get

from gethook_lite.api.common import Ctx, Envelope, ReadModel
from gethook_lite.errors import ServiceUnavailable

__all__ = ["healthz", "readyz"]


class Health(ReadModel):
    """The probe's answer."""

    status: str


@get("/healthz", tags=["Health"], sync_to_thread=False, summary="Liveness")
def healthz() -> Envelope[Health]:
    """200 while the process runs."""
    return Envelope(Health(status="ok"))


@get("/readyz", tags=["Health"], summary="Readiness")
async def readyz(ctx: Ctx) -> Envelope[Health]:
    """200 when the database answers and the scheduler runs; else 503 naming what is not."""
    database_ok = await ctx.db.ping()
    scheduler_ok = ctx.scheduler is None or ctx.scheduler.healthy
    if database_ok and scheduler_ok:
        return Envelope(Health(status="ready"))
    problems = [n for n, ok in (("database", database_ok), ("scheduler", scheduler_ok)) if not ok]
    raise ServiceUnavailable(f"not ready: {', '.join(problems)} not answering")
