"""Stats: per-account event tallies and instance-wide counters.

Inserted events are counted by the write that inserts them (``count_inserted``, once per
batch); status changes, deletes and attempts by the triggers of migrations/0002_stats.sql.
The queries read a few rows per day of the window, never the events table, so their cost does
not grow with the number of events.

On PostgreSQL both tables carry a ``shard`` column in their key (0001_initial.sql): each
writer adds into its own shard (``gethook_shard()``), so that several processes ingesting at
once do not queue on one counter row until their commits (design §6.6). Only the sum over
shards means anything (one shard may go negative), so every read sums: one text on both
backends, since on SQLite each key has exactly one row to sum.
"""

from __future__ import annotations

from collections import Counter

from gethook_lite.db.connection import POSTGRESQL, Connection
from gethook_lite.db.rows import Row, all_rows

__all__ = ["PLATFORM_COUNTERS", "count_inserted", "read_counters", "tallies_between"]

# The counters 0002_stats.sql creates (its triggers and count_inserted maintain them).
PLATFORM_COUNTERS = (
    "events_processed",
    "events_delivered",
    "events_dead_lettered",
    "delivery_attempts",
)


def tallies_between(conn: Connection, account_id: str, first_day: int, last_day: int) -> list[Row]:
    """The account's non-empty tallies for UTC days first_day..last_day (unix day numbers)."""
    # CAST: PostgreSQL's sum(bigint) is numeric, which psycopg reads as Decimal.
    return all_rows(
        conn.execute(
            "SELECT day, direction, status, final_state, CAST(sum(n) AS BIGINT) AS n"
            " FROM event_tallies WHERE account_id = ? AND day BETWEEN ? AND ?"
            " GROUP BY day, direction, status, final_state HAVING sum(n) > 0",
            (account_id, first_day, last_day),
        )
    )


def read_counters(conn: Connection) -> dict[str, int]:
    """The platform counters by name; a missing one reads as 0."""
    placeholders = ", ".join("?" for _ in PLATFORM_COUNTERS)
    rows = conn.execute(
        f"SELECT name, CAST(sum(value) AS BIGINT) FROM counters WHERE name IN ({placeholders})"
        " GROUP BY name",
        PLATFORM_COUNTERS,
    ).fetchall()
    found = {row[0]: row[1] for row in rows}
    return {name: found.get(name, 0) for name in PLATFORM_COUNTERS}


_ADD_TALLY = (
    "INSERT INTO event_tallies (account_id, day, direction, status, final_state, source_id, n)"
    " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET n = n + excluded.n"
)
_ADD_COUNTER = "UPDATE counters SET value = value + ? WHERE name = ?"
# PostgreSQL: the same additions, into the caller's shard (a counter's shard row may not exist
# yet, hence an upsert; PostgreSQL needs the conflict target spelt out).
_ADD_TALLY_SHARDED = (
    "INSERT INTO event_tallies AS t"
    " (account_id, day, direction, status, final_state, source_id, n, shard)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, gethook_shard())"
    " ON CONFLICT (account_id, day, direction, status, final_state, source_id, shard)"
    " DO UPDATE SET n = t.n + excluded.n"
)
_ADD_COUNTER_SHARDED = (
    "INSERT INTO counters AS c (value, name, shard) VALUES (?, ?, gethook_shard())"
    " ON CONFLICT (name, shard) DO UPDATE SET value = c.value + excluded.value"
)
_FINISHED_COUNTERS = {"delivered": "events_delivered", "dead_letter": "events_dead_lettered"}


# account, day, direction, status, final state, source ('' for a NULL final state or source)
TallyKey = tuple[str, int, str, str, str, str]
_TAKE_FROM_TALLY = (
    "UPDATE event_tallies SET n = n + ? WHERE account_id = ? AND day = ? AND direction = ?"
    " AND status = ? AND final_state = ? AND source_id = ?"
)


def tally_key(
    account_id: str,
    received_at: float,
    direction: str,
    status: str,
    final_state: str | None,
    source_id: str | None,
) -> TallyKey:
    """The tally row an event counts in; int() truncates like the SQL's
    CAST(received_at / 86400 AS INTEGER)."""
    return (
        account_id, int(received_at / 86400), direction, status, final_state or "", source_id or ""
    )  # fmt: skip


def count_inserted(conn: Connection, events: list[Row]) -> None:
    """Add just-inserted events to the tallies and counters: one upsert per distinct tally
    row and one update per counter, whatever the number of events (migration 0017 dropped
    the per-row insert triggers that did this; the keys are theirs)."""
    if not events:
        return
    tallies = Counter(
        tally_key(
            event["account_id"],
            event["received_at"],
            event["direction"],
            event["status"],
            event["final_state"],
            event["source_id"],
        )
        for event in events
    )
    counters = {"events_processed": len(events)}
    for key, n in tallies.items():  # a handful of keys, however many events
        finished = _FINISHED_COUNTERS.get(key[4])
        if finished is not None:
            counters[finished] = counters.get(finished, 0) + n
    add_to_books(conn, dict(tallies), counters)


def add_to_books(conn: Connection, tallies: dict[TallyKey, int], counters: dict[str, int]) -> None:
    """Add each tally's and counter's change (negative: taken away), one statement each.

    On SQLite a tally is only taken from a row that exists, as the status triggers did; on
    PostgreSQL the change goes into the caller's shard, which may go negative (only the sum
    over shards means anything)."""
    sharded = conn.dialect == POSTGRESQL
    added = [(*key, n) for key, n in tallies.items() if n > 0 or (sharded and n < 0)]
    if added:
        conn.executemany(_ADD_TALLY_SHARDED if sharded else _ADD_TALLY, added)
    taken = [(n, *key) for key, n in tallies.items() if n < 0 and not sharded]
    if taken:
        conn.executemany(_TAKE_FROM_TALLY, taken)
    changed = [(n, name) for name, n in counters.items() if n]
    if changed:
        conn.executemany(_ADD_COUNTER_SHARDED if sharded else _ADD_COUNTER, changed)


def count_attempts(conn: Connection, attempts: int) -> None:
    """Add attempts just recorded to the platform counter (the writes of db/deliveries.py,
    the only ones that insert attempts; migration 0020 dropped the per-row trigger)."""
    add_to_books(conn, {}, {"delivery_attempts": attempts})


def finished_counter(final_state: str | None) -> str | None:
    """The counter an event that finishes in ``final_state`` adds to (None: none)."""
    return _FINISHED_COUNTERS.get(final_state) if final_state is not None else None
