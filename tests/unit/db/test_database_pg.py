"""Database on PostgreSQL: group commit, savepoints, write_many, ephemeral writes, read-only
readers, close(): the same promises as on SQLite (tests/unit/test_database.py), checked on a
real server."""

from __future__ import annotations

import asyncio
import threading

import pytest

from gethook_lite.db import Database, StorageError

# Waits on the writer or reader threads are bounded: a broken build fails, never hangs.
WAIT = 10.0


def insert_name(conn, name: str) -> int:
    """Insert a counter; answer the transaction's id (equal ids: one transaction)."""
    conn.execute("INSERT INTO counters (name, value) VALUES (?, 1)", (name,))
    return conn.execute("SELECT txid_current()").fetchone()[0]


def insert_then_fail(conn, name: str) -> None:
    insert_name(conn, name)
    raise ValueError("this write fails after its insert")


def insert_names(conn, names: list[str]) -> list[str]:
    calls.append(len(names))
    for name in names:
        if name == "bad":
            raise ValueError("bad item")
        conn.execute("INSERT INTO counters (name, value) VALUES (?, 1)", (name,))
    return names


calls: list[int] = []


def names(conn) -> list[str]:
    sql = "SELECT name FROM counters WHERE name LIKE 'n%' ORDER BY name"
    return [row[0] for row in conn.execute(sql)]


def synchronous_commit(conn) -> str:
    return conn.execute("SELECT current_setting('synchronous_commit')").fetchone()[0]


class Gate:
    """Holds the writer thread inside a write until the test opens it."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.opened = threading.Event()

    def hold(self, conn, name: str) -> int:
        txid = insert_name(conn, name)
        self.entered.set()
        assert self.opened.wait(WAIT), "the test never opened the gate"
        return txid

    async def held(self) -> None:
        assert await asyncio.to_thread(self.entered.wait, WAIT)


async def queued(*coroutines) -> list[asyncio.Task]:
    """Start the calls as tasks and let each reach the database's queue."""
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    await asyncio.sleep(0)
    return tasks


@pytest.fixture
def run(pg_url, tmp_path):
    """Run ``scenario(db)`` on an open Database over the test's PostgreSQL database."""

    def runner(scenario, **options):
        async def main():
            db = Database(tmp_path / "unused.db", url=pg_url, **options)
            await db.open()
            try:
                await scenario(db)
            finally:
                await db.close()

        asyncio.run(main())

    return runner


def test_writes_queued_together_commit_in_one_transaction(run):
    async def scenario(db):
        gate = Gate()
        first = asyncio.ensure_future(db.write(gate.hold, "n-first"))
        await gate.held()
        burst = await queued(*(db.write(insert_name, f"n{i:02}") for i in range(50)))
        gate.opened.set()
        first_txid = await first
        txids = await asyncio.gather(*burst)
        # The burst queued behind the first write shares one transaction: one commit.
        assert len(set(txids)) == 1
        assert txids[0] != first_txid
        assert len(await db.read(names)) == 51

    run(scenario)


def test_a_failing_write_rolls_back_alone_and_the_batch_commits(run):
    async def scenario(db):
        gate = Gate()
        first = asyncio.ensure_future(db.write(gate.hold, "n0"))
        await gate.held()
        batch = await queued(
            db.write(insert_name, "n1"),
            db.write(insert_then_fail, "n2"),
            db.write(insert_name, "n3"),
            db.write(insert_name, "n1"),  # breaks the primary key: a driver error
        )
        gate.opened.set()
        results = await asyncio.gather(first, *batch, return_exceptions=True)
        assert isinstance(results[2], ValueError)
        assert isinstance(results[4], StorageError)
        assert results[1] == results[3]  # the two good ones: one transaction
        # A statement that failed inside the transaction did not abort it (savepoints).
        assert await db.read(names) == ["n0", "n1", "n3"]

    run(scenario)


def test_write_many_groups_items_and_retries_each_alone_when_the_group_fails(run):
    async def scenario(db):
        gate = Gate()
        first = asyncio.ensure_future(db.write(gate.hold, "n0"))
        await gate.held()
        good = await queued(*(db.write_many(insert_names, f"n{i}") for i in range(1, 5)))
        gate.opened.set()
        await first
        calls.clear()
        assert await asyncio.gather(*good) == ["n1", "n2", "n3", "n4"]
        assert calls == [4]  # one call for the four items

        gate = Gate()
        first = asyncio.ensure_future(db.write(gate.hold, "n5"))
        await gate.held()
        mixed = await queued(
            *(db.write_many(insert_names, name) for name in ("n6", "bad", "n7", "n6"))
        )
        gate.opened.set()
        await first
        calls.clear()
        results = await asyncio.gather(*mixed, return_exceptions=True)
        assert results[0] == "n6" and results[2] == "n7"
        assert isinstance(results[1], ValueError)
        assert isinstance(results[3], StorageError)  # the second n6: duplicate key
        assert calls == [4, 1, 1, 1, 1]  # the group failed; then each item alone
        assert await db.read(names) == [f"n{i}" for i in range(8)]

    run(scenario)


def test_an_ephemeral_batch_commits_without_waiting_for_the_disk_a_mixed_one_waits(run):
    async def scenario(db):
        assert await db.write_ephemeral(synchronous_commit) == "off"
        assert await db.write(synchronous_commit) == "on"
        gate = Gate()
        first = asyncio.ensure_future(db.write(gate.hold, "n0"))
        await gate.held()
        mixed = await queued(db.write_ephemeral(synchronous_commit), db.write(insert_name, "n1"))
        gate.opened.set()
        await first
        assert (await mixed[0]) == "on"  # a durable write in the batch: the commit waits
        await mixed[1]
        # SET LOCAL: the setting ends with its transaction.
        assert await db.write(synchronous_commit) == "on"
        await db.write_ephemeral(insert_name, "n2")
        assert await db.read(names) == ["n0", "n1", "n2"]

    run(scenario)


def test_reads_run_on_read_only_connections_that_refuse_writes(run):
    async def scenario(db):
        await db.write(insert_name, "n1")
        with pytest.raises(StorageError, match="read failed"):
            await db.read(insert_name, "n9")
        read_only = await db.read(
            lambda conn: conn.execute("SELECT current_setting('transaction_read_only')").fetchone()
        )
        assert read_only[0] == "on"
        assert await db.read(names) == ["n1"]
        # The reader is usable after the refusal (its failed statement left no transaction).
        assert await db.ping() is True

    run(scenario)


def test_close_answers_every_write_queued_or_in_flight_then_refuses_more(pg_url, tmp_path):
    async def scenario():
        db = Database(tmp_path / "unused.db", url=pg_url)
        await db.open()
        gate = Gate()
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
            await db.read(names)
        gate.opened.set()
        await asyncio.wait_for(closing, WAIT)
        assert in_flight.done() and all(task.done() for task in waiting)
        assert all(task.exception() is None for task in waiting[:-1])
        assert isinstance(waiting[-1].exception(), ValueError)
        # What was answered as a success is committed.
        await db.open()
        try:
            assert len(await db.read(names)) == 1 + 20 + 20 + 1
        finally:
            await db.close()

    asyncio.run(scenario())
