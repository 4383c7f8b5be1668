"""GET /v1/events/stream (Server-Sent Events) and GET /v1/sources/{id}/rejected-requests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import msgspec
from litestar import Request, Router, get
from litestar.params import FromPath, Parameter
from litestar.response import Stream

from gethook_lite.api.common import (
    AUTH_GUARDS,
    AUTHENTICATED,
    Ctx,
    CurrentCaller,
    Envelope,
    ReadModel,
    enveloped,
)
from gethook_lite.constants import EVENT_STREAM_PATH
from gethook_lite.domain.events import EVENT_STATUSES
from gethook_lite.domain.rejected_requests import list_rejected_requests
from gethook_lite.domain.stream import (
    KINDS,
    ChangeCursor,
    StreamMessage,
    check_reader_room,
    parse_cursor,
    parse_stream_filters,
    present_rejected,
    stream_messages,
)

__all__ = [
    "MAX_FILTER_LENGTH",
    "STREAM_OPENAPI",
    "STREAM_PATH",
    "RejectedRequest",
    "sse_response",
    "stream_router",
]

STREAM_PATH = EVENT_STREAM_PATH
# Tells a client that lost the connection to come back soon (SSE's reconnection delay, ms).
_RETRY_MS = 1000
MAX_REJECTED_PAGE = 1000
MAX_FILTER_LENGTH = 255

_STREAM_QUERY = {
    "after": {
        "type": "string",
        "pattern": "^[0-9]+(\\.[0-9]+)?$",
        "description": "Resume after this cursor (a number; on PostgreSQL txid.seq)",
    },
    "source_id": {"type": "string"},
    "destination_id": {"type": "string"},
    "direction": {"type": "string", "enum": ["inbound", "outbound"]},
    "event_type": {"type": "string", "description": "A glob: * any run, ? one character"},
    "status": {"type": "string", "enum": list(EVENT_STATUSES)},
}

_Filter = Annotated[str | None, Parameter(max_length=MAX_FILTER_LENGTH)]


class RejectedRequest(ReadModel):
    """A request to a valid ingest URL that failed verification, and why."""

    id: str
    source_id: str
    # What failed, in words one can act on (never a secret or an expected signature).
    reason: str
    received_at: str
    # The request's headers, credentials redacted.
    headers: dict[str, str]
    # The body (at most live.rejected_body_bytes), UTF-8 text or base64 per ``body_encoding``.
    body: str
    body_size: int
    body_truncated: bool
    body_encoding: str | msgspec.UnsetType = msgspec.UNSET


class RejectedRequestPage(ReadModel):
    """A source's most recent rejected requests, newest first."""

    items: list[RejectedRequest]


@get(STREAM_PATH.removeprefix("/v1"), include_in_schema=False)
async def event_stream(
    request: Request,
    ctx: Ctx,
    caller: CurrentCaller,
    source_id: _Filter = None,
    destination_id: _Filter = None,
    direction: _Filter = None,
    event_type: _Filter = None,
    status: _Filter = None,
    after: _Filter = None,
) -> Stream:
    """The account's changes as Server-Sent Events: replayed after the cursor, then live."""
    filters = parse_stream_filters(source_id, destination_id, direction, event_type, status)
    cursor = parse_cursor(request.headers.get("last-event-id"), after)
    check_reader_room(ctx, caller.account_id)
    return sse_response(stream_messages(ctx, caller.account_id, filters, cursor))


def sse_response(
    messages: AsyncIterator[StreamMessage | str | int | ChangeCursor | list[StreamMessage | str]],
) -> Stream:
    """The SSE framing of a reader's messages (also the dashboard's session-authenticated
    stream, web/live_events.py: one feed, two ways to sign in)."""
    return Stream(
        _sse(messages),
        media_type="text/event-stream",
        # No proxy may buffer or cache a live stream.
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )


async def _sse(
    messages: AsyncIterator[StreamMessage | str | int | ChangeCursor | list[StreamMessage | str]],
) -> AsyncIterator[bytes]:
    yield f"retry: {_RETRY_MS}\n\n".encode()
    async for message in messages:
        if isinstance(message, int | ChangeCursor):
            # Caught up: from here on messages are live; the id moves the client's cursor.
            yield f"id: {message}\n: live\n\n".encode()
        elif isinstance(message, list):
            yield b"".join(_frame(item) for item in message)
        else:
            yield _frame(message)


def _frame(message: StreamMessage | str) -> bytes:
    return f": {message}\n\n".encode() if isinstance(message, str) else message.sse


@get(
    "/sources/{source_id:str}/rejected-requests",
    tags=["Sources"],
    summary="List a source's rejected requests",
)
async def rejected_requests(
    ctx: Ctx,
    caller: CurrentCaller,
    source_id: FromPath[str],
    limit: Annotated[int, Parameter(ge=1, le=MAX_REJECTED_PAGE, description="at most")] = 100,
) -> Envelope[RejectedRequestPage]:
    """The source's most recent requests refused by verification, newest first, with the
    reason, the redacted headers and the (capped) body."""
    rows = await list_rejected_requests(ctx, caller, source_id, limit)
    return enveloped({"items": [present_rejected(row) for row in rows]}, RejectedRequestPage)


stream_router = Router(
    "/v1",
    route_handlers=[event_stream, rejected_requests],
    dependencies=AUTHENTICATED,
    guards=AUTH_GUARDS,
)

# The stream answers text/event-stream, which Litestar's generator cannot describe; the
# OpenAPI document gets this entry by hand (api/openapi.py).
STREAM_OPENAPI = {
    "get": {
        "summary": "Stream the account's changes (Server-Sent Events)",
        "tags": ["Events"],
        "operationId": "StreamEvents",
        "description": "One SSE message per change; `id:` is a cursor. `event:` is one of "
        f"{', '.join(KINDS)}. event.received carries an item of GET /v1/events, "
        "event.updated `{event_id, status, direction, source_id, event_type, attempt}` (the "
        "attempt that caused the change, or null), request.rejected an item of GET "
        "/v1/sources/{id}/rejected-requests. Reconnecting with `Last-Event-ID` (or `?after=`) "
        "replays everything after that cursor, then goes on live. Comment lines are "
        "heartbeats. A reader that falls too far behind is disconnected and resumes by cursor.",
        "parameters": [
            {
                "name": "Last-Event-ID",
                "in": "header",
                "required": False,
                "schema": {"type": "string"},
            },
            *(
                {"name": name, "in": "query", "required": False, "schema": schema}
                for name, schema in _STREAM_QUERY.items()
            ),
        ],
        "security": [{"bearer": []}],
        "responses": {
            "200": {
                "description": "The stream",
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            }
        },
    }
}
