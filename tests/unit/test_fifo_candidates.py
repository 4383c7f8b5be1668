"""Which deliveries a claim may take from paced destinations (db/pacing.py), on a real
migrated SQLite file: a FIFO queue gives only its head, and only when that head is due and not
already in flight; a rate-limited destination gives no more than its room."""

from __future__ import annotations

import sqlite3

import pytest

from gethook_lite.db.claim_order import ClaimLimits, Ordering
from gethook_lite.db.connection import SqliteConnection
from gethook_lite.db.database import _apply_migrations
from gethook_lite.db.pacing import blocking_deliveries, fifo_head, load_pacing, paced_candidates

NOW = 1000.0


@pytest.fixture
def conn(tmp_path) -> sqlite3.Connection:
    conn = sqlite3.connect(tmp_path / "g.db", isolation_level=None, factory=SqliteConnection)
    _apply_migrations(conn)
    conn.execute("PRAGMA foreign_keys = OFF")  # rows below name only what the queries read
    conn.execute(
        "INSERT INTO destinations (id, account_id, name, url, signing_secret_enc, created_at,"
        " updated_at, ordering, rate_limit_count, rate_limit_period) VALUES"
        " ('fifo', 'a', 'f', 'u', 's', 0, 0, 'fifo', NULL, NULL),"
        " ('paced', 'a', 'p', 'u', 's', 0, 0, 'none', 5, 1),"
        " ('mixed', 'a', 'm', 'u', 's', 0, 0, 'none', NULL, NULL)"
    )
    conn.execute(
        "INSERT INTO routes (id, account_id, destination_id, retry_policy, created_at, ordering)"
        " VALUES ('r_fifo', 'a', 'mixed', '{}', 0, 'fifo'), ('r_free', 'a', 'mixed', '{}', 0,"
        " 'none'), ('r', 'a', 'fifo', '{}', 0, 'none'), ('r_p', 'a', 'paced', '{}', 0, 'none')"
    )
    return conn


def delivery(conn, event, destination, route, status="pending", due=NOW - 1) -> int:
    cursor = conn.execute(
        "INSERT INTO deliveries (event_id, account_id, destination_id, route_id, status,"
        " next_attempt_at, created_at) VALUES (?, 'a', ?, ?, ?, ?, 0)",
        (event, destination, route, status, due),
    )
    return cursor.lastrowid


def limits(**fields) -> ClaimLimits:
    return ClaimLimits(per_destination=32, per_account=64, **fields)


FIFO = {"fifo": Ordering("a", True)}


def test_load_pacing_finds_paced_destinations_and_fifo_routes(conn):
    found = {pacing.destination_id: pacing for pacing in load_pacing(conn)}
    assert set(found) == {"fifo", "paced", "mixed"}
    assert found["fifo"].fifo and not found["paced"].fifo
    assert (found["paced"].rate_count, found["paced"].rate_period) == (5, 1)
    assert found["mixed"].fifo_routes == ("r_fifo",)


def test_fifo_gives_its_head_in_event_order_not_insertion_order(conn):
    later = delivery(conn, "evt_02", "fifo", "r")
    first = delivery(conn, "evt_01", "fifo", "r")
    assert fifo_head(conn, "fifo", None).delivery_id == first
    chosen = paced_candidates(conn, NOW, limits(orderings=FIFO), ["fifo"], set())
    assert [c.delivery_id for c in chosen] == [first]
    assert later not in [c.delivery_id for c in chosen]


@pytest.mark.parametrize(
    ("status", "due"),
    [("in_flight", None), ("pending", NOW + 60), ("held", None)],
)
def test_a_head_in_flight_waiting_or_held_blocks_the_queue(conn, status, due):
    delivery(conn, "evt_01", "fifo", "r", status=status, due=due)
    delivery(conn, "evt_02", "fifo", "r")
    assert paced_candidates(conn, NOW, limits(orderings=FIFO), ["fifo"], set()) == []
    assert blocking_deliveries(conn, "evt_02") == [("fifo", "evt_01")]
    assert blocking_deliveries(conn, "evt_01") == []


def test_finished_deliveries_leave_the_queue(conn):
    delivery(conn, "evt_01", "fifo", "r", status="dead_letter", due=None)
    second = delivery(conn, "evt_02", "fifo", "r")
    chosen = paced_candidates(conn, NOW, limits(orderings=FIFO), ["fifo"], set())
    assert [c.delivery_id for c in chosen] == [second]


def test_a_fifo_route_orders_its_own_deliveries_the_others_flow(conn):
    delivery(conn, "evt_01", "mixed", "r_fifo", status="pending", due=NOW + 60)
    delivery(conn, "evt_02", "mixed", "r_fifo")
    free = [delivery(conn, f"evt_0{n}", "mixed", "r_free") for n in (3, 4)]
    ordering = {"mixed": Ordering("a", False, ("r_fifo",))}
    chosen = paced_candidates(conn, NOW, limits(orderings=ordering), ["mixed"], set())
    assert [c.delivery_id for c in chosen] == free


def test_a_rate_limited_destination_gives_no_more_than_its_room(conn):
    ids = [delivery(conn, f"evt_{n:02d}", "paced", "r_p", due=NOW - 10 + n) for n in range(5)]
    chosen = paced_candidates(conn, NOW, limits(allowances={"paced": 2}), ["paced"], set())
    assert [c.delivery_id for c in chosen] == ids[:2]  # oldest due first
    assert paced_candidates(conn, NOW, limits(allowances={"paced": 0}), ["paced"], set()) == []
    # The account at its cap: nothing either.
    assert paced_candidates(conn, NOW, limits(allowances={"paced": 2}), ["paced"], {"a"}) == []
