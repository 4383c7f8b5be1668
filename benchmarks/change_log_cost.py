"""The change log's cost on ingest: accept_events in-process, with and without its rows.

Run by hand: ``python benchmarks/change_log_cost.py [full|off]``. Each round writes the same events
through the real writer (group commit, synchronous=FULL), once logging them as ingest does
(db/changes.log_received, one statement per batch since migration 0017 dropped the per-row
trigger) and once without, alternating to spread the machine's noise.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from gethook_lite.db import Database, ingest
from gethook_lite.db.ingest import accept_events
from gethook_lite.ids import new_id

EVENTS = 4000
CONCURRENCY = 64
ROUNDS = 5
# OFF isolates the CPU the triggers cost from the disk's fsync time (FULL is the default).
SYNCHRONOUS = sys.argv[1].upper() if len(sys.argv) > 1 else "FULL"
LOG_RECEIVED = ingest.log_received


def _setup(conn) -> None:
    conn.execute(
        "INSERT INTO accounts (id, name, retention_days, created_at) VALUES ('a', 'a', 30, 0)"
    )
    conn.execute(
        "INSERT INTO sources (id, account_id, name, path_token, created_at)"
        " VALUES ('s', 'a', 's', 't', 0)"
    )


def _log_nothing(conn, events) -> None:
    pass


def _event() -> dict:
    now = time.time()
    return {
        "id": new_id("evt"), "account_id": "a", "direction": "inbound", "source_id": "s",
        "event_type": "charge.succeeded", "external_event_id": None, "payload_hash": "x",
        "content_type": "application/json", "headers": "{}", "body": b"x" * 1024,
        "created_by": "ingest", "replay_of": None, "received_at": now, "created_at": now,
    }  # fmt: skip


async def _rate(with_log: bool) -> float:
    with tempfile.TemporaryDirectory() as folder:
        db = Database(Path(folder) / "bench.db", synchronous=SYNCHRONOUS)
        await db.open()
        await db.write(_setup)
        ingest.log_received = LOG_RECEIVED if with_log else _log_nothing
        queue = [_event() for _ in range(EVENTS)]

        async def worker() -> None:
            while queue:
                await db.write_many(accept_events, (queue.pop(), []))

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - started
        await db.close()
    return EVENTS / elapsed


async def main() -> None:
    rates: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(ROUNDS):
        for with_log in (False, True):
            rates[with_log].append(await _rate(with_log))
    without, with_ = statistics.median(rates[False]), statistics.median(rates[True])
    print(f"accept_events without change log: {without:,.0f} events/s (median of {ROUNDS})")
    print(f"accept_events with change log:    {with_:,.0f} events/s")
    print(f"cost: {100 * (1 - with_ / without):+.1f} %")


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
