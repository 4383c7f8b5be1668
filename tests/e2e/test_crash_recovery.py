"""Crash safety: SIGKILL the server at random moments while it ingests and delivers."""

from __future__ import annotations

import random
import time
from collections import Counter

import httpx
import pytest

from tests.support.delivery import wire
from tests.support.receiver import Receiver, Reply
from tests.support.server import GethookServer

pytestmark = pytest.mark.slow


def test_random_kills_lose_no_accepted_event(tmp_path):
    rng = random.Random(20261127)
    total, kills = 600, 4
    server = GethookServer(tmp_path / "data").start()
    accepted: list[str] = []
    # A slow receiver keeps many deliveries queued or in flight at every kill.
    with Receiver(lambda n: Reply(200, delay=rng.choice((0.0, 0.02, 0.05)))) as receiver:
        try:
            with server.client() as client:
                key = client.post("/v1/accounts", json={"name": "c"}).json()["data"]
            with server.client(key["api_key"]["key"]) as api:
                source, _ = wire(api, receiver.url)
            per_round = total // kills
            with httpx.Client(timeout=5) as ingest:
                for _ in range(kills):
                    for n in range(per_round):
                        answer = ingest.post(source["ingest_url"], json={"n": n})
                        if answer.status_code == 202:
                            accepted.append(answer.json()["data"]["id"])
                    time.sleep(rng.uniform(0.0, 0.3))
                    server.kill()
                    server.start()
            with server.client(key["api_key"]["key"]) as api:
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    delivered = api.get("/v1/events", params={"status": "delivered", "limit": 1})
                    if delivered.json()["data"]["total"] == len(accepted):
                        break
                    time.sleep(0.2)
            settled = len(receiver.requests)
            time.sleep(0.5)
            assert len(receiver.requests) == settled, "deliveries went on after every success"
        finally:
            server.stop()
    arrivals = Counter(request.headers["webhook-id"] for request in receiver.requests)
    lost = set(accepted) - set(arrivals)
    duplicates = sum(count - 1 for count in arrivals.values())
    print(
        f"\ncrash test: accepted={len(accepted)} kills={kills} "
        f"delivered={len(set(arrivals) & set(accepted))} lost={len(lost)} "
        f"duplicates={duplicates}"
    )
    assert len(accepted) == total
    assert not lost
    # At-least-once: only attempts in flight at a kill may repeat (≤ per-destination limit).
    assert duplicates <= kills * 32
