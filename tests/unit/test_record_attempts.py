"""Outcomes recorded as a batch (db/deliveries.record_attempts), on both backends: a few
statements for the whole batch must leave the attempts, deliveries, events, change log and
counters as recording each outcome on its own did, with one move per event."""

from __future__ import annotations

import random
import sqlite3
import threading

import pytest

from gethook_lite.db.claim_order import ClaimLimits
from gethook_lite.db.connection import SqliteConnection
from gethook_lite.db.database import _apply_migrations
from gethook_lite.db.deliveries import (
    claim_due,
    reclaim_expired_leases,
    record_attempts,
)
from tests.support.storage import in_transaction, record_attempt

NOW = 1000.0
MARGIN = 5.0
LIMITS = ClaimLimits(per_destination=100, per_account=100)


@pytest.fixture(params=["sqlite", "postgresql"])
def conn(request, tmp_path):
    if request.param == "postgresql":
        yield request.getfixturevalue("pg_conn")
        return
    conn = sqlite3.connect(tmp_path / "g.db", isolation_level=None, factory=SqliteConnection)
    _apply_migrations(conn)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.row_factory = sqlite3.Row  # as on the writer
    yield conn
    conn.close()


def seed(conn, fan_out: list[int]) -> None:
    """An account, enough destinations (one route each), and one queued event per item of
    ``fan_out`` with that many pending deliveries (to the first destinations), due now."""
    in_transaction(conn, _seed, fan_out)


def _seed(conn, fan_out: list[int]) -> None:
    conn.execute(
        "INSERT INTO accounts (id, name, retention_days, created_at) VALUES ('a', 'a', 7, 0)"
    )
    for n in range(max(fan_out)):
        conn.execute(
            "INSERT INTO destinations (id, account_id, name, url, signing_secret_enc,"
            " timeout_seconds, created_at, updated_at) VALUES (?, 'a', 'n', 'http://x', 's', 10,"
            " 0, 0)",
            (f"d{n}",),
        )
        conn.execute(
            "INSERT INTO routes (id, account_id, destination_id, retry_policy, created_at)"
            " VALUES (?, 'a', ?, '{}', 0)",
            (f"r{n}", f"d{n}"),
        )
    for number, deliveries in enumerate(fan_out):
        event = f"evt{number:04d}"
        conn.execute(
            "INSERT INTO events (id, account_id, direction, headers, body, status, created_by,"
            " received_at, created_at) VALUES (?, 'a', 'inbound', '{}', ?, 'queued', 'ingest',"
            " 0, 0)",
            (event, b"{}"),
        )
        for n in range(deliveries):
            conn.execute(
                "INSERT INTO deliveries (event_id, account_id, destination_id, route_id, status,"
                " next_attempt_at, created_at) VALUES (?, 'a', ?, ?, 'pending', ?, 0)",
                (event, f"d{n}", f"r{n}", NOW - 1),
            )


def claim(conn, now: float = NOW):
    return in_transaction(conn, claim_due, now, 100, LIMITS, MARGIN)


def attempt(claim, outcome: str = "success", status: int = 200) -> dict:
    return {
        "event_id": claim.event_id,
        "delivery_id": claim.delivery_id,
        "destination_id": claim.destination_id,
        "attempt_number": claim.attempts_count + 1,
        "started_at": NOW,
        "finished_at": NOW + 0.5,
        "response_status": status,
        "response_body": "ok",
        "latency_ms": 500.0,
        "outcome": outcome,
    }


def rows(conn, sql: str) -> list[tuple]:
    return [tuple(row) for row in conn.execute(sql).fetchall()]


def counter(conn, name: str) -> int:
    return conn.execute("SELECT sum(value) FROM counters WHERE name = ?", (name,)).fetchone()[0]


def test_a_fanned_out_events_outcomes_move_it_once_naming_the_newest_attempt(conn):
    seed(conn, [3])
    claims = claim(conn)
    assert len(claims) == 3
    in_transaction(
        conn, record_attempts, [(c, attempt(c), "succeeded", None) for c in reversed(claims)]
    )
    assert rows(conn, "SELECT status, attempts_count, final_state FROM events") == [
        ("delivered", 3, "delivered")
    ]
    assert rows(conn, "SELECT DISTINCT status, attempts_count FROM deliveries") == [
        ("succeeded", 1)
    ]
    updates = rows(
        conn,
        "SELECT status, attempt_id, destination_id FROM changes"
        " WHERE kind = 'event.updated' ORDER BY seq",
    )
    newest = rows(conn, "SELECT id, destination_id FROM attempts ORDER BY id DESC LIMIT 1")
    assert updates == [("delivering", None, None), ("delivered", *newest[0])]
    assert counter(conn, "delivery_attempts") == 3
    assert counter(conn, "events_delivered") == 1


def test_an_outcome_under_a_lapsed_lease_records_its_attempt_and_moves_nothing(conn):
    seed(conn, [1, 1])
    [first] = in_transaction(conn, claim_due, NOW, 1, LIMITS, MARGIN)
    # Its lease ran out and it was claimed again (by this or another process).
    later = first.lease_expires_at + 1
    in_transaction(conn, reclaim_expired_leases, later)
    claimed = in_transaction(conn, claim_due, later, 2, LIMITS, MARGIN)
    again, second = sorted(claimed, key=lambda leased: leased.delivery_id)
    assert again.delivery_id == first.delivery_id
    outcomes = [
        (first, attempt(first, "http_5xx", 500), "dead_letter", None),
        (second, attempt(second), "succeeded", None),
    ]
    in_transaction(conn, record_attempts, outcomes)
    assert rows(conn, "SELECT status, attempts_count, leased_by IS NOT NULL FROM deliveries") == [
        ("in_flight", 1, 1),
        ("succeeded", 1, 0),
    ]
    assert rows(conn, "SELECT status FROM events ORDER BY id") == [("delivering",), ("delivered",)]
    assert counter(conn, "delivery_attempts") == 2


def test_two_outcomes_of_one_delivery_in_a_batch_both_count_and_the_live_lease_moves_it(conn):
    seed(conn, [1])
    [old] = claim(conn)
    in_transaction(conn, reclaim_expired_leases, old.lease_expires_at + 1)
    [new] = in_transaction(conn, claim_due, old.lease_expires_at + 1, 1, LIMITS, MARGIN)
    # Both answers arrive in one tick, the newer lease's first.
    outcomes = [
        (new, attempt(new), "succeeded", None),
        (old, attempt(old, "http_5xx", 500), "pending", NOW + 60),
    ]
    in_transaction(conn, record_attempts, outcomes)
    assert rows(conn, "SELECT status, attempts_count, next_attempt_at FROM deliveries") == [
        ("succeeded", 2, None)
    ]
    assert rows(conn, "SELECT status, attempts_count FROM events") == [("delivered", 2)]
    assert rows(conn, "SELECT count(*) FROM attempts") == [(2,)]


def test_the_single_outcome_says_whether_it_moved_its_delivery(conn):
    seed(conn, [1])
    [old] = claim(conn)
    in_transaction(conn, reclaim_expired_leases, old.lease_expires_at + 1)
    [new] = in_transaction(conn, claim_due, old.lease_expires_at + 1, 1, LIMITS, MARGIN)
    assert not in_transaction(conn, record_attempt, old, attempt(old), "succeeded", None)
    assert in_transaction(conn, record_attempt, new, attempt(new), "succeeded", None)
    assert rows(conn, "SELECT status, attempts_count FROM deliveries") == [("succeeded", 2)]


# Columns the batch and the one-by-one recording must leave equal.
_DELIVERY_STATE = (
    "SELECT id, status, attempts_count, next_attempt_at, lease_expires_at, leased_by,"
    " last_outcome, finished_at FROM deliveries ORDER BY id"
)
_EVENT_STATE = (
    "SELECT id, status, attempts_count, next_attempt_at, final_state FROM events ORDER BY id"
)
_ATTEMPT_STATE = (
    "SELECT delivery_id, attempt_number, outcome, response_status, finished_at FROM attempts"
    " ORDER BY delivery_id, attempt_number"
)


@pytest.mark.parametrize("seed_number", range(6))
def test_a_batch_leaves_the_rows_as_recording_each_outcome_alone(tmp_path, seed_number):
    chance = random.Random(seed_number)
    fan_out = [chance.randint(1, 4) for _ in range(12)]
    states = []
    for batched in (True, False):
        conn = sqlite3.connect(
            tmp_path / f"{batched}.db", isolation_level=None, factory=SqliteConnection
        )
        _apply_migrations(conn)
        conn.row_factory = sqlite3.Row
        seed(conn, fan_out)
        claims = claim(conn)
        picks = random.Random(seed_number)  # the same outcomes on both sides
        outcomes = []
        for leased in claims:
            kind = picks.choice(["succeeded", "pending", "dead_letter"])
            failed = kind != "succeeded"
            result = attempt(leased, "http_5xx" if failed else "success", 500 if failed else 200)
            outcomes.append((leased, result, kind, NOW + 30 if kind == "pending" else None))
        picks.shuffle(outcomes)
        if batched:
            in_transaction(conn, record_attempts, outcomes)
        else:
            for outcome in outcomes:
                in_transaction(conn, record_attempt, *outcome)
        states.append(
            [rows(conn, sql) for sql in (_DELIVERY_STATE, _EVENT_STATE, _ATTEMPT_STATE)]
            + [counter(conn, name) for name in ("delivery_attempts", "events_delivered")]
        )
        conn.close()
    assert states[0] == states[1]


class _PausingBeforeTheEventLocks:
    """A connection that waits at ``barrier`` before it locks events: two writers then both
    hold what they inserted before either locks the events they share."""

    def __init__(self, conn, barrier) -> None:
        self._conn = conn
        self._barrier = barrier
        self.dialect = conn.dialect

    def execute(self, sql: str, *args):
        if "FROM events WHERE id = ANY" in sql:
            self._barrier.wait(timeout=10)
        return self._conn.execute(sql, *args)

    def executemany(self, sql: str, *args):
        return self._conn.executemany(sql, *args)

    def cursor(self):
        return self._conn.cursor()


def test_two_processes_recording_outcomes_of_the_same_events_do_not_deadlock(pg_url):
    # A fan-out delivered by two processes: each inserts its attempts (whose foreign key
    # holds FOR KEY SHARE on the events), then locks the events to refresh them. A lock
    # that waits for KEY SHARE (FOR UPDATE) would wait for the other, which waits for it.
    from gethook_lite.db.postgres import connect_postgres

    first, second = connect_postgres(pg_url), connect_postgres(pg_url)
    try:
        seed(first, [2] * 5)
        claims = {
            name: in_transaction(
                conn,
                claim_due,
                NOW,
                100,
                ClaimLimits(per_destination=100, per_account=100, busy_destinations={other: 100}),
                MARGIN,
            )
            for name, conn, other in (("first", first, "d1"), ("second", second, "d0"))
        }
        barrier = threading.Barrier(2)
        failures: list[BaseException] = []

        def record(conn, claimed) -> None:
            try:
                outcomes = [(c, attempt(c), "succeeded", None) for c in claimed]
                in_transaction(
                    _PausingBeforeTheEventLocks(conn, barrier), record_attempts, outcomes
                )
            except BaseException as exc:
                failures.append(exc)

        threads = [
            threading.Thread(target=record, args=(first, claims["first"])),
            threading.Thread(target=record, args=(second, claims["second"])),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert failures == []
        assert rows(first, "SELECT DISTINCT status, attempts_count FROM events") == [
            ("delivered", 2)
        ]
        assert counter(first, "delivery_attempts") == 10
    finally:
        first.close()
        second.close()
