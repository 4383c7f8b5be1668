"""Every event insert and every status change reaches the change log, the tallies and counters.

Inserted events are logged and counted by the write that inserts them (db/ingest.py, migration
0017), status changes by triggers. Nothing else keeps them complete, so this walks every code
path that inserts an event or changes its status (ingest, publish, replay, claim, success,
retry, dead letter, cancel on deactivation and deletion, cancel at claim time, lease release
and reclaim) and checks after each step that the log shows every status the events went
through, in order, with the attempt that caused it, and that the tallies and counters match a
recount of the tables.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import gethook_lite
from gethook_lite.db import deliveries as store
from gethook_lite.db.claim_order import ClaimLimits
from tests.support.receiver import Receiver, Reply

ONE_TRY = {"max_attempts": 1, "backoff": "fixed", "initial_interval_seconds": 1}
TWO_TRIES = {"max_attempts": 2, "backoff": "fixed", "initial_interval_seconds": 1}


def query(client, statement: str, *params) -> list[tuple]:
    def run(conn):
        return [tuple(row) for row in conn.execute(statement, params)]

    return client.blocking_portal.call(client.app.state.ctx.db.write, run)


def write(client, fn, *args):
    return client.blocking_portal.call(client.app.state.ctx.db.write, fn, *args)


def destination(client, auth, url: str, event_type: str, policy: dict) -> str:
    created = client.post("/v1/destinations", json={"name": event_type, "url": url}, headers=auth)
    destination_id = created.json()["data"]["id"]
    answer = client.post(
        "/v1/routes",
        json={
            "destination_id": destination_id,
            "event_type_pattern": event_type,
            "retry_policy": policy,
        },
        headers=auth,
    )
    assert answer.status_code == 201, answer.text
    return destination_id


def publish(client, auth, event_type: str) -> str:
    answer = client.post(
        "/v1/outbound-events", json={"payload": {}, "event_type": event_type}, headers=auth
    )
    assert answer.status_code == 202, answer.text
    return answer.json()["data"]["id"]


def drain(client) -> None:
    client.blocking_portal.call(client.app.state.ctx.scheduler.drain)


class History:
    """The statuses each event was seen in, step by step, checked against the books."""

    def __init__(self, client) -> None:
        self.client = client
        self.seen: dict[str, list[str]] = {}

    def step(self) -> None:
        for event_id, status in query(self.client, "SELECT id, status FROM events"):
            statuses = self.seen.setdefault(event_id, [])
            if not statuses or statuses[-1] != status:
                statuses.append(status)
        self.check_log()
        self.check_tallies()

    def check_log(self) -> None:
        logged: dict[str, list[tuple[str, str, str | None]]] = {}
        for event_id, kind, status, attempt_id in query(
            self.client,
            "SELECT subject_id, kind, status, attempt_id FROM changes"
            " WHERE kind LIKE 'event.%' ORDER BY seq",
        ):
            logged.setdefault(event_id, []).append((kind, status, attempt_id))
        assert set(logged) == set(self.seen)
        attempts = dict(query(self.client, "SELECT id, event_id FROM attempts"))
        for event_id, seen in self.seen.items():
            rows = logged[event_id]
            assert [kind for kind, _, _ in rows] == ["event.received"] + ["event.updated"] * (
                len(rows) - 1
            ), event_id
            statuses = [status for _, status, _ in rows]
            # No change is missing: whatever was seen between steps is in the log, in order
            # (the log may hold more: a step can pass through several statuses).
            assert _is_subsequence(seen, statuses), (event_id, seen, statuses)
            assert all(a != b for a, b in itertools.pairwise(statuses)), statuses
            for _, status, attempt_id in rows[1:]:
                if status in ("delivered", "retry_scheduled", "dead_letter"):
                    assert attempts.get(attempt_id) == event_id, (event_id, status)

    def check_tallies(self) -> None:
        # PostgreSQL keeps tallies and counters in shards (one per connection's backend):
        # only the sum over shards means anything, so both backends are read as sums.
        tallies = query(
            self.client,
            "SELECT account_id, day, direction, status, final_state, source_id, sum(n)"
            " FROM event_tallies GROUP BY 1, 2, 3, 4, 5, 6 HAVING sum(n) > 0"
            " ORDER BY 1, 2, 3, 4, 5, 6",
        )
        recount = query(
            self.client,
            "SELECT account_id, CAST(received_at / 86400 AS INTEGER), direction, status,"
            " coalesce(final_state, ''), coalesce(source_id, ''), count(*) FROM events"
            " GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6",
        )
        assert tallies == recount
        counters = dict(query(self.client, "SELECT name, sum(value) FROM counters GROUP BY name"))
        [(events, attempts)] = query(
            self.client, "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM attempts)"
        )
        assert counters["events_processed"] == events
        assert counters["delivery_attempts"] == attempts
        finished = dict(query(self.client, "SELECT final_state, count(*) FROM events GROUP BY 1"))
        assert counters["events_delivered"] == finished.get("delivered", 0)
        assert counters["events_dead_lettered"] == finished.get("dead_letter", 0)


def _is_subsequence(short: list[str], long: list[str]) -> bool:
    remaining = iter(long)
    return all(status in remaining for status in short)


def test_every_path_that_changes_an_event_is_in_the_books(client, auth, clock):
    history = History(client)
    limits = ClaimLimits(per_destination=100, per_account=100)
    with Receiver() as ok, Receiver(lambda n: Reply(500)) as failing:
        good = destination(client, auth, ok.url, "ok", ONE_TRY)
        destination(client, auth, failing.url, "bad", TWO_TRIES)
        # Inbound ingest with no route: accepted at once.
        source = client.post("/v1/sources", json={"name": "s"}, headers=auth).json()["data"]
        assert client.post(f"/ingest/{source['path_token']}", content=b"{}").status_code == 202
        # Published and queued, then delivered.
        publish(client, auth, "ok")
        history.step()
        drain(client)
        history.step()
        # Failed, scheduled for a retry, failed again: dead letter; then replayed.
        dead = publish(client, auth, "bad")
        history.step()
        drain(client)
        history.step()
        clock.advance(2)
        drain(client)
        history.step()
        replay = client.post(f"/v1/outbound-events/{dead}/replay", headers=auth)
        assert replay.status_code == 202, replay.text
        history.step()
        drain(client)
        history.step()
        # Claimed (delivering), then its lease released at start-up: queued again.
        publish(client, auth, "ok")
        history.step()
        assert write(client, store.claim_due, clock.now(), 10, limits, 30.0)
        history.step()
        # Released as a stopping process releases its own (every backend).
        assert write(client, store.release_leases_of, store.lease_owner()) == 1
        history.step()
        # Claimed, then its lease expired and reclaimed.
        assert write(client, store.claim_due, clock.now(), 10, limits, 30.0)
        history.step()
        clock.advance(120)
        assert write(client, store.reclaim_expired_leases, clock.now()) == 1
        history.step()
        drain(client)
        history.step()
        # Cancelled when its destination is deactivated, or deleted.
        publish(client, auth, "ok")
        answer = client.patch(f"/v1/destinations/{good}", json={"active": False}, headers=auth)
        assert answer.status_code == 200, answer.text
        history.step()
        client.patch(f"/v1/destinations/{good}", json={"active": True}, headers=auth)
        publish(client, auth, "ok")
        history.step()
        assert client.delete(f"/v1/destinations/{good}", headers=auth).status_code == 204
        history.step()
        # Cancelled at claim time: the delivery was queued for a destination turned off since
        # (its routing copy was stale).
        other = destination(client, auth, ok.url, "late", ONE_TRY)
        publish(client, auth, "late")
        history.step()
        query(client, "UPDATE destinations SET active = 0 WHERE id = ?", other)
        assert write(client, store.claim_due, clock.now(), 10, limits, 30.0) == []
        history.step()
    statuses = {status for seen in history.seen.values() for status in seen}
    assert statuses >= {
        "accepted", "queued", "delivering", "delivered", "retry_scheduled", "dead_letter",
        "replayed",
    }  # fmt: skip


def test_only_the_ingest_write_inserts_events():
    # The change log and the tallies count inserted events in db/ingest.py alone: another
    # INSERT into events would leave them out (this test's walk could not know of it).
    assert _modules_matching(
        r"(INSERT|REPLACE)\s+(OR\s+\w+\s+)?INTO\s+events\b|insert\(\s*conn,\s*[\"']events[\"']"
    ) == ["db/ingest.py"]


def test_only_db_events_moves_event_statuses():
    # The change log, the tallies and the counters hear of a status change from the functions
    # of db/events.py that make it (migration 0020 dropped the status triggers): a status
    # update anywhere else would leave them out.
    assert _modules_matching(_STATUS_UPDATE) == ["db/events.py"]


def test_only_db_deliveries_inserts_attempts():
    # The platform counter of attempts is kept by the writes that insert them (migration
    # 0020 dropped its trigger): an insert anywhere else would not be counted.
    assert _modules_matching(
        r"INSERT\s+(OR\s+\w+\s+)?INTO\s+attempts\b|insert\(\s*conn,\s*[\"']attempts[\"']"
    ) == ["db/deliveries.py"]


def _modules_matching(pattern: str) -> list[str]:
    """The package's modules whose text matches ``pattern`` (case-insensitive), with string
    literals continued on the next line joined first (SQL is often split over lines)."""
    package = Path(gethook_lite.__file__).parent
    found = re.compile(pattern, re.IGNORECASE)
    return sorted(
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if found.search(_JOINED_LITERALS.sub("", path.read_text()))
    )


# An UPDATE of events that sets its status or final state.
_STATUS_UPDATE = r"UPDATE\s+events\s+SET\b[^\"']*\b(status|final_state)\s*="
_JOINED_LITERALS = re.compile(r"\"\s*\n\s*f?\"")


def test_a_status_update_split_over_lines_is_found():
    # The walk above must see an UPDATE whose SET list goes on in the next literal.
    split = '"UPDATE events SET"\n        " status = ?"'
    assert re.search(_STATUS_UPDATE, _JOINED_LITERALS.sub("", split), re.IGNORECASE)
    assert not re.search(_STATUS_UPDATE, split, re.IGNORECASE)
