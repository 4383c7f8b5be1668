"""The write that accepts events: dedupe, the event rows and their deliveries, in one go."""

from __future__ import annotations

from gethook_lite.db.changes import log_received
from gethook_lite.db.connection import Connection
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
_INSERT_DELIVERY = (
    "INSERT INTO deliveries (event_id, account_id, destination_id, route_id, status,"
    " attempts_count, next_attempt_at, created_at, held_at)"
    " VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?)"
)


def accept_events(conn: Connection, items: list[tuple[Row, list[Row]]]) -> list[tuple[str, str]]:
    """Store each (event, routes) with one pending delivery per route; return (id, status)s.

    ``routes`` are the routes the event matches (domain.routing), one per destination. Runs
    inside the writer's transaction, so events and deliveries commit together (or not at all)
    and a concurrent duplicate cannot slip between the check and the insert. Many events go in
    one INSERT: on the ingest hot path, per-statement overhead is what costs.

    This is the only write that inserts events: it also logs them for the live stream and
    counts them for the stats, once per batch (migration 0017; tests/unit/test_event_bookkeeping
    checks that no other code inserts events).
    """
    results: list[tuple[str, str]] = []
    seen: dict[tuple, str] = {}  # duplicates of each other within this very batch
    rows: list[dict] = []
    deliveries: list[tuple] = []
    # Deliveries to a paused destination, or one whose circuit is open, are held from the
    # start (db/destination_state.py); usually none is.
    holding = holding_destinations(conn)
    for event, routes in items:
        original = _original(conn, event, seen)
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
    conn.executemany(_INSERT_EVENT, rows)
    log_received(conn, rows)
    count_inserted(conn, rows)
    if deliveries:
        conn.executemany(_INSERT_DELIVERY, deliveries)
    return results


def accept_event(conn: Connection, event: Row, routes: list[Row]) -> tuple[str, str]:
    """``accept_events`` for one event."""
    return accept_events(conn, [(event, routes)])[0]


def accept_capture(
    conn: Connection, event: Row, routes: list[Row], plan_position: int | None
) -> tuple[str, str]:
    """Store a sink source's capture (``event["capture"]`` is 1: never deduplicated) and, when
    it was answered from a response plan, the plan's new position, in one transaction."""
    accepted = accept_events(conn, [(event, routes)])[0]
    if plan_position is not None:
        conn.execute(
            "UPDATE sink_response_plans SET position = max(position, ?) WHERE source_id = ?",
            (plan_position, event["source_id"]),
        )
    return accepted


def _original(conn: Connection, event: Row, seen: dict[tuple, str]) -> str | None:
    """The id of the event this one duplicates (same source/account and external id)."""
    if (
        event["external_event_id"] is None
        or event["created_by"] == "replay"
        or event.get("capture")
    ):
        return None
    scope = event["source_id"] if event["direction"] == "inbound" else event["account_id"]
    key = (event["direction"], scope, event["external_event_id"])
    if key in seen:
        return seen[key]
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
