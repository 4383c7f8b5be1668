"""POST /v1/sources/{id}/test-events: send a realistic, signed sample through ingest."""

from __future__ import annotations

import msgspec
from litestar import Request, Router, post
from litestar.params import FromPath

from gethook_lite.api import openapi
from gethook_lite.api.common import AUTHENTICATED, Ctx, CurrentCaller, data, decode_body
from gethook_lite.domain import events
from gethook_lite.ingest.sample_events import send_sample_event

__all__ = ["SampleEventRequest", "test_event_router"]


class SampleEventRequest(msgspec.Struct, kw_only=True):
    """The body of a test-event request; every field is optional."""

    # Default: the provider's first sample type (GET /v1/provider-presets lists them).
    event_type: str | None = None


@post(
    "/sources/{source_id:str}/test-events",
    status_code=202,
    opt=openapi.body(SampleEventRequest, body_optional=True),
)
async def send_test_event(
    request: Request, ctx: Ctx, caller: CurrentCaller, source_id: FromPath[str]
) -> dict:
    """Build a realistic sample for the source's provider, sign it with the source's own
    secret and send it through ingest (verification included); 202 with the stored event,
    shaped as GET /v1/events/{id}. An event type without a hand-written sample gets a minimal
    valid envelope of that type. Admin keys only: it creates an event."""
    body = decode_body(await request.body(), SampleEventRequest)
    event_id, _ = await send_sample_event(ctx, caller, source_id, body.event_type)
    event, attempts = await events.get_event(ctx, caller, "inbound", event_id)
    return data(
        {
            "event": events.present_event(event),
            "attempts": [events.present_attempt(attempt) for attempt in attempts],
        }
    )


test_event_router = Router("/v1", route_handlers=[send_test_event], dependencies=AUTHENTICATED)
