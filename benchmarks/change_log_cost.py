"""The change log's cost on ingest: accept_events in-process, with and without its triggers.

Run by hand: ``python benchmarks/change_log_cost.py [full|off]``. Each round writes the same events
through the real writer (group commit, synchronous=FULL), once with the change-log triggers
of migration 0010 and once with them dropped, alternating to spread the machine's noise.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from gethook_lite.db import Database
from gethook_lite.db.ingest import accept_events
from gethook_lite.ids import new_id

EVENTS = 4000
CONCURRENCY = 64
ROUNDS = 5
# OFF isolates the CPU the triggers cost from the disk's fsync time (FULL is the default).
SYNCHRONOUS = sys.argv[1].upper() if len(sys.argv) > 1 else "FULL"
TRIGGERS = ("changes_on_event_insert", "changes_on_event_status")


def _setup(conn) -> None:
    conn.execute(
        "INSERT INTO accounts (id, name, retention_days, created_at) VALUES ('a', 'a', 30, 0)"
    )
    conn.execute(
        "INSERT INTO sources (id, account_id, name, path_token, created_at)"
        " VALUES ('s', 'a', 's', 't', 0)"
    )


def _drop_triggers(conn) -> None:
    for name in TRIGGERS:
        conn.execute(f"DROP TRIGGER {name}")


def _event() -> dict:
    now = time.time()
    return {
        "id": new_id("evt"), "account_id": "a", "direction": "inbound", "source_id": "s",
        "event_type": "charge.succeeded", "external_event_id": None, "payload_hash": "x",
        "content_type": "application/json", "headers": "{}", "body": b"x" * 1024,
        "created_by": "ingest", "replay_of": None, "received_at": now, "created_at": now,
    }  # fmt: skip


async def _rate(with_triggers: bool) -> float:
    with tempfile.TemporaryDirectory() as folder:
        db = Database(Path(folder) / "bench.db", synchronous=SYNCHRONOUS)
        await db.open()
        await db.write(_setup)
        if not with_triggers:
            await db.write(_drop_triggers)
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
        for with_triggers in (False, True):
            rates[with_triggers].append(await _rate(with_triggers))
    without, with_ = statistics.median(rates[False]), statistics.median(rates[True])
    print(f"accept_events without change log: {without:,.0f} events/s (median of {ROUNDS})")
    print(f"accept_events with change log:    {with_:,.0f} events/s")
    print(f"cost: {100 * (1 - with_ / without):+.1f} %")


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
