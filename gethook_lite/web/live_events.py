"""GET /events/live: the events page's live updates, the account's change stream as
Server-Sent Events, authenticated by the dashboard session (the API's stream takes a key).

Same domain feed and framing as GET /v1/events/stream; only the sign-in differs.
"""

from __future__ import annotations

from typing import Annotated

from litestar import Request, Response, get
from litestar.params import Parameter

from gethook_lite.api.common import Ctx
from gethook_lite.api.stream import MAX_FILTER_LENGTH, sse_response
from gethook_lite.domain.stream import (
    check_reader_room,
    parse_cursor,
    parse_stream_filters,
    stream_messages,
)
from gethook_lite.web.guard import page_session

__all__ = ["LIVE_EVENTS_PATH", "live_events"]

LIVE_EVENTS_PATH = "/events/live"

_Filter = Annotated[str | None, Parameter(max_length=MAX_FILTER_LENGTH)]


@get(LIVE_EVENTS_PATH)
async def live_events(
    request: Request,
    ctx: Ctx,
    source_id: _Filter = None,
    destination_id: _Filter = None,
    direction: _Filter = None,
) -> Response:
    """Only the filters the stream can decide from a change; the page re-reads its rows
    (with all of its filters) when a message comes."""
    session = await page_session(request, ctx)
    filters = parse_stream_filters(source_id, destination_id, direction, None, None)
    cursor = parse_cursor(request.headers.get("last-event-id"), None)
    check_reader_room(ctx, session.caller.account_id)
    return sse_response(stream_messages(ctx, session.caller.account_id, filters, cursor))
