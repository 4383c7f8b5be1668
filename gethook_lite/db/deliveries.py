"""Deliveries — one per (event, destination) — their leases, and the attempts they record."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable
from typing import Any, Final

import msgspec

from gethook_lite.constants import CLAIM_WINDOW_FACTOR
from gethook_lite.db.changes import VALUES, insert_rows, values_chunks
from gethook_lite.db.claim_order import Candidate, ClaimLimits, fair_pick
from gethook_lite.db.connection import POSTGRESQL, SQLITE, Connection, DbRow
from gethook_lite.db.destination_state import shift_times
from gethook_lite.db.events import (
    mark_delivering,
    refresh_event_status,
    refresh_event_statuses,
    refreshed_statuses,
)
from gethook_lite.db.pacing import paced_candidates
from gethook_lite.db.rows import Row, insert
from gethook_lite.db.stats import count_attempts
from gethook_lite.db.status_books import book_status_moves
from gethook_lite.ids import new_id
from gethook_lite.retry_policy import RetryPolicy, decode_retry_policy

__all__ = [
    "BUSY",
    "Busy",
    "Claim",
    "Outcome",
    "cancel_open_deliveries",
    "cancel_superseded_deliveries",
    "claim_due",
    "count_leased",
    "lease_owner",
    "queue_depth",
    "reclaim_expired_leases",
    "record_attempts",
    "release_all_leases",
    "release_claims",
    "release_leases_of",
    "shift_schedule",
    "try_claim_lock",
]

# Everything one attempt needs, read in the same transaction that leases it.
_CLAIM_SELECT = """
SELECT dl.id AS delivery_id, dl.event_id, dl.account_id, dl.destination_id, dl.route_id,
       dl.attempts_count,
       e.body, e.content_type, e.event_type,
       d.url, d.timeout_seconds, d.auth_config_enc, d.custom_headers, d.signing_secret_enc,
       d.previous_secret_enc, d.previous_secret_expires_at, d.updated_at AS destination_version,
       CASE WHEN d.forward_original_headers = 1 THEN e.headers END AS original_headers,
       (d.active = 1 AND d.deleted_at IS NULL) AS destination_live,
       r.retry_policy
FROM deliveries dl
JOIN events e ON e.id = dl.event_id
JOIN destinations d ON d.id = dl.destination_id
JOIN routes r ON r.id = dl.route_id
"""


_STARTED = time.time()


def lease_owner() -> str:
    """This process's name on the leases it holds: ``host:pid:start`` (unique in a cluster;
    the pid is read each time so that a forked child does not pass for its parent)."""
    return f"{socket.gethostname()}:{os.getpid()}:{int(_STARTED)}"


class Busy:
    """The claim did not run: another process is claiming (PostgreSQL). Not an empty claim,
    which means "nothing due" and sends the scheduler to sleep until the next due time."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "BUSY"


BUSY: Final = Busy()

# pg_try_advisory_xact_lock's key for "claiming deliveries": one claimer at a time in the
# cluster, so that the caps counted from the table hold across processes (§6.2 of
# docs/design/postgresql.md). Any bigint no other lock of ours uses ("gethook" + 1).
CLAIM_LOCK_KEY: Final = 0x67_6574_686F_6F6B_01 & 0x7FFF_FFFF_FFFF_FFFF


def try_claim_lock(conn: Connection) -> bool:
    """Take the claim lock for the rest of the transaction; False when another process holds
    it. Always True on SQLite, where one process holds the whole database."""
    if conn.dialect != POSTGRESQL:
        return True
    row = conn.execute("SELECT pg_try_advisory_xact_lock(?)", (CLAIM_LOCK_KEY,)).fetchone()
    return bool(row[0])


def count_leased(conn: Connection, limits: ClaimLimits) -> ClaimLimits:
    """``limits`` with what is in flight counted from the table, in the whole cluster, on
    PostgreSQL (under the claim lock); on SQLite the scheduler's own counts are all there is,
    and they free a slot as soon as an answer arrives, one commit before the table does."""
    if conn.dialect != POSTGRESQL:
        return limits
    destinations: dict[str, int] = {}
    accounts: dict[str, int] = {}
    for destination, account, count in conn.execute(
        "SELECT destination_id, account_id, count(*) FROM deliveries"
        " WHERE status = 'in_flight' GROUP BY destination_id, account_id"
    ):
        destinations[destination] = destinations.get(destination, 0) + count
        accounts[account] = accounts.get(account, 0) + count
    return dataclasses.replace(limits, busy_destinations=destinations, busy_accounts=accounts)


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
    # Who holds the lease (``lease_owner``): with ``lease_expires_at``, the lease's token.
    leased_by: str = ""


def claim_due(
    conn: Connection,
    now: float,
    limit: int,
    limits: ClaimLimits,
    lease_margin_seconds: float,
    *,
    owner: str | None = None,
    lease_timeouts: int = 1,
) -> list[Claim]:
    """Lease up to ``limit`` due deliveries in the fair order of ``claim_order.fair_pick``,
    to ``owner`` (default: this process, ``lease_owner``).

    Destinations and accounts already at their cap (``limits``) are skipped in SQL, so a
    backlog to one broken endpoint never fills the scanned window. On PostgreSQL the caller
    holds the claim lock (``try_claim_lock``) and the chosen rows are locked as they are
    read, skipping any an outcome or a cancel is changing right now.
    """
    owner = lease_owner() if owner is None else owner
    window = min(limit, limits.per_destination) * CLAIM_WINDOW_FACTOR
    candidates = _due_candidates(conn, now, window, limits)
    chosen = fair_pick(candidates, limit, limits)
    if not chosen:
        return []
    rows = conn.execute(_CLAIM_CHOSEN[conn.dialect], (_id_list(conn, chosen),))
    claimed: list[Claim] = []
    for row in rows.fetchall():
        if not row["destination_live"]:
            # Created from a routing copy that went stale as the destination was turned off.
            _cancel_one(conn, row, now, "destination deactivated or deleted")
            continue
        # The lease outlasts the attempt's own timeout (``lease_timeouts`` of them: a claim
        # made ahead waits for a slot first), so a live attempt is never reclaimed.
        lease = now + lease_timeouts * row["timeout_seconds"] + lease_margin_seconds
        claimed.append(_claim(row, lease, owner))
    if claimed:
        _lease(conn, claimed, owner)
        mark_delivering(conn, [claim.event_id for claim in claimed])
    return claimed


# The chosen deliveries that are still pending, by id: on SQLite the ids come as one JSON
# array (a single statement text whatever their number, kept in the connection's statement
# cache); on PostgreSQL as an array, the rows locked as they are read, skipping any an
# outcome or a cancel is changing right now.
_CLAIM_CHOSEN = {
    SQLITE: _CLAIM_SELECT
    + " WHERE dl.id IN (SELECT value FROM json_each(?)) AND dl.status = 'pending'",
    POSTGRESQL: _CLAIM_SELECT
    + " WHERE dl.id = ANY(?) AND dl.status = 'pending' FOR UPDATE OF dl SKIP LOCKED",
}
_LEASE_TO = {
    SQLITE: "UPDATE deliveries SET status = 'in_flight', lease_expires_at = ?, leased_by = ?"
    " WHERE id IN (SELECT value FROM json_each(?))",
    POSTGRESQL: "UPDATE deliveries SET status = 'in_flight', lease_expires_at = ?, leased_by = ?"
    " WHERE id = ANY(?)",
}


def _id_list(conn: Connection, ids: list[int]) -> str | list[int]:
    """``ids`` as one statement parameter: a JSON array on SQLite, an array on PostgreSQL."""
    return json.dumps(ids) if conn.dialect == SQLITE else ids


def _lease(conn: Connection, claimed: list[Claim], owner: str) -> None:
    """Put the claimed deliveries in flight under their leases: one update per lease expiry
    (the claimed destinations' timeouts; usually one), not one per delivery."""
    by_expiry: dict[float, list[int]] = {}
    for claim in claimed:
        by_expiry.setdefault(claim.lease_expires_at, []).append(claim.delivery_id)
    for expiry, ids in by_expiry.items():
        conn.execute(_LEASE_TO[conn.dialect], (expiry, owner, _id_list(conn, ids)))


def _claim(row: DbRow, lease_expires_at: float, owner: str) -> Claim:
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
        leased_by=owner,
    )


def _due_candidates(
    conn: Connection, now: float, window: int, limits: ClaimLimits
) -> list[Candidate | tuple[int, str, str]]:
    """Due deliveries that may be claimed, oldest first, with every due destination in them.

    The oldest ``window`` come first. When the window is full there is more due work than it
    shows, possibly at other destinations (a backlog of old deliveries at one would hide
    them): each destination with due work missing from the window then adds its oldest due
    delivery, found with one index seek per destination with pending work.
    """
    saturated_destinations = limits.saturated_destinations()
    saturated_accounts = limits.saturated_accounts()
    # Destinations with pacing rules are left out of the window (their backlog would fill it
    # with deliveries they may not take now) and give only what they may take.
    full = set(saturated_destinations)
    paced = [d for d in limits.paced_destinations() if d not in full]
    skipped = set(saturated_destinations).union(paced)
    full_accounts = set(saturated_accounts)
    heads: list[Candidate] | None = None
    rows: list[Candidate | tuple[int, str, str]]
    if skipped or full_accounts:
        # The time-ordered index would walk every due delivery of the destinations left out
        # to skip them (a full destination's backlog: milliseconds per claim); the others'
        # are read from the per-destination index instead.
        found, heads = _window_without(conn, now, window, skipped, full_accounts)
        rows = list(found)
    else:
        rows = conn.execute(
            "SELECT id, destination_id, account_id FROM deliveries WHERE status = 'pending'"
            " AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?",
            (now, window),
        ).fetchall()
    candidates = list(rows)
    if paced:
        candidates += paced_candidates(conn, now, limits, paced, full_accounts)
    if len(rows) < window:
        return candidates
    if heads is None:
        heads = _due_heads(conn, now, skipped, full_accounts)
    in_window = {row[1] for row in rows}
    candidates += [head for head in heads if head.destination_id not in in_window]
    return candidates


def _due_heads(
    conn: Connection, now: float, skipped: set[str], full_accounts: set[str]
) -> list[Candidate]:
    """Each destination's oldest due delivery (by destination id), but for the ``skipped``
    destinations and those of the ``full_accounts``."""
    return [
        Candidate(delivery_id, destination, account)
        for delivery_id, destination, account in conn.execute(_DUE_HEADS, (now,))
        if delivery_id is not None and destination not in skipped and account not in full_accounts
    ]


# Every destination with pending work: a skip scan, one index seek each, however long its queue.
_PENDING_DESTINATIONS = """
WITH RECURSIVE pending_destinations(destination_id) AS (
    SELECT min(destination_id) FROM deliveries WHERE status = 'pending'
    UNION ALL
    SELECT (SELECT min(destination_id) FROM deliveries
            WHERE status = 'pending' AND destination_id > p.destination_id)
    FROM pending_destinations p WHERE p.destination_id IS NOT NULL
)
"""

# Every destination with pending work and its oldest due delivery, NULL when none is due yet.
_DUE_HEADS = (
    _PENDING_DESTINATIONS
    + """
SELECT (SELECT dl.id FROM deliveries dl
        WHERE dl.status = 'pending' AND dl.destination_id = p.destination_id
          AND dl.next_attempt_at <= ?
        ORDER BY dl.next_attempt_at LIMIT 1) AS head,
       p.destination_id, d.account_id
FROM pending_destinations p JOIN destinations d ON d.id = p.destination_id
WHERE p.destination_id IS NOT NULL
"""
)

# The due deliveries of the destinations not left out ({left_out}: the filters on those left
# out and on the full accounts), in no order: each destination's from its own index, so the
# queue of one left out is never walked. At most the window plus one (to tell a full one) are
# counted, and returned only when fewer: a full window is found otherwise (_oldest_due), and
# reading them here would be wasted. At least one row is returned, (NULL, ..., count) when
# there are none to return. Marks in order: now, the left out, the full accounts, the bound
# twice ({indexed}: SQLite's index hint; PostgreSQL's planner picks that index on its own).
_DUE_ELSEWHERE = (
    _PENDING_DESTINATIONS
    + """,
due AS MATERIALIZED (
    SELECT dl.next_attempt_at, dl.destination_id, dl.id, d.account_id
    FROM pending_destinations p
    JOIN destinations d ON d.id = p.destination_id
    JOIN deliveries dl{indexed}
        ON dl.status = 'pending' AND dl.destination_id = p.destination_id
        AND dl.next_attempt_at <= ?
    WHERE p.destination_id IS NOT NULL{left_out}
    LIMIT ?
)
SELECT due.next_attempt_at, due.destination_id, due.id, due.account_id, total.found
FROM (SELECT count(*) AS found FROM due) total LEFT JOIN due ON total.found < ?
"""
)


def _due_elsewhere_sql(conn: Connection, left_out: int, full_accounts: int) -> str:
    filters = ""
    if left_out:
        filters += f" AND p.destination_id NOT IN ({', '.join('?' * left_out)})"
    if full_accounts:
        filters += f" AND d.account_id NOT IN ({', '.join('?' * full_accounts)})"
    indexed = " INDEXED BY deliveries_due_by_destination" if conn.dialect == SQLITE else ""
    return _DUE_ELSEWHERE.format(indexed=indexed, left_out=filters)


def _window_without(
    conn: Connection, now: float, window: int, skipped: set[str], full_accounts: set[str]
) -> tuple[list[Candidate], list[Candidate] | None]:
    """The claim's window when some destinations or accounts are left out: the oldest
    ``window`` due deliveries of the others, in the time-ordered index's order (due time,
    destination, id), and the others' heads when it took them to find it (None otherwise)."""
    cursor = conn.cursor()
    cursor.row_factory = None  # plain tuples: they are sorted as they come
    left_out, full = sorted(skipped), sorted(full_accounts)
    sql = _due_elsewhere_sql(conn, len(left_out), len(full))
    rows = cursor.execute(sql, [now, *left_out, *full, window + 1, window + 1]).fetchall()
    if rows[0][4] <= window:  # all of them: the usual case while a destination is full
        found = sorted(row[:4] for row in rows if row[2] is not None)
        return [Candidate(id_, d, account) for _, d, id_, account in found], None
    # More than the window: merge each destination's oldest.
    heads = _due_heads(conn, now, skipped, full_accounts)
    return _oldest_due(cursor, now, window, heads), heads


# A destination's due deliveries in the order of the time-ordered index (due time, then id),
# from its own index: after a given one (the previous read's last), a few at a time.
_DUE_OF = (
    "SELECT next_attempt_at, destination_id, id FROM deliveries WHERE status = 'pending'"
    " AND destination_id = ? AND next_attempt_at <= ?"
)
_DUE_OF_FIRST = _DUE_OF + " ORDER BY next_attempt_at, id LIMIT ?"
_DUE_OF_NEXT = _DUE_OF + " AND (next_attempt_at, id) > (?, ?) ORDER BY next_attempt_at, id LIMIT ?"

# A destination's first read is at least this many deliveries.
_FIRST_READ = 4


def _oldest_due(
    cursor: Any,  # conn.cursor() giving plain tuples
    now: float,
    window: int,
    heads: list[Candidate],
) -> list[Candidate]:
    """The ``window`` oldest due deliveries of the destinations of ``heads``, in the order of
    the time-ordered index (due time, destination, id): the rows its scan would give if the
    other destinations were not in it.

    Each destination's are read from its own index and merged, so the queue of a destination
    left out is never walked. The oldest ``window`` read are the oldest of all once every
    destination that may have more is read past them; until then those read short of them
    are read further. A first read takes each one's share of twice the window.
    """
    if not heads:
        return []
    account = {head.destination_id: head.account_id for head in heads}
    read: list[tuple[float, str, int]] = []  # (due time, destination, id)
    last: dict[str, tuple[float, str, int]] = {}  # the last read of those that may have more

    def read_more(destination: str, after: tuple[float, str, int] | None, size: int) -> None:
        if after is None:
            rows = cursor.execute(_DUE_OF_FIRST, (destination, now, size)).fetchall()
        else:
            args = (destination, now, after[0], after[2], size)
            rows = cursor.execute(_DUE_OF_NEXT, args).fetchall()
        read.extend(rows)
        if len(rows) == size:
            last[destination] = rows[-1]
        else:
            last.pop(destination, None)

    share = max(_FIRST_READ, -(-2 * window // len(heads)))
    for destination in account:
        read_more(destination, None, share)
    while True:
        read.sort()
        cut = read[window - 1] if len(read) >= window else None
        behind = [row for row in last.values() if cut is None or row < cut]
        if not behind:
            return [Candidate(id_, d, account[d]) for _, d, id_ in read[:window]]
        # No more of a destination's deliveries can be in the window than follow its last.
        sizes = [max(_FIRST_READ, window - bisect_left(read, row)) for row in behind]
        for row, size in zip(behind, sizes, strict=True):
            read_more(row[1], row, size)


def _cancel_one(conn: Connection, job: DbRow, now: float, reason: str) -> None:
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
    conn: Connection,
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
    count_attempts(conn, 1)


Outcome = tuple[Claim, Row, str, float | None]  # claim, attempt row, next status, next due time


def record_attempts(conn: Connection, outcomes: list[Outcome]) -> None:
    """Store finished attempts, given as (claim, attempt, next status, next due time), and
    move their deliveries (pending, succeeded, dead_letter) and events on.

    A delivery no longer under the very lease of its claim (cancelled meanwhile, or the lease
    ran out and it was claimed again, maybe by another process, whose outcome must not be
    overwritten) gets its attempt recorded and counted, not its new state.

    A few statements for the whole batch, not a few per outcome: the attempts in one
    multi-row insert, the deliveries in one update, and each event refreshed once however
    many of its deliveries are in the batch (its move names the last of their attempts). On
    PostgreSQL the events are then locked in id order, as every writer locks them.
    """
    if not outcomes:
        return
    # In event order, as the attempt ids are made: the last attempt of an event is its newest.
    ordered = sorted(outcomes, key=lambda outcome: (outcome[0].event_id, outcome[0].delivery_id))
    attempt_ids = [new_id("att") for _ in ordered]
    _insert_attempts(conn, ordered, attempt_ids)
    _move_deliveries_on(conn, ordered)
    newest = {
        claim.event_id: (attempt_id, claim.destination_id)
        for (claim, *_), attempt_id in zip(ordered, attempt_ids, strict=True)
    }
    book_status_moves(conn, refreshed_statuses(conn, newest))
    count_attempts(conn, len(outcomes))


# The columns an attempt is stored with, in the order of a row's values.
_ATTEMPT_COLUMNS = (
    "event_id", "delivery_id", "destination_id", "attempt_number", "started_at", "finished_at",
    "response_status", "response_body", "error_message", "latency_ms", "outcome",
)  # fmt: skip
_ATTEMPTS_HEAD = f"INSERT INTO attempts (id, {', '.join(_ATTEMPT_COLUMNS)})"
_ATTEMPT_MARKS = f"({', '.join('?' * (1 + len(_ATTEMPT_COLUMNS)))})"
_INSERT_ATTEMPT = f"{_ATTEMPTS_HEAD} VALUES {_ATTEMPT_MARKS}"


def _insert_attempts(conn: Connection, outcomes: list[Outcome], attempt_ids: list[str]) -> None:
    """Insert each outcome's attempt under its id (a column it does not give is NULL)."""
    rows = [
        (attempt_id, *map(attempt.get, _ATTEMPT_COLUMNS))
        for (_, attempt, _, _), attempt_id in zip(outcomes, attempt_ids, strict=True)
    ]
    if conn.dialect == SQLITE:
        insert_rows(conn, _ATTEMPTS_HEAD, _ATTEMPT_MARKS, rows)
    else:
        conn.executemany(_INSERT_ATTEMPT, rows)


# What an outcome gives its delivery (in this order in a row of values).
_OUTCOME_COLUMNS = (
    "id", "status", "next_attempt_at", "last_outcome", "finished_at", "leased_by",
    "lease_expires_at",
)  # fmt: skip


def _moving_on(value: Callable[[str], str]) -> str:
    """The SET list of an outcome's update of its delivery, ``value(column)`` giving the
    outcome's value of a column of ``_OUTCOME_COLUMNS``: the attempt always counts, the new
    state only while the delivery is under the outcome's lease (every CASE reads the row as
    it was before the update)."""
    under_lease = (
        f"deliveries.status = 'in_flight' AND deliveries.leased_by = {value('leased_by')}"
        f" AND deliveries.lease_expires_at = {value('lease_expires_at')}"
    )
    new_values = {
        "status": value("status"),
        "next_attempt_at": value("next_attempt_at"),
        "lease_expires_at": "NULL",
        "leased_by": "NULL",
        "last_outcome": value("last_outcome"),
        "finished_at": value("finished_at"),
    }
    return ", ".join(
        ["attempts_count = deliveries.attempts_count + 1"]
        + [
            f"{column} = CASE WHEN {under_lease} THEN {new} ELSE deliveries.{column} END"
            for column, new in new_values.items()
        ]
    )


# One outcome's update, by name (PostgreSQL, and a delivery's second outcome in a batch).
_MOVE_ON_ONE = f"UPDATE deliveries SET {_moving_on(lambda column: ':' + column)} WHERE id = :id"
# SQLite: many outcomes' updates in one statement (changes.values_chunks); an executemany
# would step once per outcome.
_MOVE_ON_MANY = (
    f"WITH outcome ({', '.join(_OUTCOME_COLUMNS)}) AS ({VALUES})"
    f" UPDATE deliveries SET {_moving_on(lambda column: 'outcome.' + column)}"
    " FROM outcome WHERE deliveries.id = outcome.id"
)
_OUTCOME_MARKS = f"({', '.join('?' * len(_OUTCOME_COLUMNS))})"
_FINISHED = frozenset({"succeeded", "dead_letter"})


def _move_deliveries_on(conn: Connection, outcomes: list[Outcome]) -> None:
    """Count each outcome's attempt on its delivery and move the delivery on if still under
    the outcome's lease."""
    rows: dict[int, tuple] = {}  # by delivery: its first outcome's values
    again: list[tuple] = []  # another outcome of a delivery already in ``rows`` (rare)
    for claim, attempt, next_status, next_attempt_at in outcomes:
        finished_at = attempt["finished_at"] if next_status in _FINISHED else None
        row = (
            claim.delivery_id, next_status, next_attempt_at, attempt["outcome"], finished_at,
            claim.leased_by, claim.lease_expires_at,
        )  # fmt: skip
        if claim.delivery_id in rows:
            again.append(row)
        else:
            rows[claim.delivery_id] = row
    if conn.dialect == SQLITE:
        # An UPDATE ... FROM moves a row once however many outcomes name it: a delivery's
        # further outcomes (an older lease's answer arriving with the newer's) go one by one.
        for statement, values in values_chunks(_MOVE_ON_MANY, _OUTCOME_MARKS, list(rows.values())):
            conn.execute(statement, values)
    else:
        again = [*rows.values(), *again]
    if again:
        conn.executemany(
            _MOVE_ON_ONE, [dict(zip(_OUTCOME_COLUMNS, row, strict=True)) for row in again]
        )


def cancel_open_deliveries(conn: Connection, destination_id: str, now: float, reason: str) -> int:
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
    refresh_event_statuses(conn, [row[1] for row in pending])
    return len(pending)


def cancel_superseded_deliveries(
    conn: Connection, event_id: str, destination_ids: Iterable[str], now: float, reason: str
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


def release_all_leases(conn: Connection) -> int:
    """At start-up on SQLite: deliveries left in flight by a dead process become due again at
    once. Safe because one process owns a SQLite data directory (the data-dir lock).

    Nothing on PostgreSQL: the leases in flight are other processes' live ones; those of a
    process that died come back when they expire (``reclaim_expired_leases``).
    """
    if conn.dialect == POSTGRESQL:
        return 0
    return _release(conn, "")


def release_leases_of(conn: Connection, owner: str) -> int:
    """At stop: the deliveries ``owner`` (this process) leased and did not finish become due
    again at once; other processes' are left alone."""
    return _release(conn, " AND leased_by = ?", owner)


def _release(conn: Connection, owner_filter: str, *params: str) -> int:
    rows = conn.execute(
        "UPDATE deliveries SET status = 'pending', lease_expires_at = NULL, leased_by = NULL"
        f" WHERE status = 'in_flight'{owner_filter} RETURNING event_id",
        params,
    ).fetchall()
    refresh_event_statuses(conn, [row[0] for row in rows])
    return len(rows)


def release_claims(conn: Connection, leases: list[tuple[int, str, float]]) -> int:
    """Claims never sent (delivery id, lease holder, lease expiry) become due again, each
    only while still under that very lease."""
    released: list[str] = []  # their events
    for delivery_id, owner, lease_expires_at in leases:
        row = conn.execute(
            "UPDATE deliveries SET status = 'pending', lease_expires_at = NULL, leased_by = NULL"
            " WHERE id = ? AND status = 'in_flight' AND leased_by = ? AND lease_expires_at = ?"
            " RETURNING event_id",
            (delivery_id, owner, lease_expires_at),
        ).fetchone()
        if row is not None:
            released.append(row[0])
    refresh_event_statuses(conn, released)
    return len(released)


def reclaim_expired_leases(conn: Connection, now: float) -> int:
    """Deliveries whose lease ran out (their worker died or hung) become due again."""
    rows = conn.execute(
        "UPDATE deliveries SET status = 'pending', lease_expires_at = NULL, leased_by = NULL,"
        " next_attempt_at = ? WHERE status = 'in_flight' AND lease_expires_at <= ?"
        " RETURNING event_id",
        (now, now),
    ).fetchall()
    refresh_event_statuses(conn, [row[0] for row in rows])
    return len(rows)


def shift_schedule(conn: Connection, seconds: float) -> int | None:
    """Move every pending retry and lease by ``seconds`` after a wall-clock step; returns the
    retries moved, None when the schedule does not follow this process's clock.

    Waits are promised in elapsed time: a clock set back an hour must not strand retries for
    an hour, and one set forward must not make every retry due at once. Not on PostgreSQL:
    the processes sharing it each have their own clock (kept in step by NTP), and one
    machine's step must not move the others' schedule.
    """
    if conn.dialect == POSTGRESQL:
        return None
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
        "UPDATE destination_pacing SET stamp = stamp + ?, slowed_until = slowed_until + ?",
        (seconds, seconds),
    )
    conn.execute(
        "UPDATE events SET next_attempt_at = next_attempt_at + ? WHERE next_attempt_at IS NOT NULL",
        (seconds,),
    )
    return moved


def queue_depth(conn: Connection, now: float) -> dict[str, int]:
    """Pending deliveries due now and scheduled later, and those in flight."""
    row = conn.execute(
        "SELECT"
        " count(CASE WHEN status = 'pending' AND next_attempt_at <= ? THEN 1 END),"
        " count(CASE WHEN status = 'pending' AND next_attempt_at > ? THEN 1 END),"
        " count(CASE WHEN status = 'in_flight' THEN 1 END)"
        " FROM deliveries WHERE status IN ('pending', 'in_flight')",
        (now, now),
    ).fetchone()
    return {"due": row[0], "scheduled": row[1], "in_flight": row[2]}
