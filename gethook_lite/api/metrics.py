"""GET /metrics: Prometheus text format, optionally behind a bearer token."""

from __future__ import annotations

import hmac

from litestar import Request, Response, get
from prometheus_client import CONTENT_TYPE_LATEST

from gethook_lite.api.common import Ctx
from gethook_lite.db import deliveries as delivery_store
from gethook_lite.db import destination_state
from gethook_lite.errors import NotFound, Unauthorized

__all__ = ["metrics", "require_operator_token"]


@get("/metrics", include_in_schema=False)
async def metrics(request: Request, ctx: Ctx) -> Response:
    settings = ctx.settings.metrics
    if not settings.enabled:
        raise NotFound("metrics are disabled on this instance")
    require_operator_token(request, settings.token, "metrics")
    depth = await ctx.db.read(delivery_store.queue_depth, ctx.clock.now())
    circuits = await ctx.db.read(destination_state.circuit_counts)
    body = ctx.metrics.render(depth, ctx.db.size_bytes(), circuits)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def require_operator_token(request: Request, token: str, what: str) -> None:
    """401 unless the request sends ``Authorization: Bearer <token>`` (no-op when unset)."""
    if not token:
        return
    given = request.headers.get("authorization", "")
    # Constant-time: the comparison must not reveal how much of a guess was right.
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        raise Unauthorized(f"{what} need Authorization: Bearer <{what} token>")
