"""Integers are integers on the wire: every response shape of a real server, walked.

The public GetHook clients decode counts, statuses, sizes, durations in milliseconds and ports
into integer types and abort on a fraction (``latency_ms: 4.179``). This test drives every
endpoint shape through a real ``gethook serve`` and a real receiver, then walks each JSON answer
(and each line of a JSONL export) and checks the type of every number in it.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict

import httpx

from tests.support.delivery import wait_for_event
from tests.support.receiver import Receiver, Reply

# Every integer field of the API's shapes and of our extensions served today (docs/wire.md,
# "Numbers"); each must be seen at least once below, and always as a JSON integer.
INTEGER_FIELDS = frozenset(
    {
        "retention_days",  # Account
        "timeout_seconds",  # Destination
        "max_attempts",  # Route.retry_policy
        "initial_interval_seconds",  # Route.retry_policy: whole seconds are served whole
        "max_interval_seconds",  # Route.retry_policy
        "tolerance_seconds",  # Source.verification_config (timestamped schemes)
        "attempts_count",  # Event
        "total",  # event lists; Stats.totals
        "attempt_number",  # DeliveryAttempt
        "response_status",  # DeliveryAttempt
        "latency_ms",  # DeliveryAttempt
        "row_count",  # ExportJob
        "size_bytes",  # ExportJob
        "count",  # Stats.by_status
        "inbound",  # Stats.daily
        "outbound",  # Stats.daily
        "delivered",  # Stats.daily, Stats.totals
        "failed",  # Stats.daily, Stats.totals
        "events_processed",  # platform stats
        "events_delivered",  # platform stats
        "delivery_attempts",  # platform stats
        "consecutive_failures",  # Destination.circuit
        "held_count",  # Destination.circuit
    }
)
# A percentage with two decimals and a circuit's failure ratio (0 to 1): rates, not counts
# (docs/wire.md's Numbers rule does not cover them).
FRACTIONAL_FIELDS = frozenset({"success_rate_pct", "failure_ratio"})
# Retry waits may be configured in fractions of a second (0.2); a whole number of seconds is
# served as an integer, so a client holding them as integers works with every whole policy.
FRACTION_WHEN_GIVEN_FIELDS = frozenset({"initial_interval_seconds", "max_interval_seconds"})


class NumberWalk:
    """Collects every number of every answer, keyed by its field name."""

    def __init__(self) -> None:
        self.seen: dict[str, list[tuple[str, object]]] = defaultdict(list)

    def take(self, answer: httpx.Response) -> dict:
        assert answer.status_code < 300, (answer.request.url, answer.status_code, answer.text)
        body = answer.json()
        self.walk(body, f"{answer.request.method} {answer.request.url.path}")
        return body["data"]

    def walk(self, value: object, where: str, key: str = "") -> None:
        if isinstance(value, dict):
            for name, item in value.items():
                self.walk(item, where, name)
        elif isinstance(value, list):
            for item in value:
                self.walk(item, where, key)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            self.seen[key].append((where, value))


def test_every_integer_field_of_every_shape_is_a_json_integer(server):
    numbers = NumberWalk()
    take = numbers.take
    # 500 first so that the event has a failed attempt, a retry, then a success.
    with Receiver(lambda n: Reply(500) if n == 1 else Reply(200, delay=0.003)) as receiver:
        with httpx.Client(base_url=server.url, timeout=10) as anon:
            created = take(anon.post("/v1/accounts", json={"name": "numbers"}))
            registered = take(
                anon.post(
                    "/v1/auth/register",
                    json={"name": "n", "email": "n@example.com", "password": "a long password"},
                )
            )
            assert registered["account"]["retention_days"]
            take(
                anon.post(
                    "/v1/auth/login", json={"email": "n@example.com", "password": "a long password"}
                )
            )
            take(anon.get("/v1/platform-stats"))
            take(anon.get("/healthz"))
        key = created["api_key"]["key"]
        with server.client(key) as api:
            take(api.post("/v1/api-keys", json={"name": "reader", "role": "viewer"}))
            take(api.get("/v1/api-keys"))
            source = take(
                api.post(
                    "/v1/sources",
                    json={
                        "name": "s",
                        "provider": "standard_webhooks",
                        "verification_config": {"secret": "whsec_" + "QUJD" * 8},
                    },
                )
            )
            plain = take(api.post("/v1/sources", json={"name": "plain"}))
            take(api.get("/v1/sources"))
            take(api.get(f"/v1/sources/{source['id']}"))
            take(api.patch(f"/v1/sources/{plain['id']}", json={"name": "renamed"}))
            take(api.get("/v1/provider-presets"))
            destination = take(
                api.post(
                    "/v1/destinations",
                    json={"name": "d", "url": receiver.url, "timeout_seconds": 5},
                )
            )
            take(api.get("/v1/destinations"))
            take(api.get(f"/v1/destinations/{destination['id']}"))
            take(api.patch(f"/v1/destinations/{destination['id']}", json={"timeout_seconds": 6}))
            take(api.post(f"/v1/destinations/{destination['id']}/rotate-secret"))
            take(api.get("/v1/destination-presets"))
            policy = {"max_attempts": 3, "backoff": "fixed", "initial_interval_seconds": 0.2}
            take(
                api.post(
                    "/v1/routes",
                    json={
                        "source_id": plain["id"],
                        "destination_id": destination["id"],
                        "retry_policy": policy,
                    },
                )
            )
            # A policy given in whole seconds (or defaulted) must come back whole.
            take(api.post("/v1/routes", json={"destination_id": destination["id"]}))
            take(api.get("/v1/routes"))

            ingested = take(httpx.post(plain["ingest_url"], json={"type": "order.created"}))
            detail = wait_for_event(api, ingested["id"], {"delivered"})
            assert [a["response_status"] for a in detail["attempts"]] == [500, 200]
            take(api.get(f"/v1/events/{ingested['id']}"))
            take(api.get("/v1/events"))
            replay = take(api.post(f"/v1/events/{ingested['id']}/replay"))
            wait_for_event(api, replay["replay_event_id"], {"delivered"})
            take(api.get(f"/v1/events/{replay['replay_event_id']}"))

            outbound = take(api.post("/v1/outbound-events", json={"payload": {"n": 1}}))
            wait_for_outbound(api, outbound["id"])
            take(api.get(f"/v1/outbound-events/{outbound['id']}"))
            take(api.get("/v1/outbound-events"))

            job = take(api.post("/v1/exports", json={"format": "jsonl", "include_attempts": True}))
            job = wait_for_export(api, job["id"])
            take(api.get(f"/v1/exports/{job['id']}"))
            take(api.get("/v1/exports"))
            download = api.get(f"/v1/exports/{job['id']}/download")
            assert download.status_code == 200
            lines = [json.loads(line) for line in download.text.splitlines()]
            assert any(event.get("attempts") for event in lines)
            for line in lines:
                numbers.walk(line, "export line")

            take(api.post("/v1/brand-settings", json={"company_name": "Acme"}))
            take(api.get("/v1/brand-settings"))
            take(api.post("/v1/custom-domains", json={"domain": "hooks.numbers.example"}))
            take(api.get("/v1/custom-domains"))
            take(api.get("/v1/stats"))
            take(anon_get(server.url, "/v1/platform-stats"))

    fractions = {
        key: [(where, value) for where, value in found if not_an_integer(key, value)]
        for key, found in numbers.seen.items()
        if key not in FRACTIONAL_FIELDS
    }
    fractions = {key: found for key, found in fractions.items() if found}
    assert fractions == {}, fractions
    missing = INTEGER_FIELDS - set(numbers.seen)
    assert missing == set(), f"integer fields never served in this walk: {sorted(missing)}"
    unexpected = set(numbers.seen) - INTEGER_FIELDS - FRACTIONAL_FIELDS
    assert unexpected == set(), f"numeric fields not yet classified: {sorted(unexpected)}"


def not_an_integer(key: str, value: int | float) -> bool:
    """A float where a client expects an integer (a fractional wait is allowed as given)."""
    if not isinstance(value, float):
        return False
    return key not in FRACTION_WHEN_GIVEN_FIELDS or value.is_integer()


def anon_get(base_url: str, path: str) -> httpx.Response:
    return httpx.get(base_url + path, timeout=10)


def wait_for_outbound(api: httpx.Client, event_id: str, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        event = api.get(f"/v1/outbound-events/{event_id}").json()["data"]["event"]
        if event["status"] in {"accepted", "delivered", "dead_letter"}:
            return event
        time.sleep(0.05)
    raise AssertionError(f"outbound event {event_id} stayed {event['status']}")


def wait_for_export(api: httpx.Client, job_id: str, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = api.get(f"/v1/exports/{job_id}").json()["data"]
        if job["status"] == "completed":
            return job
        assert job["status"] != "failed", job
        time.sleep(0.05)
    raise AssertionError(f"export {job_id} stayed {job['status']}")
