"""Events: the filtered list (and its live-refreshed rows), one event in full, replay."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect

from gethook_lite.api.common import Ctx
from gethook_lite.constants import (
    BULK_REPLAY_MAX_EVENTS,
    WEB_EVENTS_PAGE_SIZE,
)
from gethook_lite.context import Context
from gethook_lite.domain import bulk_replay, destinations, events, sources
from gethook_lite.errors import BadRequest, NotFound
from gethook_lite.web.guard import action_session, page_session
from gethook_lite.web.layout import page
from gethook_lite.web.live_events import LIVE_EVENTS_PATH
from gethook_lite.web.render import body_view, html
from gethook_lite.web.sessions import WebSession

__all__ = ["EVENT_HANDLERS", "EventQuery", "as_utc"]

_DIRECTIONS = ("inbound", "outbound")
# What a datetime-local field sends (minutes, optional seconds); the form says it is UTC.
_LOCAL_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?$")


@dataclass(frozen=True, slots=True)
class EventQuery:
    """The events page's query string as given (the form shows it back as typed)."""

    direction: str = "inbound"
    view: str = ""
    status: str = ""
    source_id: str = ""
    destination_id: str = ""
    event_type: str = ""
    since: str = ""
    until: str = ""
    before: str = ""

    @classmethod
    def from_request(cls, request: Request) -> EventQuery:
        return cls.from_mapping(request.query_params)

    @classmethod
    def from_mapping(cls, values: Any) -> EventQuery:
        given = {name: str(values.get(name) or "")[:255] for name in cls.__dataclass_fields__}
        given["direction"] = given["direction"] or "inbound"
        return cls(**given)

    @property
    def wants_total(self) -> bool:
        """Count the matches only when it is cheap (no filter but status and source: the
        per-day tallies answer) or the bulk replay button needs the number; an older page never
        counts."""
        if self.before:
            return False
        narrowing = (self.destination_id, self.event_type, self.since, self.until)
        return self.narrowed_by_status or not any(narrowing)

    @property
    def narrowed_by_status(self) -> bool:
        """Whether a bulk replay is offered: only for a chosen status or view, so that
        "replay everything" is never one click away."""
        return bool(self.view or self.status)

    def filters(self) -> events.EventFilters:
        """The domain's filters (validated there); 400 naming a bad parameter."""
        if self.direction not in _DIRECTIONS:
            raise BadRequest("direction: must be inbound or outbound")
        return events.parse_filters(
            self.status or None,
            self.source_id or None,
            self.event_type or None,
            as_utc(self.since),
            as_utc(self.until),
            view=self.view or None,
            destination_id=self.destination_id or None,
            before=self.before or None,
        )

    def link(self, **changes: str) -> str:
        """The query string of this view with some parameters changed ('' drops one)."""
        values = {**asdict(self), **changes}
        return urlencode({name: value for name, value in values.items() if value})


def as_utc(value: str) -> str | None:
    """A datetime-local value (the form says UTC) as RFC 3339; anything else as given."""
    if not value:
        return None
    if _LOCAL_TIME.match(value):
        return (value if value.count(":") == 2 else f"{value}:00") + "Z"
    return value


async def _names(ctx: Context, session: WebSession) -> tuple[list[dict], list[dict]]:
    return (
        await sources.list_sources(ctx, session.caller),
        await destinations.list_destinations(ctx, session.caller),
    )


async def _page_of_events(
    ctx: Context, session: WebSession, query: EventQuery, *, count: bool = True
) -> tuple[list[dict], int | None, str | None]:
    """A page of events, the count of all matches (when cheap or needed, see
    ``EventQuery.wants_total``), and the error to show instead if any."""
    try:
        filters = query.filters()
    except BadRequest as exc:
        return [], None, exc.message
    items, total = await events.list_events(
        ctx,
        session.caller,
        query.direction,
        filters,
        WEB_EVENTS_PAGE_SIZE,
        0,
        count=count and query.wants_total,
    )
    return items, total, None


@get("/events")
async def events_page(request: Request, ctx: Ctx) -> Response:
    session = await page_session(request, ctx)
    query = EventQuery.from_request(request)
    items, total, error = await _page_of_events(ctx, session, query)
    source_list, destination_list = await _names(ctx, session)
    return await page(
        ctx,
        session,
        "events.html",
        "/events",
        status_code=400 if error else 200,
        query=query,
        items=items,
        total=total,
        error=error,
        statuses=events.EVENT_STATUSES,
        views=events.EVENT_VIEWS,
        sources=source_list,
        destinations=destination_list,
        source_names={source["id"]: source["name"] for source in source_list},
        next_cursor=items[-1]["id"] if len(items) == WEB_EVENTS_PAGE_SIZE else None,
        # Only the newest page follows new events; an older page stays put while read.
        live_url=None if query.before or error else f"/events/rows?{query.link()}",
        stream_url=f"{LIVE_EVENTS_PATH}?{_stream_query(query)}",
        bulk=_bulk_outcome(request),
        bulk_limit=BULK_REPLAY_MAX_EVENTS,
    )


def _stream_query(query: EventQuery) -> str:
    """The filters the live stream can apply itself (the rows fragment applies the rest)."""
    wanted = {
        "direction": query.direction,
        "source_id": query.source_id,
        "destination_id": query.destination_id,
    }
    return urlencode({name: value for name, value in wanted.items() if value})


def _bulk_outcome(request: Request) -> dict | None:
    """What the last bulk replay did, carried in the redirect's query (numbers only)."""
    replayed = request.query_params.get("replayed", "")
    if not replayed.isdigit():
        return None
    return {"replayed": int(replayed), "more_left": request.query_params.get("more") == "1"}


@post("/events/replay", status_code=303)
async def replay_all(request: Request, ctx: Ctx) -> Response:
    """Replay every event matching the list's filters (the count was on the button)."""
    session, form = await action_session(request, ctx)
    query = EventQuery.from_mapping(form)
    if not query.narrowed_by_status:
        raise BadRequest("choose a status or a view (such as dead letter) to replay in bulk")
    filters = query.filters()
    done = await bulk_replay.replay_matching(ctx, session.caller, query.direction, filters)
    more = "&more=1" if done.more_left else ""
    location = f"/events?{query.link(before='')}&replayed={done.replayed}{more}"
    return Redirect(location, status_code=303)


@get("/events/rows")
async def event_rows(request: Request, ctx: Ctx) -> Response:
    """The rows of the events table alone: what the page's live refresh swaps in."""
    session = await page_session(request, ctx)
    query = EventQuery.from_request(request)
    # The rows alone, never counted: every open events page fetches them on each change.
    items, _, _ = await _page_of_events(ctx, session, query, count=False)
    source_list = await sources.list_sources(ctx, session.caller)
    return html(
        "_event_rows.html",
        items=items,
        source_names={source["id"]: source["name"] for source in source_list},
    )


async def _find_event(ctx: Context, session: WebSession, event_id: str) -> tuple[dict, list]:
    # Ids are unique across directions; the page does not make people say which one it is.
    for direction in _DIRECTIONS:
        try:
            return await events.get_event(ctx, session.caller, direction, event_id)
        except NotFound:
            continue
    raise NotFound("event not found")


@get("/events/{event_id:str}")
async def event_page(request: Request, ctx: Ctx, event_id: FromPath[str]) -> Response:
    session = await page_session(request, ctx)
    event, attempts = await _find_event(ctx, session, event_id)
    source_list, destination_list = await _names(ctx, session)
    by_destination: dict[str, list[dict]] = {}
    for attempt in attempts:
        by_destination.setdefault(attempt["destination_id"], []).append(attempt)
    return await page(
        ctx,
        session,
        "event.html",
        "/events",
        event=event,
        event_headers=sorted(json.loads(event["headers"]).items()),
        body=body_view(event["body"], event["content_type"]),
        deliveries=by_destination,
        source_names={source["id"]: source["name"] for source in source_list},
        destinations={destination["id"]: destination for destination in destination_list},
    )


@post("/events/{event_id:str}/replay", status_code=303)
async def replay(request: Request, ctx: Ctx, event_id: FromPath[str]) -> Response:
    session, _ = await action_session(request, ctx)
    event, _ = await _find_event(ctx, session, event_id)
    replayed = await events.replay_event(ctx, session.caller, event["direction"], event_id)
    return Redirect(f"/events/{replayed['replay_event_id']}", status_code=303)


EVENT_HANDLERS = [events_page, event_rows, replay_all, event_page, replay]
