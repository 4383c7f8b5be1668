"""Events (inbound and outbound) and the attempts made to deliver them."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

import msgspec

from gethook_lite.db.changes import VALUES, values_chunks
from gethook_lite.db.connection import POSTGRESQL, Connection
from gethook_lite.db.rows import Row, all_rows, one_row
from gethook_lite.db.status_books import BOOKED_COLUMNS, StatusMove, book_status_moves, moved

__all__ = [
    "EVENT_COLUMNS",
    "EVENT_READ_COLUMNS",
    "EventFilters",
    "event_where",
    "find_duplicate",
    "get_event",
    "list_attempts",
    "list_events",
    "mark_delivering",
    "mark_replayed",
    "refresh_event_status",
    "refresh_event_statuses",
    "refreshed_statuses",
]

# The listing returns bodies: the public client's `listen` prints them from this page, which it
# polls every 2 s. What bounds a page's memory is its bodies' total size (``list_events``).
_LIST_COLUMNS = (
    "id, account_id, direction, source_id, event_type, external_event_id, payload_hash,"
    " content_type, headers, body, status, attempts_count, next_attempt_at, final_state,"
    " created_by, replay_of, bulk_retry_id, received_at, created_at, request_method,"
    " request_path, request_query"
)

# What a read of events for the API selects (GET /v1/events items).
EVENT_READ_COLUMNS = _LIST_COLUMNS

# Every column an event is inserted with (the rest take their defaults).
EVENT_COLUMNS = (
    "id", "account_id", "direction", "source_id", "event_type", "external_event_id",
    "payload_hash", "content_type", "headers", "body", "status", "final_state", "created_by",
    "replay_of", "received_at", "created_at", "request_method", "request_path", "request_query",
    "capture",
)  # fmt: skip


class EventFilters(msgspec.Struct, frozen=True, kw_only=True):
    """Which events a listing or an export reads; None means "any". Times are Unix seconds
    compared with ``received_at`` (both ends included)."""

    # One status, or several (the dashboard's views such as "failed": several statuses).
    status: str | tuple[str, ...] | None = None
    source_id: str | None = None
    event_type: str | None = None
    since: float | None = None
    until: float | None = None
    # Events with a delivery to this destination.
    destination_id: str | None = None
    # Only events older than this id (a page cursor).
    before: str | None = None

    @property
    def by_status_and_source_only(self) -> bool:
        """Nothing but (at most) the status and the source narrows: the per-day tallies, kept
        per status and source, can count the matches."""
        narrowing = (
            self.event_type,
            self.since,
            self.until,
            self.destination_id,
            self.before,
        )
        return all(value is None for value in narrowing)

    def status_clause(self) -> tuple[str, list[str]]:
        """The condition on ``status`` (empty when any status passes) and its parameters."""
        if self.status is None:
            return "", []
        if isinstance(self.status, tuple):
            return f"status IN ({', '.join('?' for _ in self.status)})", list(self.status)
        return "status = ?", [self.status]


def find_duplicate(
    conn: Connection,
    direction: str,
    account_id: str,
    source_id: str | None,
    external_event_id: str,
) -> str | None:
    """The id of the original event with this external id (conditions match the indexes)."""
    if direction == "inbound":
        row = conn.execute(
            "SELECT id FROM events WHERE source_id = ? AND external_event_id = ?"
            " AND direction = 'inbound' AND created_by <> 'replay' AND capture = 0",
            (source_id, external_event_id),
        ).fetchone()
    else:
        row = conn.execute(
            "SELECT id FROM events WHERE account_id = ? AND external_event_id = ?"
            " AND direction = 'outbound' AND created_by <> 'replay'",
            (account_id, external_event_id),
        ).fetchone()
    return row[0] if row else None


def event_where(
    account_id: str, direction: str, filters: EventFilters
) -> tuple[str, list[str | float]]:
    """The SQL condition (and its parameters) selecting an account's events of one direction
    that pass ``filters``: the one definition the listing and exports share."""
    clauses = ["account_id = ?", "direction = ?"]
    params: list[str | float] = [account_id, direction]
    status_clause, status_params = filters.status_clause()
    if status_clause:
        clauses.append(status_clause)
        params.extend(status_params)
    for column, value in (("source_id", filters.source_id), ("event_type", filters.event_type)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if filters.since is not None:
        clauses.append("received_at >= ?")
        params.append(filters.since)
    if filters.until is not None:
        clauses.append("received_at <= ?")
        params.append(filters.until)
    if filters.destination_id is not None:
        clauses.append(
            "EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = events.id"
            " AND d.destination_id = ?)"
        )
        params.append(filters.destination_id)
    if filters.before is not None:
        clauses.append("id < ?")
        params.append(filters.before)
    return " AND ".join(clauses), params


def list_events(
    conn: Connection,
    account_id: str,
    direction: str,
    filters: EventFilters,
    limit: int,
    offset: int,
    *,
    max_body_bytes: int,
    count: bool = True,
) -> tuple[list[Row], int | None]:
    """A newest-first page of events and the number of all that match (None unless ``count``:
    with narrowing filters counting walks every match, far slower than the page itself).

    The page stops early, after at least one event, once its bodies add up to
    ``max_body_bytes``: ``limit`` events of the largest allowed body would otherwise be held in
    memory (and serialised) at once. Paging stays exact because the next page starts at
    ``offset`` plus the events this one returned, not plus ``limit``.
    """
    where, params = event_where(account_id, direction, filters)
    cursor = conn.execute(
        f"SELECT {_LIST_COLUMNS} FROM events WHERE {where} ORDER BY id DESC LIMIT ? OFFSET ?",
        [*params, limit, offset],
    )
    items: list[Row] = []
    body_bytes = 0
    for row in cursor:
        items.append(dict(row))
        body_bytes += len(row["body"])
        if body_bytes >= max_body_bytes:
            break
    cursor.close()
    if not count:
        return items, None
    return items, _count(conn, account_id, direction, filters, where, params)


def _count(
    conn: Connection,
    account_id: str,
    direction: str,
    filters: EventFilters,
    where: str,
    params: list[str | float],
) -> int:
    """How many events match: from the per-day tallies when only status and source filter
    (they hold per-status and per-source counts), else counted through the best index."""
    if filters.by_status_and_source_only:
        # CAST: PostgreSQL's sum(bigint) is numeric (a Decimal in Python).
        sql = (
            "SELECT CAST(coalesce(sum(n), 0) AS BIGINT) FROM event_tallies"
            " WHERE account_id = ? AND direction = ?"
        )
        tally_params = [account_id, direction]
        status_clause, status_params = filters.status_clause()
        if status_clause:
            sql += f" AND {status_clause}"
            tally_params.extend(status_params)
        if filters.source_id is not None:
            sql += " AND source_id = ?"
            tally_params.append(filters.source_id)
        return conn.execute(sql, tally_params).fetchone()[0]
    return conn.execute(f"SELECT count(*) FROM events WHERE {where}", params).fetchone()[0]


def get_event(conn: Connection, account_id: str, direction: str, event_id: str) -> Row | None:
    return one_row(
        conn.execute(
            "SELECT * FROM events WHERE account_id = ? AND direction = ? AND id = ?",
            (account_id, direction, event_id),
        )
    )


def list_attempts(conn: Connection, event_id: str) -> list[Row]:
    return all_rows(
        conn.execute("SELECT * FROM attempts WHERE event_id = ? ORDER BY id", (event_id,))
    )


def mark_replayed(conn: Connection, event_id: str, now: float) -> None:
    before = _locked_for_move(conn, event_id)
    conn.execute(
        "UPDATE events SET replayed_at = coalesce(replayed_at, ?), status = 'replayed'"
        " WHERE id = ?",
        (now, event_id),
    )
    if before is not None:
        _book(conn, [moved(conn, before, "replayed", before[_FINAL_STATE])])


def mark_delivering(conn: Connection, event_ids: Iterable[str]) -> None:
    """The events of just-claimed deliveries are being delivered now (unless they already
    are, or have finished: a replayed one keeps its status)."""
    ids = sorted(set(event_ids))
    if not ids:
        return
    moves: list[StatusMove | None] = []
    marks = ", ".join("?" * len(ids))
    # One statement per status moved from, so that each row's old status is known without
    # reading it first (another process may move it meanwhile on PostgreSQL).
    for old in ("queued", "retry_scheduled"):
        for row in conn.execute(
            f"UPDATE events SET status = 'delivering' WHERE id IN ({marks}) AND status = ?"
            f" RETURNING {BOOKED_COLUMNS}",
            [*ids, old],
        ).fetchall():
            before = (*tuple(row)[:_STATUS], old, row[_FINAL_STATE])
            moves.append(moved(conn, before, "delivering", row[_FINAL_STATE]))
    _book(conn, moves)


def refresh_event_status(conn: Connection, event_id: str) -> None:
    """Recompute an event's status, counters and final state from its deliveries."""
    refresh_event_statuses(conn, [event_id])


def refresh_event_statuses(conn: Connection, event_ids: Iterable[str]) -> None:
    """``refresh_event_status`` for each event (once, in id order: on PostgreSQL the events
    are locked in the order every writer uses), their moves booked together."""
    book_status_moves(conn, refreshed_statuses(conn, dict.fromkeys(event_ids)))


def refreshed_statuses(
    conn: Connection, attempts: Mapping[str, tuple[str, str] | None]
) -> list[StatusMove]:
    """Recompute the statuses of the events keyed in ``attempts`` without booking their
    moves (the caller books a batch's moves at once, ``book_status_moves``). Each event's
    value: (id, destination id) of the attempt just recorded, which a move it causes names,
    or None (the event's newest is looked up). One read of the events and their deliveries
    and one update for them all; the moves come in event id order, the order the events are
    locked in on PostgreSQL."""
    found = _events_and_deliveries(conn, sorted(attempts))
    refreshed: list[tuple] = []  # (status, attempts made, next attempt time, final state, id)
    moves: list[StatusMove] = []
    for event_id in sorted(found):
        before, deliveries = found[event_id]
        status, final_state = _status_from(before, deliveries)
        pending_times = [row[2] for row in deliveries if row[0] == "pending" and row[2] is not None]
        attempts_made = sum(row[1] for row in deliveries)
        next_attempt_at = min(pending_times) if pending_times else None
        refreshed.append((status, attempts_made, next_attempt_at, final_state, event_id))
        move = moved(conn, before[:_REPLAYED_AT], status, final_state, attempts[event_id])
        if move is not None:
            moves.append(move)
    _store_refreshed(conn, refreshed)
    return moves


def _status_from(before: tuple, deliveries: list[tuple]) -> tuple[str, str | None]:
    """An event's (status, final state) from its deliveries' (status, attempts made, ...)."""
    status = aggregate_status([(row[0], row[1]) for row in deliveries])
    final_state = status if status in ("delivered", "dead_letter", "accepted") else None
    final_state = final_state if deliveries else None
    if before[_REPLAYED_AT] is not None:
        status = "replayed"
    return status, final_state


# Positions in a row of BOOKED_COLUMNS (and replayed_at after them, as _events_and_deliveries
# reads it).
_STATUS, _FINAL_STATE, _REPLAYED_AT = 6, 7, 8

_EVENT_READ = f"{BOOKED_COLUMNS}, replayed_at"
# SQLite: events (BOOKED_COLUMNS and replayed_at) with each of their deliveries (one row with
# NULLs for an event with none), the ids given as one JSON array: a single statement text
# whatever their number, which stays in the connection's statement cache.
_EVENTS_WITH_DELIVERIES = (
    "SELECT e.id, e.account_id, e.received_at, e.direction, e.source_id, e.event_type,"
    " e.status, e.final_state, e.replayed_at, d.status, d.attempts_count, d.next_attempt_at"
    " FROM events e LEFT JOIN deliveries d ON d.event_id = e.id"
    " WHERE e.id IN (SELECT value FROM json_each(?))"
)
# PostgreSQL: the events locked in id order. FOR NO KEY UPDATE, the lock the update itself
# takes: it waits for another refresh of the event, but not for a transaction that merely
# inserted an attempt (or a delivery) of it, whose foreign key holds FOR KEY SHARE; FOR
# UPDATE would wait for that one, which may itself be waiting to refresh the same event.
_LOCKED_EVENTS = f"SELECT {_EVENT_READ} FROM events WHERE id = ANY(?) ORDER BY id FOR NO KEY UPDATE"
_DELIVERIES_OF_EVENTS = (
    "SELECT event_id, status, attempts_count, next_attempt_at FROM deliveries"
    " WHERE event_id = ANY(?)"
)


def _events_and_deliveries(
    conn: Connection, event_ids: list[str]
) -> dict[str, tuple[tuple, list[tuple]]]:
    """Each event found, by id: its row before it moves (BOOKED_COLUMNS and replayed_at) and
    its deliveries' (status, attempts made, next attempt time). One read on SQLite, whose
    single writer sees no change in between; on PostgreSQL the events are locked first and
    their deliveries read after, so that another process's move is neither counted twice nor
    read before it commits."""
    found: dict[str, tuple[tuple, list[tuple]]] = {}
    if not event_ids:
        return found
    if conn.dialect == POSTGRESQL:
        for row in conn.execute(_LOCKED_EVENTS, (event_ids,)).fetchall():
            found[row[0]] = (tuple(row), [])
        for event_id, *delivery in conn.execute(_DELIVERIES_OF_EVENTS, (event_ids,)).fetchall():
            if event_id in found:
                found[event_id][1].append(tuple(delivery))
        return found
    cursor = conn.cursor()
    cursor.row_factory = None  # plain tuples: sliced, never read by name
    for row in cursor.execute(_EVENTS_WITH_DELIVERIES, (json.dumps(event_ids),)).fetchall():
        entry = found.get(row[0])
        if entry is None:
            entry = found[row[0]] = (row[: _REPLAYED_AT + 1], [])
        if row[_REPLAYED_AT + 1] is not None:
            entry[1].append(row[_REPLAYED_AT + 1 :])
    return found


_REFRESH_EVENT = (
    "UPDATE events SET status = ?, attempts_count = ?, next_attempt_at = ?, final_state = ?"
    " WHERE id = ?"
)
# SQLite: the same update for many events, one statement for up to a chunk of them
# (changes.values_chunks): an executemany would step once per event.
_REFRESH_EVENTS = (
    f"WITH refreshed (status, attempts_count, next_attempt_at, final_state, id) AS ({VALUES})"
    " UPDATE events SET status = refreshed.status, attempts_count = refreshed.attempts_count,"
    " next_attempt_at = refreshed.next_attempt_at, final_state = refreshed.final_state"
    " FROM refreshed WHERE events.id = refreshed.id"
)
_REFRESHED_MARKS = "(?, ?, ?, ?, ?)"


def _store_refreshed(conn: Connection, refreshed: list[tuple]) -> None:
    """Write each (status, attempts made, next attempt time, final state, id)."""
    if not refreshed:
        return
    if conn.dialect == POSTGRESQL:
        conn.executemany(_REFRESH_EVENT, refreshed)
        return
    for statement, values in values_chunks(_REFRESH_EVENTS, _REFRESHED_MARKS, refreshed):
        conn.execute(statement, values)


def _locked_for_move(conn: Connection, event_id: str) -> tuple | None:
    """The event's BOOKED_COLUMNS before it moves, locked on PostgreSQL until the transaction
    ends (FOR NO KEY UPDATE, as the refreshes lock it: see _LOCKED_EVENTS)."""
    lock = " FOR NO KEY UPDATE" if conn.dialect == POSTGRESQL else ""
    row = conn.execute(
        f"SELECT {BOOKED_COLUMNS} FROM events WHERE id = ?{lock}", (event_id,)
    ).fetchone()
    return tuple(row) if row is not None else None


def _book(conn: Connection, moves: list[StatusMove | None]) -> None:
    book_status_moves(conn, [move for move in moves if move is not None])


def aggregate_status(deliveries: list[tuple[str, int]]) -> str:
    """An event's status from its deliveries' (status, attempts made) pairs (docs/wire.md,
    "Event lifecycle").

    Open deliveries decide first (delivering > retry_scheduled > queued > held): an event is
    ``held`` when its only open deliveries are held (their destination paused or its circuit
    open), so one that still goes out somewhere shows that instead. Once all are finished,
    one dead letter makes the event dead-lettered, else any success makes it delivered. An
    event whose deliveries were all cancelled has nothing left to deliver.
    """
    if not deliveries:
        return "accepted"
    statuses = {status for status, _ in deliveries}
    if "in_flight" in statuses:
        return "delivering"
    if "pending" in statuses:
        retrying = any(s == "pending" and attempts > 0 for s, attempts in deliveries)
        return "retry_scheduled" if retrying else "queued"
    if "held" in statuses:
        return "held"
    if "dead_letter" in statuses:
        return "dead_letter"
    if "succeeded" in statuses:
        return "delivered"
    return "accepted"
