"""POST /v1/portal-sessions and DELETE /v1/portal-sessions/{id}: customer portal links."""

from __future__ import annotations

import msgspec
from litestar import Router, delete, post
from litestar.params import FromPath, JSONBody

from gethook_lite.api.common import (
    AUTH_GUARDS,
    AUTHENTICATED,
    Ctx,
    CurrentCaller,
    Envelope,
    ReadModel,
    enveloped,
)
from gethook_lite.clock import format_time
from gethook_lite.domain import portal

__all__ = ["CreatePortalSession", "PortalSessionCreated", "portal_session_router"]


class CreatePortalSession(msgspec.Struct, kw_only=True):
    """POST /v1/portal-sessions."""

    # The destinations the customer may see (the account's own; 404 otherwise).
    destination_ids: list[str]
    # Any of view, replay, rotate_secret, edit_url; view is always granted.
    capabilities: list[str] | None = None
    # 300 s to 30 days; 1 hour when omitted.
    expires_in_seconds: int | None = None
    # Origins (scheme://host[:port]) whose pages may embed the portal in a frame.
    allowed_origins: list[str] | None = None


class PortalSessionCreated(ReadModel):
    """A portal session; ``url`` holds its secret token and is shown only in this answer."""

    id: str
    account_id: str
    url: str
    destination_ids: list[str]
    capabilities: list[str]
    allowed_origins: list[str]
    created_at: str
    expires_at: str


@post(
    "/portal-sessions",
    tags=["Portal"],
    status_code=201,
    summary="Create a customer portal session",
)
async def create_portal_session(
    ctx: Ctx, caller: CurrentCaller, data: JSONBody[CreatePortalSession]
) -> Envelope[PortalSessionCreated]:
    """A link to the customer portal showing only the given destinations, their deliveries and
    attempts, with only the granted actions, branded with the account's brand settings; embed
    it in a frame from the allowed origins, or send it. Only a hash of its token is kept."""
    row, token = await portal.create_portal_session(
        ctx,
        caller,
        data.destination_ids,
        data.capabilities,
        data.expires_in_seconds,
        data.allowed_origins,
    )
    shaped = {
        "id": row["id"],
        "account_id": row["account_id"],
        "url": f"{ctx.settings.server.base_url()}/portal/{token}",
        "destination_ids": msgspec.json.decode(row["destination_ids"]),
        "capabilities": msgspec.json.decode(row["capabilities"]),
        "allowed_origins": msgspec.json.decode(row["allowed_origins"]),
        "created_at": format_time(row["created_at"]),
        "expires_at": format_time(row["expires_at"]),
    }
    return enveloped(shaped, PortalSessionCreated)


@delete(
    "/portal-sessions/{session_id:str}",
    tags=["Portal"],
    status_code=204,
    summary="Revoke a customer portal session",
)
async def revoke_portal_session(ctx: Ctx, caller: CurrentCaller, session_id: FromPath[str]) -> None:
    """Revoke the link: its pages answer 410 at once, with no data."""
    await portal.revoke_portal_session(ctx, caller, session_id)


portal_session_router = Router(
    "/v1",
    route_handlers=[create_portal_session, revoke_portal_session],
    dependencies=AUTHENTICATED,
    guards=AUTH_GUARDS,
)
