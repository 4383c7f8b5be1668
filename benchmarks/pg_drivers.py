"""PostgreSQL drivers for GetHook Lite's storage shapes: psycopg 3 sync, psycopg 3 async, asyncpg.

Run by hand (issue 19; docs/design/postgresql.md quotes its figures). Needs its own venv:

    python3 -m venv .venv-pg && .venv-pg/bin/pip install 'psycopg[binary]' asyncpg
    .venv-pg/bin/python benchmarks/pg_drivers.py [--rounds 3] [--seconds 3]

It creates a scratch database (``gethook_pgbench``) on 127.0.0.1 only, and drops it at the end.
Three workloads shaped like ours, each driver in turn, rounds interleaved (the machine is shared
and noisy; the CPU time is reported beside the wall time for that reason):

- ingest: 64 asyncio producers each submit one event (1 KB body, 16 columns) + 1 delivery and
  await its commit; one writer takes every queued event (up to 512) and commits them as one
  transaction (group commit, as db/database.py does). Latency: submit to commit acknowledged.
- claim: ``SELECT … FOR UPDATE OF dl SKIP LOCKED LIMIT 64`` (the delivery joined to its event's
  body, as db/deliveries.py _CLAIM_SELECT) + one UPDATE setting the lease, in one transaction.
- outcomes: 64 attempt INSERTs + 64 delivery UPDATEs in one transaction (record_attempts).

"sync" is the architecture we have: storage functions written once against a sqlite3-shaped
connection (``?`` placeholders, rows by name or index) and run in a dedicated thread; on
PostgreSQL the same functions run through ``PgConnection`` below (the adapter the design
proposes). "sqlite" runs those very functions on stdlib sqlite3 (WAL, synchronous=FULL) as
the single-process baseline. Client CPU is this process's CPU time (the writer thread
included); server CPU is the CPU time of the PostgreSQL backends serving our connections
(/proc, so only meaningful with the server on this machine; WAL writer and checkpointer not
counted). A NOTIFY round trip (commit of ``NOTIFY`` to the listener's wake-up) is measured too.

Two multi-writer checks follow (``--claimers``, ``--writers``; threads standing for processes,
psycopg sync): whether a per-destination cap holds when several claim with ``SKIP LOCKED``
alone or behind an advisory lock, and what one counter row bumped by every ingest transaction
(as migration 0002's triggers do) costs against 8 shards. ``--trigger-rounds``: the server CPU
per ingested event with the stats and change-log bookkeeping as row triggers, as statement-level
triggers, or none (Appendix A's choice since main's 0017, which does it in Python), on the
design's Appendix A schema (read from docs/design/postgresql.md, so the draft is applied and
checked on every run).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import os
import queue
import random
import re
import sqlite3
import statistics
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import psycopg

from gethook_lite.db.postgres import PgConnection, connect_postgres

DRIVERS = ("sqlite", "psycopg-sync", "psycopg-async", "asyncpg")
PRODUCERS = 64
MAX_WRITE_BATCH = 512  # gethook_lite.constants.MAX_WRITE_BATCH
CLAIM_LIMIT = 64
QUEUE_ROWS = 16_000  # pending deliveries the claim and outcome workloads work through
BODY = b"x" * 1024
SCRATCH_DB = "gethook_pgbench"

EVENT_COLUMNS = (
    "id", "account_id", "direction", "source_id", "event_type", "external_event_id",
    "payload_hash", "content_type", "headers", "body", "status", "final_state", "created_by",
    "replay_of", "received_at", "created_at",
)  # fmt: skip

# The tables the workloads touch, as in migrations 0001-0011 (no triggers: the stats and
# change-log triggers are a separate decision, see the design document). One dialect each.
_SCHEMA = """
CREATE TABLE accounts (id TEXT PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE destinations (id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id));
CREATE TABLE routes (id TEXT PRIMARY KEY,
    destination_id TEXT NOT NULL REFERENCES destinations (id));
CREATE TABLE events (
    id TEXT PRIMARY KEY, account_id TEXT NOT NULL REFERENCES accounts (id),
    direction TEXT NOT NULL, source_id TEXT, event_type TEXT, external_event_id TEXT,
    payload_hash TEXT, content_type TEXT, headers TEXT NOT NULL, body {blob} NOT NULL,
    status TEXT NOT NULL, attempts_count INTEGER NOT NULL DEFAULT 0, next_attempt_at {real},
    final_state TEXT, created_by TEXT NOT NULL, replay_of TEXT, replayed_at {real},
    received_at {real} NOT NULL, created_at {real} NOT NULL
);
CREATE INDEX events_by_account ON events (account_id, direction, id);
CREATE INDEX events_by_status ON events (account_id, direction, status, id);
CREATE INDEX events_by_source ON events (source_id, id);
CREATE INDEX events_by_type ON events (account_id, direction, event_type, id);
CREATE INDEX events_by_received ON events (account_id, received_at);
CREATE INDEX events_by_source_status ON events (source_id, status, account_id, direction, id);
CREATE UNIQUE INDEX events_inbound_dedupe ON events (source_id, external_event_id)
    WHERE direction = 'inbound' AND external_event_id IS NOT NULL AND created_by <> 'replay';
CREATE TABLE deliveries (
    id {serial}, event_id TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    account_id TEXT NOT NULL, destination_id TEXT NOT NULL REFERENCES destinations (id),
    route_id TEXT NOT NULL REFERENCES routes (id), status TEXT NOT NULL,
    attempts_count INTEGER NOT NULL DEFAULT 0, next_attempt_at {real}, lease_expires_at {real},
    last_outcome TEXT, created_at {real} NOT NULL, finished_at {real}
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at, destination_id, account_id)
    WHERE status = 'pending';
CREATE INDEX deliveries_due_by_destination ON deliveries (destination_id, next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX deliveries_leased ON deliveries (lease_expires_at) WHERE status = 'in_flight';
CREATE INDEX deliveries_by_event ON deliveries (event_id);
CREATE INDEX deliveries_open_by_destination ON deliveries (destination_id)
    WHERE status IN ('pending', 'in_flight');
CREATE TABLE attempts (
    id TEXT PRIMARY KEY, event_id TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    delivery_id INTEGER NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    destination_id TEXT NOT NULL, attempt_number INTEGER NOT NULL, started_at {real} NOT NULL,
    finished_at {real}, response_status INTEGER, response_body TEXT, error_message TEXT,
    latency_ms {real}, outcome TEXT NOT NULL
);
CREATE INDEX attempts_by_event ON attempts (event_id, id);
CREATE INDEX attempts_by_delivery ON attempts (delivery_id);
INSERT INTO accounts VALUES ('acc', 'bench');
INSERT INTO destinations VALUES ('dst', 'acc'), ('d0', 'acc'), ('d1', 'acc'), ('d2', 'acc'),
    ('d3', 'acc'), ('d4', 'acc'), ('d5', 'acc'), ('d6', 'acc'), ('d7', 'acc');
INSERT INTO routes VALUES ('rte', 'dst');
"""
_SQLITE_TYPES = {"blob": "BLOB", "real": "REAL", "serial": "INTEGER PRIMARY KEY"}
_PG_TYPES = {
    "blob": "bytea",
    "real": "double precision",
    "serial": "bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
}

# ---------------------------------------------------------------------------------------------
# The adapter is the product's own (gethook_lite/db/postgres.py, prototyped here first).


# ---------------------------------------------------------------------------------------------
# Storage functions, written once (sqlite3 shape), run on sqlite3 and on PgConnection.

_INSERT_EVENT = f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES ({', '.join('?' * 16)})"
_INSERT_DELIVERY = (
    "INSERT INTO deliveries (event_id, account_id, destination_id, route_id, status,"
    " attempts_count, next_attempt_at, created_at) VALUES (?, ?, ?, ?, 'pending', 0, ?, ?)"
)
_INSERT_ATTEMPT = (
    "INSERT INTO attempts (id, event_id, delivery_id, destination_id, attempt_number,"
    " started_at, finished_at, response_status, response_body, latency_ms, outcome)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, 200, 'ok', 12.5, 'success')"
)
_RECORD_DELIVERY = (
    "UPDATE deliveries SET status = 'succeeded', attempts_count = attempts_count + 1,"
    " next_attempt_at = NULL, lease_expires_at = NULL, last_outcome = 'success',"
    " finished_at = ? WHERE id = ? AND status = 'in_flight'"
)
_CLAIM = (
    "SELECT dl.id, dl.event_id, dl.destination_id, dl.attempts_count, e.body, e.content_type,"
    " e.event_type FROM deliveries dl JOIN events e ON e.id = dl.event_id"
    " WHERE dl.status = 'pending' AND dl.next_attempt_at <= ?"
    " ORDER BY dl.next_attempt_at LIMIT ?"
)
_PG_CLAIM = _CLAIM + " FOR UPDATE OF dl SKIP LOCKED"  # the one per-dialect statement
_LEASE = "UPDATE deliveries SET status = 'in_flight', lease_expires_at = ? WHERE id = ?"
_PG_LEASE = "UPDATE deliveries SET status = 'in_flight', lease_expires_at = ? WHERE id = ANY(?)"


def _event_row(serial: int) -> tuple[Any, ...]:
    now = time.time()
    return (
        f"evt_{serial:012d}_{random.getrandbits(40):010x}", "acc", "inbound", "src",
        "charge.succeeded", None, "sha256:x", "application/json", '{"content-type": "json"}',
        BODY, "queued", None, "ingest", None, now, now,
    )  # fmt: skip


def _delivery_rows(events: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [(e[0], "acc", "dst", "rte", e[14], e[14]) for e in events]


def accept_events(conn: Any, rows: list[tuple[Any, ...]]) -> None:
    conn.executemany(_INSERT_EVENT, rows)
    conn.executemany(_INSERT_DELIVERY, _delivery_rows(rows))


def claim(conn: Any, pg: bool) -> list[Any]:
    now = time.time()
    rows = conn.execute(_PG_CLAIM if pg else _CLAIM, (now, CLAIM_LIMIT)).fetchall()
    ids = [row["id"] for row in rows]
    if pg:
        conn.execute(_PG_LEASE, (now + 60, ids))
    else:
        conn.executemany(_LEASE, [(now + 60, i) for i in ids])
    return rows


def record_outcomes(conn: Any, leased: list[tuple[int, str]], serial: int) -> None:
    now = time.time()
    conn.executemany(
        _INSERT_ATTEMPT,
        [(f"att_{serial}_{d}", e, d, "dst", 1, now, now) for d, e in leased],
    )
    conn.executemany(_RECORD_DELIVERY, [(now, d) for d, _ in leased])


def in_transaction(conn: Any, fn: Callable[..., Any], *args: Any) -> Any:
    conn.execute("BEGIN")
    try:
        result = fn(conn, *args)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result


# ---------------------------------------------------------------------------------------------
# Measurement


@dataclass
class Sample:
    rows: int = 0
    wall: float = 0.0
    client_cpu: float = 0.0
    server_cpu: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds
    batches: int = 0


def _backend_cpu(pids: Iterable[int]) -> float:
    """CPU seconds (user + system) the PostgreSQL backends with these pids have used."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


class Meter:
    def __init__(self, pids: Iterable[int]) -> None:
        self.pids = list(pids)

    def __enter__(self) -> Meter:
        self.t0, self.c0, self.s0 = time.perf_counter(), time.process_time(), self._server()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.t0
        self.client = time.process_time() - self.c0
        self.server = self._server() - self.s0

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def _server(self) -> float:
        return _backend_cpu(self.pids)

    def into(self, sample: Sample) -> Sample:
        sample.wall, sample.client_cpu, sample.server_cpu = self.wall, self.client, self.server
        return sample

    def add(self, sample: Sample, rows: int) -> None:
        """Add one transaction of ``rows`` rows (server CPU ticks are 10 ms: summed over many
        transactions, each gets its share of the ticks in proportion to its time)."""
        sample.wall += self.wall
        sample.client_cpu += self.client
        sample.server_cpu += self.server
        sample.latencies.append(self.wall)
        sample.rows += rows


# ---------------------------------------------------------------------------------------------
# Connections per driver


@dataclass
class Target:
    pg_url: str  # the scratch database
    sqlite_path: Path


def _sqlite_connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def _pg_sync_connect(url: str) -> tuple[PgConnection, int]:
    conn = connect_postgres(url)
    pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    return conn, pid


def _sync_connect(driver: str, target: Target) -> tuple[Any, list[int]]:
    if driver == "sqlite":
        return _sqlite_connect(target.sqlite_path), []
    conn, pid = _pg_sync_connect(target.pg_url)
    return conn, [pid]


class SyncWriter:
    """The writer of db/database.py in miniature: one thread, one queue, group commit."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.batches = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def submit(self, row: tuple[Any, ...]) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.jobs.put((row, future))
        return future

    def stop(self) -> None:
        self.jobs.put(None)
        self.thread.join()

    def _serve(self) -> None:
        while True:
            first = self.jobs.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < MAX_WRITE_BATCH:
                try:
                    job = self.jobs.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    self.jobs.put(None)
                    break
                batch.append(job)
            in_transaction(self.conn, accept_events, [row for row, _ in batch])
            self.batches += 1
            futures = [future for _, future in batch]
            loop = futures[0].get_loop()
            loop.call_soon_threadsafe(_settle, futures)


def _settle(futures: list[asyncio.Future[None]]) -> None:
    for future in futures:
        if not future.done():
            future.set_result(None)


class AsyncWriter:
    """The same group commit as an asyncio task, for the async drivers."""

    def __init__(self, commit: Callable[[list[tuple[Any, ...]]], Awaitable[None]]) -> None:
        self.commit = commit
        self.jobs: asyncio.Queue[Any] = asyncio.Queue()
        self.batches = 0
        self.task = asyncio.create_task(self._serve())

    def submit(self, row: tuple[Any, ...]) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.jobs.put_nowait((row, future))
        return future

    async def stop(self) -> None:
        self.jobs.put_nowait(None)
        await self.task

    async def _serve(self) -> None:
        while True:
            first = await self.jobs.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < MAX_WRITE_BATCH and not self.jobs.empty():
                job = self.jobs.get_nowait()
                if job is None:
                    self.jobs.put_nowait(None)
                    break
                batch.append(job)
            await self.commit([row for row, _ in batch])
            self.batches += 1
            _settle([future for _, future in batch])


def _pg_placeholders(sql: str, dollar: bool) -> str:
    """``?`` to ``%s`` (psycopg) or ``$1, $2…`` (asyncpg) for the async drivers' own SQL."""
    if not dollar:
        return sql.replace("?", "%s")
    counter = iter(range(1, 1000))
    return re.sub(r"\?", lambda _: f"${next(counter)}", sql)


async def _ingest(driver: str, target: Target, seconds: float) -> Sample:
    serial = iter(range(10**12))
    cleanup: Callable[[], Awaitable[None]]
    pids: list[int] = []
    if driver in ("sqlite", "psycopg-sync"):
        conn, pids = _sync_connect(driver, target)
        writer: Any = SyncWriter(conn)

        async def cleanup() -> None:
            writer.stop()
            conn.close() if driver == "sqlite" else conn.raw.close()

    elif driver == "psycopg-async":
        aconn = await psycopg.AsyncConnection.connect(target.pg_url, autocommit=True)
        pids = [(await (await aconn.execute("SELECT pg_backend_pid()")).fetchone())[0]]
        ev, dl = _pg_placeholders(_INSERT_EVENT, False), _pg_placeholders(_INSERT_DELIVERY, False)

        async def commit(rows: list[tuple[Any, ...]]) -> None:
            async with aconn.transaction(), aconn.cursor() as cur:
                await cur.executemany(ev, rows)
                await cur.executemany(dl, _delivery_rows(rows))

        writer = AsyncWriter(commit)

        async def cleanup() -> None:
            await writer.stop()
            await aconn.close()

    else:
        pconn = await asyncpg.connect(target.pg_url)
        pids = [pconn.get_server_pid()]
        ev, dl = _pg_placeholders(_INSERT_EVENT, True), _pg_placeholders(_INSERT_DELIVERY, True)

        async def commit(rows: list[tuple[Any, ...]]) -> None:
            async with pconn.transaction():
                await pconn.executemany(ev, rows)
                await pconn.executemany(dl, _delivery_rows(rows))

        writer = AsyncWriter(commit)

        async def cleanup() -> None:
            await writer.stop()
            await pconn.close()

    sample = Sample()
    deadline = time.perf_counter() + seconds

    async def producer() -> None:
        while time.perf_counter() < deadline:
            row = _event_row(next(serial))
            started = time.perf_counter()
            await writer.submit(row)
            sample.latencies.append(time.perf_counter() - started)
            sample.rows += 1

    with Meter(pids) as meter:
        await asyncio.gather(*(producer() for _ in range(PRODUCERS)))
    sample.batches = writer.batches
    await cleanup()
    return meter.into(sample)


async def _claim_and_record(
    driver: str, target: Target, transactions: int
) -> tuple[Sample, Sample]:
    """``transactions`` times: claim 64, then record their 64 outcomes (as the scheduler does,
    so that no more than one batch is ever in flight; see the planner note in the design)."""
    claim_sample, record_sample = Sample(), Sample()
    claim_once: Callable[[], Awaitable[list[tuple[int, str]]]]
    record_once: Callable[[list[tuple[int, str]], int], Awaitable[None]]
    close: Callable[[], Awaitable[None]]
    if driver in ("sqlite", "psycopg-sync"):
        conn, pids = _sync_connect(driver, target)
        pg = driver != "sqlite"
        loop = asyncio.get_running_loop()
        hop = _executor()

        # Each transaction is one hop into the connection's thread, as with ctx.db.write.
        async def claim_once() -> list[tuple[int, str]]:
            rows = await loop.run_in_executor(hop, in_transaction, conn, claim, pg)
            return [(row[0], row[1]) for row in rows]

        async def record_once(batch: list[tuple[int, str]], serial: int) -> None:
            await loop.run_in_executor(hop, in_transaction, conn, record_outcomes, batch, serial)

        async def close() -> None:
            conn.close() if driver == "sqlite" else conn.raw.close()
            hop.shutdown()

    else:
        dollar = driver == "asyncpg"
        claim_sql = _pg_placeholders(_PG_CLAIM, dollar)
        lease_sql = _pg_placeholders(_PG_LEASE, dollar)
        attempt_sql = _pg_placeholders(_INSERT_ATTEMPT, dollar)
        record_sql = _pg_placeholders(_RECORD_DELIVERY, dollar)

        def attempts(batch: list[tuple[int, str]], serial: int, now: float) -> list[tuple]:
            return [(f"att_{serial}_{d}", e, d, "dst", 1, now, now) for d, e in batch]

        if driver == "psycopg-async":
            aconn = await psycopg.AsyncConnection.connect(target.pg_url, autocommit=True)
            pids = [(await (await aconn.execute("SELECT pg_backend_pid()")).fetchone())[0]]

            async def claim_once() -> list[tuple[int, str]]:
                now = time.time()
                async with aconn.transaction(), aconn.cursor() as cur:
                    await cur.execute(claim_sql, (now, CLAIM_LIMIT))
                    rows = await cur.fetchall()
                    await cur.execute(lease_sql, (now + 60, [row[0] for row in rows]))
                return [(row[0], row[1]) for row in rows]

            async def record_once(batch: list[tuple[int, str]], serial: int) -> None:
                now = time.time()
                async with aconn.transaction(), aconn.cursor() as cur:
                    await cur.executemany(attempt_sql, attempts(batch, serial, now))
                    await cur.executemany(record_sql, [(now, d) for d, _ in batch])

            close = aconn.close
        else:
            pconn = await asyncpg.connect(target.pg_url)
            pids = [pconn.get_server_pid()]

            async def claim_once() -> list[tuple[int, str]]:
                now = time.time()
                async with pconn.transaction():
                    rows = await pconn.fetch(claim_sql, now, CLAIM_LIMIT)
                    await pconn.execute(lease_sql, now + 60, [row[0] for row in rows])
                return [(row["id"], row["event_id"]) for row in rows]

            async def record_once(batch: list[tuple[int, str]], serial: int) -> None:
                now = time.time()
                async with pconn.transaction():
                    await pconn.executemany(attempt_sql, attempts(batch, serial, now))
                    await pconn.executemany(record_sql, [(now, d) for d, _ in batch])

            close = pconn.close

    for serial in range(transactions):
        with Meter(pids) as meter:
            batch = await claim_once()
        meter.add(claim_sample, len(batch))
        with Meter(pids) as meter:
            await record_once(batch, serial)
        meter.add(record_sample, len(batch))
    await close()
    return claim_sample, record_sample


def _executor() -> concurrent.futures.ThreadPoolExecutor:
    # One thread: the connection is used from one thread only, like a reader of database.py.
    return concurrent.futures.ThreadPoolExecutor(max_workers=1)


# ---------------------------------------------------------------------------------------------
# NOTIFY round trip: a committed NOTIFY to the listener's wake-up.


async def _notify_round_trips(url: str, listener_kind: str, count: int) -> list[float]:
    sender = await asyncpg.connect(url)
    received: asyncio.Queue[float] = asyncio.Queue()
    latencies: list[float] = []
    if listener_kind == "asyncpg":
        listener = await asyncpg.connect(url)
        await listener.add_listener(
            "gethook_wake", lambda *_: received.put_nowait(time.perf_counter())
        )
        stop: Callable[[], Awaitable[None]] = listener.close
    else:
        aconn = await psycopg.AsyncConnection.connect(url, autocommit=True)
        await aconn.execute("LISTEN gethook_wake")

        async def pump() -> None:
            async for _ in aconn.notifies():
                received.put_nowait(time.perf_counter())

        pump_task = asyncio.create_task(pump())

        async def stop() -> None:
            pump_task.cancel()
            await asyncio.gather(pump_task, return_exceptions=True)
            await aconn.close()

    await asyncio.sleep(0.05)
    for _ in range(count):
        started = time.perf_counter()
        await sender.execute("NOTIFY gethook_wake, 'deliveries'")
        latencies.append(await asyncio.wait_for(received.get(), 5) - started)
        await asyncio.sleep(0.002)
    await stop()
    await sender.close()
    return latencies


# ---------------------------------------------------------------------------------------------
# Claims from several processes: is a per-destination cap kept? (psycopg sync, threads)

_DESTINATIONS = 8
_BUSY = (
    "SELECT destination_id, count(*) FROM deliveries WHERE status = 'in_flight'"
    " GROUP BY destination_id"
)
_CANDIDATES = (
    "SELECT id, destination_id FROM deliveries WHERE status = 'pending' AND next_attempt_at <= ?"
    " ORDER BY next_attempt_at LIMIT ? FOR UPDATE SKIP LOCKED"
)
_FINISH = "UPDATE deliveries SET status = 'succeeded', lease_expires_at = NULL WHERE id = ANY(?)"


def capped_claim(conn: Any, cap: int, serialized: bool) -> list[int]:
    """Claim up to CLAIM_LIMIT due deliveries, at most ``cap`` in flight per destination,
    counting what is in flight from the database (every process's attempts)."""
    if serialized and not conn.execute("SELECT pg_try_advisory_xact_lock(7311)").fetchone()[0]:
        return []  # another process is claiming: try again shortly
    busy = dict(conn.execute(_BUSY).fetchall())
    now = time.time()
    chosen = []
    for delivery_id, destination in conn.execute(_CANDIDATES, (now, 4 * CLAIM_LIMIT)):
        if busy.get(destination, 0) < cap and len(chosen) < CLAIM_LIMIT:
            busy[destination] = busy.get(destination, 0) + 1
            chosen.append(delivery_id)
    if chosen:
        conn.execute(_PG_LEASE, (now + 60, chosen))
    return chosen


def _contention(target: Target, serialized: bool, claimers: int, seconds: float, cap: int) -> str:
    """``claimers`` threads (standing for processes) claim, 'deliver' for 5 ms, record; a
    monitor samples the most deliveries in flight at one destination."""
    with psycopg.connect(target.pg_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE deliveries SET status = 'pending', lease_expires_at = NULL,"
            f" destination_id = 'd' || (id % {_DESTINATIONS})"
        )
        conn.execute("VACUUM ANALYZE deliveries")
    stop = time.perf_counter() + seconds
    done: list[int] = []
    peaks: list[int] = []
    pids: list[int] = []

    def claimer() -> None:
        conn, [pid] = _sync_connect("psycopg-sync", target)
        pids.append(pid)
        while time.perf_counter() < stop:
            chosen = in_transaction(conn, capped_claim, cap, serialized)
            if not chosen:
                time.sleep(0.001)
                continue
            time.sleep(0.005)
            conn.execute(_FINISH, (chosen,))
            done.append(len(chosen))
        conn.raw.close()

    def monitor() -> None:
        with psycopg.connect(target.pg_url, autocommit=True) as conn:
            while time.perf_counter() < stop:
                row = conn.execute(f"SELECT max(n) FROM ({_BUSY}) AS busy(d, n)").fetchone()
                peaks.append(row[0] or 0)
                time.sleep(0.001)

    threads = [threading.Thread(target=claimer) for _ in range(claimers)]
    threads.append(threading.Thread(target=monitor))
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    over = sum(1 for peak in peaks if peak > cap)
    return (
        f"{sum(done) / wall:7.0f} claimed/s  max in flight at one destination {max(peaks)}"
        f" (cap {cap}); {over} of {len(peaks)} samples over the cap"
    )


# ---------------------------------------------------------------------------------------------
# A counter row every ingest transaction updates (migration 0002's triggers), several writers

_HOT_SCHEMA = """
CREATE TABLE hot_events (id TEXT PRIMARY KEY, account_id TEXT NOT NULL, body bytea NOT NULL);
CREATE TABLE hot_counters (name TEXT NOT NULL, shard integer NOT NULL, value bigint NOT NULL,
                           PRIMARY KEY (name, shard));
CREATE FUNCTION hot_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO hot_counters VALUES ('events_processed',
        CASE WHEN TG_ARGV[0] = 'sharded' THEN pg_backend_pid() % 8 ELSE 0 END, 1)
    ON CONFLICT (name, shard) DO UPDATE SET value = hot_counters.value + 1;
    RETURN NULL;
END $$;
"""


def _hot_rows(target: Target, sharded: bool, writers: int, seconds: float) -> str:
    """``writers`` threads (standing for processes) commit batches of 64 events, each row
    bumping a counter: one row for all, or one of 8 shards per backend."""
    mode = "sharded" if sharded else "single"
    with psycopg.connect(target.pg_url, autocommit=True) as conn:
        if conn.execute("SELECT to_regclass('hot_events')").fetchone()[0] is None:
            conn.execute(_HOT_SCHEMA)
        conn.execute("DROP TRIGGER IF EXISTS hot_count ON hot_events")
        conn.execute(
            "CREATE TRIGGER hot_count AFTER INSERT ON hot_events"
            f" FOR EACH ROW EXECUTE FUNCTION hot_count('{mode}')"
        )
        conn.execute("TRUNCATE hot_events, hot_counters")
    stop = time.perf_counter() + seconds
    committed: list[int] = []
    latencies: list[float] = []

    def writer(number: int) -> None:
        conn, _ = _sync_connect("psycopg-sync", target)
        serial = 0
        while time.perf_counter() < stop:
            rows = [(f"{number}-{serial + i}", "acc", BODY) for i in range(64)]
            serial += 64
            started = time.perf_counter()
            in_transaction(
                conn,
                lambda c, r: c.executemany("INSERT INTO hot_events VALUES (?, ?, ?)", r),
                rows,
            )
            latencies.append(time.perf_counter() - started)
            committed.append(len(rows))
        conn.raw.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    q = statistics.quantiles(latencies, n=100)
    return (
        f"{sum(committed) / wall:7.0f} events/s  commit of 64 p50 {q[49] * 1e3:6.2f} ms"
        f"  p99 {q[98] * 1e3:6.2f} ms"
    )


# ---------------------------------------------------------------------------------------------
# The stats and change-log bookkeeping on ingest: row triggers vs statement triggers

# The same bookkeeping once per statement, from a transition table (what the design measured
# before main's 0017 moved it into accept_events; Appendix A no longer has an insert trigger).
_STATEMENT_TRIGGER = """
CREATE FUNCTION events_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO event_tallies AS t (account_id, day, direction, status, final_state, shard, n)
    SELECT account_id, floor(received_at / 86400)::bigint, direction, status,
           coalesce(final_state, ''), gethook_shard(), count(*)
    FROM inserted GROUP BY 1, 2, 3, 4, 5
    ON CONFLICT (account_id, day, direction, status, final_state, shard)
    DO UPDATE SET n = t.n + excluded.n;
    INSERT INTO counters AS c (name, shard, value)
    SELECT name, gethook_shard(), count(*) FROM (
        SELECT 'events_processed' AS name FROM inserted
        UNION ALL
        SELECT gethook_finished_counter(final_state) FROM inserted
        WHERE final_state IN ('delivered', 'dead_letter')
    ) AS bumps GROUP BY name
    ON CONFLICT (name, shard) DO UPDATE SET value = c.value + excluded.value;
    INSERT INTO changes (account_id, kind, subject_id, source_id, direction, event_type,
                         status, created_at)
    SELECT account_id, 'event.received', id, source_id, direction, event_type, status,
           created_at
    FROM inserted ORDER BY id;
    RETURN NULL;
END $$;
CREATE TRIGGER events_inserted AFTER INSERT ON events REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION events_inserted();
"""

# SQLite's 0002/0010 insert triggers ported one for one (per row), to compare with
# ``_STATEMENT_TRIGGER`` and with no insert trigger (Appendix A since 0017).
_ROW_TRIGGER = """
CREATE FUNCTION events_inserted_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM gethook_tally(NEW.account_id, NEW.received_at, NEW.direction, NEW.status,
                          NEW.final_state, 1);
    PERFORM gethook_count('events_processed', 1);
    IF NEW.final_state IN ('delivered', 'dead_letter') THEN
        PERFORM gethook_count(gethook_finished_counter(NEW.final_state), 1);
    END IF;
    INSERT INTO changes (account_id, kind, subject_id, source_id, direction, event_type,
                         status, created_at)
    VALUES (NEW.account_id, 'event.received', NEW.id, NEW.source_id, NEW.direction,
            NEW.event_type, NEW.status, NEW.created_at);
    RETURN NULL;
END $$;
CREATE TRIGGER events_inserted_row AFTER INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION events_inserted_row();
INSERT INTO accounts VALUES ('acc', 'a', NULL, NULL, 30, 0);
INSERT INTO sources (id, account_id, name, path_token, created_at)
    VALUES ('src', 'acc', 's', 't', 0);
INSERT INTO destinations (id, account_id, name, url, signing_secret_enc, created_at, updated_at)
    VALUES ('dst', 'acc', 'd', 'http://127.0.0.1', 'x', 0, 0);
INSERT INTO routes (id, account_id, source_id, destination_id, retry_policy, created_at)
    VALUES ('rte', 'acc', 'src', 'dst', '{}', 0);
"""
_TYPES = ["text"] * 9 + ["bytea"] + ["text"] * 4 + ["float8"] * 2
_UNNEST_EVENTS = (
    f"INSERT INTO events ({', '.join(EVENT_COLUMNS)})"
    f" SELECT * FROM unnest({', '.join(f'?::{t}[]' for t in _TYPES)})"
)
_UNNEST_DELIVERIES = (
    "INSERT INTO deliveries (event_id, account_id, destination_id, route_id, status,"
    " attempts_count, next_attempt_at, created_at)"
    " SELECT e, 'acc', 'dst', 'rte', 'pending', 0, t, t FROM unnest(?::text[], ?::float8[])"
    " AS u(e, t)"
)


def _appendix_schema() -> str:
    """The SQL block of docs/design/postgresql.md's Appendix A (the schema under test)."""
    doc = (Path(__file__).parent.parent / "docs/design/postgresql.md").read_text()
    appendix = doc[doc.index("## Appendix A") :]
    return appendix.split("```sql\n", 1)[1].split("```", 1)[0]


def accept_events_unnest(conn: Any, rows: list[tuple[Any, ...]]) -> None:
    """accept_events for PostgreSQL: one statement per table for the whole batch."""
    conn.execute(_UNNEST_EVENTS, [list(column) for column in zip(*rows, strict=True)])
    conn.execute(_UNNEST_DELIVERIES, ([r[0] for r in rows], [r[14] for r in rows]))


def _ingest_rows(serial: int) -> list[tuple[Any, ...]]:
    rows = []
    for n in range(serial, serial + 64):
        row = list(_event_row(n))
        row[3] = "src"
        rows.append(tuple(row))
    return rows


def _trigger_cost(url: str, seconds: float, rounds: int) -> list[str]:
    """One writer, batches of 64: the server CPU per event of each way of keeping the
    tallies, counters and change log, on the Appendix A schema."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS appendix CASCADE")
        conn.execute("CREATE SCHEMA appendix")
    schema_url = url + ("&" if "?" in url else "?") + "options=-csearch_path%3Dappendix"
    admin = psycopg.connect(schema_url, autocommit=True)
    admin.execute(_appendix_schema())
    admin.execute(_STATEMENT_TRIGGER)
    admin.execute(_ROW_TRIGGER)
    conn, pid = _pg_sync_connect(schema_url)
    modes: dict[str, tuple[Callable[[Any, list[tuple[Any, ...]]], None], str | None]] = {
        "row triggers, executemany": (accept_events, "events_inserted_row"),
        "statement triggers, unnest": (accept_events_unnest, "events_inserted"),
        "no triggers, executemany": (accept_events, None),
        "no triggers, unnest": (accept_events_unnest, None),
    }
    serial = 0
    figures: dict[str, list[tuple[float, float, float]]] = {}
    for _ in range(rounds):
        for mode, (accept, trigger) in modes.items():
            admin.execute("ALTER TABLE events DISABLE TRIGGER USER")
            admin.execute(
                f"ALTER TABLE deliveries {'ENABLE' if trigger else 'DISABLE'} TRIGGER USER"
            )
            if trigger:
                admin.execute(f"ALTER TABLE events ENABLE TRIGGER {trigger}")
            events = 0
            with Meter([pid]) as meter:
                while meter.elapsed() < seconds:
                    in_transaction(conn, accept, _ingest_rows(serial))
                    serial += 64
                    events += 64
            figures.setdefault(mode, []).append(
                (events / meter.wall, meter.client / events * 1e6, meter.server / events * 1e6)
            )
    counts = admin.execute(
        "SELECT (SELECT sum(value)::bigint FROM counters WHERE name = 'events_processed'),"
        " (SELECT count(*) FROM changes), (SELECT sum(n)::bigint FROM event_tallies)"
    ).fetchone()
    conn.raw.close()
    admin.execute("DROP SCHEMA appendix CASCADE")
    admin.close()
    lines = [
        f"{mode:28} {statistics.median(f[0] for f in runs):6.0f} events/s"
        f"  client {statistics.median(f[1] for f in runs):5.1f} µs/event"
        f"  server {statistics.median(f[2] for f in runs):6.1f} µs/event"
        for mode, runs in figures.items()
    ]
    lines.append(f"check (counter, change rows, tally sum; equal when right): {counts}")
    return lines


# ---------------------------------------------------------------------------------------------
# Set-up, rounds, report


def _admin(url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(url, autocommit=True)


def _check_local(url: str) -> None:
    host = urlsplit(url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"refusing a non-local PostgreSQL host: {host!r}")


def _create_schemas(target: Target) -> None:
    with psycopg.connect(target.pg_url, autocommit=True) as conn:
        conn.execute(_SCHEMA.format(**_PG_TYPES))
    sqlite = sqlite3.connect(target.sqlite_path)
    sqlite.execute("PRAGMA journal_mode = WAL")
    sqlite.executescript(_SCHEMA.format(**_SQLITE_TYPES))
    sqlite.close()


def _reset(target: Target) -> None:
    """Empty the tables and queue QUEUE_ROWS due deliveries (not measured)."""
    rows = [_event_row(n) for n in range(QUEUE_ROWS)]
    for driver in ("sqlite", "psycopg-sync"):
        conn, _ = _sync_connect(driver, target)
        in_transaction(conn, _empty)
        in_transaction(conn, accept_events, rows)
        if driver == "sqlite":
            conn.close()
        else:
            conn.raw.execute("VACUUM ANALYZE")
            conn.raw.close()


def _empty(conn: Any) -> None:
    for table in ("attempts", "deliveries", "events"):
        conn.execute(f"DELETE FROM {table}")


def _fmt(samples: list[Sample]) -> str:
    """Median over rounds: rows/s, client and server CPU µs per row, latency p50/p99 ms."""

    def median(values: Iterable[float]) -> float:
        return statistics.median(list(values))

    rate = median(s.rows / s.wall for s in samples)
    rates = sorted(s.rows / s.wall for s in samples)
    client = median(s.client_cpu / s.rows * 1e6 for s in samples)
    server = median(s.server_cpu / s.rows * 1e6 for s in samples)
    lat = [x for s in samples for x in s.latencies]
    p50, p99 = (statistics.quantiles(lat, n=100)[i] * 1e3 for i in (49, 98))
    batch = median(s.rows / s.batches for s in samples if s.batches) if samples[0].batches else 0
    extra = f"  batch≈{batch:5.0f}" if batch else ""
    return (
        f"{rate:9.0f} rows/s [{rates[0]:.0f}..{rates[-1]:.0f}]  client {client:6.1f} µs/row"
        f"  server {server:6.1f} µs/row  p50 {p50:7.2f} ms  p99 {p99:7.2f} ms{extra}"
    )


async def _main(args: argparse.Namespace) -> None:
    _check_local(args.url)
    scratch = urlsplit(args.url)._replace(path=f"/{args.scratch}").geturl()
    with _admin(args.url) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {args.scratch}")
        admin.execute(
            f"CREATE DATABASE {args.scratch} TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'"
        )
    results: dict[tuple[str, str], list[Sample]] = {}
    notify: dict[str, list[float]] = {}
    contention: list[tuple[str, str]] = []
    hot: list[tuple[str, str]] = []
    triggers: list[str] = []
    try:
        with tempfile.TemporaryDirectory() as folder:
            target = Target(scratch, Path(folder) / "bench.db")
            _create_schemas(target)
            drivers = [d for d in DRIVERS if d in args.drivers]
            for number in range(args.rounds):
                order = drivers[:] if number % 2 == 0 else drivers[::-1]
                if args.shuffle:
                    random.shuffle(order)
                for driver in order:
                    _reset(target)
                    claimed, recorded = await _claim_and_record(
                        driver, target, QUEUE_ROWS // CLAIM_LIMIT
                    )
                    results.setdefault(("claim", driver), []).append(claimed)
                    results.setdefault(("outcomes", driver), []).append(recorded)
                    ingest = await _ingest(driver, target, args.seconds)
                    results.setdefault(("ingest", driver), []).append(ingest)
                    print(
                        f"round {number + 1} {driver:14} ingest {ingest.rows / ingest.wall:7.0f}/s"
                        f"  claim {claimed.rows / claimed.wall:7.0f}/s"
                        f"  outcomes {recorded.rows / recorded.wall:7.0f}/s",
                        flush=True,
                    )
                for kind in ("asyncpg", "psycopg-async"):
                    notify.setdefault(kind, []).extend(
                        await _notify_round_trips(scratch, kind, args.notifies)
                    )
            if args.claimers:
                _reset(target)
                for serialized in (False, True, False, True):
                    line = _contention(target, serialized, args.claimers, args.seconds, cap=8)
                    contention.append(("advisory lock" if serialized else "SKIP LOCKED only", line))
            if args.trigger_rounds:
                triggers = _trigger_cost(scratch, args.seconds, args.trigger_rounds)
            if args.writers:
                for sharded in (False, True, False, True):
                    line = _hot_rows(target, sharded, args.writers, args.seconds)
                    hot.append(("8 shards" if sharded else "one row", line))
    finally:
        with _admin(args.url) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {args.scratch} WITH (FORCE)")
    print(f"\nmedian of {args.rounds} rounds [min..max rows/s]; latency p50/p99 over all rounds")
    for workload in ("ingest", "claim", "outcomes"):
        print(f"\n{workload}:")
        for driver in DRIVERS:
            if (workload, driver) in results:
                print(f"  {driver:14} {_fmt(results[(workload, driver)])}")
    if notify:
        print("\nNOTIFY commit -> listener woken:")
    for kind, values in notify.items():
        q = statistics.quantiles(values, n=100)
        print(f"  {kind:14} p50 {q[49] * 1e3:.3f} ms  p99 {q[98] * 1e3:.3f} ms  (n={len(values)})")
    if contention:
        print(f"\n{args.claimers} claimers, 8 destinations, cap 8 per destination, 5 ms attempts:")
        for mode, line in contention:
            print(f"  {mode:17} {line}")
    if triggers:
        print("\none writer, batches of 64, stats + change-log bookkeeping (median of rounds):")
        for line in triggers:
            print(f"  {line}")
    if hot:
        print(f"\n{args.writers} writers, 64 events per commit, a counter bumped per event:")
        for mode, line in hot:
            print(f"  {mode:17} {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--scratch", default=SCRATCH_DB, help="the database created and dropped")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0, help="per ingest run")
    parser.add_argument("--notifies", type=int, default=200, help="per listener kind per round")
    parser.add_argument("--drivers", nargs="+", default=list(DRIVERS), choices=DRIVERS)
    parser.add_argument("--claimers", type=int, default=4, help="0: skip the cap test")
    parser.add_argument("--writers", type=int, default=4, help="0: skip the hot-row test")
    parser.add_argument(
        "--trigger-rounds", type=int, default=2, help="0: skip the trigger-cost test"
    )
    parser.add_argument("--shuffle", action="store_true", help="random driver order per round")
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
