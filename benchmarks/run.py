"""GetHook Lite benchmark: ceilings, ingest, delivery, mixed load and a 1M-event database.

    python benchmarks/run.py [--quick] [--only ingest,delivery,mixed,scale] [--profile]

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
    create_account,
    memory_kb,
    percentile,
    wait_until,
    wire,
)
from loadgen import make_body

PHASES = ("ingest", "delivery", "mixed", "scale")
CONNECTIONS = 64
TARGET_MIXED_RATE = 2000


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

    @classmethod
    def make(cls, quick: bool, scale_events: int | None) -> Plan:
        plan = cls(quick=quick)
        if quick:
            plan.run_seconds, plan.rounds = 5.0, 2
            plan.delivery_events, plan.ceiling_deliveries = 10_000, 5_000
            plan.latency_seconds = 5.0
            plan.mixed_seconds, plan.mixed_steps = 10.0, 4
            plan.scale_events, plan.query_reps = 200_000, 7
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
    to_arrival = sorted((first[i] - received[i]) * 1000 for i in ids if i in received)
    to_pickup = sorted((started[i] - received[i]) * 1000 for i in ids if i in started)

    def stats(values: list[float]) -> dict:
        return {
            "n": len(values),
            "p50_ms": round(percentile(values, 0.5), 2) if values else None,
            "p99_ms": round(percentile(values, 0.99), 2) if values else None,
            "max_ms": round(values[-1], 2) if values else None,
        }

    return {"ingest_to_arrival": stats(to_arrival), "ingest_to_attempt_start": stats(to_pickup)}


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


# ---------------------------------------------------------------- 5: at scale


def phase_scale(bench: Bench) -> dict:
    plan = bench.plan
    work = bench.work
    bench.log("scale: building the template database through the real API")
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

    empty_dir, big_dir = work / "scale-empty", work / "scale-big"
    harness.copy_data_dir(template.data_dir, empty_dir)
    harness.copy_data_dir(template.data_dir, big_dir)
    bench.log(f"scale: writing {plan.scale_events} events into a copy (server stopped)")
    seeded = seed_db.seed(str(big_dir / "gethook.db"), plan.scale_events)
    sample_id = sqlite_first_id(big_dir / "gethook.db")
    seeded["id_shape_ok"] = len(sample_id) == len(real_id) and sample_id[:4] == real_id[:4]
    bench.log(f"scale: seeded in {seeded['seconds']} s, {seeded['bytes'] / 1e6:.0f} MB")

    empty = Gateway(bench.procs, empty_dir, work, "gethook-scale-empty").start()
    big = Gateway(bench.procs, big_dir, work, "gethook-scale-big").start()
    result: dict = {"events": plan.scale_events, "seed": seeded}
    result["startup_seconds"] = {"empty": empty.startup_seconds, "big": big.startup_seconds}
    result["memory_kb_idle"] = {"empty": memory_kb(empty.pid), "big": memory_kb(big.pid)}
    source_b = second["source_id"]
    queries = {
        "events_first_page": "/v1/events?limit=50",
        "events_filtered": f"/v1/events?limit=50&status=delivered&source_id={source_b}",
        "events_filtered_rare": f"/v1/events?limit=50&status=dead_letter&source_id={source_b}",
        "stats": "/v1/stats",
    }
    result["queries"] = {}
    for label, gateway in (("big", big), ("empty", empty)):
        client = Api(gateway.url, api.key)
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
    parser.add_argument("--quick", action="store_true", help="shorter, smaller (about 4 min)")
    parser.add_argument("--only", default=",".join(PHASES), help="comma-separated phases")
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
