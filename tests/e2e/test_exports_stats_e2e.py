"""Exports and stats end to end: a real ``gethook serve``, thousands of events, real receivers.

The files are downloaded over HTTP and parsed back, then compared with what the events API
shows; the stats are compared with the events in the server's database file (read through a
read-only SQLite connection, as an operator's ad-hoc query would).
"""

from __future__ import annotations

import base64
import contextlib
import csv
import io
import json
import sqlite3
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from gethook_lite.domain.exports import CSV_COLUMNS
from tests.support.receiver import Receiver, Reply
from tests.support.server import GethookServer

pytestmark = pytest.mark.slow

PUBLISHED = 2000
ONE_TRY = {"max_attempts": 1, "backoff": "fixed", "initial_interval_seconds": 1}
SETTLED = {"accepted", "delivered", "dead_letter", "replayed"}


@pytest.fixture
def api(server, account_key):
    with server.client(account_key) as client:
        yield client


def route_outbound(api: httpx.Client, url: str, pattern: str) -> None:
    destination = api.post("/v1/destinations", json={"name": "d", "url": url})
    assert destination.status_code == 201, destination.text
    route = api.post(
        "/v1/routes",
        json={
            "destination_id": destination.json()["data"]["id"],
            "event_type_pattern": pattern,
            "retry_policy": ONE_TRY,
        },
    )
    assert route.status_code == 201, route.text


def event_type_of(n: int) -> str:
    """1 in 20 events is delivered, 1 in 100 dead-lettered, the rest have no route."""
    if n % 100 == 0:
        return "bad.event"
    return "ok.event" if n % 20 == 0 else "plain.event"


def publish_many(server: GethookServer, key: str, count: int) -> None:
    """Publish ``count`` outbound events from a few concurrent clients (as apps would)."""

    def publish_slice(start: int) -> None:
        with server.client(key) as client:
            for n in range(start, count, 8):
                payload = {"n": n, "text": f'line {n}\nwith "quotes", commas'}
                answer = client.post(
                    "/v1/outbound-events",
                    json={
                        "payload": payload,
                        "event_type": event_type_of(n),
                        "external_event_id": f"order-{n}",
                    },
                )
                assert answer.status_code == 202, answer.text

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(publish_slice, range(8)))


def wait_until_settled(api: httpx.Client, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        open_events = sum(
            api.get("/v1/outbound-events", params={"status": status, "limit": 1}).json()["data"][
                "total"
            ]
            for status in ("received", "queued", "delivering", "retry_scheduled")
        )
        if open_events == 0:
            return
        time.sleep(0.1)
    raise AssertionError(f"{open_events} events still being delivered")


def all_events(api: httpx.Client, path: str) -> list[dict]:
    """Every event of the list endpoint, page by page, oldest first."""
    items, offset = [], 0
    while True:
        page = api.get(path, params={"limit": 500, "offset": offset}).json()["data"]
        items.extend(page["items"])
        offset += len(page["items"])
        if not page["items"] or offset >= page["total"]:
            return sorted(items, key=lambda event: event["id"])


def export(api: httpx.Client, timeout: float = 15.0, **request) -> tuple[dict, httpx.Response]:
    created = api.post("/v1/exports", json=request)
    assert created.status_code == 202, created.text
    job = created.json()["data"]
    deadline = time.monotonic() + timeout
    while job["status"] not in ("completed", "failed") and time.monotonic() < deadline:
        time.sleep(0.05)
        job = api.get(f"/v1/exports/{job['id']}").json()["data"]
    assert job["status"] == "completed", job
    return job, api.get(f"/v1/exports/{job['id']}/download")


def database(server: GethookServer) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{server.data_dir / 'gethook.db'}?mode=ro", uri=True)


# Half the published events go to a receiver that always fails, on purpose. With the circuit
# breaker on, that destination's circuit would open and its notice (an outbound
# destination.circuit_opened event) would join the events counted here; the breaker has tests
# of its own (test_delivery_control_e2e.py).
NO_BREAKER = {"GETHOOK_DELIVERY_CIRCUIT_BREAKER_ENABLED": "false"}


@pytest.fixture
def server(tmp_path):
    running = GethookServer(tmp_path / "data", env=NO_BREAKER).start()
    yield running
    running.stop()


@pytest.fixture
def populated(server, api, account_key):
    """2,000 outbound events (some delivered, some dead-lettered) and a few inbound ones."""
    with Receiver() as ok, Receiver(lambda n: Reply(500)) as failing:
        route_outbound(api, ok.url, "ok.*")
        route_outbound(api, failing.url, "bad.*")
        publish_many(server, account_key, PUBLISHED)
        source = api.post("/v1/sources", json={"name": "in"}).json()["data"]
        for body in (b'{"type": "user.created"}', b"\xff\xfe binary \x00", b"plain, text\n"):
            assert httpx.post(source["ingest_url"], content=body).status_code == 202
        wait_until_settled(api)
    return {
        "outbound": all_events(api, "/v1/outbound-events"),
        "inbound": all_events(api, "/v1/events"),
    }


def test_jsonl_export_of_thousands_equals_the_api_view(api, populated):
    outbound = populated["outbound"]
    assert len(outbound) == PUBLISHED
    job, answer = export(api, format="jsonl", direction="outbound", include_attempts=True)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/x-ndjson")
    assert answer.headers["content-disposition"] == f'attachment; filename="{job["id"]}.jsonl"'
    lines = [json.loads(line) for line in answer.text.splitlines()]
    assert job["row_count"] == PUBLISHED and job["size_bytes"] == len(answer.content)
    assert [line.pop("attempts") == [] for line in lines].count(False) == PUBLISHED // 20
    assert lines == outbound
    # The attempts of a delivered and of a dead-lettered event, as the detail endpoint shows.
    detailed = [json.loads(line) for line in answer.text.splitlines()]
    for event_type in ("ok.event", "bad.event"):
        n = next(i for i, event in enumerate(outbound) if event["event_type"] == event_type)
        detail = api.get(f"/v1/outbound-events/{outbound[n]['id']}").json()["data"]
        assert detailed[n] == {**detail["event"], "attempts": detail["attempts"]}
        assert len(detail["attempts"]) == 1


def test_csv_export_of_everything_parses_back_to_the_api_view(api, populated):
    everything = sorted(populated["outbound"] + populated["inbound"], key=lambda e: e["id"])
    job, answer = export(api, format="csv")
    assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text, newline="")))
    assert job["row_count"] == len(rows) == PUBLISHED + 3
    assert [row["id"] for row in rows] == [event["id"] for event in everything]
    for row, event in zip(rows, everything, strict=True):
        for column in CSV_COLUMNS:
            if column == "content_type":
                continue  # not in the Event shape; checked below
            value = event.get(column)
            assert row[column] == ("" if value is None else str(value)), (event["id"], column)
    binary = next(row for row in rows if row["body_encoding"] == "base64")
    assert base64.b64decode(binary["body"]) == b"\xff\xfe binary \x00"
    assert Counter(row["content_type"] for row in rows)["application/json"] >= PUBLISHED


@pytest.mark.sqlite_only("counts the events in the SQLite file itself")
def test_stats_agree_with_the_events_in_the_database(server, api, populated):
    answer = api.get("/v1/stats", params={"days": 7})
    assert answer.status_code == 200
    stats = answer.json()["data"]
    with contextlib.closing(database(server)) as db:
        by_status = dict(db.execute("SELECT status, count(*) FROM events GROUP BY status"))
        final = dict(db.execute("SELECT final_state, count(*) FROM events GROUP BY 1"))
        by_direction = dict(db.execute("SELECT direction, count(*) FROM events GROUP BY 1"))
        attempts = db.execute("SELECT count(*) FROM attempts").fetchone()[0]
    assert {e["status"]: e["count"] for e in stats["by_status"] if e["count"]} == by_status
    assert stats["totals"] == {
        "total": PUBLISHED + 3,
        "delivered": final["delivered"],
        "failed": final["dead_letter"],
    }
    assert final["delivered"] == PUBLISHED // 20 - PUBLISHED // 100
    assert final["dead_letter"] == PUBLISHED // 100
    today = stats["daily"][-1]
    assert (today["inbound"], today["outbound"]) == (by_direction["inbound"], PUBLISHED)
    assert sum(day["outbound"] + day["inbound"] for day in stats["daily"]) == PUBLISHED + 3
    # The same figures from the API's own listing.
    listed = Counter(e["status"] for e in populated["outbound"] + populated["inbound"])
    assert {e["status"]: e["count"] for e in stats["by_status"] if e["count"]} == listed
    public = httpx.get(f"{server.url}/v1/platform-stats").json()["data"]
    assert public["events_processed"] == PUBLISHED + 3
    assert public["events_delivered"] == final["delivered"]
    assert public["delivery_attempts"] == attempts == PUBLISHED // 20
    assert public["success_rate_pct"] == round(100 * final["delivered"] / (PUBLISHED // 20), 2)


@pytest.mark.sqlite_only(
    "stages the interruption in the SQLite file (PostgreSQL export leases:"
    " tests/unit/db/test_claim_on_postgres.py)"
)
def test_export_interrupted_by_a_restart_is_resumed(server, api, account_key):
    publish_many(server, account_key, 200)
    job, first = export(api, format="jsonl")
    server.stop()
    # What a crash mid-export leaves: the job `running`, a partial file, no finished one.
    data_dir = server.data_dir
    (data_dir / "exports" / f"{job['id']}.jsonl").unlink()
    (data_dir / "exports" / f"{job['id']}.jsonl.part").write_bytes(b'{"half": ')
    with contextlib.closing(sqlite3.connect(data_dir / "gethook.db")) as db, db:
        db.execute(
            "UPDATE exports SET status = 'running', file_name = NULL, row_count = NULL,"
            " size_bytes = NULL, completed_at = NULL, expires_at = NULL WHERE id = ?",
            (job["id"],),
        )
    server.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        resumed = api.get(f"/v1/exports/{job['id']}").json()["data"]
        if resumed["status"] != "running" and resumed["status"] != "pending":
            break
        time.sleep(0.05)
    assert resumed["status"] == "completed" and resumed["row_count"] == 200
    again = api.get(f"/v1/exports/{job['id']}/download")
    assert again.status_code == 200 and again.content == first.content
    assert not (data_dir / "exports" / f"{job['id']}.jsonl.part").exists()
