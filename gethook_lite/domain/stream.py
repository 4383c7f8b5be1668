"""The live stream of an account's changes: filters, message shapes, replay then live.

A reader names a cursor (the SSE ``Last-Event-ID``, or ``?after=``): a plain number on
SQLite, "<txid>.<seq>" on PostgreSQL (db/changes.py says why; a plain number there replays
the whole log kept). Everything after it is read from the change log first, in order; then
the reader joins the in-process feed (``domain.stream_feed``) and receives what commits next.
The hand-over cannot lose or repeat a change: the feed is joined *before* the last stretch of
the log is read, up to the feed's position at joining, and live messages at or below the
cursor already sent are skipped.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import msgspec

from gethook_lite.clock import format_time
from gethook_lite.constants import STREAM_PAGE
from gethook_lite.context import Context
from gethook_lite.db import changes as store
from gethook_lite.db.changes import ChangeCursor
from gethook_lite.domain.events import EVENT_STATUSES, present_attempt, present_event
from gethook_lite.domain.text import text_or_base64
from gethook_lite.errors import BadRequest
from gethook_lite.patterns import compile_pattern, validate_event_type_pattern

__all__ = [
    "KINDS",
    "Change",
    "ChangeCursor",
    "StreamFilters",
    "StreamMessage",
    "build_messages",
    "check_reader_room",
    "parse_cursor",
    "parse_stream_filters",
    "present_rejected",
    "stream_messages",
]

KINDS = ("event.received", "event.updated", "request.rejected")


class Change(msgspec.Struct, frozen=True, array_like=True):
    """One row of the change log (its columns in db.changes.CHANGE_COLUMNS order, then the
    transaction id on PostgreSQL)."""

    seq: int
    account_id: str
    kind: str
    subject_id: str
    source_id: str | None
    direction: str
    event_type: str | None
    status: str | None
    attempt_id: str | None
    destination_id: str | None
    txid: int = 0  # 0 on SQLite

    @property
    def cursor(self) -> ChangeCursor:
        return ChangeCursor(self.txid, self.seq)


class StreamMessage(msgspec.Struct, frozen=True):
    """One SSE message: ``id:`` is its change's cursor, ``event:`` is ``kind``, ``data:`` is
    ``data``."""

    seq: int
    kind: str
    data: bytes  # one line of JSON
    sse: bytes  # the whole SSE message, framed once and shared by every reader it goes to
    change: Change
    destinations: frozenset[str]  # where the event is delivered (the destination filter)

    @property
    def cursor(self) -> ChangeCursor:
        return self.change.cursor


class StreamFilters(msgspec.Struct, frozen=True, kw_only=True):
    """What one reader asked to see; all optional, all must hold."""

    source_id: str | None = None
    destination_id: str | None = None
    direction: str | None = None
    event_type: str | None = None  # a glob, as route patterns
    status: str | None = None

    def admits_change(self, change: Change) -> bool:
        """The filters that a change row alone decides (before its subject is read)."""
        if self.source_id is not None and change.source_id != self.source_id:
            return False
        if self.direction is not None and change.direction != self.direction:
            return False
        if change.kind == "request.rejected":
            # A refused request has no trusted type, status or destination; it still shows
            # under an event_type filter, since it may be exactly the event one waits for.
            return self.status is None and self.destination_id is None
        if self.status is not None and change.status != self.status:
            return False
        return self.event_type is None or compile_pattern(self.event_type).matches(
            change.event_type
        )

    def admits(self, message: StreamMessage) -> bool:
        if not self.admits_change(message.change):
            return False
        if self.destination_id is None or message.kind == "request.rejected":
            return True
        if message.change.destination_id is not None:
            return message.change.destination_id == self.destination_id
        return self.destination_id in message.destinations


def parse_stream_filters(
    source_id: str | None,
    destination_id: str | None,
    direction: str | None,
    event_type: str | None,
    status: str | None,
) -> StreamFilters:
    """Validate a reader's filters; 400 naming the parameter on bad input."""
    if direction is not None and direction not in ("inbound", "outbound"):
        raise BadRequest("direction: must be inbound or outbound")
    if status is not None and status not in EVENT_STATUSES:
        raise BadRequest(f"status: must be one of {', '.join(EVENT_STATUSES)}")
    try:
        pattern = validate_event_type_pattern(event_type)
    except ValueError as exc:
        raise BadRequest(f"event_type: {exc}") from None
    return StreamFilters(
        source_id=source_id or None,
        destination_id=destination_id or None,
        direction=direction,
        event_type=pattern,
        status=status,
    )


def parse_cursor(last_event_id: str | None, after: str | None) -> int | ChangeCursor | None:
    """The cursor to resume after: ``Last-Event-ID`` wins over ``?after=``; None = live only.

    A number (SQLite's cursors, a seq) or "<txid>.<seq>" (PostgreSQL's).
    """
    for name, text in (("Last-Event-ID", last_event_id), ("after", after)):
        if text is None or not text.strip():
            continue
        parts = text.strip().split(".")
        if len(parts) > 2 or not all(_is_number(part) for part in parts):
            raise BadRequest(f"{name}: must be a cursor (a non-negative integer)")
        return int(parts[0]) if len(parts) == 1 else ChangeCursor(*map(int, parts))
    return None


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 18


def present_rejected(row: dict[str, Any]) -> dict[str, Any]:
    """The API shape of a rejected request; a body that is not UTF-8 is sent as base64."""
    body: bytes = row["body"]
    text, encoding = text_or_base64(body)
    shaped = {
        "id": row["id"],
        "source_id": row["source_id"],
        "reason": row["reason"],
        "received_at": format_time(row["received_at"]),
        "headers": json.loads(row["headers"]),
        "body": text,
        "body_size": row["body_size"],
        "body_truncated": row["body_size"] > len(body),
    }
    if encoding:
        shaped["body_encoding"] = encoding
    return shaped


def build_messages(conn, changes: list[Change]) -> list[StreamMessage]:
    """The messages for ``changes`` (run in a read: one query per kind of subject).

    A change whose subject is gone (retention deleted the event) yields no message.
    """
    events, attempts, rejected, destinations = store.load_subjects(
        conn,
        list({c.subject_id for c in changes if c.kind != "request.rejected"}),
        list({c.attempt_id for c in changes if c.attempt_id is not None}),
        [c.subject_id for c in changes if c.kind == "request.rejected"],
    )
    messages = []
    for change in changes:
        data = _data(change, events, attempts, rejected)
        if data is None:
            continue
        encoded = msgspec.json.encode(data)
        messages.append(
            StreamMessage(
                seq=change.seq,
                kind=change.kind,
                data=encoded,
                sse=b"id: %s\nevent: %s\ndata: %s\n\n"
                % (str(change.cursor).encode(), change.kind.encode(), encoded),
                change=change,
                destinations=destinations.get(change.subject_id, frozenset()),
            )
        )
    return messages


def _data(change: Change, events: dict, attempts: dict, rejected: dict) -> dict | None:
    if change.kind == "request.rejected":
        row = rejected.get(change.subject_id)
        return None if row is None else present_rejected(row)
    event = events.get(change.subject_id)
    if event is None:
        return None
    if change.kind == "event.received":
        return present_event(event)
    attempt = attempts.get(change.attempt_id) if change.attempt_id else None
    return {
        "event_id": change.subject_id,
        "status": change.status,
        "direction": change.direction,
        "source_id": change.source_id,
        "event_type": change.event_type,
        "attempt": present_attempt(attempt) if attempt is not None else None,
    }


def _replay_page(
    conn,
    account_id: str,
    filters: StreamFilters,
    after: ChangeCursor,
    upto: ChangeCursor | None,
) -> tuple[list[StreamMessage], ChangeCursor, int]:
    """One page of the log after ``after``: (messages that pass, last cursor read, rows read)."""
    after = store.read_position(conn, after)
    rows = store.account_changes_after(conn, account_id, after, upto, STREAM_PAGE)
    changes = [Change(*row) for row in rows]
    wanted = [change for change in changes if filters.admits_change(change)]
    messages = [m for m in build_messages(conn, wanted) if filters.admits(m)]
    return messages, (changes[-1].cursor if changes else after), len(changes)


async def _replay(
    ctx: Context,
    account_id: str,
    filters: StreamFilters,
    after: ChangeCursor,
    upto: ChangeCursor | None,
) -> AsyncIterator[StreamMessage | ChangeCursor]:
    """The messages after ``after``, then the cursor the replay reached."""
    while True:
        messages, after, read = await ctx.db.read(_replay_page, account_id, filters, after, upto)
        for message in messages:
            yield message
        if read < STREAM_PAGE:
            yield after
            return


def check_reader_room(ctx: Context, account_id: str) -> None:
    """Refuse (429) a new stream before its answer starts when the account has its cap of
    live readers open (the feed checks again when the reader joins)."""
    if ctx.change_feed is not None:
        ctx.change_feed.check_room(account_id)


async def stream_messages(
    ctx: Context, account_id: str, filters: StreamFilters, after: int | ChangeCursor | None
) -> AsyncIterator[StreamMessage | str | int | ChangeCursor | list[StreamMessage | str]]:
    """The reader's messages, replayed then live (in lists of those already waiting); a str
    is a comment line to send.

    Once the reader is live, yields its cursor as an int (sent as an ``id:`` without data,
    which moves an SSE client's Last-Event-ID: a reader that started live-only and saw no
    event yet still resumes from there). Yields a heartbeat comment when nothing came for
    ``live.heartbeat_seconds``, and ends (after saying so) when the reader fell too far
    behind or the server stops.
    """
    feed = ctx.change_feed
    if feed is None:
        # The feed runs for the app's whole lifespan: none means it is starting or stopping,
        # and the reader resumes by its cursor once it is back.
        return
    cursor = ChangeCursor(0, after) if isinstance(after, int) else after
    if cursor is not None:
        # Most of a long gap is read before joining the feed, so the feed's buffer for this
        # reader only has to hold what commits during the last page.
        async for replayed in _replay(ctx, account_id, filters, cursor, None):
            if isinstance(replayed, ChangeCursor):
                cursor = replayed
            else:
                yield replayed
    subscription = await feed.subscribe(account_id, filters)
    try:
        if cursor is None:
            cursor = subscription.joined_at
        else:
            upto = subscription.joined_at
            async for replayed in _replay(ctx, account_id, filters, cursor, upto):
                if isinstance(replayed, ChangeCursor):
                    cursor = replayed
                else:
                    yield replayed
            cursor = max(cursor, subscription.joined_at)
        # The live mark (api/stream.py): a number on SQLite, "txid.seq" on PostgreSQL.
        yield cursor if cursor.txid else cursor.seq
        heartbeat = ctx.settings.live.heartbeat_seconds
        while True:
            try:
                async with asyncio.timeout(heartbeat):
                    item = await subscription.next()
            except TimeoutError:
                yield "heartbeat"
                continue
            # Everything already waiting goes out in one write: under a burst a reader costs
            # one send per feed tick, not one per message.
            batch: list[StreamMessage | str] = []
            for queued in (item, *subscription.ready()):
                if isinstance(queued, str):
                    batch.append(queued)  # the reason the stream ends: nothing follows
                    break
                if queued.cursor > cursor:
                    cursor = queued.cursor
                    batch.append(queued)
            yield batch
            if batch and isinstance(batch[-1], str):
                return
    finally:
        feed.unsubscribe(subscription)
