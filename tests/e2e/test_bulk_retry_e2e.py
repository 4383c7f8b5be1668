"""Bulk retry against a real server and a real receiver: a destination that was down comes
back, and one bulk retry delivers each of its dead letters exactly once, also when the server
is killed in the middle of the job."""

from __future__ import annotations

import random
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
        # Dead letters at a failing receiver, not deliveries held by an open circuit.
        "GETHOOK_DELIVERY_CIRCUIT_BREAKER_ENABLED": "false",
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


def test_a_job_killed_mid_way_resumes_and_replays_each_event_once(tmp_path):
    up = {"now": False}
    env = {
        "GETHOOK_BULK_RETRIES_PAGE_SIZE": "5",
        "GETHOOK_BULK_RETRIES_PAGE_PAUSE_SECONDS": "0.2",
        # Dead letters at a failing receiver, not deliveries held by an open circuit.
        "GETHOOK_DELIVERY_CIRCUIT_BREAKER_ENABLED": "false",
    }
    server = GethookServer(tmp_path / "data", env=env).start()
    rng = random.Random(17)
    try:
        with (
            Receiver(lambda n: Reply(200 if up["now"] else 503)) as receiver,
            server.client() as anonymous,
        ):
            key = anonymous.post("/v1/accounts", json={"name": "e2e"}).json()["data"]["api_key"]
            api = server.client(key["key"])
            source, destination = wire(api, receiver.url, retry_policy={"max_attempts": 1})
            originals = [
                httpx.post(source["ingest_url"], content=b'{"n": %d}' % n).json()["data"]["id"]
                for n in range(EVENTS)
            ]

            def dead_letters() -> int:
                page = api.get("/v1/events", params={"status": "dead_letter", "limit": 1})
                return page.json()["data"]["total"] == EVENTS

            wait_for(dead_letters, what="50 dead letters")
            up["now"] = True
            created = api.post(
                "/v1/bulk-retries", json={"filter": {"destination_id": destination["id"]}}
            )
            job_id = created.json()["data"]["id"]
            for _ in range(3):  # SIGKILL at random moments of the job, then start again
                time.sleep(rng.uniform(0.1, 0.6))
                server.kill()
                server.start()

            def finished() -> dict | None:
                job = api.get(f"/v1/bulk-retries/{job_id}").json()["data"]
                return job if job["status"] == "completed" else None

            job = wait_for(finished, what="the job to complete")
            assert (job["done"], job["failed"]) == (EVENTS, 0)
            # A kill did land mid-job (ten pages with pauses take two seconds at least).
            assert "bulk retry job(s) interrupted by a restart" in server.log()
            replays = []
            for offset in (0, 500):
                page = api.get("/v1/events", params={"limit": 500, "offset": offset})
                replays += [e for e in page.json()["data"]["items"] if e["replay_of"]]
            assert all(e["bulk_retry_id"] == job_id for e in replays)
            assert Counter(e["replay_of"] for e in replays) == Counter(originals)  # once each
            wait_for(
                lambda: (
                    {r.headers["webhook-id"] for r in receiver.requests[EVENTS:]}
                    == {e["id"] for e in replays}
                ),
                what="every replay delivered",
            )
            api.close()
    finally:
        server.stop()
