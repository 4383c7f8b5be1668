"""Events: listing, inspection with attempts, replay, and publishing outbound events."""

from __future__ import annotations

import functools
import json
from typing import Any

import msgspec

from gethook_lite.clock import format_time
from gethook_lite.constants import EVENT_LIST_BODY_BYTES
from gethook_lite.context import Context
from gethook_lite.db import events as store
from gethook_lite.db.bulk_retries import mark_bulk_retry
from gethook_lite.db.deliveries import cancel_superseded_deliveries
from gethook_lite.db.events import EventFilters
from gethook_lite.db.ingest import accept_event, accept_events
from gethook_lite.domain.accounts import Caller
from gethook_lite.domain.routing import matching_routes
from gethook_lite.domain.text import optional_time, text_or_base64
from gethook_lite.errors import BadRequest, Conflict, NotFound
from gethook_lite.ids import new_id
from gethook_lite.ingest.event_typing import payload_hash

__all__ = [
    "EVENT_STATUSES",
    "EVENT_VIEWS",
    "EventFilters",
    "get_event",
    "list_events",
    "parse_filters",
    "present_attempt",
    "present_event",
    "publish_outbound",
    "replay_event",
    "whole_milliseconds",
]

EVENT_STATUSES = (
    "received", "accepted", "queued", "delivering", "delivered", "retry_scheduled",
    "dead_letter", "replayed", "held",
)  # fmt: skip
MAX_EXTERNAL_ID_LENGTH = 255

# Saved views that answer "what is failing now" (the dashboard's quick filters): each is a set
# of statuses. "failed" is every event whose last attempt failed, retrying or given up.
EVENT_VIEWS = {
    "failed": ("retry_scheduled", "dead_letter"),
    "retrying": ("retry_scheduled",),
    "dead_letter": ("dead_letter",),
}
_MAX_ID_LENGTH = 255


def parse_filters(
    status: str | None,
    source_id: str | None,
    event_type: str | None,
    since: str | None,
    until: str | None,
    *,
    view: str | None = None,
    destination_id: str | None = None,
    before: str | None = None,
) -> EventFilters:
    """Validate the list filters; 400 naming the parameter on bad input.

    ``view`` (one of EVENT_VIEWS) stands for a set of statuses and cannot be combined with
    ``status``; ``before`` is a page cursor: only events older than that event id.
    """
    if status is not None and status not in EVENT_STATUSES:
        raise BadRequest(f"status: must be one of {', '.join(EVENT_STATUSES)}")
    statuses: str | tuple[str, ...] | None = status
    if view is not None:
        if view not in EVENT_VIEWS:
            raise BadRequest(f"view: must be one of {', '.join(EVENT_VIEWS)}")
        if status is not None:
            raise BadRequest("view: cannot be combined with status")
        statuses = EVENT_VIEWS[view]
    for name, value in (("destination_id", destination_id), ("before", before)):
        if value is not None and len(value) > _MAX_ID_LENGTH:
            raise BadRequest(f"{name}: must be at most {_MAX_ID_LENGTH} characters")
    return EventFilters(
        status=statuses,
        source_id=source_id,
        event_type=event_type,
        since=optional_time(since, "since"),
        until=optional_time(until, "until"),
        destination_id=destination_id,
        before=before,
    )


async def list_events(
    ctx: Context,
    caller: Caller,
    direction: str,
    filters: EventFilters,
    limit: int,
    offset: int,
    *,
    count: bool = True,
) -> tuple[list[dict], int | None]:
    """A newest-first page (shorter than ``limit`` once its bodies fill the page's byte
    budget) and the number of all matching events (None when not ``count``)."""
    return await ctx.db.read(
        functools.partial(store.list_events, max_body_bytes=EVENT_LIST_BODY_BYTES, count=count),
        caller.account_id,
        direction,
        filters,
        limit,
        offset,
    )


async def get_event(
    ctx: Context, caller: Caller, direction: str, event_id: str
) -> tuple[dict, list[dict]]:
    """An event of the caller's and every attempt made to deliver it."""
    event = await ctx.db.read(store.get_event, caller.account_id, direction, event_id)
    if event is None:
        raise NotFound("event not found")
    return event, await ctx.db.read(store.list_attempts, event_id)


async def replay_event(
    ctx: Context,
    caller: Caller,
    direction: str,
    event_id: str,
    *,
    only_destinations: frozenset[str] | None = None,
    bulk_retry_id: str | None = None,
) -> dict:
    """A new event with the original's body, headers, source and type, routed as of now
    (to ``only_destinations`` among those routes when given: a customer portal replays to
    its own endpoints, never to the account's other destinations). A replay made by a bulk
    retry job names it (``bulk_retry_id``), written in the replay's own transaction.

    The replay supersedes the original's pending retries to the destinations it goes to:
    they are cancelled in the same transaction, so a receiver that dedupes on ``webhook-id``
    never gets the event twice under two ids (one from the retry, one from the replay).
    """
    original = await ctx.db.read(store.get_event, caller.account_id, direction, event_id)
    if original is None:
        raise NotFound("event not found")
    now = ctx.clock.now()
    replay = {
        **{key: original[key] for key in _COPIED_ON_REPLAY},
        "id": new_id("evt"),
        "created_by": "replay",
        "replay_of": original["id"],
        "received_at": now,
        "created_at": now,
    }
    routes = await matching_routes(
        ctx, replay["account_id"], replay["source_id"], replay["event_type"]
    )
    if only_destinations is not None:
        routes = [route for route in routes if route["destination_id"] in only_destinations]
        if not routes:
            raise Conflict("no current route delivers this event to these destinations")
    replay_id, status = await ctx.db.write(_replay, original["id"], replay, routes, bulk_retry_id)
    _wake(ctx, status)
    return {"original_event_id": original["id"], "replay_event_id": replay_id, "status": status}


_COPIED_ON_REPLAY = (
    "account_id", "direction", "source_id", "event_type", "external_event_id", "payload_hash",
    "content_type", "headers", "body",
)  # fmt: skip


def _replay(
    conn, original_id: str, replay: dict, routes: list[dict], bulk_retry_id: str | None
) -> tuple[str, str]:
    accepted = accept_event(conn, replay, routes)
    if bulk_retry_id is not None:
        mark_bulk_retry(conn, replay["id"], bulk_retry_id)
    cancel_superseded_deliveries(
        conn,
        original_id,
        {route["destination_id"] for route in routes},
        replay["created_at"],
        f"superseded by replay {replay['id']}",
    )
    store.mark_replayed(conn, original_id, replay["created_at"])
    return accepted


async def publish_outbound(
    ctx: Context,
    caller: Caller,
    *,
    event_type: str | None,
    payload: Any,
    external_event_id: str | None,
) -> tuple[str, str]:
    """Accept an event from the user's own app for fan-out to its routes without a source."""
    body, content_type = _outbound_body(payload)
    if event_type is not None and not 0 < len(event_type) <= 255:
        raise BadRequest("event_type: must be 1 to 255 characters")
    if external_event_id is not None and not 0 < len(external_event_id) <= MAX_EXTERNAL_ID_LENGTH:
        raise BadRequest("external_event_id: must be 1 to 255 characters")
    now = ctx.clock.now()
    event = {
        "id": new_id("evt"),
        "account_id": caller.account_id,
        "direction": "outbound",
        "source_id": None,
        "event_type": event_type,
        "external_event_id": external_event_id,
        "payload_hash": payload_hash(body),
        "content_type": content_type,
        "headers": json.dumps({"content-type": content_type}),
        "body": body,
        "created_by": "api",
        "replay_of": None,
        "received_at": now,
        "created_at": now,
    }
    routes = await matching_routes(ctx, caller.account_id, None, event_type)
    event_id, status = await ctx.db.write_many(accept_events, (event, routes))
    _wake(ctx, status)
    return event_id, status


def _outbound_body(payload: Any) -> tuple[bytes, str]:
    """A string payload is sent as is (JSON or text); an object or array is serialised."""
    if isinstance(payload, str):
        body = payload.encode()
        try:
            msgspec.json.decode(body)
        except msgspec.DecodeError:
            return body, "text/plain; charset=utf-8"
        return body, "application/json"
    if isinstance(payload, dict | list):
        return msgspec.json.encode(payload), "application/json"
    raise BadRequest("payload: must be a string, an object or an array")


def _wake(ctx: Context, status: str) -> None:
    if status == "queued" and ctx.scheduler is not None:
        ctx.scheduler.wake()
    ctx.changes_committed()


def present_event(event: dict) -> dict:
    """The API shape of an event; a body that is not UTF-8 is sent as base64."""
    body: bytes = event["body"]
    text, encoding = text_or_base64(body)
    shaped = {
        "id": event["id"],
        "account_id": event["account_id"],
        "direction": event["direction"],
        "source_id": event["source_id"],
        "event_type": event["event_type"],
        "external_event_id": event["external_event_id"],
        "payload_hash": event["payload_hash"],
        "received_at": format_time(event["received_at"]),
        "headers": json.loads(event["headers"]),
        "body": text,
        "status": event["status"],
        "attempts_count": event["attempts_count"],
        "next_attempt_at": format_time(event["next_attempt_at"]),
        "final_state": event["final_state"],
        "created_by": event["created_by"],
        "replay_of": event["replay_of"],
        # The bulk retry job that made this replay, if one did.
        "bulk_retry_id": event["bulk_retry_id"],
        "created_at": format_time(event["created_at"]),
        # The request line as received at ingest (None for events made by the API or a replay).
        "request_method": event["request_method"],
        "request_path": event["request_path"],
        "request_query": event["request_query"],
    }
    if encoding:
        shaped["body_encoding"] = encoding
    return shaped


def whole_milliseconds(latency_ms: float | None) -> int | None:
    """Latency as a JSON integer: the public clients decode it into an integer type and
    reject a fraction (docs/wire.md, "Numbers")."""
    return None if latency_ms is None else round(latency_ms)


def present_attempt(attempt: dict) -> dict:
    """The API shape of a delivery attempt (also each attempt of a JSONL export line)."""
    return {
        "id": attempt["id"],
        "event_id": attempt["event_id"],
        "destination_id": attempt["destination_id"],
        "attempt_number": attempt["attempt_number"],
        "started_at": format_time(attempt["started_at"]),
        "finished_at": format_time(attempt["finished_at"]),
        "response_status": attempt["response_status"],
        "response_body": attempt["response_body"],
        "error_message": attempt["error_message"],
        "latency_ms": whole_milliseconds(attempt["latency_ms"]),
        "outcome": attempt["outcome"],
    }
