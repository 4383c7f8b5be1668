"""accept_events on SQLite writes a batch in multi-row statements (changes.insert_rows): every
size keeps the rows, their order (the change log's seq order is the insert order), dedupe,
held deliveries and the tallies exactly as one row at a time did."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gethook_lite.db import Database
from gethook_lite.db.changes import VALUES, _largest_chunk, insert_rows
from gethook_lite.db.connection import connect_sqlite
from gethook_lite.db.ingest import _STORED_ORIGINALS, _runs_of_bodies, accept_events


def _setup(conn) -> None:
    conn.execute(
        "INSERT INTO accounts (id, name, retention_days, created_at) VALUES ('a', 'a', 30, 0)"
    )
    conn.execute(
        "INSERT INTO sources (id, account_id, name, path_token, created_at)"
        " VALUES ('s', 'a', 's', 's', 0)"
    )
    for destination in ("d1", "d2"):
        conn.execute(
            "INSERT INTO destinations (id, account_id, name, url, signing_secret_enc, created_at,"
            " updated_at) VALUES (?, 'a', ?, 'http://127.0.0.1:9/', 'x', 0, 0)",
            (destination, destination),
        )
        conn.execute(
            "INSERT INTO routes (id, account_id, source_id, destination_id, retry_policy,"
            " created_at) VALUES (?, 'a', 's', ?, '{}', 0)",
            ("r" + destination, destination),
        )
    # d2 is paused: its deliveries are held from the start.
    conn.execute(
        "INSERT INTO destination_control (destination_id, account_id, paused_at, paused_reason)"
        " VALUES ('d2', 'a', 1, 'manual')"
    )


@pytest.fixture
def conn(tmp_path: Path):
    async def create() -> None:
        db = Database(tmp_path / "t.db")
        await db.open()
        await db.write(_setup)
        await db.close()

    asyncio.run(create())
    conn = connect_sqlite(tmp_path / "t.db", isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    yield conn
    conn.close()


def _event(number: int, external_id: str | None = None, received_at: float = 86400.5) -> dict:
    return {
        "id": f"evt_{number:05d}", "account_id": "a", "direction": "inbound", "source_id": "s",
        "event_type": f"type.{number % 3}", "external_event_id": external_id,
        "payload_hash": "h", "content_type": "application/json", "headers": "{}",
        "body": bytes([number % 256]) * 3, "created_by": "ingest", "replay_of": None,
        "received_at": received_at, "created_at": received_at,
    }  # fmt: skip


_ROUTES = [
    [],
    [{"id": "rd1", "destination_id": "d1"}],
    [{"id": "rd2", "destination_id": "d2"}],
    [{"id": "rd1", "destination_id": "d1"}, {"id": "rd2", "destination_id": "d2"}],
]


def _repeats(number: int) -> bool:
    return number % 5 == 0 and number > 0


@pytest.mark.parametrize("size", [1, 2, 3, 31, 32, 33, 37, 64, 100, 129, 512])
def test_a_batch_of_any_size_keeps_every_row_in_order(conn, size: int) -> None:
    items = []
    for number in range(size):
        # Every fifth event repeats the external id of the one before: an in-batch duplicate.
        external = f"x{number - 1 if _repeats(number) else number}"
        items.append((_event(number, external), _ROUTES[number % 4]))
    conn.execute("BEGIN IMMEDIATE")
    results = accept_events(conn, items)
    conn.execute("COMMIT")

    expected = []
    for number in range(size):
        if _repeats(number):
            expected.append((f"evt_{number - 1:05d}", "duplicate"))
        else:
            routes = _ROUTES[number % 4]
            held = [route["destination_id"] == "d2" for route in routes]
            status = "held" if routes and all(held) else "queued" if routes else "accepted"
            expected.append((f"evt_{number:05d}", status))
    assert results == expected
    stored = [
        (row[0], row[1]) for row in conn.execute("SELECT id, status FROM events ORDER BY rowid")
    ]
    assert stored == [pair for pair in expected if pair[1] != "duplicate"]
    bodies = conn.execute("SELECT id, body FROM events ORDER BY rowid").fetchall()
    assert [row[1] for row in bodies] == [bytes([int(row[0][4:]) % 256]) * 3 for row in bodies]
    changes = conn.execute(
        "SELECT subject_id, kind, status, event_type FROM changes ORDER BY seq"
    ).fetchall()
    assert [tuple(row) for row in changes] == [
        (event_id, "event.received", status, f"type.{int(event_id[4:]) % 3}")
        for event_id, status in stored
    ]
    deliveries = conn.execute(
        "SELECT event_id, destination_id, status, held_at FROM deliveries ORDER BY id"
    ).fetchall()
    assert [tuple(row) for row in deliveries] == [
        (
            event_id,
            route["destination_id"],
            *(("held", 86400.5) if route["destination_id"] == "d2" else ("pending", None)),
        )
        for event_id, _ in stored
        for route in _ROUTES[int(event_id[4:]) % 4]
    ]
    tallies = {
        (row[0], row[1]): row[2]
        for row in conn.execute("SELECT status, final_state, n FROM event_tallies WHERE day = 1")
    }
    recount = {
        (row[0], row[1]): row[2]
        for row in conn.execute(
            "SELECT status, coalesce(final_state, ''), count(*) FROM events GROUP BY 1, 2"
        )
    }
    assert tallies == recount
    processed = conn.execute(
        "SELECT value FROM counters WHERE name = 'events_processed'"
    ).fetchone()
    assert processed[0] == len(stored)


def test_a_duplicate_of_a_stored_event_is_found_across_batches(conn) -> None:
    conn.execute("BEGIN IMMEDIATE")
    accept_events(conn, [(_event(1, "same"), [])])
    results = accept_events(conn, [(_event(2, "same"), []), (_event(3), [])])
    conn.execute("COMMIT")
    assert results == [("evt_00001", "duplicate"), ("evt_00003", "accepted")]


def test_chunks_stay_under_the_oldest_parameter_limit() -> None:
    assert _largest_chunk("(" + ", ".join("?" * 20) + ")") == 32
    assert _largest_chunk("(?, 'event.received', ?, ?, ?, ?, ?, ?)") == 128
    assert _largest_chunk("(?)") == 512


def test_insert_rows_of_nothing_runs_no_statement(conn) -> None:
    insert_rows(conn, "INSERT INTO no_such_table (x)", "(?)", [])


def _outbound(number: int, external_id: str | None) -> dict:
    return {**_event(number, external_id), "direction": "outbound", "source_id": None}


def test_stored_originals_are_found_for_many_keys_at_once(conn) -> None:
    # 300 keys of each direction: chunks of 256, 32, 8 and 4 keys.
    first = [(_event(n, f"in{n}"), []) for n in range(300)]
    first += [(_outbound(1000 + n, f"out{n}"), []) for n in range(300)]
    conn.execute("BEGIN IMMEDIATE")
    accept_events(conn, first)
    again = [(_event(2000 + n, f"in{n}"), []) for n in range(300)]
    again += [(_outbound(3000 + n, f"out{n}"), []) for n in range(300)]
    again.append((_event(4000, "in-new"), []))
    results = accept_events(conn, again)
    conn.execute("COMMIT")
    assert results[:300] == [(f"evt_{n:05d}", "duplicate") for n in range(300)]
    assert results[300:600] == [(f"evt_{1000 + n:05d}", "duplicate") for n in range(300)]
    assert results[600] == ("evt_04000", "accepted")


def test_replays_captures_and_the_other_direction_are_never_originals(conn) -> None:
    conn.execute("BEGIN IMMEDIATE")
    replay = {**_event(1, "same"), "created_by": "replay"}
    capture = {**_event(2, "same"), "capture": 1}
    outbound = _outbound(3, "same")
    assert [status for _, status in accept_events(conn, [(replay, []), (capture, [])])] == [
        "accepted",
        "accepted",
    ]
    assert accept_events(conn, [(outbound, [])]) == [("evt_00003", "accepted")]
    # The first inbound event with this id is an original, then duplicated.
    results = accept_events(conn, [(_event(4, "same"), []), (_event(5, "same"), [])])
    assert results == [("evt_00004", "accepted"), ("evt_00004", "duplicate")]
    assert accept_events(conn, [(_outbound(6, "same"), [])]) == [("evt_00003", "duplicate")]
    # Another source's event with the same id is not a duplicate.
    conn.execute(
        "INSERT INTO sources (id, account_id, name, path_token, created_at)"
        " VALUES ('t', 'a', 't', 't', 0)"
    )
    other = {**_event(7, "same"), "source_id": "t"}
    assert accept_events(conn, [(other, [])]) == [("evt_00007", "accepted")]
    conn.execute("COMMIT")


@pytest.mark.parametrize("direction", ["inbound", "outbound"])
def test_the_batched_duplicate_read_searches_the_dedupe_index(conn, direction: str) -> None:
    statement = _STORED_ORIGINALS[direction].replace(VALUES, "VALUES (?, ?), (?, ?)")
    plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {statement}", ("s", "x") * 2)]
    assert f"SEARCH e USING INDEX events_{direction}_dedupe" in " ".join(plan), plan


def test_big_bodies_go_in_runs_of_at_most_a_mebibyte() -> None:
    rows = [{"body": b"x" * size} for size in (600_000, 400_000, 1, 2_000_000, 10, 20)]
    runs = [[len(row["body"]) for row in run] for run in _runs_of_bodies(rows, 1024 * 1024)]
    assert runs == [[600_000, 400_000, 1], [2_000_000], [10, 20]]
    assert list(_runs_of_bodies([], 10)) == []


def test_big_bodies_are_stored_whole_and_in_order(conn) -> None:
    items = [(_event(n), []) for n in range(5)]
    for n, (event, _) in enumerate(items):
        event["body"] = bytes([n]) * (700_000 if n % 2 else 10)
    conn.execute("BEGIN IMMEDIATE")
    accept_events(conn, items)
    conn.execute("COMMIT")
    stored = conn.execute("SELECT id, body FROM events ORDER BY rowid").fetchall()
    assert [(row[0], row[1]) for row in stored] == [
        (event["id"], event["body"]) for event, _ in items
    ]
