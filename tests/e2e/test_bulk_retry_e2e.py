"""Bulk retry against a real server and a real receiver: a destination that was down comes
back, and one bulk retry delivers each of its dead letters exactly once."""

from __future__ import annotations

import time
from collections import Counter

import httpx

from tests.support.delivery import wire
from tests.support.receiver import Receiver, Reply
from tests.support.server import GethookServer

EVENTS = 50


def wait_for(check, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_bulk_retry_delivers_every_dead_letter_exactly_once(tmp_path):
    up = {"now": False}
    env = {
        # Several pages, quickly: the worker pauses between them.
        "GETHOOK_BULK_RETRIES_PAGE_SIZE": "15",
        "GETHOOK_BULK_RETRIES_PAGE_PAUSE_SECONDS": "0.1",
    }
    server = GethookServer(tmp_path / "data", env=env).start()
    try:
        with (
            Receiver(lambda n: Reply(200 if up["now"] else 503)) as receiver,
            server.client() as anonymous,
        ):
            key = anonymous.post("/v1/accounts", json={"name": "e2e"}).json()["data"]["api_key"]
            api = server.client(key["key"])
            source, destination = wire(api, receiver.url, retry_policy={"max_attempts": 1})
            bodies = [b'{"n": %d}' % n for n in range(EVENTS)]
            for body in bodies:
                assert httpx.post(source["ingest_url"], content=body).status_code == 202

            def dead_letters() -> int:
                page = api.get("/v1/events", params={"status": "dead_letter", "limit": 500})
                return page.json()["data"]["total"] == EVENTS

            wait_for(dead_letters, what="50 dead letters")
            assert len(receiver.requests) == EVENTS
            up["now"] = True

            filter_ = {"destination_id": destination["id"]}
            counted = api.post("/v1/bulk-retries", json={"filter": filter_, "dry_run": True})
            assert counted.status_code == 200 and counted.json()["data"] == {"matched": EVENTS}
            created = api.post("/v1/bulk-retries", json={"filter": filter_})
            assert created.status_code == 202, created.text
            job_id = created.json()["data"]["id"]

            def finished() -> dict | None:
                job = api.get(f"/v1/bulk-retries/{job_id}").json()["data"]
                return job if job["status"] not in ("queued", "running") else None

            job = wait_for(finished, what="the job to end")
            assert (job["status"], job["matched"], job["done"], job["failed"]) == (
                "completed", EVENTS, EVENTS, 0,
            )  # fmt: skip
            wait_for(lambda: len(receiver.requests) >= 2 * EVENTS, what="the replays")
            time.sleep(0.5)  # anything more would arrive now

            retried = receiver.requests[EVENTS:]
            assert len(retried) == EVENTS
            assert Counter(r.body for r in retried) == Counter(bodies)  # each exactly once
            ids = {r.headers["webhook-id"] for r in retried}
            assert len(ids) == EVENTS
            for replay_id in list(ids)[:5]:
                event = api.get(f"/v1/events/{replay_id}").json()["data"]["event"]
                assert event["bulk_retry_id"] == job_id and event["status"] == "delivered"
            api.close()
    finally:
        server.stop()
