"""PostgreSQL mode: 1, 2 and 4 ``gethook serve`` processes sharing one database, next to one
process on SQLite measured in the same run (issue 19).

    python benchmarks/cluster.py [--processes 1,2,4] [--seconds 10] [--drain-seconds 30]
        [--postgres postgresql://postgres@127.0.0.1:5432/postgres] [--no-sqlite]

Run by hand, never as a test. All traffic goes to 127.0.0.1. Each configuration gets new data
directories (and, on PostgreSQL, a new database named ``gethook_bench_…``, dropped after it),
one account and one source routed to the cheap receiver (benchmarks/receiver.py). A short
warm-up, then closed-loop ingest of 1 KB events for ``--seconds`` over 64 connections split
evenly over the processes (one load client per process, started together), then the drain
(at most ``--drain-seconds``) until no delivery is open. Figures per configuration:

- ingest: 202s per second over the load run, p50/p99; every 202 must have its event committed
  (at most the requests cut off by the load's stop may be committed without their 202 read);
- delivered/s: success attempts of the run's events over the time from the load's start to
  the last success's ``finished_at``; backlog when the load stopped, drain time;
- CPU per delivered event (µs): the gateways' processes, and on PostgreSQL the server
  backends connected to the run's database (from /proc; the WAL writer, checkpointer and
  autovacuum are not counted, as they serve every database of the server).

The last lines estimate what 4 machines would do from the measured CPU per event. Only one
benchmark runs at a time on a machine (the lock of benchmarks/run.py).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import harness
import load
from harness import Gateway, Procs, ReadOnlyDb, ReceiverProcess, create_account, wait_until, wire
from run import machine

CONNECTIONS = 64
WARM_UP_SECONDS = 2.0
IDLE_SECONDS = 5.0
# How often the statements running in the database are sampled during a run (PostgreSQL).
SAMPLE_INTERVAL_SECONDS = 0.05
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a process so far, or None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # After the command name: state is field 3; utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_SECOND


class CpuMeter:
    """CPU spent by a changing set of processes between ``start`` and ``stop``: a process that
    appears in between counts whole (it was born inside the window); one that ends in between
    is lost (counted in ``lost``)."""

    def __init__(self, pids) -> None:
        self.pids = pids  # a callable returning the pids to watch now
        self.before: dict[int, float] = {}
        self.lost = 0

    def start(self) -> None:
        self.before = {pid: cpu for pid in self.pids() if (cpu := cpu_seconds(pid)) is not None}

    def stop(self) -> float:
        spent = 0.0
        now = {pid: cpu for pid in self.pids() if (cpu := cpu_seconds(pid)) is not None}
        for pid, cpu in now.items():
            spent += cpu - self.before.get(pid, 0.0)
        self.lost = len(set(self.before) - set(now))
        return spent


# ---------------------------------------------------------------- storage of one configuration


class SqliteStore:
    """One gateway's SQLite file, read-only."""

    dialect = "sqlite"

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.db: ReadOnlyDb | None = None

    def settings(self) -> dict[str, str]:
        return {}

    def open(self) -> None:
        self.db = ReadOnlyDb(self.gateway.db_path)

    def scalar(self, sql: str, *params) -> object:
        assert self.db is not None
        return self.db.scalar(sql, *params)

    def backend_pids(self) -> list[int]:
        return []

    def close(self) -> None:
        if self.db is not None:
            self.db.close()


class PostgresStore:
    """A new database on the given server, for one configuration; dropped by ``close``."""

    dialect = "postgresql"

    def __init__(self, server_url: str) -> None:
        import psycopg
        from cryptography.fernet import Fernet

        self.server_url = server_url
        self.name = f"gethook_bench_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{self.name}"')
        self.url = urlunsplit(urlsplit(server_url)._replace(path=f"/{self.name}"))
        # Every process of a cluster must use the same key.
        self.key = Fernet.generate_key().decode()
        self.conn = None

    def settings(self) -> dict[str, str]:
        return {"GETHOOK_STORAGE_URL": self.url, "GETHOOK_STORAGE_ENCRYPTION_KEY": self.key}

    def open(self) -> None:
        import psycopg

        self.conn = psycopg.connect(self.url, autocommit=True)

    def scalar(self, sql: str, *params) -> object:
        assert self.conn is not None
        return self.conn.execute(sql.replace("?", "%s"), params).fetchone()[0]

    def backend_pids(self) -> list[int]:
        """The server processes serving the gateways' connections to this database."""
        assert self.conn is not None
        rows = self.conn.execute(
            "SELECT pid FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND backend_type = 'client backend'"
        ).fetchall()
        return [row[0] for row in rows]

    def close(self) -> None:
        import psycopg

        if self.conn is not None:
            self.conn.close()
        with psycopg.connect(self.server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


class StatementSampler:
    """Samples what the gateways' backends are running (pg_stat_activity, state active or
    waiting on a lock) every SAMPLE_INTERVAL_SECONDS on its own connection: a poor man's
    profile of where the database's time goes, without pg_stat_statements."""

    def __init__(self, store: PostgresStore) -> None:
        self.url = store.url
        self.counts: dict[str, int] = {}
        self.samples = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.done.wait(SAMPLE_INTERVAL_SECONDS):
                rows = conn.execute(
                    "SELECT wait_event_type, left(regexp_replace(query, '\\s+', ' ', 'g'), 90)"
                    " FROM pg_stat_activity WHERE datname = current_database()"
                    " AND pid <> pg_backend_pid() AND state = 'active'"
                ).fetchall()
                self.samples += 1
                for wait, query in rows:
                    key = f"[{wait or 'cpu'}] {query}"
                    self.counts[key] = self.counts.get(key, 0) + 1

    def stop(self, top: int = 8) -> list[tuple[str, float]]:
        """The statements seen most often: (statement, average backends running it)."""
        self.done.set()
        self.thread.join(timeout=5)
        ranked = sorted(self.counts.items(), key=lambda item: -item[1])[:top]
        return [(query, round(count / max(1, self.samples), 2)) for query, count in ranked]


# ---------------------------------------------------------------- one configuration


@dataclass
class Result:
    backend: str
    processes: int
    ingest: dict = field(default_factory=dict)
    figures: dict = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def open_deliveries(store) -> int:
    return int(
        store.scalar("SELECT count(*) FROM deliveries WHERE status IN ('pending', 'in_flight')")
    )


def successes(store) -> tuple[int, float | None]:
    row_count = store.scalar("SELECT count(*) FROM attempts WHERE outcome = 'success'")
    last = store.scalar("SELECT max(finished_at) FROM attempts WHERE outcome = 'success'")
    return int(row_count), (float(last) if last is not None else None)


def events_of_source(store, source_id: str) -> int:
    return int(store.scalar("SELECT count(*) FROM events WHERE source_id = ?", source_id))


def ingest_together(procs: Procs, urls: list[str], seconds: float) -> dict:
    """Closed-loop load on every URL at once (CONNECTIONS split evenly); the sum of their
    reports. The clients start at the same wall-clock moment."""
    start_at = time.time() + 1.0
    clients = [
        load.start_loadgen(
            procs, url, duration=seconds, connections=max(1, CONNECTIONS // len(urls)),
            start_at=start_at,
        )
        for url in urls
    ]  # fmt: skip
    reports = [load.stop_loadgen(procs, client, early=False) for client in clients]
    elapsed = max(report["seconds"] for report in reports)
    ok = sum(report["ok"] for report in reports)
    return {
        "start_at": start_at,
        "requests": sum(report["requests"] for report in reports),
        "ok": ok,
        "seconds": elapsed,
        "ok_rps": round(ok / elapsed, 1) if elapsed else 0.0,
        # Per client; the worst of them (each saw a share of the load).
        "p50_ms": max(report["p50_ms"] or 0 for report in reports),
        "p99_ms": max(report["p99_ms"] or 0 for report in reports),
        "statuses": [report.get("statuses") for report in reports],
    }


def measure(
    procs: Procs, work: Path, receiver: ReceiverProcess, args, processes: int, postgres: bool
) -> Result:
    backend = "postgresql" if postgres else "sqlite"
    result = Result(backend, processes)
    label = f"{backend}-{processes}"
    log(f"{label}: starting {processes} gateway(s)")
    home = work / label
    home.mkdir()
    store = PostgresStore(args.postgres) if postgres else None
    settings = store.settings() if store else {}
    gateways = [
        Gateway(procs, home / f"data-{n}", home, f"gateway-{n}", settings) for n in range(processes)
    ]
    try:
        # One after the other: the first start migrates the database.
        for gateway in gateways:
            gateway.start()
        store = store or SqliteStore(gateways[0])
        store.open()
        api = create_account(gateways[0].url)
        routed = wire(api, receiver.url, "cluster")
        urls = [f"{gateway.url}/ingest/{routed['token']}" for gateway in gateways]
        result.figures.update(measure_idle(store, gateways))
        log(f"{label}: warm-up")
        ingest_together(procs, urls, WARM_UP_SECONDS)
        wait_until(lambda: open_deliveries(store) == 0, timeout=args.drain_seconds, interval=0.2)
        result.figures.update(measure_run(procs, store, gateways, urls, routed, args))
    # A configuration that fails is reported in the table; the run goes on with the next.
    except Exception as exc:
        result.errors.append(f"{type(exc).__name__}: {exc}"[:500])
    finally:
        for gateway in gateways:
            result.errors.extend(error_lines(gateway.log))
            gateway.stop()
        if store is not None:
            store.close()
    log(f"{label}: {json.dumps(result.figures)}")
    if result.errors:
        log(f"{label}: errors: {result.errors[:3]}")
    return result


def measure_idle(store, gateways, seconds: float = IDLE_SECONDS) -> dict:
    """CPU (% of one core) the gateways and their database backends spend with no traffic:
    polling, listeners, leader ticks. It is part of every per-event figure below."""
    gateway_cpu = CpuMeter(lambda: [gateway.pid for gateway in gateways])
    database_cpu = CpuMeter(store.backend_pids)
    gateway_cpu.start()
    database_cpu.start()
    time.sleep(seconds)
    return {
        "idle_gateway_cpu_pct": round(100 * gateway_cpu.stop() / seconds, 1),
        "idle_database_cpu_pct": (
            round(100 * database_cpu.stop() / seconds, 1) if store.dialect == "postgresql" else None
        ),
    }


def measure_run(procs, store, gateways, urls, routed, args) -> dict:
    before_events = events_of_source(store, routed["source_id"])
    before_successes, _ = successes(store)
    gateway_cpu = CpuMeter(lambda: [gateway.pid for gateway in gateways])
    database_cpu = CpuMeter(store.backend_pids)
    sampler = StatementSampler(store) if store.dialect == "postgresql" else None
    gateway_cpu.start()
    database_cpu.start()
    if sampler:
        sampler.start()
    ingest = ingest_together(procs, urls, args.seconds)
    backlog = open_deliveries(store)
    drain_started = time.monotonic()
    drained = wait_until(
        lambda: open_deliveries(store) == 0, timeout=args.drain_seconds, interval=0.2
    )
    drain_seconds = time.monotonic() - drain_started
    gateway_seconds = gateway_cpu.stop()
    database_seconds = database_cpu.stop()
    busiest = sampler.stop() if sampler else []
    time.sleep(0.5)  # requests cut off by the load's stop may still commit
    committed = events_of_source(store, routed["source_id"]) - before_events
    delivered, last_success = successes(store)
    delivered -= before_successes
    span = (last_success - ingest["start_at"]) if last_success else None
    per_event = 1e6 / delivered if delivered else None
    return {
        "ingest_ok_rps": ingest["ok_rps"],
        "ingest_p50_ms": ingest["p50_ms"],
        "ingest_p99_ms": ingest["p99_ms"],
        "accepted": ingest["ok"],
        "non_2xx": ingest["requests"] - ingest["ok"],
        "committed": committed,
        "durable": ingest["ok"] <= committed <= ingest["ok"] + CONNECTIONS,
        "delivered": delivered,
        "delivered_per_s": round(delivered / span, 1) if span and span > 0 else None,
        "backlog_at_stop": backlog,
        "drained": drained,
        "drain_seconds": round(drain_seconds, 1),
        "gateway_cpu_us_per_event": round(gateway_seconds * per_event, 1) if per_event else None,
        "database_cpu_us_per_event": (
            round(database_seconds * per_event, 1)
            if per_event and store.dialect == "postgresql"
            else None
        ),
        "database_backends_lost": database_cpu.lost,
        "busiest_statements": busiest,
    }


def error_lines(log_path: Path, limit: int = 3) -> list[str]:
    """A gateway's distinct ERROR messages (why a configuration failed)."""
    if not log_path.exists():
        return []
    messages = [
        line.split(" ERROR ", 1)[1].strip()[:300]
        for line in log_path.read_text(errors="replace").splitlines()
        if " ERROR " in line
    ]
    return list(dict.fromkeys(messages))[:limit]


# ---------------------------------------------------------------- report


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def table(results: list[Result]) -> str:
    sqlite = next((r for r in results if r.backend == "sqlite" and r.figures.get("accepted")), None)
    head = (
        "| backend | processes | ingest 202/s | non-2xx | vs SQLite | p50 / p99 ms | delivered/s"
        " | vs SQLite | backlog at stop | drained (s) | gateway CPU µs/event"
        " | PostgreSQL CPU µs/event |"
    )
    lines = [head, "|" + "---|" * 12]
    for r in results:
        f = r.figures
        if not f.get("accepted"):
            answered = f"{f['non_2xx']:,} non-2xx, no 202; " if "non_2xx" in f else ""
            lines.append(
                f"| {r.backend} | {r.processes} | failed: {answered}{'; '.join(r.errors[:2])} |"
            )
            continue
        ingest_ratio = ratio(
            f["ingest_ok_rps"], sqlite.figures["ingest_ok_rps"] if sqlite else None
        )
        delivered_ratio = ratio(
            f["delivered_per_s"], sqlite.figures["delivered_per_s"] if sqlite else None
        )
        lines.append(
            f"| {r.backend} | {r.processes} | {f['ingest_ok_rps']:,.0f} | {f['non_2xx']:,} "
            f"| {ingest_ratio} "
            f"| {f['ingest_p50_ms']:.1f} / {f['ingest_p99_ms']:.1f} "
            f"| {fmt(f['delivered_per_s'])} | {delivered_ratio} | {f['backlog_at_stop']:,} "
            f"| {f['drain_seconds']}{'' if f['drained'] else ' (not drained)'} "
            f"| {fmt(f['gateway_cpu_us_per_event'])} | {fmt(f['database_cpu_us_per_event'])} |"
        )
    return "\n".join(lines)


def idle_table(results: list[Result]) -> str:
    """CPU with no traffic (% of one core), measured before each configuration's warm-up."""
    cells = [
        f"{r.backend}-{r.processes}: gateways {r.figures['idle_gateway_cpu_pct']} %"
        + (
            f", database {r.figures['idle_database_cpu_pct']} %"
            if r.figures.get("idle_database_cpu_pct") is not None
            else ""
        )
        for r in results
        if "idle_gateway_cpu_pct" in r.figures
    ]
    return f"idle CPU ({IDLE_SECONDS:.0f} s, % of one core): " + "; ".join(cells)


def fmt(value) -> str:
    return "-" if value is None else f"{value:,.0f}"


def ratio(value, base) -> str:
    return f"{value / base:.2f}x" if value and base else "-"


def estimate(results: list[Result], machines: int = 4, cores: int = 2) -> str:
    """What ``machines`` app machines of ``cores`` cores would deliver, from CPU per event."""
    measured = [
        r for r in results
        if r.backend == "postgresql" and r.figures.get("database_cpu_us_per_event")
        and r.figures.get("drained")
    ]  # fmt: skip
    if not measured:
        return "estimate: no PostgreSQL configuration drained with CPU figures"
    # The most processes measured: the per-event costs of a cluster (claim lock, contention).
    biggest = max(measured, key=lambda r: r.processes)
    app_us = biggest.figures["gateway_cpu_us_per_event"]
    db_us = biggest.figures["database_cpu_us_per_event"]
    per_machine = cores * 1e6 / app_us
    cluster = machines * per_machine
    return (
        f"estimate from the {biggest.processes}-process run: a gateway spends {app_us:,.0f} µs "
        f"of CPU per delivered event, PostgreSQL {db_us:,.0f} µs. One {cores}-core app machine "
        f"with nothing else on it ≈ {per_machine:,.0f} events/s ingested and delivered; "
        f"{machines} machines ≈ {cluster:,.0f} events/s, which needs ≈ "
        f"{cluster * db_us / 1e6:.1f} database cores (one core ≈ {1e6 / db_us:,.0f} events/s)."
    )


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", default="1,2,4", help="PostgreSQL cluster sizes")
    parser.add_argument("--seconds", type=float, default=10.0, help="one ingest run")
    parser.add_argument("--drain-seconds", type=float, default=30.0, help="drain at most")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="a server's URL")
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite baseline")
    parser.add_argument("--out", default=None, help="results JSON (default benchmarks/results/)")
    args = parser.parse_args()
    sizes = [int(n) for n in args.processes.split(",") if n]
    lock = open(Path(tempfile.gettempdir()) / "gethook-bench.lock", "w")  # noqa: SIM115
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        parser.exit(2, "another benchmark run is in progress on this machine; try again later\n")
    work = Path(tempfile.mkdtemp(prefix="gethook-cluster-"))
    procs = Procs()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results: list[Result] = []
    about = machine()
    try:
        receiver = ReceiverProcess(procs, work)
        log(f"work dir {work}; load average {about['loadavg_at_start']}")
        plan = ([] if args.no_sqlite else [(1, False)]) + [(n, True) for n in sizes]
        for processes, postgres in plan:
            receiver.control("reset")
            results.append(measure(procs, work, receiver, args, processes, postgres))
    finally:
        procs.stop_all()
        shutil.rmtree(work, ignore_errors=True)
    results_dir = harness.HERE / "results"
    results_dir.mkdir(exist_ok=True)
    out = (
        Path(args.out)
        if args.out
        else results_dir / f"cluster-{time.strftime('%Y%m%d-%H%M%S')}.json"
    )
    out.write_text(
        json.dumps(
            {"machine": about, "args": vars(args), "results": [r.__dict__ for r in results]},
            indent=2,
            default=str,
        )
    )
    print()
    print(
        f"machine: {about['nproc']} CPUs ({about['cpu']}), load average at start "
        f"{', '.join(f'{x:.1f}' for x in about['loadavg_at_start'])}; load client, receiver, "
        "gateways and PostgreSQL on the same machine"
    )
    print(table(results))
    print(idle_table(results))
    print(estimate(results))
    for r in results:
        for query, average in r.figures.get("busiest_statements") or []:
            print(f"  {r.backend}-{r.processes}: {average:5.2f} backends  {query}")
    print(f"\nfull results: {out}")


if __name__ == "__main__":
    main()
