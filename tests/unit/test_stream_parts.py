"""Pure parts of the live stream: the reader's filters, the cursor, and the CLI's SSE reader."""

from __future__ import annotations

import asyncio

import pytest

from gethook_lite.dev.client import SseMessage, read_sse
from gethook_lite.domain.stream import (
    Change,
    StreamFilters,
    StreamMessage,
    parse_cursor,
    parse_stream_filters,
)
from gethook_lite.errors import BadRequest


def change(kind="event.received", **fields) -> Change:
    values = {
        "seq": 1, "account_id": "acct_1", "kind": kind, "subject_id": "evt_1",
        "source_id": "src_1", "direction": "inbound", "event_type": "charge.succeeded",
        "status": "queued", "attempt_id": None, "destination_id": None,
    }  # fmt: skip
    return Change(**(values | fields))


def message(c: Change, destinations=frozenset()) -> StreamMessage:
    return StreamMessage(
        seq=c.seq, kind=c.kind, data=b"{}", sse=b"", change=c, destinations=destinations
    )


@pytest.mark.parametrize(
    ("filters", "c", "admitted"),
    [
        (StreamFilters(), change(), True),
        (StreamFilters(source_id="src_2"), change(), False),
        (StreamFilters(event_type="charge.*"), change(), True),
        (StreamFilters(event_type="invoice.*"), change(), False),
        (StreamFilters(status="delivered"), change(), False),
        (StreamFilters(direction="outbound"), change(), False),
        # A refused request has no trusted type: it shows under a type filter, not a status one.
        (StreamFilters(event_type="invoice.*"), change("request.rejected", event_type=None), True),
        (StreamFilters(status="queued"), change("request.rejected", status=None), False),
        (StreamFilters(destination_id="dest_1"), change("request.rejected"), False),
    ],
)
def test_filters_on_the_change_row(filters, c, admitted) -> None:
    assert filters.admits(message(c)) is admitted


def test_destination_filter_uses_the_attempt_or_the_event_deliveries() -> None:
    wanted = StreamFilters(destination_id="dest_1")
    update = change("event.updated", status="delivered", attempt_id="att_1", destination_id="d2")
    assert not wanted.admits(message(update, frozenset({"dest_1", "d2"})))
    assert wanted.admits(message(change(), frozenset({"dest_1"})))
    assert not wanted.admits(message(change(), frozenset()))


def test_bad_filters_and_cursors_are_400_naming_the_parameter() -> None:
    with pytest.raises(BadRequest, match="direction"):
        parse_stream_filters(None, None, "sideways", None, None)
    with pytest.raises(BadRequest, match="event_type"):
        parse_stream_filters(None, None, None, "a b", None)
    with pytest.raises(BadRequest, match="Last-Event-ID"):
        parse_cursor("-1", None)
    with pytest.raises(BadRequest, match="after"):
        parse_cursor(None, "x")
    assert parse_cursor("7", "3") == 7
    assert parse_cursor(None, None) is None


class _Body:
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    async def iter_any(self):
        for chunk in self.chunks:
            yield chunk


class _Response:
    def __init__(self, chunks: list[bytes]) -> None:
        self.content = _Body(chunks)


def _read(chunks: list[bytes]) -> list:
    async def collect():
        return [m async for m in read_sse(_Response(chunks))]

    return asyncio.run(collect())


def test_sse_reader_follows_the_spec_across_chunk_boundaries() -> None:
    stream = b'retry: 1000\n\nid: 4\r\nevent: event.received\r\ndata: {"a":\r\ndata: 1}\r\n\r\n'
    stream += b": heartbeat\n\nid: 9\n: live\n\ndata: x\r\rid: 10\nevent: e\ndata:y\n\n"
    for size in (1, 3, 7, len(stream)):
        chunks = [stream[i : i + size] for i in range(0, len(stream), size)]
        assert _read(chunks) == [
            SseMessage("4", "event.received", '{"a":\n1}'),
            None,
            None,
            SseMessage("9", "", ""),
            SseMessage("9", "message", "x"),
            SseMessage("10", "e", "y"),
        ]
