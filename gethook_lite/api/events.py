"""Ingest, inbound and outbound events: list, inspect, replay, publish."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Router, get, post
from litestar.params import FromPath

from gethook_lite.api import openapi
from gethook_lite.api.common import (
    AUTHENTICATED,
    Ctx,
    CurrentCaller,
    data,
    decode_body,
    query_int,
    query_str,
)
from gethook_lite.domain import events
from gethook_lite.domain.accounts import Caller

__all__ = ["event_router"]

MAX_PAGE = 500


class Empty(msgspec.Struct):
    """A body with no fields (replay takes none; clients send nothing or {})."""


# The list endpoints' query parameters, for the OpenAPI document.
LIST_QUERY = {
    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 50},
    "offset": {"type": "integer", "minimum": 0, "default": 0},
    "status": {"type": "string", "enum": list(events.EVENT_STATUSES)},
    "source_id": {"type": "string"},
    "event_type": {"type": "string"},
    "since": {"type": "string", "format": "date-time"},
    "until": {"type": "string", "format": "date-time"},
}


class PublishOutbound(msgspec.Struct, kw_only=True):
    payload: Any
    event_type: str | None = None
    external_event_id: str | None = None


async def _list(request: Request, ctx, caller: Caller, direction: str) -> dict:
    filters = events.parse_filters(
        query_str(request, "status"),
        query_str(request, "source_id"),
        query_str(request, "event_type"),
        query_str(request, "since"),
        query_str(request, "until"),
    )
    limit = query_int(request, "limit", 50, 1, MAX_PAGE)
    offset = query_int(request, "offset", 0, 0, 10_000_000)
    items, total = await events.list_events(ctx, caller, direction, filters, limit, offset)
    return data({"items": [events.present_event(item) for item in items], "total": total})


async def _get(ctx, caller: Caller, direction: str, event_id: str) -> dict:
    event, attempts = await events.get_event(ctx, caller, direction, event_id)
    return data(
        {
            "event": events.present_event(event),
            "attempts": [events.present_attempt(attempt) for attempt in attempts],
        }
    )


@get("/events", opt=openapi.query(LIST_QUERY))
async def list_inbound(request: Request, ctx: Ctx, caller: CurrentCaller) -> dict:
    return await _list(request, ctx, caller, "inbound")


@get("/events/{event_id:str}")
async def get_inbound(ctx: Ctx, caller: CurrentCaller, event_id: FromPath[str]) -> dict:
    return await _get(ctx, caller, "inbound", event_id)


@post("/events/{event_id:str}/replay", status_code=202, opt=openapi.body(Empty, body_optional=True))
async def replay_inbound(ctx: Ctx, caller: CurrentCaller, event_id: FromPath[str]) -> dict:
    return data(await events.replay_event(ctx, caller, "inbound", event_id))


@post("/outbound-events", status_code=202, opt=openapi.body(PublishOutbound))
async def publish_outbound(request: Request, ctx: Ctx, caller: CurrentCaller) -> dict:
    body = decode_body(await request.body(), PublishOutbound)
    event_id, status = await events.publish_outbound(
        ctx,
        caller,
        event_type=body.event_type,
        payload=body.payload,
        external_event_id=body.external_event_id,
    )
    return data({"id": event_id, "status": status})


@get("/outbound-events", opt=openapi.query(LIST_QUERY))
async def list_outbound(request: Request, ctx: Ctx, caller: CurrentCaller) -> dict:
    return await _list(request, ctx, caller, "outbound")


@get("/outbound-events/{event_id:str}")
async def get_outbound(ctx: Ctx, caller: CurrentCaller, event_id: FromPath[str]) -> dict:
    return await _get(ctx, caller, "outbound", event_id)


@post(
    "/outbound-events/{event_id:str}/replay",
    status_code=202,
    opt=openapi.body(Empty, body_optional=True),
)
async def replay_outbound(ctx: Ctx, caller: CurrentCaller, event_id: FromPath[str]) -> dict:
    return data(await events.replay_event(ctx, caller, "outbound", event_id))


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
)
