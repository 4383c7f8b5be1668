"""Where a real gateway's CPU goes, per thread: per ingested request or per delivery.

Run by hand (127.0.0.1 only). A fresh ``gethook serve`` (the gethook_lite on PYTHONPATH, so
two checkouts can be compared run by run) and, for ``drain`` and ``--routed``, the raw
receiver. Each thread's CPU time (user + system, from /proc) is read around the measured part:

- ``ingest``: 64 connections POST 1 KB bodies for ``--seconds`` (wrk if installed, else
  loadgen.py) to a source with no route (``--routed``: routed to the receiver, delivering
  meanwhile); figures per accepted request.
- ``drain``: the receiver holds its requests while ``--events`` are ingested (the backlog
  stays queued), then releases them; figures per delivery over the drain, until no delivery
  is open.

The event loop's thread and the database writer share one GIL: when their sum nears one core,
that is what bounds the gateway, whatever the other core does.

    python benchmarks/thread_cost.py ingest [--routed] [--seconds 8]
    python benchmarks/thread_cost.py drain [--events 10000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import harness
import load

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CONNECTIONS = 64


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds per thread: the event loop runs on the main thread (its id is the pid);
    Python's thread names do not reach the OS, so the others go by id (the busiest of them
    is the database writer)."""
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        name = "event loop (main thread)" if task.name == str(pid) else f"thread {task.name}"
        found[name] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return found


def report(before: dict[str, float], after: dict[str, float], seconds: float, count: int) -> None:
    total = 0.0
    for thread, cpu in sorted(after.items()):
        spent = cpu - before.get(thread, 0.0)
        total += spent
        if spent > 0.01 * seconds:
            print(f"  {thread:32} {100 * spent / seconds:5.1f} % of a core"
                  f"  {1e6 * spent / count:7.1f} µs each")  # fmt: skip
    print(f"  {'process':32} {100 * total / seconds:5.1f} % of a core  {1e6 * total / count:7.1f}"
          " µs each")  # fmt: skip


def measure_ingest(procs: harness.Procs, work: Path, routed: bool, seconds: float) -> None:
    receiver = harness.ReceiverProcess(procs, work) if routed else None
    gateway = harness.Gateway(procs, work / "data", work, "gateway").start()
    api = harness.create_account(gateway.url)
    wired = harness.wire(api, receiver.url if receiver else None, "threads")
    url = f"{gateway.url}/ingest/{wired['token']}"
    body = work / "body.json"
    body.write_text('{"data": "' + "x" * 1000 + '"}')

    def run(duration: float) -> dict:
        if load.have_wrk():
            return load.run_wrk(url, duration, CONNECTIONS, body)
        return load.run_loadgen(url, duration=duration, connections=CONNECTIONS)

    run(2)  # warm-up
    before, started = thread_cpu(gateway.pid), time.monotonic()
    result = run(seconds)
    after, elapsed = thread_cpu(gateway.pid), time.monotonic() - started
    print(f"ingest{' (routed)' if routed else ''}: {result['ok_rps']:,.0f} rps")
    report(before, after, elapsed, max(1, result["ok"]))


def measure_drain(procs: harness.Procs, work: Path, events: int) -> None:
    receiver = harness.ReceiverProcess(procs, work)
    gateway = harness.Gateway(procs, work / "data", work, "gateway").start()
    api = harness.create_account(gateway.url)
    wired = harness.wire(api, receiver.url, "threads", timeout_seconds=120)
    db = harness.ReadOnlyDb(gateway.db_path)
    receiver.control("hold")
    url = f"{gateway.url}/ingest/{wired['token']}"
    load.run_loadgen(url, duration=120, connections=CONNECTIONS, count=events)
    before, started = thread_cpu(gateway.pid), time.monotonic()
    receiver.control("release")
    harness.wait_until(lambda: db.open_deliveries() == 0, timeout=300, interval=0.05)
    after, elapsed = thread_cpu(gateway.pid), time.monotonic() - started
    db.close()
    print(f"drain: {events:,} in {elapsed:.2f} s = {events / elapsed:,.0f} deliveries/s")
    report(before, after, elapsed, events)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("phase", choices=["ingest", "drain"])
    parser.add_argument("--routed", action="store_true", help="ingest: routed, delivering")
    parser.add_argument("--seconds", type=float, default=8.0, help="ingest: load duration")
    parser.add_argument("--events", type=int, default=10_000, help="drain: backlog size")
    args = parser.parse_args()
    procs = harness.Procs()
    try:
        with tempfile.TemporaryDirectory() as folder:
            if args.phase == "ingest":
                measure_ingest(procs, Path(folder), args.routed, args.seconds)
            else:
                measure_drain(procs, Path(folder), args.events)
    finally:
        procs.stop_all()


if __name__ == "__main__":
    main()
