"""The writer: group commit, batched writes where one bad item fails alone, ephemeral writes."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time

import pytest

from gethook_lite.db import Database, StorageError, database
from gethook_lite.db.connection import SqliteConnection
from gethook_lite.db.database import _apply_migrations, _migration_files, known_migrations
from tests.support.writer_gate import WAIT, Gate, queued


def insert_names(conn, names: list[str]) -> list[int]:
    rows = []
    for name in names:
        if name == "bad":
            raise ValueError("bad item")
        rows.append(conn.execute("INSERT INTO counters VALUES (?, 1)", (name,)).lastrowid)
    return rows


def count_names(conn) -> int:
    return conn.execute("SELECT count(*) FROM counters WHERE name LIKE 'n%'").fetchone()[0]


def test_batched_writes_commit_together_and_a_bad_item_fails_alone(tmp_path):
    async def scenario():
        db = Database(tmp_path / "x.db")
        await db.open()
        try:
            names = ["n1", "n2", "bad", "n3", "n1"]  # the second n1 breaks the unique key
            results = await asyncio.gather(
                *(db.write_many(insert_names, name) for name in names), return_exceptions=True
            )
            assert isinstance(results[2], ValueError)
            assert isinstance(results[4], StorageError)
            assert all(isinstance(r, int) for r in (results[0], results[1], results[3]))
            assert await db.read(count_names) == 3
            await db.write_ephemeral(insert_names, ["n9"])
            assert await db.read(count_names) == 4
        finally:
            await db.close()

    asyncio.run(scenario())


def test_closed_database_refuses_writes(tmp_path):
    async def scenario():
        db = Database(tmp_path / "x.db")
        await db.open()
        await db.close()
        with pytest.raises(StorageError):
            await db.write(count_names)

    asyncio.run(scenario())


# Waits on the writer or reader threads are bounded: a broken build fails, never hangs.


def insert_name(conn, name: str) -> int:
    return conn.execute("INSERT INTO counters VALUES (?, 1)", (name,)).lastrowid


def insert_then_fail(conn, name: str) -> None:
    insert_name(conn, name)
    raise ValueError("this write fails after its insert")


def test_close_answers_every_write_queued_or_in_flight_then_refuses_more(tmp_path):
    async def scenario():
        db = Database(tmp_path / "x.db")
        await db.open()
        gate = Gate(insert_name)
        in_flight = asyncio.ensure_future(db.write(gate.hold, "n-in-flight"))
        await gate.held()
        waiting = await queued(
            *(db.write(insert_name, f"n-write-{i}") for i in range(20)),
            *(db.write_many(insert_names, f"n-many-{i}") for i in range(20)),
            db.write_ephemeral(insert_name, "n-ephemeral"),
            db.write(insert_then_fail, "n-failed"),
        )
        closing = asyncio.ensure_future(db.close())
        await asyncio.sleep(0)  # close() has begun: the database is closed to new calls
        with pytest.raises(StorageError, match="closed"):
            await db.write(insert_name, "n-late")
        with pytest.raises(StorageError, match="closed"):
            await db.read(count_names)
        gate.opened.set()
        await asyncio.wait_for(closing, WAIT)
        # Every caller has its answer by the time close() returns.
        assert in_flight.done() and all(task.done() for task in waiting)
        assert isinstance(in_flight.result(), int)
        assert all(isinstance(task.result(), int) for task in waiting[:-1])
        assert isinstance(waiting[-1].exception(), ValueError)
        # And what was answered as a success is committed.
        await db.open()
        try:
            assert await db.read(count_names) == 1 + 20 + 20 + 1
        finally:
            await db.close()

    asyncio.run(scenario())


def test_every_kind_of_call_after_close_is_a_storage_error(tmp_path):
    async def scenario():
        db = Database(tmp_path / "x.db")
        await db.open()
        await db.close()
        for call in (
            db.write(insert_name, "n1"),
            db.write_many(insert_names, "n1"),
            db.write_ephemeral(insert_name, "n1"),
            db.read(count_names),
            db.migrate(),
        ):
            with pytest.raises(StorageError, match="the database is closed"):
                await call
        assert await db.ping() is False
        await db.close()  # closing twice is harmless

    asyncio.run(scenario())


def test_a_failing_write_in_a_batch_rolls_back_alone(tmp_path):
    async def scenario():
        db = Database(tmp_path / "x.db")
        await db.open()
        try:
            statements: list[str] = []

            def trace(conn, name: str) -> int:
                conn.set_trace_callback(statements.append)
                return gate.hold(conn, name)

            gate = Gate(insert_name)
            first = asyncio.ensure_future(db.write(trace, "n0"))
            await gate.held()
            # Queued while the writer is busy: the next batch holds all three.
            batch = await queued(
                db.write(insert_name, "n1"),
                db.write(insert_then_fail, "n2"),
                db.write(insert_name, "n3"),
            )
            gate.opened.set()
            results = await asyncio.gather(first, *batch, return_exceptions=True)
            await db.write(lambda conn: conn.set_trace_callback(None))
            assert isinstance(results[2], ValueError)
            assert await db.read(lambda conn: [r[0] for r in conn.execute(NAMES)]) == [
                "n0",
                "n1",
                "n3",
            ]
            # One transaction for the three writes (after the first one's COMMIT), the
            # failing one rolled back to its own savepoint.
            after_first = statements[statements.index("COMMIT") + 1 :]
            assert after_first.count("BEGIN IMMEDIATE") == 2  # the batch, then the untrace
            batch_sql = after_first[: after_first.index("COMMIT") + 1]
            assert batch_sql.count("SAVEPOINT job") == 3
            assert batch_sql.count("ROLLBACK TO job") == 1
        finally:
            await db.close()

    asyncio.run(scenario())


NAMES = "SELECT name FROM counters WHERE name LIKE 'n%' ORDER BY name"


def test_reads_run_while_a_write_batch_is_in_progress_and_in_parallel(tmp_path):
    async def scenario():
        db = Database(tmp_path / "x.db", readers=2)
        await db.open()
        try:
            gate = Gate(insert_name)
            writing = asyncio.ensure_future(db.write(gate.hold, "n-uncommitted"))
            await gate.held()
            # The writer is inside its transaction: a read does not wait for it, and sees
            # the last committed state.
            assert await asyncio.wait_for(db.read(count_names), WAIT) == 0
            # Both readers at once: each waits at the barrier for the other.
            both = threading.Barrier(2, timeout=WAIT)
            assert await asyncio.gather(
                db.read(lambda conn: both.wait()), db.read(lambda conn: both.wait())
            ) in ([0, 1], [1, 0])
            gate.opened.set()
            await writing
            assert await db.read(count_names) == 1
        finally:
            await db.close()

    asyncio.run(scenario())


def test_read_errors_are_storage_errors_and_arguments_pass_by_keyword(tmp_path):
    async def scenario():
        db = Database(tmp_path / "x.db")
        await db.open()
        try:

            def names(conn, prefix: str, *, limit: int) -> list[str]:
                sql = "SELECT name FROM counters WHERE name LIKE ? ORDER BY name LIMIT ?"
                return [row[0] for row in conn.execute(sql, (prefix + "%", limit))]

            await db.write(insert_names, ["n1", "n2", "n3"])
            assert await db.read(names, "n", limit=2) == ["n1", "n2"]
            with pytest.raises(StorageError, match="database read failed"):
                await db.read(lambda conn: conn.execute("SELECT nope FROM nowhere"))
            # Readers are query_only: a write sent to one is refused, not committed.
            with pytest.raises(StorageError, match="read failed"):
                await db.read(insert_name, "n9")
            assert await db.read(count_names) == 3
        finally:
            await db.close()

    asyncio.run(scenario())


def _schema(conn: sqlite3.Connection) -> list[tuple]:
    return conn.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
    ).fetchall()


def test_a_new_database_gets_every_migration_at_once_with_the_same_schema_and_bookkeeping(
    tmp_path, caplog
):
    """A new database takes all the migrations in one transaction (start-up, issue 13): the
    schema and schema_migrations are what applying them one by one gives."""
    one_by_one = sqlite3.connect(
        tmp_path / "one.db", isolation_level=None, factory=SqliteConnection
    )
    one_by_one.execute("PRAGMA foreign_keys = ON")
    one_by_one.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at REAL)"
    )
    for version, sql in _migration_files():
        one_by_one.executescript(
            f"BEGIN;\n{sql}\n;INSERT INTO schema_migrations VALUES ({version}, 0);COMMIT;"
        )
    at_once = sqlite3.connect(tmp_path / "new.db", isolation_level=None, factory=SqliteConnection)
    at_once.execute("PRAGMA foreign_keys = ON")
    before = time.time()
    with caplog.at_level(logging.INFO, logger="gethook_lite.db.database"):
        applied = _apply_migrations(at_once)
    known = known_migrations()
    assert applied == known
    assert [r.getMessage() for r in caplog.records] == [
        f"applied database migration {version:04d}" for version in known
    ]
    rows = at_once.execute("SELECT version, applied_at FROM schema_migrations").fetchall()
    assert [version for version, _ in rows] == known
    assert all(before <= applied_at <= time.time() for _, applied_at in rows)
    assert _schema(at_once) == _schema(one_by_one)
    assert _apply_migrations(at_once) == []


def test_an_existing_database_keeps_the_migrations_before_one_that_fails(tmp_path, monkeypatch):
    """An existing database takes its pending migrations one commit each; a new one all or
    none (it holds nothing yet, and the next start tries again)."""
    real = _migration_files()
    broken = (real[-1][0] + 1, "CREATE TABLE broken (;")
    monkeypatch.setattr(database, "_migration_files", lambda dialect="sqlite": [*real, broken])
    existing = sqlite3.connect(tmp_path / "old.db", isolation_level=None, factory=SqliteConnection)
    existing.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at REAL)"
    )
    existing.executescript(
        f"BEGIN;\n{real[0][1]}\n;INSERT INTO schema_migrations VALUES ({real[0][0]}, 0);COMMIT;"
    )
    new = sqlite3.connect(tmp_path / "new.db", isolation_level=None, factory=SqliteConnection)
    for conn, kept in ((existing, [version for version, _ in real]), (new, [])):
        with pytest.raises(sqlite3.OperationalError, match="syntax error"):
            _apply_migrations(conn)
        assert not conn.in_transaction
        table = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE name = 'schema_migrations'"
        ).fetchone()
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations")]
        assert (versions if table else []) == kept
