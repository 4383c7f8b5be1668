"""The writer thread's cost per event, for A/B tests of storage changes (run by hand).

``python benchmarks/writer_cost.py`` writes a fixed workload through the real writer (group
commit, synchronous=FULL) and prints, as JSON, for each phase: events/s (wall clock) and the
CPU time the writer thread spent per event (its own thread clock: what other processes on a
busy machine do barely moves it, unlike the wall clock).

Phases: ``ingest`` (accept_events, 64 concurrent callers, no route), ``routed`` (the same with
one route each: a pending delivery per event), ``deliver`` (the routed events' deliveries
claimed 64 at a time and their successful attempts recorded, as the scheduler does), and,
only when named in WRITER_COST_PHASES, ``mixed`` (routed ingest and the deliver loop at once,
with how long each side's writes wait: p50/p99 of an ingest write and of a claim).

``python benchmarks/writer_cost.py --ab /tmp/base --rounds 5`` runs the workload in fresh
processes alternately against the gethook_lite found in /tmp/base (e.g. ``git archive HEAD |
tar -x -C /tmp/base``) and against this checkout's, and prints each side's medians.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

# WRITER_COST_EVENTS=500 WRITER_COST_PHASES=routed: a smaller, partial run, e.g. to count
# instructions under ``valgrind --tool=callgrind`` (load-independent; subtract a run without
# the phase you want from one with it).
EVENTS = int(os.environ.get("WRITER_COST_EVENTS", "4000"))
PHASES = os.environ.get("WRITER_COST_PHASES", "ingest,routed,deliver").split(",")
CONCURRENCY = 64
CLAIM_BATCH = 64


def _setup(conn) -> None:
    conn.execute(
        "INSERT INTO accounts (id, name, retention_days, created_at) VALUES ('a', 'a', 30, 0)"
    )
    for source in ("s", "r", "m"):
        conn.execute(
            "INSERT INTO sources (id, account_id, name, path_token, created_at)"
            " VALUES (?, 'a', ?, ?, 0)",
            (source, source, source),
        )
    conn.execute(
        "INSERT INTO destinations (id, account_id, name, url, signing_secret_enc, created_at,"
        " updated_at) VALUES ('d', 'a', 'd', 'http://127.0.0.1:9/', 'x', 0, 0)"
    )
    for source in ("r", "m"):
        conn.execute(
            "INSERT INTO routes (id, account_id, source_id, destination_id, retry_policy,"
            " created_at) VALUES (?, 'a', ?, 'd', '{}', 0)",
            ("rt" + source, source),
        )


def _event(source: str) -> dict:
    from gethook_lite.ids import new_id

    now = time.time()
    return {
        "id": new_id("evt"), "account_id": "a", "direction": "inbound", "source_id": source,
        "event_type": "charge.succeeded", "external_event_id": None, "payload_hash": "x",
        "content_type": "application/json", "headers": "{}", "body": b"x" * 1024,
        "created_by": "ingest", "replay_of": None, "received_at": now, "created_at": now,
    }  # fmt: skip


def _writer_clock() -> int:
    writer = next(t for t in threading.enumerate() if t.name == "gethook-db-writer")
    assert writer.ident is not None
    return time.pthread_getcpuclockid(writer.ident)


class _Meter:
    def __init__(self, clock: int) -> None:
        self.clock = clock

    def __enter__(self) -> _Meter:
        self.wall = time.perf_counter()
        self.cpu = time.clock_gettime(self.clock)
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.clock_gettime(self.clock) - self.cpu

    def figures(self, events: int) -> dict:
        return {"rps": events / self.wall, "cpu_us": 1e6 * self.cpu / events}


async def _ingest(db, source: str, routes: list, waits: list[float] | None = None) -> None:
    from gethook_lite.db.ingest import accept_events

    queue = [_event(source) for _ in range(EVENTS)]

    async def worker() -> None:
        while queue:
            begun = time.perf_counter()
            await db.write_many(accept_events, (queue.pop(), routes))
            if waits is not None:
                waits.append(time.perf_counter() - begun)

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


async def _deliver(db, waits: list[float] | None = None, until=None) -> int:
    """Claim and record until nothing is due (and ``until`` is done, if given)."""
    from gethook_lite.db.claim_order import ClaimLimits
    from gethook_lite.db.deliveries import claim_due, record_attempts

    done = 0
    while True:
        now = time.time()
        begun = time.perf_counter()
        # As the scheduler claims: a lease need not survive a crash.
        claims = await db.write_ephemeral(
            claim_due, now, CLAIM_BATCH, ClaimLimits(10**6, 10**6), 30.0
        )
        if waits is not None:
            waits.append(time.perf_counter() - begun)
        if not claims and (until is None or until.done()):
            return done
        if not claims:
            await asyncio.sleep(0.001)
            continue
        outcomes = [(claim, _success(claim, now), "succeeded", None) for claim in claims]
        await db.write(record_attempts, outcomes)
        done += len(claims)


async def _mixed(db, route: dict) -> tuple[int, dict]:
    """Routed ingest (64 writers) and the deliver loop at once: how long each side's writes
    wait when they share the writer."""
    ingest_waits: list[float] = []
    claim_waits: list[float] = []
    ingesting = asyncio.ensure_future(_ingest(db, "m", [{**route, "id": "rtm"}], ingest_waits))
    delivered = await _deliver(db, claim_waits, until=ingesting)
    await ingesting
    return delivered, {
        "ingest_p50_ms": 1e3 * _quantile(ingest_waits, 0.5),
        "ingest_p99_ms": 1e3 * _quantile(ingest_waits, 0.99),
        "claim_p50_ms": 1e3 * _quantile(claim_waits, 0.5),
        "claim_p99_ms": 1e3 * _quantile(claim_waits, 0.99),
    }


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _success(claim, now: float) -> dict:
    return {
        "event_id": claim.event_id, "delivery_id": claim.delivery_id,
        "destination_id": claim.destination_id, "attempt_number": claim.attempts_count + 1,
        "started_at": now, "finished_at": now, "response_status": 200, "response_body": "ok",
        "latency_ms": 1.0, "outcome": "success",
    }  # fmt: skip


async def measure() -> dict:
    from gethook_lite.db import Database

    with tempfile.TemporaryDirectory() as folder:
        db = Database(Path(folder) / "bench.db")
        await db.open()
        await db.write(_setup)
        clock = _writer_clock()
        route = {"id": "rtr", "destination_id": "d"}
        results = {}
        if "ingest" in PHASES:
            with _Meter(clock) as meter:
                await _ingest(db, "s", [])
            results["ingest"] = meter.figures(EVENTS)
        if "routed" in PHASES or "deliver" in PHASES:
            with _Meter(clock) as meter:
                await _ingest(db, "r", [route])
            results["routed"] = meter.figures(EVENTS)
        if "deliver" in PHASES:
            with _Meter(clock) as meter:
                delivered = await _deliver(db)
            assert delivered == EVENTS, delivered
            results["deliver"] = meter.figures(EVENTS)
        if "mixed" in PHASES:
            with _Meter(clock) as meter:
                delivered, waits = await _mixed(db, route)
            assert delivered == EVENTS, delivered
            results["mixed"] = {**meter.figures(EVENTS), **waits}
        await db.close()
    return results


def _run(pythonpath: str) -> dict:
    env = {**os.environ, "PYTHONPATH": pythonpath}
    out = subprocess.run(
        [sys.executable, __file__], env=env, check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out)


def ab(base: str, rounds: int, other: str | None = None) -> None:
    here = str(Path(__file__).resolve().parent.parent)
    sides = {"A (base)": base, "B (this)": other or here}
    runs: dict[str, list[dict]] = {name: [] for name in sides}
    for number in range(rounds):
        order = list(sides) if number % 2 == 0 else list(reversed(sides))
        for name in order:
            runs[name].append(_run(sides[name]))
    for phase in runs["A (base)"][0]:
        for name, results in runs.items():
            cpu = [r[phase]["cpu_us"] for r in results]
            rps = [r[phase]["rps"] for r in results]
            extra = {
                key: statistics.median(r[phase][key] for r in results)
                for key in results[0][phase]
                if key not in ("cpu_us", "rps")
            }
            print(
                f"{phase:8} {name}: writer CPU {statistics.median(cpu):6.1f} µs/event"
                f" (min {min(cpu):.1f}, max {max(cpu):.1f}),"
                f" {statistics.median(rps):7,.0f} events/s"
                f" (min {min(rps):,.0f}, max {max(rps):,.0f})"
                + "".join(f", {key} {value:.1f}" for key, value in extra.items())
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ab", metavar="BASE", help="A/B against the gethook_lite in BASE")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--b", metavar="OTHER", help="B side: the gethook_lite in OTHER")
    args = parser.parse_args()
    if args.ab:
        ab(args.ab, args.rounds, args.b)
    else:
        print(json.dumps(asyncio.run(measure())))


if __name__ == "__main__":
    main()
