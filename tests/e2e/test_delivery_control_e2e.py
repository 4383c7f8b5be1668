"""Delivery control against a real server and real receivers: a pause survives SIGKILL, a
circuit opens on a failing receiver, probes, closes when it recovers and drains what it held,
and a dead destination never slows a healthy one."""

from __future__ import annotations

import time

import httpx

from tests.support.delivery import wait_for_event, wire
from tests.support.receiver import Receiver, Reply
from tests.support.server import GethookServer

# Scaled: the circuit opens after 3 failures in a row and probes after 0.3 s (then 0.6 s ...).
FAST_BREAKER = {
    "GETHOOK_DELIVERY_CIRCUIT_BREAKER_CONSECUTIVE_FAILURES": "3",
    "GETHOOK_DELIVERY_CIRCUIT_BREAKER_COOLDOWN_SECONDS": "0.3",
    "GETHOOK_DELIVERY_CIRCUIT_BREAKER_MAX_COOLDOWN_SECONDS": "0.6",
}
RETRIES = {"max_attempts": 20, "backoff": "fixed", "initial_interval_seconds": 0.2}


def _account(server: GethookServer) -> str:
    with server.client() as client:
        answer = client.post("/v1/accounts", json={"name": "control"})
        assert answer.status_code == 201, answer.text
        return answer.json()["data"]["api_key"]["key"]


def _until(check, timeout: float = 8.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_pause_survives_sigkill_and_resume_delivers(tmp_path):
    server = GethookServer(tmp_path / "data").start()
    try:
        key = _account(server)
        with Receiver() as receiver:
            with server.client(key) as api:
                source, destination = wire(api, receiver.url)
                paused = api.post(f"/v1/destinations/{destination['id']}/pause")
                assert paused.status_code == 200 and paused.json()["data"]["paused"] is True
                ids = [
                    httpx.post(source["ingest_url"], json={"n": n}).json()["data"]["id"]
                    for n in range(5)
                ]
                assert api.get(f"/v1/events/{ids[-1]}").json()["data"]["event"]["status"] == "held"
            server.kill()
            server.start()
            with server.client(key) as api:
                time.sleep(0.3)  # the scheduler has had its chances
                assert receiver.requests == []
                shown = api.get(f"/v1/destinations/{destination['id']}").json()["data"]
                assert shown["paused"] is True and shown["circuit"]["held_count"] == 5
                for event_id in ids:
                    event = api.get(f"/v1/events/{event_id}").json()["data"]["event"]
                    assert event["status"] == "held"
                assert api.post(f"/v1/destinations/{destination['id']}/resume").status_code == 200
                for event_id in ids:
                    wait_for_event(api, event_id, {"delivered"})
            assert len(receiver.requests) == 5
    finally:
        server.stop()


class Switch:
    """503 while ``down``, else 200."""

    def __init__(self) -> None:
        self.down = True

    def __call__(self, n: int) -> Reply:
        return Reply(503) if self.down else Reply(200)


def test_circuit_opens_probes_and_drains_while_a_healthy_destination_flows(tmp_path):
    server = GethookServer(tmp_path / "data", env=FAST_BREAKER).start()
    switch = Switch()
    try:
        key = _account(server)
        with Receiver(switch) as dead, Receiver() as healthy, server.client(key) as api:
            source, broken = wire(api, dead.url, retry_policy=RETRIES)
            other = api.post("/v1/destinations", json={"name": "ok", "url": healthy.url})
            api.post(
                "/v1/routes",
                json={"source_id": source["id"], "destination_id": other.json()["data"]["id"]},
            )
            ids = [
                httpx.post(source["ingest_url"], json={"n": n}).json()["data"]["id"]
                for n in range(30)
            ]

            def circuit() -> dict:
                return api.get(f"/v1/destinations/{broken['id']}").json()["data"]["circuit"]

            _until(lambda: circuit()["state"] != "closed", what="the circuit to open")
            # The healthy destination got everything while the broken one's circuit is open.
            _until(lambda: len(healthy.requests) == 30, what="the healthy destination")
            # Open, then probing about every 0.6 s: a handful of attempts, not 30 x retries.
            time.sleep(1.0)
            assert len(dead.requests) < 3 + 30 + 6
            assert circuit()["held_count"] > 0
            metrics = api.get("/metrics").text
            assert "gethook_held_deliveries" in metrics
            switch.down = False
            _until(lambda: circuit()["state"] == "closed", what="the circuit to close")
            for event_id in ids:
                wait_for_event(api, event_id, {"delivered"})
            delivered_to_dead = {r.headers["webhook-id"] for r in dead.requests}
            assert set(ids) <= delivered_to_dead
    finally:
        server.stop()
