"""Reading the ingest body: limits enforced while streaming, a hung-up sender stores nothing."""

from __future__ import annotations

import asyncio

import pytest

from gethook_lite.api.ingest_route import read_body
from gethook_lite.errors import PayloadTooLarge


def receiver(*messages):
    queue = list(messages)

    async def receive():
        return queue.pop(0)

    return receive


def read(messages, headers=(), limit=10):
    return asyncio.run(read_body({"headers": list(headers)}, receiver(*messages), limit))


def test_chunks_are_joined():
    chunks = [
        {"type": "http.request", "body": b"abc", "more_body": True},
        {"type": "http.request", "body": b"def"},
    ]
    assert read(chunks) == b"abcdef"


def test_disconnect_mid_body_gives_none():
    chunks = [
        {"type": "http.request", "body": b"abc", "more_body": True},
        {"type": "http.disconnect"},
    ]
    assert read(chunks) is None


def test_limit_announced_or_streamed():
    with pytest.raises(PayloadTooLarge):
        read([], headers=[(b"content-length", b"11")])
    with pytest.raises(PayloadTooLarge):
        read([{"type": "http.request", "body": b"x" * 6, "more_body": True},
              {"type": "http.request", "body": b"x" * 6}])  # fmt: skip
