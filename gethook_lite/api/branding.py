"""Brand settings and custom domains (filled in by the domains/brand work)."""

from __future__ import annotations

from litestar import Router

from gethook_lite.api.common import AUTHENTICATED

__all__ = ["branding_router", "public_branding_router"]

branding_router = Router("/v1", route_handlers=[], dependencies=AUTHENTICATED)
# Endpoints without API-key auth (the reverse proxy's on-demand TLS "ask" endpoint).
public_branding_router = Router("/", route_handlers=[])
