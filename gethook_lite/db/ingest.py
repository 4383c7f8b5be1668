"""The write that accepts an event: dedupe, the event row and its deliveries, in one go."""

from __future__ import annotations

import sqlite3

from gethook_lite.db.deliveries import insert_deliveries
from gethook_lite.db.events import find_duplicate, insert_event
from gethook_lite.db.rows import Row

__all__ = ["accept_event"]


def accept_event(conn: sqlite3.Connection, event: Row, routes: list[Row]) -> tuple[str, str]:
    """Store ``event`` with one pending delivery per route in ``routes``; return (id, status).

    ``routes`` are the routes it matches (domain.routing), one per destination. Runs inside the
    writer's transaction, so the event and its deliveries commit together (or not at all) and
    a concurrent duplicate cannot slip between the check and the insert.
    """
    if event["external_event_id"] is not None and event["created_by"] != "replay":
        original = find_duplicate(
            conn,
            event["direction"],
            event["account_id"],
            event["source_id"],
            event["external_event_id"],
        )
        if original is not None:
            return original, "duplicate"
    status = "queued" if routes else "accepted"
    insert_event(
        conn,
        {
            **event,
            "status": status,
            "final_state": None if routes else "accepted",
        },
    )
    insert_deliveries(
        conn,
        [
            {
                "event_id": event["id"],
                "account_id": event["account_id"],
                "destination_id": route["destination_id"],
                "route_id": route["id"],
                "next_attempt_at": event["received_at"],
                "created_at": event["received_at"],
            }
            for route in routes
        ],
    )
    return event["id"], status
