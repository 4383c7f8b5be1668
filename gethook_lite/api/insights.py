"""Exports and stats (filled in by the exports/stats work)."""

from __future__ import annotations

from litestar import Router

from gethook_lite.api.common import AUTHENTICATED

__all__ = ["insights_router", "public_insights_router"]

insights_router = Router("/v1", route_handlers=[], dependencies=AUTHENTICATED)
# Endpoints without auth (GET /v1/platform-stats).
public_insights_router = Router("/v1", route_handlers=[])
