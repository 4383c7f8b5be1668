"""Reading GET /v1/events/stream with a real SSE client library (httpx-sse), for tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
from httpx_sse import connect_sse

__all__ = ["Message", "read_stream"]


@dataclass(frozen=True)
class Message:
    id: int | str  # a number on SQLite; "txid.seq" on PostgreSQL
    event: str
    data: dict[str, Any]


def read_stream(
    base_url: str,
    key: str,
    *,
    count: int,
    params: dict[str, str] | None = None,
    last_event_id: int | str | None = None,
    timeout: float = 10.0,
    until: Any = None,
) -> list[Message]:
    """Connect, read until ``count`` messages (or ``until(messages)`` is true), disconnect.

    Stops early when nothing (not even a heartbeat) arrives for ``timeout`` seconds.
    """
    headers = {"Authorization": f"Bearer {key}"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    messages: list[Message] = []
    with (
        httpx.Client(base_url=base_url, timeout=httpx.Timeout(timeout)) as client,
        connect_sse(client, "GET", "/v1/events/stream", params=params, headers=headers) as source,
    ):
        source.response.raise_for_status()
        assert source.response.headers["content-type"].startswith("text/event-stream")
        try:
            for event in source.iter_sse():
                if event.data:
                    messages.append(Message(_cursor(event.id), event.event, json.loads(event.data)))
                if until(messages) if until is not None else len(messages) >= count:
                    break
        except httpx.ReadTimeout:
            pass
    if until is None:
        assert len(messages) >= count, f"only {len(messages)} of {count} messages: {messages}"
    return messages


def _cursor(text: str) -> int | str:
    return int(text) if text.isdigit() else text
