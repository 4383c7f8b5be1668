"""What an event's status change owes the books: its change-log row, its tallies, the
platform counters.

Triggers on ``events`` did this row by row (migrations 0002 and 0010; on PostgreSQL
``events_changed``), about two thirds of what a status update cost the writer. Migration 0020
dropped them: the writes that move statuses (db/events.py, the only ones) hand their moves
here, once per batch, as migration 0017 did for inserted events.
"""

from __future__ import annotations

import time
from typing import NamedTuple

from gethook_lite.db.connection import Connection
from gethook_lite.db.stats import TallyKey, add_to_books, finished_counter, tally_key

__all__ = ["BOOKED_COLUMNS", "StatusMove", "book_status_moves", "moved"]

# The columns of an event a move needs, as read before it moves (in this order).
BOOKED_COLUMNS = (
    "id, account_id, received_at, direction, source_id, event_type, status, final_state"
)

# Statuses whose change row names no attempt (no attempt made them), as the trigger had it.
_NO_ATTEMPT = frozenset({"queued", "delivering", "replayed"})

_LOG_UPDATED = (
    "INSERT INTO changes (account_id, kind, subject_id, source_id, direction, event_type,"
    " status, attempt_id, destination_id, created_at)"
    " VALUES (?, 'event.updated', ?, ?, ?, ?, ?, ?, ?, ?)"
)


class StatusMove(NamedTuple):
    """One event's move from (old status, old final state) to (status, final state), and the
    attempt that made it (None when no attempt did)."""

    event_id: str
    account_id: str
    received_at: float
    direction: str
    source_id: str | None
    event_type: str | None
    old_status: str
    old_final_state: str | None
    status: str
    final_state: str | None
    attempt_id: str | None = None
    attempt_destination_id: str | None = None


def moved(
    conn: Connection,
    before: tuple,
    status: str,
    final_state: str | None,
    attempt: tuple[str, str] | None = None,
) -> StatusMove | None:
    """The move of the event read as ``before`` (``BOOKED_COLUMNS``) to the new status and
    final state; None when neither changes. A move to a status an attempt decides names that
    attempt: ``attempt`` (id, destination id) when the caller just recorded it, else the
    event's newest, as the change log always has."""
    event_id, account_id, received_at, direction, source_id, event_type, old, old_final = before
    if old == status and old_final == final_state:
        return None
    if status == old or status in _NO_ATTEMPT:
        attempt = None
    elif attempt is None:
        attempt = conn.execute(
            "SELECT id, destination_id FROM attempts WHERE event_id = ? ORDER BY id DESC LIMIT 1",
            (event_id,),
        ).fetchone()
    return StatusMove(
        event_id, account_id, received_at, direction, source_id, event_type, old, old_final,
        status, final_state, attempt[0] if attempt else None, attempt[1] if attempt else None,
    )  # fmt: skip


def book_status_moves(conn: Connection, moves: list[StatusMove]) -> None:
    """Log each status change (in order) and move the tallies and counters, in the caller's
    transaction: one statement per table for the whole list."""
    if not moves:
        return
    now = time.time()  # the triggers stamped the database's wall clock too
    logged = [
        (
            move.account_id,
            move.event_id,
            move.source_id,
            move.direction,
            move.event_type,
            move.status,
            move.attempt_id,
            move.attempt_destination_id,
            now,
        )
        for move in moves
        if move.status != move.old_status
    ]
    if logged:
        conn.executemany(_LOG_UPDATED, logged)
    tallies: dict[TallyKey, int] = {}
    counters: dict[str, int] = {}
    for move in moves:
        old = tally_key(
            move.account_id, move.received_at, move.direction, move.old_status,
            move.old_final_state, move.source_id,
        )  # fmt: skip
        new = tally_key(
            move.account_id, move.received_at, move.direction, move.status, move.final_state,
            move.source_id,
        )  # fmt: skip
        tallies[old] = tallies.get(old, 0) - 1
        tallies[new] = tallies.get(new, 0) + 1
        finished = finished_counter(move.final_state)
        if finished is not None and move.final_state != move.old_final_state:
            counters[finished] = counters.get(finished, 0) + 1
    add_to_books(conn, {key: n for key, n in tallies.items() if n}, counters)
