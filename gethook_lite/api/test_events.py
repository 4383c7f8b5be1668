"""POST /v1/sources/{id}/test-events: send a realistic, signed sample through ingest."""

from __future__ import annotations

import msgspec
from litestar import Router, post
from litestar.params import FromPath, JSONBody

from gethook_lite.api.common import AUTH_GUARDS, AUTHENTICATED, Ctx, CurrentCaller, Envelope
from gethook_lite.api.events import EventDetail, event_detail
from gethook_lite.domain.sample_events import send_sample_event

__all__ = ["SampleEventRequest", "test_event_router"]


class SampleEventRequest(msgspec.Struct, kw_only=True):
    """The body of a test-event request; every field is optional."""

    # Default: the provider's first sample type (GET /v1/provider-presets lists them).
    event_type: str | None = None


@post(
    "/sources/{source_id:str}/test-events",
    tags=["Sources"],
    status_code=202,
    summary="Send a signed sample event to a source",
)
async def send_test_event(
    ctx: Ctx,
    caller: CurrentCaller,
    source_id: FromPath[str],
    data: JSONBody[SampleEventRequest | None] = None,
) -> Envelope[EventDetail]:
    """Build a realistic sample for the source's provider, sign it with the source's own
    secret and send it through ingest (verification included); 202 with the stored event,
    shaped as GET /v1/events/{id}. An event type without a hand-written sample gets a minimal
    valid envelope of that type. Admin keys only: it creates an event. The body is optional."""
    event_type = data.event_type if data is not None else None
    event_id, _ = await send_sample_event(ctx, caller, source_id, event_type)
    return await event_detail(ctx, caller, "inbound", event_id)


test_event_router = Router(
    "/v1", route_handlers=[send_test_event], dependencies=AUTHENTICATED, guards=AUTH_GUARDS
)
