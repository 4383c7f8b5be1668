"""Database on PostgreSQL: group commit, savepoints, write_many, ephemeral writes, read-only
readers, close(): the same promises as on SQLite (tests/unit/test_database.py), checked on a
real server."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from gethook_lite.db import Database, StorageError
from tests.support.writer_gate import WAIT, Gate, queued

# Waits on the writer or reader threads are bounded: a broken build fails, never hangs.


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
        gate = Gate(insert_name)
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
        gate = Gate(insert_name)
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
        gate = Gate(insert_name)
        first = asyncio.ensure_future(db.write(gate.hold, "n0"))
        await gate.held()
        good = await queued(*(db.write_many(insert_names, f"n{i}") for i in range(1, 5)))
        calls.clear()  # before the gate opens: the writer may start the group at once
        gate.opened.set()
        await first
        assert await asyncio.gather(*good) == ["n1", "n2", "n3", "n4"]
        assert calls == [4]  # one call for the four items

        gate = Gate(insert_name)
        first = asyncio.ensure_future(db.write(gate.hold, "n5"))
        await gate.held()
        mixed = await queued(
            *(db.write_many(insert_names, name) for name in ("n6", "bad", "n7", "n6"))
        )
        calls.clear()
        gate.opened.set()
        await first
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
        gate = Gate(insert_name)
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


# --- A connection that breaks: the server restarts, kills our backends, or goes away ---------


def database_name(url: str) -> str:
    return url.rsplit("/", 1)[1]


def terminate_our_backends(url: str) -> int:
    """pg_terminate_backend every connection of ours (application_name "gethook ...") to the
    test's database, from another connection; how many there were."""
    with admin_connection() as admin:
        return admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = %s AND application_name LIKE 'gethook%%'",
            (database_name(url),),
        ).fetchone()[0]


def admin_connection():
    """A connection to the server's maintenance database (the test's may refuse us)."""
    import psycopg

    from tests.support.postgres import server_url

    return psycopg.connect(server_url(), autocommit=True)


def allow_connections(url: str, allowed: bool) -> None:
    with admin_connection() as admin:
        name = database_name(url)
        admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {str(allowed).lower()}')


def backend_pid(conn) -> int:
    return conn.execute("SELECT pg_backend_pid()").fetchone()[0]


def test_connections_killed_while_idle_are_replaced_without_failing_a_call(run, pg_url):
    async def scenario(db):
        writer_pid = await db.write(backend_pid)
        await db.read(names)
        assert terminate_our_backends(pg_url) == 3  # the writer and both readers
        # The next calls meet dead connections: each thread connects again and runs its
        # call there (nothing was sent on the dead one that could have committed).
        assert await db.write(insert_name, "n1")
        assert await db.read(names) == ["n1"]
        assert await db.read(names) == ["n1"]  # the other reader too
        for _ in range(2):  # a new reader connection is read-only again
            with pytest.raises(StorageError, match="read failed"):
                await db.read(insert_name, "n9")
        assert await db.write(backend_pid) != writer_pid

    run(scenario, readers=2)


def test_a_write_batch_whose_connection_is_killed_before_commit_runs_again(run, pg_url):
    runs: list[int] = []

    def slow_insert(conn, name: str) -> int:
        runs.append(1)
        txid = insert_name(conn, name)
        if len(runs) == 1:  # the first run is killed while it waits here
            conn.execute("SELECT pg_sleep(30)")
        return txid

    async def scenario(db):
        writing = asyncio.ensure_future(db.write(slow_insert, "n1"))
        await wait_for_sleeper(pg_url)
        terminate_our_backends(pg_url)
        # Killed before COMMIT: nothing committed, so the batch ran again on a new connection.
        await asyncio.wait_for(writing, WAIT)
        assert len(runs) == 2
        assert await db.read(names) == ["n1"]

    run(scenario)


def test_a_read_running_when_the_server_kills_it_and_cannot_reconnect_is_a_storage_error(
    run, pg_url
):
    async def scenario(db):
        reading = asyncio.ensure_future(db.read(lambda conn: conn.execute("SELECT pg_sleep(30)")))
        await wait_for_sleeper(pg_url)
        allow_connections(pg_url, False)
        try:
            terminate_our_backends(pg_url)
            with pytest.raises(StorageError):
                await asyncio.wait_for(reading, WAIT)
            # While the server refuses us, every call fails fast with StorageError.
            began = asyncio.get_running_loop().time()
            for _ in range(5):
                with pytest.raises(StorageError):
                    await db.write(insert_name, "n-lost")
                with pytest.raises(StorageError):
                    await db.read(names)
            assert asyncio.get_running_loop().time() - began < 2
            assert await db.ping() is False
        finally:
            allow_connections(pg_url, True)
        # Back: within the bounded backoff (RECONNECT_MAX_WAIT_S) calls succeed again.
        await eventually(lambda: db.write(insert_name, "n1"))
        assert await eventually(lambda: db.read(names)) == ["n1"]

    run(scenario, readers=1)  # one reader: its backoff is the one the test waits out


async def eventually(call):
    """``await call()`` until it does not raise StorageError (for at most WAIT seconds)."""
    deadline = asyncio.get_running_loop().time() + WAIT
    while True:
        try:
            return await call()
        except StorageError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.05)


async def wait_for_sleeper(url: str) -> None:
    """Until one of our connections is inside pg_sleep."""

    def sleeping() -> bool:
        with admin_connection() as admin:
            return bool(
                admin.execute(
                    "SELECT 1 FROM pg_stat_activity WHERE datname = %s"
                    " AND application_name LIKE 'gethook%%' AND query LIKE '%%pg_sleep%%'"
                    " AND state = 'active'",
                    (database_name(url),),
                ).fetchone()
            )

    for _ in range(200):
        if await asyncio.to_thread(sleeping):
            return
        await asyncio.sleep(0.02)
    raise AssertionError("no connection of ours reached pg_sleep")


# --- A batch rolled back by the server (serialization failure, deadlock) runs once more ------


def raise_sqlstate(conn, state: str) -> None:
    """Have the server raise an error with SQLSTATE ``state``."""
    conn.execute(f"DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '{state}'; END $$")


@pytest.mark.parametrize("state", ["40001", "40P01"])
def test_a_batch_meeting_a_serialization_failure_or_deadlock_runs_again_as_a_whole(run, state):
    runs: list[str] = []

    def conflicts_once(conn, name: str) -> int:
        runs.append(name)
        txid = insert_name(conn, name)
        if len(runs) == 1:
            raise_sqlstate(conn, state)
        return txid

    def always_conflicts(conn, name: str) -> None:
        insert_name(conn, name)
        raise_sqlstate(conn, state)

    async def scenario(db):
        gate = Gate(insert_name)
        first = asyncio.ensure_future(db.write(gate.hold, "n0"))
        await gate.held()
        batch = await queued(
            db.write(insert_name, "n1"),
            db.write(conflicts_once, "n2"),
            db.write(insert_name, "n3"),
        )
        gate.opened.set()
        await first
        txids = await asyncio.gather(*batch)
        assert runs == ["n2", "n2"]
        assert len(set(txids)) == 1  # the second run: the three again, in one transaction
        # One that conflicts every time fails alone on the second run; the others commit.
        gate = Gate(insert_name)
        first = asyncio.ensure_future(db.write(gate.hold, "n4"))
        await gate.held()
        batch = await queued(
            db.write(insert_name, "n5"),
            db.write(always_conflicts, "n6"),
            db.write(insert_name, "n7"),
        )
        gate.opened.set()
        await first
        results = await asyncio.gather(*batch, return_exceptions=True)
        assert isinstance(results[1], StorageError)
        assert results[0] == results[2]
        assert await db.read(names) == ["n0", "n1", "n2", "n3", "n4", "n5", "n7"]

    run(scenario)


def test_a_real_deadlock_with_another_connection_is_retried_and_the_write_succeeds(run, pg_url):
    import psycopg

    runs: list[int] = []
    other_pid: list[int] = []
    holds_a = threading.Event()
    other_waits = threading.Event()

    def lock_a_then_b(conn) -> None:
        runs.append(1)
        # Ours is found in the deadlock first (the other waits 10 s before looking).
        conn.execute("SET LOCAL deadlock_timeout = '50ms'")
        conn.execute("UPDATE counters SET value = value + 1 WHERE name = 'events_processed'")
        holds_a.set()
        if len(runs) == 1:  # until the other connection waits for our row lock
            assert other_waits.wait(WAIT)
            # Until the other connection's wait shows (its own only: pg_locks shows the whole
            # server's, other xdist workers' included). Going on before it waits would leave
            # the deadlock to the other's check, 10 s later, which rolls back the other.
            deadline = time.monotonic() + WAIT
            while not conn.execute(
                "SELECT 1 FROM pg_locks WHERE NOT granted AND pid = ?", (other_pid[0],)
            ).fetchone():
                assert time.monotonic() < deadline, "the other connection never waited"
                time.sleep(0.01)
        conn.execute("UPDATE counters SET value = value + 1 WHERE name = 'events_delivered'")

    async def scenario(db):
        with psycopg.connect(pg_url, autocommit=True) as other:
            other.execute("SET deadlock_timeout = '10s'")
            other_pid.append(other.info.backend_pid)
            other.execute("BEGIN")
            other.execute("UPDATE counters SET value = value + 10 WHERE name = 'events_delivered'")
            writing = asyncio.ensure_future(db.write(lock_a_then_b))
            assert await asyncio.to_thread(holds_a.wait, WAIT)

            def b_then_a() -> None:
                other_waits.set()
                # Waits for our writer's row lock; the writer then waits for this one's:
                # a deadlock, which the server breaks by rolling the writer back.
                other.execute(
                    "UPDATE counters SET value = value + 10 WHERE name = 'events_processed'"
                )
                other.execute("COMMIT")

            await asyncio.to_thread(b_then_a)
            await asyncio.wait_for(writing, WAIT)
        assert len(runs) == 2
        values = await db.read(
            lambda conn: conn.execute(
                "SELECT name, value FROM counters WHERE name IN"
                " ('events_processed', 'events_delivered') ORDER BY name"
            ).fetchall()
        )
        expected = [("events_delivered", 11), ("events_processed", 11)]
        assert [tuple(row) for row in values] == expected

    run(scenario)


def test_size_bytes_reports_the_database_size_without_waiting_for_the_server(run, monkeypatch):
    from gethook_lite.db import database

    async def scenario(db):
        opened_with = db.size_bytes()
        assert opened_with > 1_000_000  # read at open: the schema alone is megabytes
        await db.write(
            lambda conn: conn.execute(
                "INSERT INTO counters (name, value)"
                " SELECT 'n' || i, i FROM generate_series(1, 20000) AS i"
            )
        )
        # Within SIZE_REFRESH_S the cached figure is answered, and no read is started.
        assert db.size_bytes() == opened_with
        monkeypatch.setattr(database, "SIZE_REFRESH_S", 0.0)
        assert db.size_bytes() == opened_with  # stale: answered at once, a read is queued
        await db.read(names)  # the read queued before this one has been answered
        await asyncio.sleep(0)
        assert db.size_bytes() > opened_with

    run(scenario, readers=1)
