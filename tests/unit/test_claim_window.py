"""The claim's candidates when destinations or accounts are left out (db/deliveries.py), on a
real migrated SQLite file: read from the per-destination index so that a full destination's
backlog is never walked, they must be exactly those of the time-ordered scan that skips it
(``reference`` below: the query the claim ran before), in the same order."""

from __future__ import annotations

import random
import sqlite3

import pytest

from gethook_lite.db.claim_order import ClaimLimits, Ordering, fair_pick
from gethook_lite.db.connection import SqliteConnection
from gethook_lite.db.database import _apply_migrations
from gethook_lite.db.deliveries import _due_candidates
from gethook_lite.db.pacing import paced_candidates

NOW = 1000.0


@pytest.fixture
def conn(tmp_path) -> sqlite3.Connection:
    conn = sqlite3.connect(tmp_path / "g.db", isolation_level=None, factory=SqliteConnection)
    _apply_migrations(conn)
    conn.execute("PRAGMA foreign_keys = OFF")  # rows below name only what the queries read
    conn.row_factory = sqlite3.Row  # as on the writer
    return conn


def destinations(conn: sqlite3.Connection, count: int, accounts: int) -> list[tuple[str, str]]:
    made = [(f"d{n:02d}", f"a{n % accounts}") for n in range(count)]
    conn.executemany(
        "INSERT INTO destinations (id, account_id, name, url, signing_secret_enc, created_at,"
        " updated_at) VALUES (?, ?, 'n', 'u', 's', 0, 0)",
        made,
    )
    return made


def deliveries(conn, rows: list[tuple[str, str, str, float | None]]) -> None:
    """(destination, account, status, due) rows, inserted in the given order."""
    conn.execute("BEGIN")  # one transaction, not one per row
    conn.executemany(
        "INSERT INTO deliveries (event_id, account_id, destination_id, route_id, status,"
        " next_attempt_at, created_at) VALUES ('evt', ?, ?, 'r', ?, ?, 0)",
        [(account, destination, status, due) for destination, account, status, due in rows],
    )
    conn.execute("COMMIT")


def reference(conn: sqlite3.Connection, window: int, limits: ClaimLimits) -> list[tuple]:
    """The candidates as the claim found them with one time-ordered scan skipping, row by row,
    the deliveries of the destinations and accounts left out."""
    saturated = limits.saturated_destinations()
    paced = [d for d in limits.paced_destinations() if d not in set(saturated)]
    skipped = saturated + paced
    accounts = limits.saturated_accounts()
    rows = conn.execute(
        "SELECT id, destination_id, account_id FROM deliveries WHERE status = 'pending'"
        f" AND next_attempt_at <= ? AND destination_id NOT IN ({', '.join('?' * len(skipped))})"
        f" AND account_id NOT IN ({', '.join('?' * len(accounts))})"
        " ORDER BY next_attempt_at LIMIT ?",
        [NOW, *skipped, *accounts, window],
    ).fetchall()
    found = [tuple(row) for row in rows]
    if paced:
        found += [tuple(c) for c in paced_candidates(conn, NOW, limits, paced, set(accounts))]
    if len(rows) < window:
        return found
    left_out = {row[1] for row in rows}.union(skipped)
    for destination, account in conn.execute(
        "SELECT DISTINCT destination_id, account_id FROM deliveries WHERE status = 'pending'"
        " ORDER BY destination_id"
    ).fetchall():
        head = conn.execute(
            "SELECT id FROM deliveries WHERE status = 'pending' AND destination_id = ?"
            " AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT 1",
            (destination, NOW),
        ).fetchone()
        if head is not None and destination not in left_out and account not in accounts:
            found.append((head[0], destination, account))
    return found


def candidates(conn, window: int, limits: ClaimLimits) -> list[tuple]:
    return [tuple(c) for c in _due_candidates(conn, NOW, window, limits)]


@pytest.mark.parametrize("seed", range(40))
def test_same_candidates_as_the_time_ordered_scan(conn, seed):
    """Random queues (due times on a coarse grid, so that many tie), random caps: the same
    candidates in the same order, hence the same deliveries chosen."""
    rng = random.Random(seed)
    made = destinations(conn, rng.randint(2, 12), rng.randint(1, 4))
    rows = []
    for destination, account in made:
        backlog = rng.choice([0, 1, 3, 20, 200])
        for _ in range(backlog):
            status = rng.choice(["pending"] * 6 + ["in_flight", "held", "succeeded"])
            due = NOW - rng.randint(0, 40) if rng.random() < 0.9 else NOW + 5
            rows.append((destination, account, status, due if status == "pending" else None))
    rng.shuffle(rows)  # ids (the last tie-break) in no order of destination or time
    deliveries(conn, rows)
    names = [d for d, _ in made]
    limits = ClaimLimits(
        per_destination=rng.choice([2, 8, 32]),
        per_account=rng.choice([4, 16, 64]),
        busy_destinations={d: 32 for d in rng.sample(names, rng.randint(0, 2))},
        busy_accounts={a: 64 for a in rng.sample(["a0", "a1", "a2"], rng.randint(0, 1))},
        allowances={d: rng.randint(0, 3) for d in rng.sample(names, rng.randint(0, 2))},
        orderings={d: Ordering(a, True) for d, a in rng.sample(made, rng.randint(0, 1))},
    )
    for window in (1, 4, 16, 64, 400):
        expected = reference(conn, window, limits)
        assert candidates(conn, window, limits) == expected, window
        limit = max(1, window // 4)
        assert fair_pick(candidates(conn, window, limits), limit, limits) == fair_pick(
            expected, limit, limits
        )


def test_full_destination_backlog_is_not_walked(conn):
    """A full destination's 5,000 due deliveries, older than all others: the others' come
    first in the window, oldest first, and its own are not read at all (counted by a
    function the per-row filter of a scan would call)."""
    destinations(conn, 3, 2)
    deliveries(conn, [("d00", "a0", "pending", NOW - 100 + n / 100) for n in range(5000)])
    deliveries(conn, [("d01", "a1", "pending", NOW - 10 + n) for n in range(3)])
    deliveries(conn, [("d02", "a0", "pending", NOW - 20 + n) for n in range(3)])
    limits = ClaimLimits(per_destination=32, per_account=64, busy_destinations={"d00": 32})
    assert candidates(conn, 16, limits) == reference(conn, 16, limits)
    assert [c[1] for c in candidates(conn, 16, limits)] == ["d02"] * 3 + ["d01"] * 3
    steps: list[int] = []
    conn.set_progress_handler(lambda: steps.append(1) and 0, 100)
    candidates(conn, 16, limits)
    walked = len(steps) * 100
    steps.clear()
    reference(conn, 16, limits)
    conn.set_progress_handler(None, 0)
    assert walked < 5000 < len(steps) * 100
