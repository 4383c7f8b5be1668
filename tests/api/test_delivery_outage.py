"""A destination down for three (simulated) days: everything is held, nothing is lost, the
destination is paused automatically, and all is delivered once it is back and resumed."""

from __future__ import annotations

import json
import time

from tests.support.api import drain, event_detail, ingest, make_route, make_source
from tests.support.receiver import Receiver, Reply

HOUR = 3600.0
EVENTS = 2_000  # scaled down from the 10,000 to keep the test fast


class Outage:
    def __init__(self) -> None:
        self.down = True

    def __call__(self, n: int) -> Reply:
        return Reply(503) if self.down else Reply(200)


def test_three_days_down_loses_nothing_and_pauses_the_destination(client, auth, clock):
    started = time.monotonic()
    outage = Outage()
    with Receiver(outage) as receiver, Receiver() as notices:
        source = make_source(client, auth)
        destination = make_route(client, auth, receiver.url, source["id"])
        make_route(client, auth, notices.url)  # the account's system events
        ids: list[str] = []
        # Events keep coming for three days and a bit (the circuit opens in the first hour).
        for _ in range(74):
            for _ in range(min(EVENTS // 70, EVENTS - len(ids))):
                ids.append(ingest(client, source, body=b'{"n": %d}' % len(ids))["id"])
            drain(client)
            clock.advance(HOUR)
        drain(client)
        assert len(ids) == EVENTS
        shown = client.get(f"/v1/destinations/{destination['id']}", headers=auth).json()["data"]
        assert shown["paused"] is True
        assert shown["paused_reason"] == "circuit_open_too_long"
        assert shown["circuit"]["held_count"] == len(ids)
        # Five failures opened it; afterwards only probes, their cool-down doubling to 1 h.
        assert len(receiver.requests) < 5 + 80
        for event_id in (ids[0], ids[len(ids) // 2], ids[-1]):
            assert event_detail(client, auth, event_id)["event"]["status"] == "held"
        kinds = [json.loads(r.body).get("paused_reason") for r in notices.requests]
        assert kinds.count("circuit_open_too_long") == 1

        outage.down = False
        answer = client.post(f"/v1/destinations/{destination['id']}/resume", headers=auth)
        assert answer.status_code == 200
        drain(client)
        clock.advance(HOUR)  # retries keep the rest of their (stopped) wait
        drain(client)
        delivered = [r.body for r in receiver.requests if r.body]
        bodies = {b'{"n": %d}' % n for n in range(len(ids))}
        assert bodies <= set(delivered)
        shown = client.get(f"/v1/destinations/{destination['id']}", headers=auth).json()["data"]
        assert shown["paused"] is False and shown["circuit"]["state"] == "closed"
        assert shown["circuit"]["held_count"] == 0
        listed = client.get("/v1/events", params={"status": "delivered"}, headers=auth).json()
        assert listed["data"]["total"] == len(ids)
    print(f"three-day outage, {len(ids)} events: {time.monotonic() - started:.1f} s")
