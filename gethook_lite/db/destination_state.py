"""Pause and circuit-breaker state of destinations, and holding/releasing their deliveries.

A held delivery has status ``held``: the due index (``status = 'pending'``) never sees it, so
the scheduler's claim needs no condition of its own. ``held_at`` records when it was held: on
release a retry that was due later keeps the rest of its wait (its clock stopped while held),
one already due goes at once, and the release keeps the deliveries' order.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from gethook_lite.db.connection import POSTGRESQL, Connection, DbRow
from gethook_lite.db.events import refresh_event_statuses

__all__ = [
    "ControlRow",
    "Notice",
    "add_notice",
    "circuit_counts",
    "delete_notice",
    "get_controls",
    "held_counts",
    "hold_deliveries",
    "hold_pending",
    "holding_destinations",
    "is_live",
    "next_notices",
    "open_deliveries",
    "release_held",
    "save_breaker",
    "set_paused",
    "shift_times",
    "tick_candidates",
]

_HOLDING = "(paused_at IS NOT NULL OR circuit_state <> 'closed')"


class ControlRow(msgspec.Struct, frozen=True, kw_only=True):
    """A destination's stored pause and breaker state (``breaker``: delivery/breaker.py JSON)."""

    destination_id: str
    account_id: str
    paused_at: float | None = None
    paused_reason: str | None = None
    circuit_state: str = "closed"
    next_probe_at: float | None = None
    opened_at: float | None = None
    breaker: str | None = None

    @property
    def holding(self) -> bool:
        return self.paused_at is not None or self.circuit_state != "closed"


class Notice(msgspec.Struct, frozen=True, kw_only=True):
    """A system event waiting to be published to its account (destination_notices)."""

    id: int
    account_id: str
    destination_id: str
    type: str
    payload: str  # JSON object
    created_at: float


_CONTROL_COLUMNS = (
    "destination_id, account_id, paused_at, paused_reason, circuit_state, next_probe_at,"
    " opened_at, breaker"
)


def _row(row: DbRow | tuple) -> ControlRow:
    return ControlRow(
        destination_id=row[0],
        account_id=row[1],
        paused_at=row[2],
        paused_reason=row[3],
        circuit_state=row[4],
        next_probe_at=row[5],
        opened_at=row[6],
        breaker=row[7],
    )


def holding_destinations(conn: Connection) -> frozenset[str]:
    """Destinations whose deliveries are held now (paused, or circuit not closed)."""
    rows = conn.execute(f"SELECT destination_id FROM destination_control WHERE {_HOLDING}")
    return frozenset(row[0] for row in rows)


def get_controls(
    conn: Connection, destination_ids: Iterable[str], *, lock: bool = False
) -> dict[str, ControlRow]:
    """The stored state of these destinations (those without a row are absent).

    ``lock=True`` is for a read-modify-write in a write transaction (the breaker's outcome
    write, design §6.8): on PostgreSQL, where several processes write, it first gives every
    existing destination among ``destination_ids`` a row (default state; the account id is
    read from ``destinations``, so callers need not pass it), then locks the rows until the
    commit, in destination id order so that two writers cannot deadlock on them. On SQLite the
    single writer already serialises the writes: the plain read."""
    ids = sorted(set(destination_ids))
    if not ids:
        return {}
    marks = ", ".join("?" * len(ids))
    locking = lock and conn.dialect == POSTGRESQL
    if locking:
        conn.execute(
            "INSERT INTO destination_control (destination_id, account_id)"
            f" SELECT id, account_id FROM destinations WHERE id IN ({marks})"
            " ON CONFLICT (destination_id) DO NOTHING",
            ids,
        )
    rows = conn.execute(
        f"SELECT {_CONTROL_COLUMNS} FROM destination_control WHERE destination_id IN ({marks})"
        + (" ORDER BY destination_id FOR UPDATE" if locking else ""),
        ids,
    )
    return {row[0]: _row(row) for row in rows}


def save_breaker(
    conn: Connection,
    destination_id: str,
    account_id: str,
    *,
    circuit_state: str,
    next_probe_at: float | None,
    opened_at: float | None,
    breaker: str,
) -> None:
    conn.execute(
        "INSERT INTO destination_control"
        " (destination_id, account_id, circuit_state, next_probe_at, opened_at, breaker)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (destination_id) DO UPDATE SET"
        " circuit_state = excluded.circuit_state, next_probe_at = excluded.next_probe_at,"
        " opened_at = excluded.opened_at, breaker = excluded.breaker",
        (destination_id, account_id, circuit_state, next_probe_at, opened_at, breaker),
    )


def set_paused(
    conn: Connection,
    destination_id: str,
    account_id: str,
    paused_at: float | None,
    reason: str | None,
) -> bool:
    """Pause (``paused_at`` set) or resume (None); False when it already was so."""
    current = get_controls(conn, [destination_id]).get(destination_id)
    if (current is not None and current.paused_at is not None) == (paused_at is not None):
        return False
    conn.execute(
        "INSERT INTO destination_control (destination_id, account_id, paused_at, paused_reason)"
        " VALUES (?, ?, ?, ?) ON CONFLICT (destination_id) DO UPDATE SET"
        " paused_at = excluded.paused_at, paused_reason = excluded.paused_reason",
        (destination_id, account_id, paused_at, reason),
    )
    return True


def is_live(conn: Connection, destination_id: str) -> bool:
    """Whether the destination is active and not deleted (only a live one's deliveries are
    held: a pause or a circuit means nothing for one that is gone)."""
    row = conn.execute(
        "SELECT 1 FROM destinations WHERE id = ? AND active <> 0 AND deleted_at IS NULL",
        (destination_id,),
    ).fetchone()
    return row is not None


def hold_pending(conn: Connection, destination_id: str, now: float) -> int:
    """Hold the destination's pending deliveries (in-flight ones finish and are held after)."""
    rows = conn.execute(
        "UPDATE deliveries SET status = 'held', held_at = ?"
        " WHERE destination_id = ? AND status = 'pending' RETURNING event_id",
        (now, destination_id),
    ).fetchall()
    _refresh(conn, rows)
    return len(rows)


def hold_deliveries(conn: Connection, delivery_ids: list[int], now: float) -> int:
    """Hold these deliveries if they are pending (a late answer's retry while half-open)."""
    if not delivery_ids:
        return 0
    marks = ", ".join("?" * len(delivery_ids))
    rows = conn.execute(
        "UPDATE deliveries SET status = 'held', held_at = ?"
        f" WHERE id IN ({marks}) AND status = 'pending' RETURNING event_id",
        (now, *delivery_ids),
    ).fetchall()
    _refresh(conn, rows)
    return len(rows)


def release_held(conn: Connection, destination_id: str, now: float, *, probe: bool = False) -> int:
    """Make held deliveries pending again; with ``probe`` only the oldest event's, due now.

    A delivery keeps the part of its retry wait that was left when it was held; one that was
    already due keeps its old due time, so the backlog goes out oldest first.
    """
    if probe:
        rows = conn.execute(
            "UPDATE deliveries SET status = 'pending', held_at = NULL, next_attempt_at = ?"
            " WHERE id = (SELECT id FROM deliveries WHERE destination_id = ? AND status = 'held'"
            # Event order, as a FIFO queue goes (db/pacing.fifo_head): delivery ids follow
            # commit order, which two ingests can invert, and a probe behind the held head
            # would never be claimed. The status IN (...) lets the FIFO queue's index serve.
            " AND status IN ('pending', 'in_flight', 'held')"
            " ORDER BY event_id, id LIMIT 1) RETURNING event_id",
            (now, destination_id),
        ).fetchall()
    else:
        rows = conn.execute(
            "UPDATE deliveries SET status = 'pending', held_at = NULL,"
            " next_attempt_at = CASE WHEN next_attempt_at > held_at"
            " THEN next_attempt_at + (? - held_at) ELSE next_attempt_at END"
            " WHERE destination_id = ? AND status = 'held' RETURNING event_id",
            (now, destination_id),
        ).fetchall()
    _refresh(conn, rows)
    return len(rows)


def _refresh(conn: Connection, rows: list) -> None:
    refresh_event_statuses(conn, [row[0] for row in rows])


def open_deliveries(conn: Connection, destination_id: str) -> int:
    """The destination's pending or in-flight deliveries (a half-open probe among them)."""
    row = conn.execute(
        "SELECT count(*) FROM deliveries"
        " WHERE destination_id = ? AND status IN ('pending', 'in_flight')",
        (destination_id,),
    ).fetchone()
    return row[0]


def held_counts(conn: Connection, destination_ids: Iterable[str]) -> dict[str, int]:
    ids = list(destination_ids)
    if not ids:
        return {}
    rows = conn.execute(
        "SELECT destination_id, count(*) FROM deliveries WHERE status = 'held'"
        f" AND destination_id IN ({', '.join('?' * len(ids))}) GROUP BY destination_id",
        ids,
    )
    return {row[0]: row[1] for row in rows}


def tick_candidates(conn: Connection) -> list[ControlRow]:
    """Live destinations whose circuit is not closed: the ones time alone can move on."""
    columns = ", ".join(f"c.{column.strip()}" for column in _CONTROL_COLUMNS.split(","))
    rows = conn.execute(
        f"SELECT {columns} FROM destination_control c JOIN destinations d"
        " ON d.id = c.destination_id WHERE c.circuit_state <> 'closed'"
        " AND d.active <> 0 AND d.deleted_at IS NULL"
    )
    return [_row(row) for row in rows]


def circuit_counts(conn: Connection) -> tuple[dict[str, int], int]:
    """Live destinations by circuit state, and held deliveries in all (for /metrics)."""
    counts = {"closed": 0, "open": 0, "half_open": 0}
    rows = conn.execute(
        "SELECT coalesce(c.circuit_state, 'closed'), count(*) FROM destinations d"
        " LEFT JOIN destination_control c ON c.destination_id = d.id"
        " WHERE d.deleted_at IS NULL GROUP BY 1"
    )
    for state, count in rows:
        counts[state] = count
    held = conn.execute("SELECT count(*) FROM deliveries WHERE status = 'held'").fetchone()[0]
    return counts, held


def add_notice(
    conn: Connection,
    account_id: str,
    destination_id: str,
    type_: str,
    payload: str,
    now: float,
) -> None:
    conn.execute(
        "INSERT INTO destination_notices (account_id, destination_id, type, payload, created_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (account_id, destination_id, type_, payload, now),
    )


def next_notices(conn: Connection, limit: int) -> list[Notice]:
    rows = conn.execute(
        "SELECT id, account_id, destination_id, type, payload, created_at"
        " FROM destination_notices ORDER BY id LIMIT ?",
        (limit,),
    )
    return [
        Notice(
            id=row[0],
            account_id=row[1],
            destination_id=row[2],
            type=row[3],
            payload=row[4],
            created_at=row[5],
        )
        for row in rows
    ]


def delete_notice(conn: Connection, notice_id: int) -> None:
    conn.execute("DELETE FROM destination_notices WHERE id = ?", (notice_id,))


def shift_times(conn: Connection, seconds: float) -> None:
    """Move circuits' cool-downs and outage starts with a wall-clock step (see
    deliveries.shift_schedule): a cool-down is elapsed time, like a retry's wait.

    SQLite only (``?1`` and ``json_set``): on PostgreSQL the schedule is not shifted, since
    several machines' clocks share the rows (design §6.1), so this does nothing there."""
    if conn.dialect == POSTGRESQL:
        return
    conn.execute(
        "UPDATE destination_control SET next_probe_at = next_probe_at + ?1,"
        " opened_at = opened_at + ?1,"
        " breaker = json_set(breaker,"
        " '$.next_probe_at', json_extract(breaker, '$.next_probe_at') + ?1,"
        " '$.opened_at', json_extract(breaker, '$.opened_at') + ?1,"
        " '$.since', json_extract(breaker, '$.since') + ?1,"
        " '$.window_started_at', json_extract(breaker, '$.window_started_at') + ?1)"
        " WHERE breaker IS NOT NULL OR next_probe_at IS NOT NULL",
        (seconds,),
    )
