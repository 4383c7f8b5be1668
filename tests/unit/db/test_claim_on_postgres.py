"""The claim on PostgreSQL (db/deliveries.py, docs/design/postgresql.md §6.2), on a fresh
migrated database: the same candidates as on SQLite, leases with an owner token, and several
claimers (threads with a connection each, standing for processes) sharing one queue."""

from __future__ import annotations

from gethook_lite.db.claim_order import ClaimLimits
from gethook_lite.db.deliveries import claim_due, queue_depth, record_attempt

NOW = 1000.0
MARGIN = 5.0
ME = "host:1:1"


def seed(conn, destinations: dict[str, str], due: dict[str, list[float]]) -> None:
    """Accounts, destinations (id -> account), one route each, and pending deliveries
    (destination -> due times), one event per delivery."""
    conn.execute("BEGIN")
    for account in sorted(set(destinations.values())):
        conn.execute(
            "INSERT INTO accounts (id, name, retention_days, created_at) VALUES (?, 'n', 7, 0)",
            (account,),
        )
    for destination, account in destinations.items():
        conn.execute(
            "INSERT INTO destinations (id, account_id, name, url, signing_secret_enc,"
            " timeout_seconds, created_at, updated_at) VALUES (?, ?, 'n', 'http://x', 's', 10,"
            " 0, 0)",
            (destination, account),
        )
        conn.execute(
            "INSERT INTO routes (id, account_id, destination_id, retry_policy, created_at)"
            " VALUES (?, ?, ?, '{}', 0)",
            (f"r-{destination}", account, destination),
        )
    n = 0
    for destination, times in due.items():
        account = destinations[destination]
        for when in times:
            n += 1
            event = f"evt{n:06d}"
            conn.execute(
                "INSERT INTO events (id, account_id, direction, headers, body, status,"
                " created_by, received_at, created_at)"
                " VALUES (?, ?, 'inbound', '{}', ?, 'queued', 'ingest', 0, 0)",
                (event, account, b"{}"),
            )
            conn.execute(
                "INSERT INTO deliveries (event_id, account_id, destination_id, route_id, status,"
                " next_attempt_at, created_at) VALUES (?, ?, ?, ?, 'pending', ?, 0)",
                (event, account, destination, f"r-{destination}", when),
            )
    conn.execute("COMMIT")


def claim(conn, limit: int, limits: ClaimLimits, now: float = NOW):
    conn.execute("BEGIN")
    try:
        return claim_due(conn, now, limit, limits, MARGIN)
    finally:
        conn.execute("COMMIT")


def test_a_claim_leases_the_oldest_due_and_skips_full_destinations(pg_conn):
    seed(
        pg_conn,
        {"d0": "a0", "d1": "a0", "d2": "a1"},
        {"d0": [NOW - 30 + n for n in range(20)], "d1": [NOW - 5, NOW + 50], "d2": [NOW - 1]},
    )
    limits = ClaimLimits(per_destination=4, per_account=8, busy_destinations={"d0": 4})
    claimed = claim(pg_conn, 10, limits)
    assert sorted(c.destination_id for c in claimed) == ["d1", "d2"]
    assert all(c.lease_expires_at == NOW + 10 + MARGIN for c in claimed)
    assert queue_depth(pg_conn, NOW) == {"due": 20, "scheduled": 1, "in_flight": 2}
    events = pg_conn.execute("SELECT count(*) FROM events WHERE status = 'delivering'")
    assert events.fetchone()[0] == 2


def test_an_outcome_moves_the_delivery_on(pg_conn):
    seed(pg_conn, {"d0": "a0"}, {"d0": [NOW - 1]})
    [leased] = claim(pg_conn, 5, ClaimLimits(per_destination=4, per_account=8))
    attempt = {
        "event_id": leased.event_id,
        "delivery_id": leased.delivery_id,
        "destination_id": leased.destination_id,
        "attempt_number": 1,
        "started_at": NOW,
        "finished_at": NOW + 0.1,
        "response_status": 200,
        "outcome": "success",
    }
    assert record_attempt(pg_conn, leased, attempt, "succeeded", None)
    row = pg_conn.execute("SELECT status, attempts_count FROM deliveries").fetchone()
    assert tuple(row) == ("succeeded", 1)
