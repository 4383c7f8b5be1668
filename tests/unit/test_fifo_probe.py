"""The half-open probe of a FIFO destination is its queue's head (db/destination_state.py with
db/pacing.py), on a real migrated SQLite file. Delivery ids follow commit order, FIFO follows
event ids (taken when a request arrives): two ingests committing out of order make them differ,
and a probe other than the head would never be claimed (the head, held, blocks it), leaving
the circuit half-open for good."""

from __future__ import annotations

import sqlite3

import pytest

from gethook_lite.db.connection import SqliteConnection
from gethook_lite.db.database import _apply_migrations
from gethook_lite.db.destination_state import release_held
from gethook_lite.db.pacing import fifo_head

NOW = 1000.0


@pytest.fixture
def conn(tmp_path) -> sqlite3.Connection:
    conn = sqlite3.connect(tmp_path / "g.db", isolation_level=None, factory=SqliteConnection)
    _apply_migrations(conn)
    conn.execute("PRAGMA foreign_keys = OFF")  # rows below name only what the queries read
    return conn


def held(conn, event: str) -> int:
    cursor = conn.execute(
        "INSERT INTO deliveries (event_id, account_id, destination_id, route_id, status,"
        " next_attempt_at, created_at, held_at) VALUES (?, 'a', 'd', 'r', 'held', ?, 0, ?)",
        (event, NOW - 10, NOW - 5),
    )
    return cursor.lastrowid


def test_the_probe_is_the_oldest_event_not_the_oldest_row(conn):
    held(conn, "evt_2")  # committed first, though its event arrived second
    first = held(conn, "evt_1")
    held(conn, "evt_3")
    assert release_held(conn, "d", NOW, probe=True) == 1
    head = fifo_head(conn, "d", None)
    assert head is not None and (head.delivery_id, head.status) == (first, "pending")
