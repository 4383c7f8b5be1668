"""Inbound and outbound events: list, inspect, replay, publish."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Router, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, Parameter

from gethook_lite.api.common import (
    AUTH_GUARDS,
    AUTHENTICATED,
    Ctx,
    CurrentCaller,
    Envelope,
    ReadModel,
    enveloped,
)
from gethook_lite.domain import events
from gethook_lite.domain.accounts import Caller
from gethook_lite.domain.destination_pacing import fifo_blockers

__all__ = [
    "DeliveryAttempt",
    "Event",
    "EventDetail",
    "EventStatus",
    "event_detail",
    "event_router",
]

MAX_PAGE = 500
MAX_OFFSET = 10_000_000
MAX_FILTER_LENGTH = 255


class PublishOutbound(msgspec.Struct, kw_only=True):
    """POST /v1/outbound-events."""

    # Any JSON value; it is stored and delivered as its JSON text.
    payload: Any
    event_type: str | None = None
    external_event_id: str | None = None


# events.EVENT_STATUSES, spelled out so that the document lists them (a test keeps them equal).
EventStatus = Literal[
    "received", "accepted", "queued", "delivering", "delivered", "retry_scheduled",
    "dead_letter", "replayed", "held",
]  # fmt: skip


class Event(ReadModel):
    """An event, inbound (received at ingest) or outbound (published through the API)."""

    id: str
    account_id: str
    direction: Literal["inbound", "outbound"]
    source_id: str | None
    event_type: str | None
    external_event_id: str | None
    # sha256:<hex> of the raw body.
    payload_hash: str | None
    received_at: str
    headers: dict[str, str]
    # The raw body as UTF-8 text, or base64 when ``body_encoding`` says so.
    body: str
    status: EventStatus
    attempts_count: int
    next_attempt_at: str | None
    # What the event ended as, kept when it is replayed.
    final_state: str | None
    created_by: Literal["ingest", "api", "replay"] | None
    replay_of: str | None
    # The bulk retry job (``bjob_…``) that made this replay; null for any other event.
    bulk_retry_id: str | None
    created_at: str
    # The request as received at ingest: its method, the path below the ingest URL ("" or
    # "/sub/path", which only a sink source takes) and the raw query string ("" if none).
    # Null for events made by the API or a replay.
    request_method: str | None
    request_path: str | None
    request_query: str | None
    body_encoding: str | msgspec.UnsetType = msgspec.UNSET


class DeliveryAttempt(ReadModel):
    """One attempt to deliver an event to one destination."""

    id: str
    event_id: str
    destination_id: str
    attempt_number: int
    started_at: str
    finished_at: str | None
    response_status: int | None
    # Truncated.
    response_body: str | None
    error_message: str | None
    latency_ms: int | None
    outcome: str


class EventPage(ReadModel):
    """A page of events, newest first; ``total`` counts every match, not the page."""

    items: list[Event]
    total: int


class BlockedBy(ReadModel):
    """A delivery of this event waiting in a FIFO queue behind another event's delivery."""

    destination_id: str
    # The event whose delivery is first in the queue (in flight, waiting for its retry, held):
    # this one goes after it succeeds or is dead-lettered.
    event_id: str


class EventDetail(ReadModel):
    """An event and its delivery attempts."""

    event: Event
    attempts: list[DeliveryAttempt]
    # Its deliveries blocked behind another event in a FIFO queue (ordering "fifo").
    blocked_by: list[BlockedBy] = msgspec.field(default_factory=list)


class Replay(ReadModel):
    """The replay made of an event: a new event delivered through today's routes."""

    original_event_id: str
    replay_event_id: str
    status: str


class Published(ReadModel):
    """A stored outbound event (or, for a repeated external id, the first one)."""

    id: str
    status: str


class EventListing(msgspec.Struct, frozen=True):
    """The list endpoints' validated query: filters and the page."""

    filters: events.EventFilters
    limit: int
    offset: int


def provide_listing(
    limit: Annotated[int, Parameter(ge=1, le=MAX_PAGE, description="page size")] = 50,
    offset: Annotated[int, Parameter(ge=0, le=MAX_OFFSET, description="events to skip")] = 0,
    status: Annotated[
        str | None,
        Parameter(max_length=MAX_FILTER_LENGTH, schema_extra={"enum": list(events.EVENT_STATUSES)}),
    ] = None,
    source_id: Annotated[str | None, Parameter(max_length=MAX_FILTER_LENGTH)] = None,
    event_type: Annotated[str | None, Parameter(max_length=MAX_FILTER_LENGTH)] = None,
    since: Annotated[
        str | None,
        Parameter(
            max_length=MAX_FILTER_LENGTH,
            description="RFC 3339; received at or after",
            schema_extra={"format": "date-time"},
        ),
    ] = None,
    until: Annotated[
        str | None,
        Parameter(
            max_length=MAX_FILTER_LENGTH,
            description="RFC 3339; received before",
            schema_extra={"format": "date-time"},
        ),
    ] = None,
) -> EventListing:
    # An empty value (``?status=``) is no filter, as clients send unset ones.
    filters = events.parse_filters(
        status or None, source_id or None, event_type or None, since or None, until or None
    )
    return EventListing(filters, limit, offset)


LISTING = {"listing": Provide(provide_listing, sync_to_thread=False)}


async def _list(ctx, caller: Caller, direction: str, listing: EventListing) -> Envelope[EventPage]:
    items, total = await events.list_events(
        ctx, caller, direction, listing.filters, listing.limit, listing.offset
    )
    page = {"items": [events.present_event(item) for item in items], "total": total}
    return enveloped(page, EventPage)


async def event_detail(ctx, caller: Caller, direction: str, event_id: str) -> Envelope[EventDetail]:
    """GET /v1/events/{id}'s answer (also the test-events answer)."""
    event, attempts = await events.get_event(ctx, caller, direction, event_id)
    detail = {
        "event": events.present_event(event),
        "attempts": [events.present_attempt(attempt) for attempt in attempts],
        "blocked_by": await fifo_blockers(ctx, event_id),
    }
    return enveloped(detail, EventDetail)


@get("/events", tags=["Events"], dependencies=LISTING, summary="List inbound events")
async def list_inbound(
    ctx: Ctx, caller: CurrentCaller, listing: NamedDependency[EventListing]
) -> Envelope[EventPage]:
    """Inbound events, newest first, filtered; ``total`` counts all matches."""
    return await _list(ctx, caller, "inbound", listing)


@get("/events/{event_id:str}", tags=["Events"], summary="Get an inbound event")
async def get_inbound(
    ctx: Ctx, caller: CurrentCaller, event_id: FromPath[str]
) -> Envelope[EventDetail]:
    """One inbound event with its delivery attempts."""
    return await event_detail(ctx, caller, "inbound", event_id)


@post(
    "/events/{event_id:str}/replay",
    tags=["Events"],
    status_code=202,
    summary="Replay an inbound event",
)
async def replay_inbound(
    ctx: Ctx, caller: CurrentCaller, event_id: FromPath[str]
) -> Envelope[Replay]:
    """A new event with the same body, headers, source and type, delivered through today's
    routes. Takes no body (one sent is ignored)."""
    return enveloped(await events.replay_event(ctx, caller, "inbound", event_id), Replay)


@post("/outbound-events", tags=["Events"], status_code=202, summary="Publish an outbound event")
async def publish_outbound(
    ctx: Ctx, caller: CurrentCaller, data: JSONBody[PublishOutbound]
) -> Envelope[Published]:
    """Store an event of your own and deliver it through the routes without a source."""
    event_id, status = await events.publish_outbound(
        ctx,
        caller,
        event_type=data.event_type,
        payload=data.payload,
        external_event_id=data.external_event_id,
    )
    return Envelope(Published(id=event_id, status=status))


@get("/outbound-events", tags=["Events"], dependencies=LISTING, summary="List outbound events")
async def list_outbound(
    ctx: Ctx, caller: CurrentCaller, listing: NamedDependency[EventListing]
) -> Envelope[EventPage]:
    """Outbound events, newest first, filtered; ``total`` counts all matches."""
    return await _list(ctx, caller, "outbound", listing)


@get("/outbound-events/{event_id:str}", tags=["Events"], summary="Get an outbound event")
async def get_outbound(
    ctx: Ctx, caller: CurrentCaller, event_id: FromPath[str]
) -> Envelope[EventDetail]:
    """One outbound event with its delivery attempts."""
    return await event_detail(ctx, caller, "outbound", event_id)


@post(
    "/outbound-events/{event_id:str}/replay",
    tags=["Events"],
    status_code=202,
    summary="Replay an outbound event",
)
async def replay_outbound(
    ctx: Ctx, caller: CurrentCaller, event_id: FromPath[str]
) -> Envelope[Replay]:
    """As for inbound events. Takes no body (one sent is ignored)."""
    return enveloped(await events.replay_event(ctx, caller, "outbound", event_id), Replay)


event_router = Router(
    "/v1",
    route_handlers=[
        list_inbound,
        get_inbound,
        replay_inbound,
        publish_outbound,
        list_outbound,
        get_outbound,
        replay_outbound,
    ],
    dependencies=AUTHENTICATED,
    guards=AUTH_GUARDS,
)
