"""POST /v1/destinations/{id}/pause and /resume (README "Delivery control")."""

from __future__ import annotations

from litestar import Router, post
from litestar.params import FromPath

from gethook_lite.api.common import AUTH_GUARDS, AUTHENTICATED, Ctx, CurrentCaller, Envelope
from gethook_lite.api.resources import Destination, with_control
from gethook_lite.domain import destination_control, destinations

__all__ = ["destination_control_router"]


@post(
    "/destinations/{destination_id:str}/pause",
    tags=["Destinations"],
    status_code=200,
    summary="Pause a destination",
)
async def pause_destination(
    ctx: Ctx, caller: CurrentCaller, destination_id: FromPath[str]
) -> Envelope[Destination]:
    """Hold the destination's deliveries (status ``held``: no attempts, nothing cancelled,
    retry clocks stopped) until it is resumed. Pausing a paused destination changes nothing."""
    await destination_control.pause_destination(ctx, caller, destination_id)
    return await with_control(ctx, await destinations.get_destination(ctx, caller, destination_id))


@post(
    "/destinations/{destination_id:str}/resume",
    tags=["Destinations"],
    status_code=200,
    summary="Resume a destination",
)
async def resume_destination(
    ctx: Ctx, caller: CurrentCaller, destination_id: FromPath[str]
) -> Envelope[Destination]:
    """Release the held deliveries, oldest first (an open circuit first sends one probe).
    Resuming a destination that is not paused changes nothing."""
    await destination_control.resume_destination(ctx, caller, destination_id)
    return await with_control(ctx, await destinations.get_destination(ctx, caller, destination_id))


destination_control_router = Router(
    "/v1",
    route_handlers=[pause_destination, resume_destination],
    dependencies=AUTHENTICATED,
    guards=AUTH_GUARDS,
)
