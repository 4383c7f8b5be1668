"""GetHook Lite benchmark: ceilings, ingest, delivery, mixed load, the loads that hurt real
gateways (fan-out, a retry storm, one bad endpoint) and a 1M-event database (start-up, reads).

    python benchmarks/run.py [--quick] [--only ingest,delivery,...] [--profile]

Run by hand, never as a test. All traffic goes to 127.0.0.1; every phase is bounded in count
and time and the run stops by itself. Figures from a shared, noisy machine only mean
something as ratios to the ceilings measured in the same run, so each figure is printed next
to its ceiling and ingest runs alternate with their ceiling (A/B). See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import math
import os
import platform
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median

import harness
import hotspots
import load
import report
import seed_db
from harness import (
    Api,
    BareApp,
    Gateway,
    Procs,
    ReadOnlyDb,
    ReceiverProcess,
    add_route,
    create_account,
    memory_kb,
    percentile,
    wait_until,
    wire,
)
from loadgen import make_body

PHASES = (
    "ingest", "delivery", "mixed", "fanout", "retry_storm", "bad_endpoint", "scale", "startup",
    "reads_under_load",
)  # fmt: skip
CONNECTIONS = 64
TARGET_MIXED_RATE = 2000
FANOUT = 10  # destinations per event in the fan-out and bad-endpoint phases
FANOUT_RATE = 250  # events/s ingested in the fan-out phase: 2,500 deliveries/s asked for
STORM_RETRY_SECONDS = 2.0  # the storm route's fixed retry wait (jitter: 0.8x to 1x)
STORM_INGEST_RATE = 250  # events/s ingested elsewhere while the storm drains
BAD_TIMEOUT_SECONDS = 2  # the hanging destination's timeout
BAD_ENDPOINT_RATE = 50  # events/s in the bad-endpoint runs, x10 destinations
READS_INGEST_RATE = 1000  # events/s ingested while the reads are timed


@dataclass
class Plan:
    """How long and how big each phase is (full mode: about 10 minutes on 2 cores)."""

    quick: bool
    run_seconds: float = 10.0  # one closed-loop ingest run
    rounds: int = 3  # A/B rounds of ceiling vs gateway
    delivery_events: int = 50_000
    ceiling_deliveries: int = 20_000
    latency_seconds: float = 10.0
    latency_rate: float = 100.0
    mixed_seconds: float = 30.0
    mixed_steps: int = 6
    scale_events: int = 1_000_000
    query_reps: int = 15
    fanout_events: int = 5_000
    storm_deliveries: int = 50_000
    bad_endpoint_seconds: float = 20.0
    startup_reps: int = 3
    reads_seconds: float = 20.0

    @classmethod
    def make(cls, quick: bool, scale_events: int | None) -> Plan:
        plan = cls(quick=quick)
        if quick:
            plan.run_seconds, plan.rounds = 5.0, 2
            plan.delivery_events, plan.ceiling_deliveries = 10_000, 5_000
            plan.latency_seconds = 5.0
            plan.mixed_seconds, plan.mixed_steps = 10.0, 4
            plan.scale_events, plan.query_reps = 200_000, 7
            plan.fanout_events, plan.storm_deliveries = 1_000, 10_000
            plan.bad_endpoint_seconds, plan.reads_seconds = 10.0, 10.0
        if scale_events:
            plan.scale_events = scale_events
        return plan


@dataclass
class Bench:
    plan: Plan
    work: Path
    procs: Procs
    generator: str
    profile_dir: Path | None
    body_file: Path = field(init=False)
    receiver: ReceiverProcess = field(init=False)
    delivery_gateway: Gateway | None = None
    delivery_api: Api | None = None
    big: BigDatabase | None = None  # built once, shared by scale, startup, reads_under_load

    def __post_init__(self) -> None:
        self.body_file = self.work / "body.json"
        self.body_file.write_bytes(make_body(1024))
        self.receiver = ReceiverProcess(self.procs, self.work)

    def log(self, message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# ---------------------------------------------------------------- 1a + 2: ceiling and ingest


def phase_ingest(bench: Bench) -> dict:
    plan = bench.plan
    bench.log("ingest: starting the bare Litestar app (HTTP ceiling) and a gateway")
    bare = BareApp(bench.procs, bench.work)
    gateway = Gateway(bench.procs, bench.work / "ingest-data", bench.work, "gethook-ingest")
    gateway.start()
    api = create_account(gateway.url)
    no_route = wire(api, None, "bench-no-route")
    routed = wire(api, bench.receiver.url, "bench-route")
    db = ReadOnlyDb(gateway.db_path)
    targets = {
        "ceiling": (bare.ingest_url, None),
        "no_route": (f"{gateway.url}/ingest/{no_route['token']}", no_route["source_id"]),
        "route": (f"{gateway.url}/ingest/{routed['token']}", routed["source_id"]),
    }

    def drain(budget: float) -> float:
        begun = time.monotonic()
        wait_until(lambda: db.open_deliveries() == 0, timeout=budget, interval=0.2)
        return round(time.monotonic() - begun, 1)

    bench.log("ingest: warm-up")
    for url, _ in targets.values():
        load.run_closed(bench.generator, url, 2, CONNECTIONS, bench.body_file)
    drain(60)
    runs: dict[str, list[dict]] = {name: [] for name in targets}
    for round_number in range(plan.rounds):
        for name, (url, source_id) in targets.items():
            before = db.events_of_source(source_id) if source_id else 0
            result = load.run_closed(
                bench.generator, url, plan.run_seconds, CONNECTIONS, bench.body_file
            )
            if source_id:
                # Requests cut off by the generator's stop may still commit: let them land.
                time.sleep(0.5)
                committed = db.events_of_source(source_id) - before
                result["committed_events"] = committed
                # Every 202 has its event; at most the requests in flight at the cut-off
                # (one per connection) were committed without their 202 being read.
                result["durable"] = result["ok"] <= committed <= result["ok"] + CONNECTIONS
            if name == "route":
                result["backlog_after"] = db.open_deliveries()
                result["drain_seconds"] = drain(120 if not plan.quick else 60)
            runs[name].append(result)
            bench.log(
                f"ingest round {round_number + 1} {name}: {result['ok_rps']:.0f} rps "
                f"p50 {result['p50_ms']:.2f} ms p99 {result['p99_ms']:.2f} ms"
                + (f" committed {result.get('committed_events')}" if source_id else "")
            )
    profile = None
    if bench.profile_dir:
        url, _ = targets["no_route"]
        with hotspots.Recorder(bench.procs, gateway.pid, bench.profile_dir, "ingest-no-route"):
            load.run_closed(bench.generator, url, plan.run_seconds, CONNECTIONS, bench.body_file)
        url, _ = targets["route"]
        with hotspots.Recorder(bench.procs, gateway.pid, bench.profile_dir, "ingest-route"):
            load.run_closed(bench.generator, url, plan.run_seconds, CONNECTIONS, bench.body_file)
            drain(60)
        profile = "see profile-ingest-*.txt"
    summary = {"runs": runs, "generator": bench.generator, "profile": profile}
    for name in targets:
        summary[name] = {
            "ok_rps": median(r["ok_rps"] for r in runs[name]),
            "p50_ms": median(r["p50_ms"] for r in runs[name]),
            "p99_ms": median(r["p99_ms"] for r in runs[name]),
        }
        if name != "ceiling":
            ratios = [
                r["ok_rps"] / c["ok_rps"] for r, c in zip(runs[name], runs["ceiling"], strict=True)
            ]
            summary[name]["ratio"] = median(ratios)
            summary[name]["ratios"] = [round(x, 3) for x in ratios]
            summary[name]["durable"] = all(r["durable"] for r in runs[name])
    summary["memory_kb"] = memory_kb(gateway.pid)
    db.close()
    gateway.stop()
    bench.procs.stop(bare.process)
    return summary


# ---------------------------------------------------------------- 1b + 3: delivery


def delivery_ceiling(bench: Bench) -> dict:
    bench.receiver.control("reset")
    # Warm-up: connections, the receiver's and the client's first allocations.
    load.run_loadgen(bench.receiver.url, duration=30, connections=32, count=2000, deliver=True)
    bench.receiver.control("reset")
    result = load.run_loadgen(
        bench.receiver.url,
        duration=120,
        connections=32,  # the gateway's per-destination concurrency (delivery settings)
        count=bench.plan.ceiling_deliveries,
        deliver=True,
    )
    bench.receiver.control("reset")
    bench.log(f"delivery ceiling: {result['ok_rps']:.0f} deliveries/s (32 connections)")
    return result


def phase_delivery(bench: Bench) -> dict:
    plan = bench.plan
    receiver = bench.receiver
    ceilings = [delivery_ceiling(bench)]
    gateway = Gateway(bench.procs, bench.work / "delivery-data", bench.work, "gethook-delivery")
    gateway.start()
    api = create_account(gateway.url)
    # The longest timeout: the held attempts must outlast the ingest of the whole backlog.
    wired = wire(api, receiver.url, "bench-delivery", timeout_seconds=120)
    ingest_url = f"{gateway.url}/ingest/{wired['token']}"
    db = ReadOnlyDb(gateway.db_path)

    # The backlog: the receiver holds the first attempts (the destination's concurrency is
    # then used up), so every other event stays queued in the database while it is ingested.
    bench.log(f"delivery: ingesting {plan.delivery_events} events while the receiver holds")
    receiver.control("hold")
    ids_file = bench.work / "delivery-ids.txt"
    ingest = load.run_loadgen(
        ingest_url, duration=100, connections=CONNECTIONS, count=plan.delivery_events,
        record=ids_file,
    )  # fmt: skip
    ids = ids_file.read_text().split()
    committed = {row[0] for row in db.conn.execute(
        "SELECT id FROM events WHERE source_id = ?", (wired["source_id"],)
    )}  # fmt: skip
    missing = len(set(ids) - committed)
    held = receiver.control("stats")["held"]
    bench.log(
        f"delivery: {len(ids)} accepted ({ingest['ok_rps']:.0f}/s), {missing} missing in the "
        f"database, {held} attempts held; releasing"
    )
    backlog = db.open_deliveries()
    with contextlib.ExitStack() as stack:
        if bench.profile_dir:
            stack.enter_context(
                hotspots.Recorder(bench.procs, gateway.pid, bench.profile_dir, "delivery")
            )
        released_at = time.time()
        receiver.control("release")
        budget = max(120.0, len(ids) / 200)
        drained = wait_until(lambda: db.open_deliveries() == 0, timeout=budget, interval=0.05)
        recorded_at = time.time()
    records = receiver.dump(bench.work / "delivery-arrivals.tsv")
    after = sorted(at for _, at in records if at >= released_at)
    attempts = dict(
        db.conn.execute(
            "SELECT outcome, count(*) FROM attempts a JOIN events e ON e.id = a.event_id"
            " WHERE e.source_id = ? GROUP BY outcome",
            (wired["source_id"],),
        ).fetchall()
    )
    delivered = db.scalar(
        "SELECT count(*) FROM events WHERE source_id = ? AND status = 'delivered'",
        wired["source_id"],
    )
    drain_seconds = recorded_at - released_at
    result = {
        "events": len(ids),
        "ingest": ingest,
        "missing_in_db": missing,
        "backlog_at_release": backlog,
        "held_at_release": held,
        "drained": drained,
        "drain_seconds": round(drain_seconds, 2),
        "recorded_per_s": round(len(ids) / drain_seconds, 1),
        "arrival_per_s": round(len(after) / (after[-1] - released_at), 1) if after else 0.0,
        "receiver_requests": len(records),
        "receiver_unique_ids": len({webhook_id for webhook_id, _ in records}),
        "attempts_by_outcome": attempts,
        "events_delivered": delivered,
        # Queue wait by construction (the backlog was held): for the record, not a target.
        "backlog_latency": arrival_latency(db, records),
    }
    bench.log(
        f"delivery: drained {len(ids)} in {drain_seconds:.1f} s = {result['recorded_per_s']:.0f}/s"
        f" (attempts {attempts}, delivered {delivered})"
    )
    ceilings.append(delivery_ceiling(bench))
    ceiling = median(c["ok_rps"] for c in ceilings)
    result["ceiling"] = {"ok_rps": ceiling, "runs": ceilings}
    result["ratio"] = result["recorded_per_s"] / ceiling if ceiling else 0.0
    result["latency"] = idle_latency(bench, gateway, db, ingest_url)
    db.close()
    bench.delivery_gateway, bench.delivery_api = gateway, api
    return result


def idle_latency(bench: Bench, gateway: Gateway, db: ReadOnlyDb, ingest_url: str) -> dict:
    """Ingest → arrival at the receiver on an idle gateway: a slow open-loop trickle."""
    plan = bench.plan
    bench.receiver.control("reset")
    ids_file = bench.work / "latency-ids.txt"
    bench.log(f"latency: {plan.latency_rate:.0f} events/s for {plan.latency_seconds:.0f} s")
    sent = load.run_loadgen(
        ingest_url, duration=plan.latency_seconds, connections=4, rate=plan.latency_rate,
        record=ids_file,
    )  # fmt: skip
    wait_until(lambda: db.open_deliveries() == 0, timeout=30, interval=0.1)
    records = bench.receiver.dump(bench.work / "latency-arrivals.tsv")
    return {"sent": sent, **arrival_latency(db, records)}


def arrival_latency(db: ReadOnlyDb, records: list[tuple[str, float]]) -> dict:
    """Per event: received_at (the gateway's clock) → first arrival at the receiver, and
    received_at → the first attempt's started_at (the scheduler's pick-up delay)."""
    first: dict[str, float] = {}
    for webhook_id, at in records:
        first.setdefault(webhook_id, at)
    ids = list(first)
    received = db.received_at(ids)
    started = db.first_attempt_started(ids)
    to_arrival = [(first[i] - received[i]) * 1000 for i in ids if i in received]
    to_pickup = [(started[i] - received[i]) * 1000 for i in ids if i in started]
    return {
        "ingest_to_arrival": latency_stats(to_arrival),
        "ingest_to_attempt_start": latency_stats(to_pickup),
    }


def latency_stats(values: list[float]) -> dict:
    """n, p50, p99 and max of latencies in ms."""
    values = sorted(values)
    return {
        "n": len(values),
        "p50_ms": round(percentile(values, 0.5), 2) if values else None,
        "p99_ms": round(percentile(values, 0.99), 2) if values else None,
        "max_ms": round(values[-1], 2) if values else None,
    }


def path_latency(db: ReadOnlyDb, records: list[tuple[str, float, str]], paths: set[str]) -> dict:
    """received_at → first arrival of each (event, receiver path) pair on ``paths``: with
    fan-out one event arrives once per destination, each on its own path."""
    first: dict[tuple[str, str], float] = {}
    for webhook_id, at, path in records:
        if path in paths:
            first.setdefault((webhook_id, path), at)
    received = db.received_at(list({webhook_id for webhook_id, _ in first}))
    values = [(at - received[i]) * 1000 for (i, _), at in first.items() if i in received]
    return {"pairs": len(first), **latency_stats(values)}


# ---------------------------------------------------------------- 4: mixed


def phase_mixed(bench: Bench) -> dict:
    plan = bench.plan
    gateway, api = bench.delivery_gateway, bench.delivery_api
    if gateway is None:
        gateway = Gateway(bench.procs, bench.work / "mixed-data", bench.work, "gethook-mixed")
        gateway.start()
        api = create_account(gateway.url)
    wired = wire(api, bench.receiver.url, "bench-mixed")
    url = f"{gateway.url}/ingest/{wired['token']}"
    db = ReadOnlyDb(gateway.db_path)
    steps: list[dict] = []

    def step(rate: float) -> bool:
        result = mixed_step(bench, db, url, round(rate))
        steps.append(result)
        return result["sustained"]

    # A few bounded steps: the target first, then up (x1.5) or down (x0.6), then one midpoint.
    rate, budget = float(TARGET_MIXED_RATE), plan.mixed_steps
    ok = step(rate)
    budget -= 1
    factor = 1.5 if ok else 0.6
    while budget > 1:
        rate *= factor
        budget -= 1
        if step(rate) != ok:
            break
    passed = [s["rate"] for s in steps if s["sustained"]]
    failed = [s["rate"] for s in steps if not s["sustained"]]
    if passed and failed and budget > 0:
        low = max(passed)
        high = min((r for r in failed if r > low), default=None)
        if high:
            step(math.sqrt(low * high))
    passed = [s for s in steps if s["sustained"]]
    best = max(passed, key=lambda s: s["rate"]) if passed else None
    db.close()
    gateway.stop()
    bench.delivery_gateway = None
    return {
        "steps": steps,
        "best_rate": best["rate"] if best else 0,
        "best": best,
        "seconds_per_step": plan.mixed_seconds,
    }


def mixed_step(bench: Bench, db: ReadOnlyDb, url: str, rate: int) -> dict:
    """Ingest at ``rate``/s for the step's time while delivering; sample the open queue."""
    seconds = bench.plan.mixed_seconds
    bench.receiver.control("reset")
    ids_file = bench.work / f"mixed-{rate}-ids.txt"
    argv = load.loadgen_argv(
        url, duration=seconds, connections=CONNECTIONS, rate=rate, record=ids_file
    )
    process = bench.procs.start(argv, stdout=subprocess.PIPE, text=True)
    begun = time.monotonic()
    samples = []
    while process.poll() is None and time.monotonic() - begun < seconds + 90:
        samples.append((round(time.monotonic() - begun, 2), db.open_deliveries()))
        time.sleep(0.5)
    output, _ = process.communicate(timeout=90)
    bench.procs.children.remove(process)
    sent = load.parse_loadgen(output)
    drain_begun = time.monotonic()
    drained = wait_until(lambda: db.open_deliveries() == 0, timeout=max(30, seconds * 2))
    drain_seconds = time.monotonic() - drain_begun
    records = bench.receiver.dump(bench.work / f"mixed-{rate}-arrivals.tsv")
    late = [(t, n) for t, n in samples if seconds / 2 <= t <= seconds]
    slope = _slope(late)
    peak_late = max((n for _, n in late), default=0)
    last = [n for t, n in samples if seconds - 2 <= t <= seconds]
    backlog_end = sum(last) / len(last) if last else 0
    sustained = (
        sent["ok_rps"] >= 0.95 * rate
        and sent["non_2xx"] == 0
        and slope <= 0.05 * rate
        and backlog_end <= max(rate, 200)  # at most about one second of traffic waits
    )
    result = {
        "rate": rate,
        "sustained": sustained,
        "achieved_ok_rps": sent["ok_rps"],
        "non_2xx": sent["non_2xx"],
        "ingest_p50_ms": sent["p50_ms"],
        "ingest_p99_ms": sent["p99_ms"],
        "backlog_slope_per_s": round(slope, 1),
        "backlog_peak_second_half": peak_late,
        "backlog_at_end": round(backlog_end),
        "drain_seconds": round(drain_seconds, 1),
        "drained": drained,
        "delivered": len(records),
        "samples": samples,
        **arrival_latency(db, records),
    }
    bench.log(
        f"mixed {rate}/s: achieved {sent['ok_rps']:.0f}/s, backlog slope {slope:.0f}/s, "
        f"peak {peak_late}, arrival p50 {result['ingest_to_arrival']['p50_ms']} ms -> "
        + ("sustained" if sustained else "NOT sustained")
    )
    return result


def _slope(samples: list[tuple[float, int]]) -> float:
    """Least-squares growth of the backlog (deliveries per second)."""
    if len(samples) < 2:
        return 0.0
    mean_t = sum(t for t, _ in samples) / len(samples)
    mean_n = sum(n for _, n in samples) / len(samples)
    spread = sum((t - mean_t) ** 2 for t, _ in samples)
    if not spread:
        return 0.0
    return sum((t - mean_t) * (n - mean_n) for t, n in samples) / spread


# ---------------------------------------------------------------- 6: fan-out


def fan_out(
    api: Api, receiver: ReceiverProcess, name: str, timeouts: list[int]
) -> tuple[dict, list[tuple[str, str]]]:
    """A source routed to ``len(timeouts)`` destinations, each on its own receiver path:
    (wired source, [(destination id, receiver path)])."""
    wired = wire(api, None, name)
    destinations = []
    for number, timeout_seconds in enumerate(timeouts):
        path = f"{name}-{number}"
        destination_id, _ = add_route(
            api, wired["source_id"], receiver.path_url(path), path, timeout_seconds
        )
        destinations.append((destination_id, f"/hook/{path}"))
    return wired, destinations


def source_outcomes(db: ReadOnlyDb, source_id: str, event_ids: list[str] | None = None) -> dict:
    """Per destination: deliveries by status and attempts by outcome, for a source's events
    (or only ``event_ids`` of it)."""
    where, params = "e.source_id = ?", [source_id]
    if event_ids is not None:
        db.conn.execute("CREATE TEMP TABLE IF NOT EXISTS bench_ids (id TEXT PRIMARY KEY)")
        db.conn.execute("DELETE FROM bench_ids")
        db.conn.executemany("INSERT OR IGNORE INTO bench_ids VALUES (?)", [(i,) for i in event_ids])
        where += " AND e.id IN (SELECT id FROM bench_ids)"
    found: dict[str, dict] = {}
    for destination_id, status, count in db.conn.execute(
        "SELECT d.destination_id, d.status, count(*) FROM deliveries d"
        f" JOIN events e ON e.id = d.event_id WHERE {where} GROUP BY 1, 2",
        params,
    ):
        found.setdefault(destination_id, {"deliveries": {}, "attempts": {}})
        found[destination_id]["deliveries"][status] = count
    for destination_id, outcome, count in db.conn.execute(
        "SELECT a.destination_id, a.outcome, count(*) FROM attempts a"
        f" JOIN events e ON e.id = a.event_id WHERE {where} GROUP BY 1, 2",
        params,
    ):
        found.setdefault(destination_id, {"deliveries": {}, "attempts": {}})
        found[destination_id]["attempts"][outcome] = count
    return found


def sample_while(process: subprocess.Popen, sample, interval: float, budget: float) -> list:
    """Call ``sample()`` every ``interval`` s while ``process`` runs (at most ``budget`` s)."""
    begun = time.monotonic()
    samples = []
    while process.poll() is None and time.monotonic() - begun < budget:
        samples.append((round(time.monotonic() - begun, 2), sample()))
        time.sleep(interval)
    return samples


def phase_fanout(bench: Bench) -> dict:
    """N events, each routed to 10 destinations, ingested at a fixed rate while delivering."""
    plan = bench.plan
    receiver = bench.receiver
    gateway = Gateway(bench.procs, bench.work / "fanout-data", bench.work, "gethook-fanout")
    gateway.start()
    api = create_account(gateway.url)
    wired, destinations = fan_out(api, receiver, "fanout", [30] * FANOUT)
    db = ReadOnlyDb(gateway.db_path)
    receiver.control("reset")
    ids_file = bench.work / "fanout-ids.txt"
    events = plan.fanout_events
    bench.log(f"fanout: {events} events at {FANOUT_RATE}/s, each to {FANOUT} destinations")
    process = load.start_loadgen(
        bench.procs, f"{gateway.url}/ingest/{wired['token']}", duration=events / FANOUT_RATE + 30,
        connections=CONNECTIONS, rate=FANOUT_RATE, count=events, record=ids_file,
    )  # fmt: skip
    samples = sample_while(process, db.open_deliveries, 0.5, events / FANOUT_RATE + 60)
    ingest = load.stop_loadgen(bench.procs, process, early=False)
    ids = ids_file.read_text().split()
    expected = len(ids) * FANOUT
    drained = wait_until(
        lambda: db.open_deliveries() == 0, timeout=max(60.0, expected / 200), interval=0.2
    )
    first_received = db.scalar(
        "SELECT min(received_at) FROM events WHERE source_id = ?", wired["source_id"]
    )
    last_success = db.scalar(
        "SELECT max(a.finished_at) FROM attempts a JOIN events e ON e.id = a.event_id"
        " WHERE e.source_id = ? AND a.outcome = 'success'",
        wired["source_id"],
    )
    records = receiver.dump_with_paths(bench.work / "fanout-arrivals.tsv")
    paths = {path for _, path in destinations}
    outcomes = source_outcomes(db, wired["source_id"])
    succeeded = sum(o["deliveries"].get("succeeded", 0) for o in outcomes.values())
    successes = sum(o["attempts"].get("success", 0) for o in outcomes.values())
    committed = db.events_of_source(wired["source_id"])
    delivered = db.scalar(
        "SELECT count(*) FROM events WHERE source_id = ? AND status = 'delivered'",
        wired["source_id"],
    )
    pairs = {(webhook_id, path) for webhook_id, _, path in records if path in paths}
    span = (last_success - first_received) if first_received and last_success else 0.0
    result = {
        "events": len(ids),
        "destinations": FANOUT,
        "ingest": ingest,
        "expected_deliveries": expected,
        "drained": drained,
        "seconds": round(span, 2),
        "deliveries_per_s": round(successes / span, 1) if span else 0.0,
        "backlog_peak": max((n for _, n in samples), default=0),
        "samples": samples,
        "outcomes": outcomes,
        "arrival": path_latency(db, records, paths),
        "complete": (
            drained
            and ingest["non_2xx"] == 0
            and len(ids) == events
            and committed == len(ids)
            and succeeded == expected
            and successes == expected
            and delivered == len(ids)
            and len(pairs) == expected
        ),
        "checks": {
            "committed": committed,
            "deliveries_succeeded": succeeded,
            "success_attempts": successes,
            "events_delivered": delivered,
            "receiver_pairs": len(pairs),
        },
    }
    bench.log(
        f"fanout: {successes} deliveries in {span:.1f} s = {result['deliveries_per_s']:.0f}/s,"
        f" ingest p99 {ingest['p99_ms']} ms, complete {result['complete']}"
    )
    db.close()
    gateway.stop()
    return result


# ---------------------------------------------------------------- 7: retry storm


class Schedule:
    """What the database promised: each pending delivery's next_attempt_at after its k-th
    attempt, sampled while the storm runs (a delivery stays pending for at least 0.8 x the
    retry wait, so a sample every 0.5 s sees nearly every promise).

    A promise is made at the attempt's end plus at least that wait, so one committed since the
    last sample is due after that sample's time (unless its commit lagged by more than the
    wait minus ``OVERLAP``): each sample reads only those, not the whole backlog again. The
    coverage printed says how many retries had their promise seen.
    """

    OVERLAP = 1.0  # seconds

    def __init__(self, db: ReadOnlyDb, destination_id: str) -> None:
        self.db = db
        self.destination_id = destination_id
        self.due: dict[tuple[int, int], float] = {}
        self.moved = 0  # a promise changed (a clock step shifts the schedule): the last counts
        self.samples = 0
        self.seconds = 0.0  # spent sampling: the benchmark's own load on the machine
        self.last = 0.0  # wall-clock time of the last sample

    def sample(self) -> int:
        begun = time.perf_counter()
        now = time.time()
        rows = self.db.conn.execute(
            "SELECT id, attempts_count, next_attempt_at FROM deliveries"
            " WHERE status = 'pending' AND next_attempt_at > ? AND destination_id = ?"
            " AND attempts_count > 0",
            (self.last - self.OVERLAP, self.destination_id),
        ).fetchall()
        self.last = now
        for delivery_id, count, due in rows:
            before = self.due.get((delivery_id, count))
            if before is not None and before != due:
                self.moved += 1
            self.due[(delivery_id, count)] = due
        self.samples += 1
        self.seconds += time.perf_counter() - begun
        return len(rows)


def early_retries(db: ReadOnlyDb, schedule: Schedule, min_wait: float) -> dict:
    """Every retry of the storm's destination against the time it was due. Two checks: the
    sampled next_attempt_at (exact, for the retries whose promise was sampled), and the
    policy's shortest wait after the previous attempt finished (every retry)."""
    rows = db.conn.execute(
        "SELECT delivery_id, attempt_number, started_at, finished_at FROM attempts"
        " WHERE destination_id = ? ORDER BY delivery_id, attempt_number",
        (schedule.destination_id,),
    ).fetchall()
    previous: tuple[int, int, float, float] | None = None
    retries = checked = early_vs_due = early_vs_policy = gaps = 0
    late: list[float] = []  # start minus due time, ms (negative: early)
    slack = 0.001  # REAL rounding of timestamps
    for row in rows:
        delivery_id, number, started_at, _ = row
        if number > 1:
            retries += 1
            if previous is None or previous[0] != delivery_id or previous[1] != number - 1:
                gaps += 1  # an attempt missing in the numbering
            else:
                if started_at < previous[3] + min_wait - slack:
                    early_vs_policy += 1
                due = schedule.due.get((delivery_id, number - 1))
                if due is not None:
                    checked += 1
                    late.append((started_at - due) * 1000)
                    if started_at < due - slack:
                        early_vs_due += 1
        previous = row
    return {
        "attempts": len(rows),
        "retries": retries,
        "checked_against_due": checked,
        "coverage": round(checked / retries, 4) if retries else None,
        "early_vs_due": early_vs_due,
        "early_vs_policy_wait": early_vs_policy,
        "numbering_gaps": gaps,
        "earliest_start_vs_due_ms": round(min(late), 2) if late else None,
        "start_after_due": latency_stats(late),
        "schedule_samples": schedule.samples,
        "schedule_sampling_seconds": round(schedule.seconds, 2),
        "schedule_moved": schedule.moved,
    }


def phase_retry_storm(bench: Bench) -> dict:
    """The receiver answers 503 while N deliveries pile up with failed attempts, then comes
    back: how fast the pile drains, ingest latency meanwhile, no retry early, none stranded."""
    plan = bench.plan
    receiver = bench.receiver
    # The storm measures retries: with the circuit breaker on (the default), the failing
    # destination's circuit opens and its deliveries are held, not retried, until a probe
    # succeeds after the receiver is back (README, Delivery control).
    no_breaker = {"GETHOOK_DELIVERY_CIRCUIT_BREAKER_ENABLED": "false"}
    gateway = Gateway(
        bench.procs, bench.work / "storm-data", bench.work, "gethook-storm", settings=no_breaker
    )
    gateway.start()
    api = create_account(gateway.url)
    policy = {"max_attempts": 50, "backoff": "fixed",
              "initial_interval_seconds": STORM_RETRY_SECONDS,
              "max_interval_seconds": STORM_RETRY_SECONDS}  # fmt: skip
    storm = wire(api, receiver.path_url("storm"), "storm", timeout_seconds=10,
                 retry_policy=policy)  # fmt: skip
    steady = wire(api, None, "storm-steady")
    db = ReadOnlyDb(gateway.db_path)
    schedule = Schedule(db, storm["destination_id"])
    count = plan.storm_deliveries
    receiver.control("reset")
    receiver.control("fail")
    bench.log(f"retry_storm: receiver down (503); ingesting {count} events")
    ids_file = bench.work / "storm-ids.txt"
    process = load.start_loadgen(
        bench.procs, f"{gateway.url}/ingest/{storm['token']}", duration=count / 100 + 30,
        connections=CONNECTIONS, count=count, record=ids_file,
    )  # fmt: skip
    sample_while(process, schedule.sample, 0.5, count / 100 + 60)
    ingest = load.stop_loadgen(bench.procs, process, early=False)
    ids = ids_file.read_text().split()
    ingested_at = time.monotonic()

    def attempted() -> int:
        schedule.sample()
        return db.scalar(
            "SELECT count(*) FROM deliveries WHERE destination_id = ? AND attempts_count > 0",
            storm["destination_id"],
        )

    all_attempted = wait_until(lambda: attempted() >= len(ids), timeout=max(60, count / 100),
                               interval=0.5)  # fmt: skip
    attempted_seconds = time.monotonic() - ingested_at
    down_attempts = db.scalar(
        "SELECT count(*) FROM attempts WHERE destination_id = ?", storm["destination_id"]
    )
    bench.log(
        f"retry_storm: {len(ids)} accepted, every delivery attempted {all_attempted},"
        f" {down_attempts} failed attempts; receiver back up, ingesting {STORM_INGEST_RATE}/s"
    )
    # The steady ingest starts on the second the receiver comes back (the load client's own
    # start-up is over by then), and stops when the storm has drained.
    steady_ids = bench.work / "storm-steady-ids.txt"
    start_at = time.time() + 1.5
    steady_process = load.start_loadgen(
        bench.procs, f"{gateway.url}/ingest/{steady['token']}", duration=600,
        connections=CONNECTIONS, rate=STORM_INGEST_RATE, record=steady_ids, start_at=start_at,
    )  # fmt: skip
    time.sleep(max(0.0, start_at - time.time()))
    recovered_at = time.time()
    receiver.control("recover")

    def open_storm() -> int:
        schedule.sample()
        return db.scalar(
            "SELECT count(*) FROM deliveries WHERE destination_id = ?"
            " AND status IN ('pending', 'in_flight')",
            storm["destination_id"],
        )

    drained = wait_until(lambda: open_storm() == 0, timeout=max(120, count / 50), interval=0.5)
    steady_ingest = load.stop_loadgen(bench.procs, steady_process)
    last_success = db.scalar(
        "SELECT max(finished_at) FROM attempts WHERE destination_id = ? AND outcome = 'success'",
        storm["destination_id"],
    )
    drain_seconds = (last_success or time.time()) - recovered_at
    outcomes = source_outcomes(db, storm["source_id"]).get(storm["destination_id"], {})
    deliveries = outcomes.get("deliveries", {})
    attempts = outcomes.get("attempts", {})
    committed = db.events_of_source(storm["source_id"])
    delivered = db.scalar(
        "SELECT count(*) FROM events WHERE source_id = ? AND status = 'delivered'",
        storm["source_id"],
    )
    steady_committed = db.events_of_source(steady["source_id"])
    timing = early_retries(db, schedule, 0.8 * STORM_RETRY_SECONDS)
    records = receiver.dump(bench.work / "storm-arrivals.tsv")
    failed_answers = receiver.control("stats")["failed"]
    stranded = len(ids) - deliveries.get("succeeded", 0)
    result = {
        "deliveries": len(ids),
        "retry_policy": policy,
        "ingest": ingest,
        "all_attempted_before_recovery": all_attempted,
        "seconds_to_all_attempted_after_ingest": round(attempted_seconds, 1),
        "failed_attempts_while_down": down_attempts,
        "receiver_503s": failed_answers,
        "drained": drained,
        "drain_seconds": round(drain_seconds, 2),
        "drain_per_s": round(len(ids) / drain_seconds, 1) if drain_seconds > 0 else 0.0,
        "steady_ingest": steady_ingest,
        "steady_rate": STORM_INGEST_RATE,
        "deliveries_by_status": deliveries,
        "attempts_by_outcome": attempts,
        "stranded": stranded,
        "timing": timing,
        "receiver_unique_ids": len({webhook_id for webhook_id, _ in records}),
        "checks": {
            "committed": committed,
            "events_delivered": delivered,
            "steady_committed": steady_committed,
        },
    }
    result["complete"] = (
        drained
        and all_attempted
        and ingest["non_2xx"] == 0
        and len(ids) == count
        and committed == len(ids)
        and stranded == 0
        and delivered == len(ids)
        and attempts.get("success", 0) == len(ids)
        and result["receiver_unique_ids"] == len(ids)
        and steady_ingest["ok"] <= steady_committed <= steady_ingest["ok"] + CONNECTIONS
    )
    result["no_early_retry"] = (
        timing["early_vs_due"] == 0
        and timing["early_vs_policy_wait"] == 0
        and timing["numbering_gaps"] == 0
        and timing["retries"] > 0
    )
    bench.log(
        f"retry_storm: drained {len(ids)} in {drain_seconds:.1f} s = {result['drain_per_s']:.0f}/s,"
        f" steady ingest p99 {steady_ingest['p99_ms']} ms; retries {timing['retries']},"
        f" early {timing['early_vs_due']}/{timing['early_vs_policy_wait']}"
        f" (coverage {timing['coverage']}), stranded {stranded}"
    )
    db.close()
    gateway.stop()
    return result


# ---------------------------------------------------------------- 8: one bad endpoint


def phase_bad_endpoint(bench: Bench) -> dict:
    """Nine healthy destinations and one that hangs until its timeout, at a fixed ingest rate:
    the healthy ones' delivery latency against the same run with all ten healthy. A p99 over
    a few seconds is noisy on a shared machine, so the two runs alternate (A/B rounds) and the
    median ratio counts."""
    plan = bench.plan
    receiver = bench.receiver
    gateway = Gateway(bench.procs, bench.work / "bad-data", bench.work, "gethook-bad-endpoint")
    gateway.start()
    api = create_account(gateway.url)
    timeouts = [30] * (FANOUT - 1) + [BAD_TIMEOUT_SECONDS]
    wired, destinations = fan_out(api, receiver, "mixed10", timeouts)
    bad_destination, bad_path = destinations[-1]
    healthy = destinations[:-1]
    db = ReadOnlyDb(gateway.db_path)
    runs: dict[str, list[dict]] = {"all_healthy": [], "one_bad": []}
    for round_number in range(plan.rounds):
        for label in ("all_healthy", "one_bad"):
            if label == "one_bad":
                receiver.control(f"hold?path={bad_path}")
            run = bad_endpoint_run(bench, db, gateway, wired, healthy, f"{label}-{round_number}")
            event_ids = run.pop("event_ids")
            if label == "one_bad":
                # Before the release: the bad one's attempts for this run's events.
                outcomes = source_outcomes(db, wired["source_id"], event_ids)
                attempts = outcomes.get(bad_destination, {}).get("attempts", {})
                held = outcomes.get(bad_destination, {}).get("deliveries", {}).get("held", 0)
                run["bad_destination_attempts"] = {**attempts, "held": held} if held else attempts
                # It really hung: its attempts timed out, or its circuit (opened by earlier
                # timeouts) held its deliveries, and none succeeded while the receiver hung.
                run["bad_really_hung"] = (
                    attempts.get("timeout", 0) > 0 or held > 0
                ) and not attempts.get("success")
                receiver.control("release")
                # False: the next all-healthy run had the bad one's backlog beside it.
                run["bad_backlog_settled"] = settle_bad_destination(api, db, bad_destination)
            runs[label].append(run)
    ratios = []
    for base_run, bad_run in zip(runs["all_healthy"], runs["one_bad"], strict=True):
        base, worse = base_run["healthy_arrival"]["p99_ms"], bad_run["healthy_arrival"]["p99_ms"]
        ratios.append(round(worse / base, 2) if base and worse else None)
    known = [r for r in ratios if r is not None]

    def median_of(label: str, key: str) -> float | None:
        values = [run["healthy_arrival"][key] for run in runs[label]]
        known_values = [v for v in values if v is not None]
        return median(known_values) if known_values else None

    result = {
        "rate": BAD_ENDPOINT_RATE,
        "seconds": plan.bad_endpoint_seconds,
        "rounds": plan.rounds,
        "bad_timeout_seconds": BAD_TIMEOUT_SECONDS,
        "runs": runs,
        "healthy_p99_ms": {label: median_of(label, "p99_ms") for label in runs},
        "healthy_p50_ms": {label: median_of(label, "p50_ms") for label in runs},
        "p99_ratios": ratios,
        "p99_ratio": round(median(known), 2) if len(known) == len(ratios) else None,
        "bad_destination_attempts": [run["bad_destination_attempts"] for run in runs["one_bad"]],
        "bad_really_hung": all(run["bad_really_hung"] for run in runs["one_bad"]),
        "complete": all(run["complete"] for label in runs for run in runs[label]),
    }
    bench.log(f"bad_endpoint: healthy p99 {result['healthy_p99_ms']} ms (median), ratios {ratios}")
    db.close()
    gateway.stop()
    return result


def settle_bad_destination(api: Api, db: ReadOnlyDb, destination_id: str) -> bool:
    """After the release, bring the bad destination back as an operator would (pause, then
    resume: an open circuit probes at once and releases what it held) and let its backlog go
    out, so that the next all-healthy run does not drain it beside the healthy ones (it did:
    their p99 was then 252 ms). Bounded."""
    api.ok("POST", f"/v1/destinations/{destination_id}/pause")
    api.ok("POST", f"/v1/destinations/{destination_id}/resume")
    return wait_until(
        lambda: (
            db.scalar(
                "SELECT count(*) FROM deliveries WHERE destination_id = ?"
                " AND (status IN ('in_flight', 'held')"
                " OR (status = 'pending' AND next_attempt_at <= ?))",
                destination_id,
                time.time() + 10,
            )
            == 0
        ),
        timeout=60,
        interval=0.5,
    )


def bad_endpoint_run(
    bench: Bench, db: ReadOnlyDb, gateway: Gateway, wired: dict, healthy: list, label: str
) -> dict:
    seconds = bench.plan.bad_endpoint_seconds
    receiver = bench.receiver
    receiver.control("reset")
    ids_file = bench.work / f"bad-{label}-ids.txt"
    bench.log(f"bad_endpoint {label}: {BAD_ENDPOINT_RATE} events/s for {seconds:.0f} s")
    ingest = load.run_loadgen(
        f"{gateway.url}/ingest/{wired['token']}", duration=seconds, connections=CONNECTIONS,
        rate=BAD_ENDPOINT_RATE, record=ids_file,
    )  # fmt: skip
    ids = ids_file.read_text().split()
    healthy_ids = [destination_id for destination_id, _ in healthy]
    marks = ", ".join("?" * len(healthy_ids))

    def healthy_open() -> int:
        return db.scalar(
            "SELECT count(*) FROM deliveries WHERE status IN ('pending', 'in_flight')"
            f" AND destination_id IN ({marks})",
            *healthy_ids,
        )

    drained = wait_until(lambda: healthy_open() == 0, timeout=60, interval=0.2)
    records = receiver.dump_with_paths(bench.work / f"bad-{label}-arrivals.tsv")
    outcomes = source_outcomes(db, wired["source_id"], ids)
    succeeded = sum(outcomes.get(d, {}).get("deliveries", {}).get("succeeded", 0)
                    for d in healthy_ids)  # fmt: skip
    arrival = path_latency(db, records, {path for _, path in healthy})
    expected = len(ids) * len(healthy)
    result = {
        "ingest": ingest,
        "events": len(ids),
        "healthy_drained": drained,
        "healthy_succeeded": succeeded,
        "healthy_expected": expected,
        "healthy_arrival": arrival,
        "complete": drained
        and ingest["non_2xx"] == 0
        and succeeded == expected
        and arrival["pairs"] == expected,
        "event_ids": ids,
    }
    bench.log(
        f"bad_endpoint {label}: healthy arrival p50 {arrival['p50_ms']} p99 {arrival['p99_ms']}"
        f" ms, {succeeded}/{expected} healthy deliveries, ingest p99 {ingest['p99_ms']} ms"
    )
    return result


# ---------------------------------------------------------------- 5: at scale


@dataclass
class BigDatabase:
    """The scale template (an account, two routed sources, one ingest-only source and a few
    real events) and a copy of it seeded with N past events: stopped data directories."""

    template_dir: Path
    data_dir: Path
    api_key: str
    routed_a: dict
    routed_b: dict
    ingest_only: dict
    seed: dict

    @property
    def queries(self) -> dict[str, str]:
        source_b = self.routed_b["source_id"]
        return {
            "events_first_page": "/v1/events?limit=50",
            "events_filtered": f"/v1/events?limit=50&status=delivered&source_id={source_b}",
            "events_filtered_rare": (
                f"/v1/events?limit=50&status=dead_letter&source_id={source_b}"
            ),
            "stats": "/v1/stats",
        }


def big_database(bench: Bench) -> BigDatabase:
    """Build the template through the real API and seed a copy of it (once per run)."""
    if bench.big is not None:
        return bench.big
    plan = bench.plan
    work = bench.work
    bench.log("big database: building the template through the real API")
    template = Gateway(bench.procs, work / "scale-template", work, "gethook-scale-template")
    template.start()
    api = create_account(template.url)
    first = wire(api, bench.receiver.url, "scale-a")
    second = wire(api, bench.receiver.url, "scale-b")
    ingest_only = wire(api, None, "scale-ingest")
    load.run_loadgen(
        f"{template.url}/ingest/{first['token']}", duration=20, connections=2, count=20
    )
    template_db = ReadOnlyDb(template.db_path)
    wait_until(lambda: template_db.open_deliveries() == 0, timeout=20)
    real_id = template_db.scalar("SELECT id FROM events LIMIT 1")
    template_db.close()
    template.stop()

    big_dir = work / "scale-big"
    harness.copy_data_dir(template.data_dir, big_dir)
    bench.log(f"big database: writing {plan.scale_events} events into a copy (server stopped)")
    seeded = seed_db.seed(str(big_dir / "gethook.db"), plan.scale_events)
    sample_id = sqlite_first_id(big_dir / "gethook.db")
    seeded["id_shape_ok"] = len(sample_id) == len(real_id) and sample_id[:4] == real_id[:4]
    bench.log(f"big database: seeded in {seeded['seconds']} s, {seeded['bytes'] / 1e6:.0f} MB")
    bench.big = BigDatabase(
        template.data_dir, big_dir, api.key or "", first, second, ingest_only, seeded
    )
    return bench.big


def phase_scale(bench: Bench) -> dict:
    plan = bench.plan
    work = bench.work
    big_db = big_database(bench)
    empty_dir = work / "scale-empty"
    harness.copy_data_dir(big_db.template_dir, empty_dir)
    empty = Gateway(bench.procs, empty_dir, work, "gethook-scale-empty").start()
    big = Gateway(bench.procs, big_db.data_dir, work, "gethook-scale-big").start()
    result: dict = {"events": plan.scale_events, "seed": big_db.seed}
    result["startup_seconds"] = {"empty": empty.startup_seconds, "big": big.startup_seconds}
    result["memory_kb_idle"] = {"empty": memory_kb(empty.pid), "big": memory_kb(big.pid)}
    ingest_only = big_db.ingest_only
    queries = big_db.queries
    result["queries"] = {}
    for label, gateway in (("big", big), ("empty", empty)):
        client = Api(gateway.url, big_db.api_key)
        for name, path in queries.items():
            timing = client.timed(path, plan.query_reps, budget_s=60)
            result["queries"].setdefault(name, {})[label] = timing
            bench.log(f"scale {label} {name}: {timing}")
    runs: dict[str, list[dict]] = {"empty": [], "big": []}
    for _ in range(plan.rounds):
        for label, gateway in (("empty", empty), ("big", big)):
            url = f"{gateway.url}/ingest/{ingest_only['token']}"
            outcome = load.run_closed(
                bench.generator, url, plan.run_seconds, CONNECTIONS, bench.body_file
            )
            runs[label].append(outcome)
            bench.log(f"scale ingest {label}: {outcome['ok_rps']:.0f} rps")
    ratios = [b["ok_rps"] / e["ok_rps"] for b, e in zip(runs["big"], runs["empty"], strict=True)]
    result["ingest"] = {
        "runs": runs,
        "empty_ok_rps": median(r["ok_rps"] for r in runs["empty"]),
        "big_ok_rps": median(r["ok_rps"] for r in runs["big"]),
        "ratio": median(ratios),
        "ratios": [round(x, 3) for x in ratios],
    }
    result["memory_kb_after"] = {"empty": memory_kb(empty.pid), "big": memory_kb(big.pid)}
    empty.stop()
    big.stop()
    return result


def sqlite_first_id(path: Path) -> str:
    db = ReadOnlyDb(path)
    try:
        return db.scalar("SELECT id FROM events ORDER BY id DESC LIMIT 1")
    finally:
        db.close()


# ---------------------------------------------------------------- 9: start-up


def server_command() -> list[str]:
    return harness.SERVER_COMMAND or [harness.PYTHON, "-m", "gethook_lite"]


def has_sink(work: Path) -> bool:
    """The code under test has a `sink` command (`gethook sink --help` exits 0). Run from the
    work directory like the gateways: `python -m` puts the current directory first on the
    path, so from a checkout it would find that checkout's package, not PYTHONPATH's."""
    try:
        done = subprocess.run(
            [*server_command(), "sink", "--help"], capture_output=True, timeout=60,
            cwd=work, env=harness.clean_env(),
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def sink_startup(bench: Bench) -> float:
    """Seconds from `gethook sink --port 0` starting to the JSON line it prints once listening."""
    started = time.monotonic()
    process = bench.procs.start(
        [*server_command(), "sink", "--port", "0"], cwd=bench.work, env=harness.clean_env(),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        deadline = started + 30
        while time.monotonic() < deadline:
            ready, _, _ = select.select([process.stdout], [], [], deadline - time.monotonic())
            if not ready:
                break
            line = process.stdout.readline()
            if not line:
                break  # it exited
            with contextlib.suppress(ValueError):
                if isinstance(json.loads(line), dict):
                    return time.monotonic() - started
        raise RuntimeError("gethook sink printed no JSON line within 30 s")
    finally:
        bench.procs.stop(process)


def phase_startup(bench: Bench) -> dict:
    """Process start to /readyz 200: on a new data directory and on the big database."""
    plan = bench.plan
    work = bench.work
    reps = plan.startup_reps
    empty: list[float] = []
    for number in range(reps):
        gateway = Gateway(
            bench.procs, work / f"startup-empty-{number}", work, f"gethook-startup-empty-{number}"
        )
        empty.append(gateway.start(poll_interval=0.01).startup_seconds)
        gateway.stop()
    bench.log(f"startup: new data directory {[round(x, 3) for x in empty]} s")
    big_db = big_database(bench)
    big: list[float] = []
    events_seen = []
    for _ in range(reps):
        gateway = Gateway(bench.procs, big_db.data_dir, work, "gethook-startup-big")
        big.append(gateway.start(poll_interval=0.01).startup_seconds)
        # Ready means ready to serve what is stored: the seeded events are there.
        totals = Api(gateway.url, big_db.api_key).ok("GET", "/v1/stats")["totals"]
        events_seen.append(totals["total"])
        gateway.stop()
    bench.log(f"startup: {plan.scale_events} events {[round(x, 3) for x in big]} s")
    sink: list[float] | None = None
    if has_sink(work):
        sink = [sink_startup(bench) for _ in range(reps)]
        bench.log(f"startup: gethook sink {[round(x, 3) for x in sink]} s")
    else:
        bench.log("startup: no `gethook sink` command in the code under test")
    return {
        "events": plan.scale_events,
        "empty_seconds": [round(x, 3) for x in empty],
        "empty_median": round(median(empty), 3),
        "big_seconds": [round(x, 3) for x in big],
        "big_median": round(median(big), 3),
        "sink_seconds": [round(x, 3) for x in sink] if sink is not None else None,
        "sink_median": round(median(sink), 3) if sink else None,
        "big_events_seen": events_seen,
        "complete": all(seen >= plan.scale_events for seen in events_seen),
    }


# ---------------------------------------------------------------- 10: reads under load


def phase_reads_under_load(bench: Bench) -> dict:
    """GET /v1/events (first page, a filtered page) on the big database while it ingests."""
    plan = bench.plan
    big_db = big_database(bench)
    gateway = Gateway(bench.procs, big_db.data_dir, bench.work, "gethook-reads").start()
    client = Api(gateway.url, big_db.api_key)
    queries = {name: big_db.queries[name] for name in ("events_first_page", "events_filtered")}
    for path in queries.values():
        client.timed(path, 3, budget_s=30)  # warm: the first read of a cold page is not it
    source_id = big_db.ingest_only["source_id"]
    db = ReadOnlyDb(gateway.db_path)
    before = db.events_of_source(source_id)
    seconds = plan.reads_seconds
    bench.log(f"reads_under_load: ingesting {READS_INGEST_RATE}/s for {seconds:.0f} s, reading")
    start_at = time.time() + 1.5
    process = load.start_loadgen(
        bench.procs, f"{gateway.url}/ingest/{big_db.ingest_only['token']}", duration=seconds,
        connections=CONNECTIONS, rate=READS_INGEST_RATE, start_at=start_at,
    )  # fmt: skip
    time.sleep(max(0.0, start_at - time.time()))
    samples: dict[str, list[float]] = {name: [] for name in queries}
    statuses: dict[str, dict[int, int]] = {name: {} for name in queries}
    short_pages = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        for name, path in queries.items():
            begun = time.perf_counter()
            status, answer = client.call("GET", path)
            samples[name].append((time.perf_counter() - begun) * 1000)
            statuses[name][status] = statuses[name].get(status, 0) + 1
            page = (answer or {}).get("data") or {}
            if status == 200 and len(page.get("items") or []) != 50:
                short_pages += 1  # {"data": {"items": [...], "total": n}}: 50 asked, 50 stored
        time.sleep(0.02)  # a dashboard user, not a second load generator
    ingest = load.stop_loadgen(bench.procs, process, early=False)
    time.sleep(0.5)  # let the last requests' commits land
    committed = db.events_of_source(source_id) - before
    db.close()
    gateway.stop()
    reads = {name: latency_stats(values) for name, values in samples.items()}
    result = {
        "events": plan.scale_events,
        "ingest_rate": READS_INGEST_RATE,
        "ingest": ingest,
        "committed": committed,
        "reads": reads,
        "statuses": statuses,
        "short_pages": short_pages,
        "complete": (
            all(set(found) == {200} for found in statuses.values())
            and short_pages == 0
            and ingest["ok"] <= committed <= ingest["ok"] + CONNECTIONS
        ),
    }
    bench.log(
        "reads_under_load: "
        + ", ".join(f"{n} p50 {r['p50_ms']} p99 {r['p99_ms']} ms" for n, r in reads.items())
        + f"; ingest {ingest['ok_rps']:.0f}/s p99 {ingest['p99_ms']} ms"
    )
    return result


# ---------------------------------------------------------------- main


def machine() -> dict:
    def run(argv: list[str]) -> str:
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            return ""

    meminfo_path = Path("/proc/meminfo")
    meminfo = meminfo_path.read_text().splitlines()[:2] if meminfo_path.exists() else []
    lscpu = [line for line in run(["lscpu"]).splitlines() if line.startswith("Model name")]
    return {
        "nproc": os.cpu_count(),
        "cpu": lscpu[0].split(":", 1)[1].strip() if lscpu else platform.processor(),
        "memory": " ".join(" ".join(line.split()) for line in meminfo),
        "loadavg_at_start": os.getloadavg(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter, smaller (about 6 min)")
    parser.add_argument(
        "--only", default=",".join(PHASES), help=f"comma-separated, of: {','.join(PHASES)}"
    )
    parser.add_argument(
        "--generator", choices=("auto", "wrk", "python"), default="auto",
        help="closed-loop load generator (auto: wrk when installed)",
    )  # fmt: skip
    parser.add_argument("--scale-events", type=int, default=None, help="events in phase scale")
    parser.add_argument("--profile", action="store_true", help="py-spy the gateway (extra runs)")
    parser.add_argument(
        "--server-wrapper", default=None,
        help="run gateways as `python SCRIPT serve …` instead of `python -m gethook_lite` "
        "(to A/B a prototype fix)",
    )  # fmt: skip
    parser.add_argument(
        "--server-env", action="append", default=[], metavar="GETHOOK_KEY=VALUE",
        help="a setting for the gateways (repeatable), e.g. GETHOOK_SERVER_ACCESS_LOG=false",
    )  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--out", default=None, help="results JSON (default benchmarks/results/)")
    args = parser.parse_args()
    phases = [p for p in args.only.split(",") if p]
    unknown = set(phases) - set(PHASES)
    if unknown:
        parser.error(f"unknown phases: {', '.join(sorted(unknown))}")
    generator = args.generator
    if generator == "auto":
        generator = "wrk" if load.have_wrk() else "python"
    elif generator == "wrk" and not load.have_wrk():
        parser.error("wrk is not installed (apt-get install -y wrk)")
    # Two runs on one machine disturb each other's figures: one at a time.
    lock = open(Path(tempfile.gettempdir()) / "gethook-bench.lock", "w")  # noqa: SIM115
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        parser.exit(2, "another benchmark run is in progress on this machine; try again later\n")
    plan = Plan.make(args.quick, args.scale_events)
    if args.server_wrapper:
        harness.SERVER_COMMAND[:] = [harness.PYTHON, str(Path(args.server_wrapper).resolve())]
    for setting in args.server_env:
        key, _, value = setting.partition("=")
        if not key.startswith("GETHOOK_"):
            parser.error(f"--server-env {setting}: must be GETHOOK_…=value")
        harness.SERVER_ENV[key] = value
    results_dir = harness.HERE / "results"
    results_dir.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    profile_dir = None
    if args.profile:
        if not shutil.which("py-spy"):
            parser.error("--profile needs py-spy (pip install py-spy)")
        profile_dir = results_dir / f"profile-{stamp}"
        profile_dir.mkdir()
    work = Path(tempfile.mkdtemp(prefix="gethook-bench-"))
    procs = Procs()
    # A SIGTERM (or Ctrl-C) still ends every child process we started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results: dict = {"mode": "quick" if args.quick else "full", "machine": machine()}
    results["server"] = {"wrapper": args.server_wrapper, "env": dict(harness.SERVER_ENV)}
    results["plan"] = plan.__dict__
    started = time.monotonic()
    try:
        bench = Bench(plan, work, procs, generator, profile_dir)
        bench.log(f"work dir {work}; generator {generator}; phases {', '.join(phases)}")
        for phase in PHASES:
            if phase in phases:
                phase_started = time.monotonic()
                results[phase] = globals()[f"phase_{phase}"](bench)
                results[phase]["phase_seconds"] = round(time.monotonic() - phase_started, 1)
    finally:
        procs.stop_all()
        if args.keep:
            print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    results["total_seconds"] = round(time.monotonic() - started, 1)
    if profile_dir:
        results["profiles"] = hotspots.summarise_all(profile_dir)
    out = Path(args.out) if args.out else results_dir / f"{stamp}.json"
    out.write_text(json.dumps(results, indent=2, default=str))
    print()
    print(report.table(results))
    if profile_dir:
        print(report.profiles(results["profiles"]))
    print(f"\nfull results: {out}")


if __name__ == "__main__":
    main()
