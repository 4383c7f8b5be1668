"""Event list pages: bounded by their bodies' total size, with offsets that still walk every
event once (the listing returns bodies: the public client's `listen` prints them)."""

from __future__ import annotations

import functools

from gethook_lite.constants import EVENT_LIST_BODY_BYTES
from gethook_lite.db import events as store
from gethook_lite.db.events import EventFilters
from tests.support.api import ingest, make_source


def test_a_page_stops_once_its_bodies_reach_the_budget_and_offsets_stay_exact(client, auth):
    source = make_source(client, auth)
    ids = [ingest(client, source, b"x" * 100)["id"] for _ in range(7)]
    account_id = source["account_id"]
    read = functools.partial(store.list_events, max_body_bytes=250)
    seen, offset = [], 0
    while True:
        items, total = client.blocking_portal.call(
            client.app.state.ctx.db.read, read, account_id, "inbound", EventFilters(), 10, offset
        )
        assert total == 7
        if not items:
            break
        # 100 + 100 + 100 reaches 250 at the third body: the page stops there.
        assert len(items) == min(3, 7 - offset)
        assert all(item["body"] == b"x" * 100 for item in items)
        seen.extend(item["id"] for item in items)
        offset += len(items)
    assert seen == ids[::-1]  # newest first, each event once


def test_one_event_larger_than_the_budget_still_makes_a_page(client, auth):
    source = make_source(client, auth)
    event_id = ingest(client, source, b"y" * 500)["id"]
    read = functools.partial(store.list_events, max_body_bytes=100)
    items, total = client.blocking_portal.call(
        client.app.state.ctx.db.read, read, source["account_id"], "inbound", EventFilters(), 5, 0
    )
    assert [item["id"] for item in items] == [event_id] and total == 1


def test_the_api_applies_the_page_body_budget(client, auth):
    source = make_source(client, auth)
    size = 1_000_000
    per_page = -(-EVENT_LIST_BODY_BYTES // size)  # the event whose body reaches the budget ends it
    for _ in range(per_page + 1):
        ingest(client, source, b"z" * size)
    first = client.get("/v1/events", params={"limit": 50}, headers=auth).json()["data"]
    assert len(first["items"]) == per_page and first["total"] == per_page + 1
    assert all(len(item["body"]) == size for item in first["items"])
    rest = client.get("/v1/events", params={"limit": 50, "offset": per_page}, headers=auth).json()[
        "data"
    ]
    assert len(rest["items"]) == 1
