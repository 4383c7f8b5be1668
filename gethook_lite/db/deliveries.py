"""Deliveries — one per (event, destination) — their leases, and the attempts they record."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

import msgspec

from gethook_lite.constants import CLAIM_WINDOW_FACTOR
from gethook_lite.db.claim_order import Candidate, ClaimLimits, fair_pick
from gethook_lite.db.destination_state import shift_times
from gethook_lite.db.events import refresh_event_status
from gethook_lite.db.pacing import paced_candidates
from gethook_lite.db.rows import Row, insert
from gethook_lite.ids import new_id
from gethook_lite.retry_policy import RetryPolicy, decode_retry_policy

__all__ = [
    "Claim",
    "Outcome",
    "cancel_open_deliveries",
    "cancel_superseded_deliveries",
    "claim_due",
    "next_due_at",
    "queue_depth",
    "reclaim_expired_leases",
    "record_attempt",
    "record_attempts",
    "release_all_leases",
    "shift_schedule",
]

# Everything one attempt needs, read in the same transaction that leases it.
_CLAIM_SELECT = """
SELECT dl.id AS delivery_id, dl.event_id, dl.account_id, dl.destination_id, dl.route_id,
       dl.attempts_count,
       e.body, e.content_type, e.event_type,
       d.url, d.timeout_seconds, d.auth_config_enc, d.custom_headers, d.signing_secret_enc,
       d.previous_secret_enc, d.previous_secret_expires_at, d.updated_at AS destination_version,
       CASE WHEN d.forward_original_headers THEN e.headers END AS original_headers,
       d.active AND d.deleted_at IS NULL AS destination_live,
       r.retry_policy
FROM deliveries dl
JOIN events e ON e.id = dl.event_id
JOIN destinations d ON d.id = dl.destination_id
JOIN routes r ON r.id = dl.route_id
"""


class Claim(msgspec.Struct, frozen=True, kw_only=True):
    """A leased delivery and everything its attempt needs, read when it was claimed.

    Secrets are still encrypted (the dispatcher decrypts them once per destination version);
    ``retry_policy`` is the route's, parsed once here rather than on every attempt.
    """

    delivery_id: int
    event_id: str
    account_id: str
    destination_id: str
    route_id: str
    attempts_count: int  # attempts made before this one
    body: bytes
    content_type: str | None
    event_type: str | None
    url: str
    timeout_seconds: float
    auth_config_enc: str | None
    custom_headers: str | None  # JSON object
    signing_secret_enc: str
    previous_secret_enc: str | None
    previous_secret_expires_at: float | None
    destination_version: float  # the destination's updated_at: keys the prepared-request cache
    retry_policy: RetryPolicy
    lease_expires_at: float
    # The event's stored (redacted) request headers, JSON; only for a destination with
    # forward_original_headers on (None otherwise).
    original_headers: str | None = None


def claim_due(
    conn: sqlite3.Connection,
    now: float,
    limit: int,
    limits: ClaimLimits,
    lease_margin_seconds: float,
) -> list[Claim]:
    """Lease up to ``limit`` due deliveries in the fair order of ``claim_order.fair_pick``.

    Destinations and accounts already at their cap (``limits``) are skipped in SQL, so a
    backlog to one broken endpoint never fills the scanned window.
    """
    candidates = _due_candidates(conn, now, limit * CLAIM_WINDOW_FACTOR, limits)
    chosen = fair_pick(candidates, limit, limits)
    if not chosen:
        return []
    rows = conn.execute(_CLAIM_SELECT + f" WHERE dl.id IN ({_marks(chosen)})", chosen)
    claimed: list[Claim] = []
    for row in rows.fetchall():
        if not row["destination_live"]:
            # Created from a routing copy that went stale as the destination was turned off.
            _cancel_one(conn, row, now, "destination deactivated or deleted")
            continue
        # The lease outlasts the attempt's own timeout, so a live attempt is never reclaimed.
        claimed.append(_claim(row, now + row["timeout_seconds"] + lease_margin_seconds))
    if claimed:
        conn.executemany(
            "UPDATE deliveries SET status = 'in_flight', lease_expires_at = ? WHERE id = ?",
            [(claim.lease_expires_at, claim.delivery_id) for claim in claimed],
        )
        conn.executemany(
            "UPDATE events SET status = 'delivering'"
            " WHERE id = ? AND status IN ('queued', 'retry_scheduled')",
            [(event_id,) for event_id in {claim.event_id for claim in claimed}],
        )
    return claimed


def _claim(row: sqlite3.Row, lease_expires_at: float) -> Claim:
    return Claim(
        delivery_id=row["delivery_id"],
        event_id=row["event_id"],
        account_id=row["account_id"],
        destination_id=row["destination_id"],
        route_id=row["route_id"],
        attempts_count=row["attempts_count"],
        body=row["body"],
        content_type=row["content_type"],
        event_type=row["event_type"],
        url=row["url"],
        timeout_seconds=row["timeout_seconds"],
        auth_config_enc=row["auth_config_enc"],
        custom_headers=row["custom_headers"],
        signing_secret_enc=row["signing_secret_enc"],
        previous_secret_enc=row["previous_secret_enc"],
        previous_secret_expires_at=row["previous_secret_expires_at"],
        destination_version=row["destination_version"],
        retry_policy=decode_retry_policy(row["retry_policy"]),
        lease_expires_at=lease_expires_at,
        original_headers=row["original_headers"],
    )


def _due_candidates(
    conn: sqlite3.Connection, now: float, window: int, limits: ClaimLimits
) -> list[Candidate | tuple[int, str, str]]:
    """Due deliveries that may be claimed, oldest first, with every due destination in them.

    The oldest ``window`` come from the time-ordered index. When the window is full there is
    more due work than it shows, possibly at other destinations (a backlog of old deliveries
    at one would hide them): each destination with due work missing from the window then adds
    its oldest due delivery, found with one index seek per destination with pending work.
    """
    saturated_destinations = limits.saturated_destinations()
    saturated_accounts = limits.saturated_accounts()
    # Destinations with pacing rules are left out of the window (their backlog would fill it
    # with deliveries they may not take now) and give only what they may take.
    full = set(saturated_destinations)
    paced = [d for d in limits.paced_destinations() if d not in full]
    skipped_destinations = saturated_destinations + paced
    exclusion = ""
    if skipped_destinations:
        exclusion += f" AND destination_id NOT IN ({_marks(skipped_destinations)})"
    if saturated_accounts:
        exclusion += f" AND account_id NOT IN ({_marks(saturated_accounts)})"
    rows = conn.execute(
        "SELECT id, destination_id, account_id FROM deliveries WHERE status = 'pending'"
        " AND next_attempt_at <= ?" + exclusion + " ORDER BY next_attempt_at LIMIT ?",
        [now, *skipped_destinations, *saturated_accounts, window],
    ).fetchall()
    candidates: list[Candidate | tuple[int, str, str]] = list(rows)
    if paced:
        candidates += paced_candidates(conn, now, limits, paced, set(saturated_accounts))
    if len(rows) < window:
        return candidates
    skipped = {row[1] for row in rows}.union(skipped_destinations)
    full_accounts = set(saturated_accounts)
    for delivery_id, destination, account in conn.execute(_DUE_HEADS, (now,)):
        if delivery_id is not None and destination not in skipped and account not in full_accounts:
            candidates.append(Candidate(delivery_id, destination, account))
    return candidates


# Every destination with pending work (a skip scan: one index seek each, however long its
# queue) and its oldest due delivery, NULL when none is due yet.
_DUE_HEADS = """
WITH RECURSIVE pending_destinations(destination_id) AS (
    SELECT min(destination_id) FROM deliveries WHERE status = 'pending'
    UNION ALL
    SELECT (SELECT min(destination_id) FROM deliveries
            WHERE status = 'pending' AND destination_id > p.destination_id)
    FROM pending_destinations p WHERE p.destination_id IS NOT NULL
)
SELECT (SELECT dl.id FROM deliveries dl
        WHERE dl.status = 'pending' AND dl.destination_id = p.destination_id
          AND dl.next_attempt_at <= ?1
        ORDER BY dl.next_attempt_at LIMIT 1) AS head,
       p.destination_id, d.account_id
FROM pending_destinations p JOIN destinations d ON d.id = p.destination_id
WHERE p.destination_id IS NOT NULL
"""


def _marks(values: list) -> str:
    return ", ".join("?" * len(values))


def _cancel_one(conn: sqlite3.Connection, job: sqlite3.Row, now: float, reason: str) -> None:
    _insert_cancelled_attempt(
        conn, job["delivery_id"], job["event_id"], job["destination_id"], job["attempts_count"],
        now, reason,
    )  # fmt: skip
    conn.execute(
        "UPDATE deliveries SET status = 'cancelled', next_attempt_at = NULL, finished_at = ?,"
        " last_outcome = 'cancelled' WHERE id = ?",
        (now, job["delivery_id"]),
    )
    refresh_event_status(conn, job["event_id"])


def _insert_cancelled_attempt(
    conn: sqlite3.Connection,
    delivery_id: int,
    event_id: str,
    destination_id: str,
    attempts_count: int,
    now: float,
    reason: str,
) -> None:
    insert(
        conn,
        "attempts",
        {
            "id": new_id("att"),
            "event_id": event_id,
            "delivery_id": delivery_id,
            "destination_id": destination_id,
            "attempt_number": attempts_count + 1,
            "started_at": now,
            "finished_at": now,
            "error_message": reason,
            "outcome": "cancelled",
        },
    )


def record_attempt(
    conn: sqlite3.Connection,
    claim: Claim,
    attempt: Row,
    next_status: str,
    next_attempt_at: float | None,
) -> bool:
    """Store a finished attempt and move its delivery on (pending, succeeded, dead_letter).

    Returns False when the delivery was no longer leased by us (cancelled meanwhile): the
    attempt is still recorded, the delivery's new state is not.
    """
    insert(conn, "attempts", {"id": new_id("att"), **attempt})
    cursor = conn.execute(
        "UPDATE deliveries SET status = ?, attempts_count = attempts_count + 1,"
        " next_attempt_at = ?, lease_expires_at = NULL, last_outcome = ?,"
        " finished_at = CASE WHEN ? IN ('succeeded', 'dead_letter') THEN ? END"
        " WHERE id = ? AND status = 'in_flight'",
        (
            next_status,
            next_attempt_at,
            attempt["outcome"],
            next_status,
            attempt["finished_at"],
            claim.delivery_id,
        ),
    )
    if cursor.rowcount == 0:
        conn.execute(
            "UPDATE deliveries SET attempts_count = attempts_count + 1 WHERE id = ?",
            (claim.delivery_id,),
        )
    refresh_event_status(conn, claim.event_id)
    return cursor.rowcount > 0


Outcome = tuple[Claim, Row, str, float | None]  # claim, attempt row, next status, next due time


def record_attempts(conn: sqlite3.Connection, outcomes: list[Outcome]) -> None:
    """``record_attempt`` for many (claim, attempt, next status, next due time) at once."""
    for claim, attempt, next_status, next_attempt_at in outcomes:
        record_attempt(conn, claim, attempt, next_status, next_attempt_at)


def cancel_open_deliveries(
    conn: sqlite3.Connection, destination_id: str, now: float, reason: str
) -> int:
    """Cancel a destination's pending (and held) deliveries, recording a ``cancelled``
    attempt for each."""
    pending = conn.execute(
        "SELECT id, event_id, attempts_count FROM deliveries"
        " WHERE destination_id = ? AND status IN ('pending', 'held')",
        (destination_id,),
    ).fetchall()
    for delivery_id, event_id, attempts_count in pending:
        _insert_cancelled_attempt(
            conn, delivery_id, event_id, destination_id, attempts_count, now, reason
        )
    conn.execute(
        "UPDATE deliveries SET status = 'cancelled', next_attempt_at = NULL, finished_at = ?,"
        " last_outcome = 'cancelled' WHERE destination_id = ? AND status IN ('pending', 'held')",
        (now, destination_id),
    )
    for event_id in {row[1] for row in pending}:
        refresh_event_status(conn, event_id)
    return len(pending)


def cancel_superseded_deliveries(
    conn: sqlite3.Connection, event_id: str, destination_ids: Iterable[str], now: float, reason: str
) -> int:
    """Cancel an event's pending deliveries to these destinations (a replay now delivers it
    there), recording a ``cancelled`` attempt for each; in-flight ones are left to finish."""
    destination_ids = list(destination_ids)
    if not destination_ids:
        return 0
    pending = conn.execute(
        "SELECT id, destination_id, attempts_count FROM deliveries"
        " WHERE event_id = ? AND status IN ('pending', 'held')"
        f" AND destination_id IN ({', '.join('?' * len(destination_ids))})",
        [event_id, *destination_ids],
    ).fetchall()
    for delivery_id, destination_id, attempts_count in pending:
        _insert_cancelled_attempt(
            conn, delivery_id, event_id, destination_id, attempts_count, now, reason
        )
    conn.executemany(
        "UPDATE deliveries SET status = 'cancelled', next_attempt_at = NULL, finished_at = ?,"
        " last_outcome = 'cancelled' WHERE id = ? AND status IN ('pending', 'held')",
        [(now, row[0]) for row in pending],
    )
    if pending:
        refresh_event_status(conn, event_id)
    return len(pending)


def release_all_leases(conn: sqlite3.Connection) -> int:
    """At start-up: deliveries left in flight by a dead process become due again at once.

    Safe because one process owns a SQLite data directory (the data-dir lock).
    """
    rows = conn.execute(
        "UPDATE deliveries SET status = 'pending', lease_expires_at = NULL"
        " WHERE status = 'in_flight' RETURNING event_id"
    ).fetchall()
    for event_id in {row[0] for row in rows}:
        refresh_event_status(conn, event_id)
    return len(rows)


def reclaim_expired_leases(conn: sqlite3.Connection, now: float) -> int:
    """Deliveries whose lease ran out (their worker died or hung) become due again."""
    rows = conn.execute(
        "UPDATE deliveries SET status = 'pending', lease_expires_at = NULL, next_attempt_at = ?"
        " WHERE status = 'in_flight' AND lease_expires_at <= ? RETURNING event_id",
        (now, now),
    ).fetchall()
    for event_id in {row[0] for row in rows}:
        refresh_event_status(conn, event_id)
    return len(rows)


def shift_schedule(conn: sqlite3.Connection, seconds: float) -> int:
    """Move every pending retry and lease by ``seconds`` after a wall-clock step.

    Waits are promised in elapsed time: a clock set back an hour must not strand retries for
    an hour, and one set forward must not make every retry due at once.
    """
    moved = conn.execute(
        "UPDATE deliveries SET next_attempt_at = next_attempt_at + ?"
        " WHERE status = 'pending' AND next_attempt_at IS NOT NULL",
        (seconds,),
    ).rowcount
    conn.execute(
        "UPDATE deliveries SET lease_expires_at = lease_expires_at + ? WHERE status = 'in_flight'",
        (seconds,),
    )
    conn.execute(
        "UPDATE deliveries SET next_attempt_at = next_attempt_at + ?, held_at = held_at + ?"
        " WHERE status = 'held'",
        (seconds, seconds),
    )
    shift_times(conn, seconds)
    conn.execute(
        "UPDATE events SET next_attempt_at = next_attempt_at + ? WHERE next_attempt_at IS NOT NULL",
        (seconds,),
    )
    return moved


def next_due_at(conn: sqlite3.Connection) -> float | None:
    """When the earliest pending delivery falls due (None when nothing is pending)."""
    row = conn.execute(
        "SELECT min(next_attempt_at) FROM deliveries WHERE status = 'pending'"
    ).fetchone()
    return row[0]


def queue_depth(conn: sqlite3.Connection, now: float) -> dict[str, int]:
    """Pending deliveries due now and scheduled later, and those in flight."""
    row = conn.execute(
        "SELECT"
        " coalesce(sum(status = 'pending' AND next_attempt_at <= ?), 0),"
        " coalesce(sum(status = 'pending' AND next_attempt_at > ?), 0),"
        " coalesce(sum(status = 'in_flight'), 0)"
        " FROM deliveries WHERE status IN ('pending', 'in_flight')",
        (now, now),
    ).fetchone()
    return {"due": row[0], "scheduled": row[1], "in_flight": row[2]}
