"""Stats: per-account event tallies and instance-wide counters (both kept by triggers).

The triggers live in migrations/0002_stats.sql; these queries read a few rows per day of the
window, never the events table, so their cost does not grow with the number of events.
"""

from __future__ import annotations

import sqlite3

from gethook_lite.db.rows import Row, all_rows

__all__ = ["PLATFORM_COUNTERS", "read_counters", "tallies_between"]

# The counters 0002_stats.sql creates and its triggers maintain.
PLATFORM_COUNTERS = (
    "events_processed",
    "events_delivered",
    "events_dead_lettered",
    "delivery_attempts",
)


def tallies_between(
    conn: sqlite3.Connection, account_id: str, first_day: int, last_day: int
) -> list[Row]:
    """The account's non-empty tallies for UTC days first_day..last_day (unix day numbers)."""
    return all_rows(
        conn.execute(
            "SELECT day, direction, status, final_state, n FROM event_tallies"
            " WHERE account_id = ? AND day BETWEEN ? AND ? AND n > 0",
            (account_id, first_day, last_day),
        )
    )


def read_counters(conn: sqlite3.Connection) -> dict[str, int]:
    """The platform counters by name; a missing one reads as 0."""
    placeholders = ", ".join("?" for _ in PLATFORM_COUNTERS)
    rows = conn.execute(
        f"SELECT name, value FROM counters WHERE name IN ({placeholders})", PLATFORM_COUNTERS
    ).fetchall()
    found = {row[0]: row[1] for row in rows}
    return {name: found.get(name, 0) for name in PLATFORM_COUNTERS}
