"""The write that accepts events: dedupe, the event rows and their deliveries, in one go."""

from __future__ import annotations

import operator
from collections.abc import Iterator

from gethook_lite.db.changes import VALUES, insert_rows, log_received, values_chunks
from gethook_lite.db.connection import POSTGRESQL, SQLITE, Connection
from gethook_lite.db.database import StorageError
from gethook_lite.db.destination_state import holding_destinations
from gethook_lite.db.events import EVENT_COLUMNS, find_duplicate
from gethook_lite.db.rows import Row
from gethook_lite.db.stats import count_inserted

__all__ = ["accept_capture", "accept_event", "accept_events"]

# Events made by the API or a replay have no request line and are never a sink's capture.
_NOT_CAPTURED: Row = {
    "request_method": None,
    "request_path": None,
    "request_query": None,
    "capture": 0,
}

_INSERT_EVENT = (
    f"INSERT INTO events ({', '.join(EVENT_COLUMNS)})"
    f" VALUES ({', '.join(':' + column for column in EVENT_COLUMNS)})"
)
# SQLite: the same insert with positional values, many rows a statement (changes.insert_rows).
_EVENTS_HEAD = f"INSERT INTO events ({', '.join(EVENT_COLUMNS)})"
_EVENT_MARKS = f"({', '.join('?' * len(EVENT_COLUMNS))})"
_EVENT_VALUES = operator.itemgetter(*EVENT_COLUMNS)
# SQLite copies every value a statement binds: a multi-row insert of big bodies would hold
# many at once. Rows go in runs of about this many body bytes (a run may be one event).
_STATEMENT_BODY_BYTES = 1024 * 1024
_BODY = operator.itemgetter("body")
# PostgreSQL: the same insert, skipping an event its direction's dedupe index refuses (the
# conflict target and predicate are the index's, migrations/postgresql/0001_initial.sql).
_INSERT_EVENT_SKIPPING_DUPLICATES = {
    "inbound": _INSERT_EVENT
    + " ON CONFLICT (source_id, external_event_id) WHERE direction = 'inbound'"
    " AND external_event_id IS NOT NULL AND created_by <> 'replay' AND capture = 0"
    " DO NOTHING",
    "outbound": _INSERT_EVENT
    + " ON CONFLICT (account_id, external_event_id) WHERE direction = 'outbound'"
    " AND external_event_id IS NOT NULL AND created_by <> 'replay' DO NOTHING",
}
# SQLite: the stored originals of many (scope, external id) keys in one read, by the dedupe
# indexes (CROSS JOIN: a key at a time, each a search of the index; conditions as in
# events.find_duplicate).
_STORED_ORIGINALS = {
    "inbound": f"WITH keys (scope, external_id) AS ({VALUES})"
    " SELECT e.source_id, e.external_event_id, e.id FROM keys CROSS JOIN events e"
    " ON e.source_id = keys.scope AND e.external_event_id = keys.external_id"
    " AND e.direction = 'inbound' AND e.created_by <> 'replay' AND e.capture = 0",
    "outbound": f"WITH keys (scope, external_id) AS ({VALUES})"
    " SELECT e.account_id, e.external_event_id, e.id FROM keys CROSS JOIN events e"
    " ON e.account_id = keys.scope AND e.external_event_id = keys.external_id"
    " AND e.direction = 'outbound' AND e.created_by <> 'replay'",
}
_DELIVERIES_HEAD = (
    "INSERT INTO deliveries (event_id, account_id, destination_id, route_id, status,"
    " attempts_count, next_attempt_at, created_at, held_at)"
)
_DELIVERY_MARKS = "(?, ?, ?, ?, ?, 0, ?, ?, ?)"
_INSERT_DELIVERY = f"{_DELIVERIES_HEAD} VALUES {_DELIVERY_MARKS}"


def accept_events(conn: Connection, items: list[tuple[Row, list[Row]]]) -> list[tuple[str, str]]:
    """Store each (event, routes) with one pending delivery per route; return (id, status)s.

    ``routes`` are the routes the event matches (domain.routing), one per destination. Runs
    inside the writer's transaction, so events and deliveries commit together (or not at all).
    Many events go in one INSERT: on the ingest hot path, per-statement overhead is what costs.

    Duplicates are found before the insert (``_original``). On SQLite the single writer makes
    that check final; on PostgreSQL another process may commit the same external id between
    the check and the insert, so the insert skips what its dedupe index refuses and those
    events are reported as duplicates of the winner (``_insert_events``).

    This is the only write that inserts events: it also logs them for the live stream and
    counts them for the stats, once per batch (migration 0017; tests/unit/test_event_bookkeeping
    checks that no other code inserts events).
    """
    results: list[tuple[str, str]] = []
    seen: dict[tuple, str] = {}  # duplicates of each other within this very batch
    stored = _stored_originals(conn, [event for event, _ in items])
    rows: list[dict] = []
    deliveries: list[tuple] = []
    # Deliveries to a paused destination, or one whose circuit is open, are held from the
    # start (db/destination_state.py); usually none is. Read only if an event has a route.
    holding = holding_destinations(conn) if any(routes for _, routes in items) else frozenset()
    for event, routes in items:
        # (Most events have no external id: no call for them.)
        original = (
            None if event["external_event_id"] is None else _original(conn, event, seen, stored)
        )
        if original is not None:
            results.append((original, "duplicate"))
            continue
        held = [route["destination_id"] in holding for route in routes]
        status = "held" if routes and all(held) else "queued" if routes else "accepted"
        final_state = None if routes else "accepted"
        rows.append({**_NOT_CAPTURED, **event, "status": status, "final_state": final_state})
        deliveries.extend(
            (
                event["id"],
                event["account_id"],
                route["destination_id"],
                route["id"],
                "held" if is_held else "pending",
                event["received_at"],
                event["received_at"],
                event["received_at"] if is_held else None,
            )
            for route, is_held in zip(routes, held, strict=True)
        )
        results.append((event["id"], status))
    raced = _insert_events(conn, rows)
    if raced:
        rows = [row for row in rows if row["id"] not in raced]
        deliveries = [delivery for delivery in deliveries if delivery[0] not in raced]
        # An in-batch duplicate of a raced event points at the winner too.
        results = [
            (raced[event_id], "duplicate") if event_id in raced else (event_id, status)
            for event_id, status in results
        ]
    log_received(conn, rows)
    count_inserted(conn, rows)
    if conn.dialect == SQLITE:
        insert_rows(conn, _DELIVERIES_HEAD, _DELIVERY_MARKS, deliveries)
    elif deliveries:
        conn.executemany(_INSERT_DELIVERY, deliveries)
    return results


def accept_event(conn: Connection, event: Row, routes: list[Row]) -> tuple[str, str]:
    """``accept_events`` for one event."""
    return accept_events(conn, [(event, routes)])[0]


def accept_capture(
    conn: Connection, event: Row, routes: list[Row], plan_position: int | None = None
) -> tuple[str, str]:
    """Store a sink source's capture (``event["capture"]`` is 1: never deduplicated).

    ``plan_position`` is no longer written here: domain.sink.next_answer's own write moves the
    plan (db/sink.take_plan_answer), which holds across processes; the parameter stays until
    domain/accept.py stops passing it."""
    del plan_position
    return accept_events(conn, [(event, routes)])[0]


def _insert_events(conn: Connection, rows: list[dict]) -> dict[str, str]:
    """Insert the events; return {id: original id} of those a racing duplicate kept out
    (PostgreSQL only: empty on SQLite, whose single writer already checked)."""
    if conn.dialect != POSTGRESQL:
        for run in _runs_of_bodies(rows, _STATEMENT_BODY_BYTES):
            insert_rows(conn, _EVENTS_HEAD, _EVENT_MARKS, list(map(_EVENT_VALUES, run)))
        return {}
    inserted = 0
    for direction, insert in _INSERT_EVENT_SKIPPING_DUPLICATES.items():
        batch = [row for row in rows if row["direction"] == direction]
        if batch:
            inserted += conn.executemany(insert, batch).rowcount
    if inserted == len(rows):  # the usual case: no race, no extra read
        return {}
    stored = {
        row[0]
        for row in conn.execute(
            "SELECT id FROM events WHERE id = ANY(?)", ([row["id"] for row in rows],)
        )
    }
    return {row["id"]: _winner(conn, row) for row in rows if row["id"] not in stored}


def _runs_of_bodies(rows: list[dict], limit: int) -> Iterator[list[dict]]:
    """``rows`` in order, cut into runs whose bodies add up to at most ``limit`` bytes (or one
    row, if its body alone is bigger)."""
    if rows and sum(map(len, map(_BODY, rows))) <= limit:  # the usual case, counted in C
        yield rows
        return
    run: list[dict] = []
    size = 0
    for row in rows:
        if run and size + len(row["body"]) > limit:
            yield run
            run, size = [], 0
        run.append(row)
        size += len(row["body"])
    if run:
        yield run


def _winner(conn: Connection, event: Row) -> str:
    """The event a racing duplicate lost to: committed by now, since PostgreSQL's ON CONFLICT
    waits for the other transaction to end before it skips the row."""
    winner = find_duplicate(
        conn,
        event["direction"],
        event["account_id"],
        event["source_id"],
        event["external_event_id"],
    )
    if winner is None:  # deleted in the meantime (retention, an account deleted): unreadable
        raise StorageError("a duplicate event vanished while it was being accepted")
    return winner


def _dedupe_key(event: Row) -> tuple[str, str, str] | None:
    """(direction, source or account, external id): what makes two events the same one;
    None for an event never deduplicated (no external id, a replay, a sink's capture)."""
    if (
        event["external_event_id"] is None
        or event["created_by"] == "replay"
        or event.get("capture")
    ):
        return None
    scope = event["source_id"] if event["direction"] == "inbound" else event["account_id"]
    return (event["direction"], scope, event["external_event_id"])


def _stored_originals(conn: Connection, events: list[Row]) -> dict[tuple, str] | None:
    """{dedupe key: id} of the stored events these duplicate, read at once (SQLite; None on
    PostgreSQL, which asks event by event in ``_original``)."""
    if conn.dialect != SQLITE:
        return None
    keys: dict[str, dict[tuple, None]] = {}  # by direction, in order, each key once
    for event in events:
        key = None if event["external_event_id"] is None else _dedupe_key(event)
        if key is not None:
            keys.setdefault(key[0], {})[key[1:]] = None
    stored: dict[tuple, str] = {}
    for direction, wanted in keys.items():
        for statement, values in values_chunks(
            _STORED_ORIGINALS[direction], "(?, ?)", list(wanted)
        ):
            for scope, external_id, event_id in conn.execute(statement, values):
                stored[(direction, scope, external_id)] = event_id
    return stored


def _original(
    conn: Connection, event: Row, seen: dict[tuple, str], stored: dict[tuple, str] | None
) -> str | None:
    """The id of the event this one duplicates (same source/account and external id):
    stored before this batch (in ``stored`` if read already), or earlier in the batch."""
    key = _dedupe_key(event)
    if key is None:
        return None
    if key in seen:
        return seen[key]
    if stored is not None:
        original = stored.get(key)
    else:
        original = find_duplicate(
            conn,
            event["direction"],
            event["account_id"],
            event["source_id"],
            event["external_event_id"],
        )
    if original is None:
        seen[key] = event["id"]
    return original
