"""The change log read in commit order on PostgreSQL, with two writers (db/changes.py,
docs/design/postgresql.md §6.6): a row whose transaction is still open when a later one
commits is not skipped by a reader that went past the later one."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from gethook_lite.db import changes as store
from gethook_lite.db.changes import ChangeCursor
from gethook_lite.db.postgres import PgConnection, connect_postgres


@pytest.fixture
def writers(pg_url) -> Iterator[tuple[PgConnection, PgConnection]]:
    first, second = connect_postgres(pg_url), connect_postgres(pg_url)
    yield first, second
    first.close()
    second.close()


def received(conn: PgConnection, event_id: str, account_id: str = "acct_1") -> None:
    store.log_received(
        conn,
        [
            {
                "account_id": account_id,
                "id": event_id,
                "source_id": "src_1",
                "direction": "inbound",
                "event_type": "charge.succeeded",
                "status": "queued",
                "created_at": 1.0,
            }
        ],
    )


def subjects(rows: list[tuple]) -> list[str]:
    return [row[3] for row in rows]


def read_until(reader: PgConnection, after: ChangeCursor, count: int) -> list[tuple]:
    """The rows after ``after`` once ``count`` are there: a transaction anywhere on the server
    (other tests' databases included) holds the horizon back for as long as it runs."""
    deadline = time.monotonic() + 5
    while len(rows := store.changes_after(reader, after, 100)) < count:
        assert time.monotonic() < deadline, f"only {subjects(rows)}"
        time.sleep(0.01)
    return rows


def test_a_row_committed_later_with_a_lower_seq_is_not_skipped(pg_conn, writers) -> None:
    reader = pg_conn
    a, b = writers
    cursor = store.latest_cursor(reader)
    a.execute("BEGIN")
    received(a, "evt_a")  # takes the lower seq and stays open
    b.execute("BEGIN")
    received(b, "evt_b")
    b.execute("COMMIT")
    # Read by seq alone, B's row is there and a reader would move past A's seq.
    naive = reader.execute("SELECT subject_id FROM changes WHERE seq > 0 ORDER BY seq").fetchall()
    assert [row[0] for row in naive] == ["evt_b"]
    # Below the horizon, nothing while A runs: the cursor does not move past A.
    assert store.changes_after(reader, cursor, 100) == []
    assert store.latest_cursor(reader) == cursor
    a.execute("COMMIT")
    rows = read_until(reader, cursor, 2)
    assert subjects(rows) == ["evt_a", "evt_b"]  # commit order: A's transaction began first
    last = ChangeCursor(rows[-1][-1], rows[-1][0])
    assert store.changes_after(reader, last, 100) == []
    assert store.latest_cursor(reader) == last


def test_rows_behind_a_transaction_that_writes_no_change_are_reported_held_back(
    pg_conn, writers
) -> None:
    """Its end notifies nobody (no change row), so the feed must know to look again."""
    a, b = writers
    cursor = store.latest_cursor(pg_conn)
    assert not store.changes_held_back(pg_conn, cursor)
    a.execute("BEGIN")
    a.execute("SELECT pg_current_xact_id()")  # a writer's transaction id, no change row
    received(b, "evt_b")
    assert store.changes_after(pg_conn, cursor, 100) == []
    assert store.changes_held_back(pg_conn, cursor)
    a.execute("COMMIT")
    rows = read_until(pg_conn, cursor, 1)
    assert not store.changes_held_back(pg_conn, ChangeCursor(rows[-1][-1], rows[-1][0]))


def test_a_replay_reads_one_account_in_the_same_order_and_stops_at_upto(pg_conn, writers) -> None:
    a, b = writers
    start = store.latest_cursor(pg_conn)
    for event_id, writer in (("evt_1", a), ("evt_2", b), ("evt_3", a)):
        received(writer, event_id)
    received(b, "evt_other", account_id="acct_2")
    every = read_until(pg_conn, start, 4)
    cursors = [ChangeCursor(row[-1], row[0]) for row in every]
    assert cursors == sorted(cursors)
    replay = store.account_changes_after(pg_conn, "acct_1", start, cursors[1], 100)
    assert subjects(replay) == ["evt_1", "evt_2"]
    rest = store.account_changes_after(pg_conn, "acct_1", cursors[1], None, 100)
    assert subjects(rest) == ["evt_3"]


def test_the_cursor_reads_as_txid_dot_seq_on_postgresql_and_the_seq_on_sqlite() -> None:
    assert str(ChangeCursor(0, 42)) == "42"
    assert str(ChangeCursor(7301, 42)) == "7301.42"


def test_expired_changes_are_deleted_from_the_head_and_young_ones_kept(pg_conn, writers) -> None:
    a, b = writers
    for event_id, writer in (("evt_1", a), ("evt_2", b), ("evt_young", a), ("evt_3", b)):
        received(writer, event_id)
    pg_conn.execute("UPDATE changes SET created_at = 50.0 WHERE subject_id = 'evt_young'")
    # The head up to the first young row goes; what follows it waits for a later pass.
    assert store.delete_expired_changes(pg_conn, "acct_1", 10.0, 100) == 2
    left = pg_conn.execute("SELECT subject_id FROM changes ORDER BY seq").fetchall()
    assert [row[0] for row in left] == ["evt_young", "evt_3"]
