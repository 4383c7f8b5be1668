"""Test events: POST /v1/sources/{id}/test-events sends a realistic, signed sample through
ingest; POST /v1/destinations/{id}/test sends one to a destination now."""

from __future__ import annotations

import msgspec
from litestar import Router, post
from litestar.params import FromPath, JSONBody

from gethook_lite.api.common import (
    AUTH_GUARDS,
    AUTHENTICATED,
    Ctx,
    CurrentCaller,
    Envelope,
    ReadModel,
)
from gethook_lite.api.events import EventDetail, event_detail
from gethook_lite.clock import format_time
from gethook_lite.domain.destination_test import send_destination_test
from gethook_lite.domain.sample_events import send_sample_event

__all__ = [
    "DestinationTestRequest",
    "DestinationTestResult",
    "SampleEventRequest",
    "test_event_router",
]


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


class DestinationTestRequest(msgspec.Struct, kw_only=True):
    """The body of a destination test; every field is optional."""

    # Default: the first generic sample type (GET /v1/provider-presets lists them).
    event_type: str | None = None


class DestinationTestResult(ReadModel):
    """What the one attempt of a destination test did (shaped like a delivery attempt)."""

    # The webhook-id header the receiver saw; the test is not stored as an event.
    event_id: str
    event_type: str
    destination_id: str
    # success | timeout | network_error | http_4xx | http_5xx
    outcome: str
    started_at: str
    response_status: int | None
    # Capped like an attempt's.
    response_body: str | None
    error_message: str | None
    latency_ms: int


@post(
    "/destinations/{destination_id:str}/test",
    tags=["Destinations"],
    status_code=200,
    summary="Send a test event to a destination now",
)
async def send_destination_test_event(
    ctx: Ctx,
    caller: CurrentCaller,
    destination_id: FromPath[str],
    data: JSONBody[DestinationTestRequest | None] = None,
) -> Envelope[DestinationTestResult]:
    """Send one signed sample event to the destination now, exactly as a delivery is sent
    (signature, auth, custom headers, network policy), and answer with the attempt: 200
    whatever the receiver answered (``outcome`` says how it went; a refused address is a
    ``network_error`` naming the policy). One attempt, no retry, not stored as an event.
    Admin keys only. The body is optional."""
    event_type = data.event_type if data is not None else None
    sent = await send_destination_test(ctx, caller, destination_id, event_type)
    attempt = sent.attempt
    return Envelope(
        DestinationTestResult(
            event_id=sent.event_id,
            event_type=sent.event_type,
            destination_id=destination_id,
            outcome=attempt.outcome,
            started_at=format_time(attempt.started_at) or "",
            response_status=attempt.response_status,
            response_body=attempt.response_body,
            error_message=attempt.error_message,
            latency_ms=round(attempt.latency_ms),
        )
    )


test_event_router = Router(
    "/v1",
    route_handlers=[send_test_event, send_destination_test_event],
    dependencies=AUTHENTICATED,
    guards=AUTH_GUARDS,
)
