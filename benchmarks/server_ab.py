"""A/B of a real ``gethook serve`` on ingest: requests/s and the server's CPU per request.

Run by hand (127.0.0.1 only). Each variant is a gethook_lite checkout (PYTHONPATH) and an
optional ``sys.setswitchinterval`` for the server process; rounds alternate the variants.
Each run starts a fresh gateway on an empty data directory, wires one source (no route, or
routed to the raw receiver with ``--routed``), runs ``loadgen.py`` (64 connections, 1 KB
bodies) and reads the server's CPU time (user + system, from /proc) around the load. CPU per
202 moves much less than requests/s when other processes share the machine.

    python benchmarks/server_ab.py --variant base=/tmp/base --variant this=. \\
        --variant this-1ms=.:0.001 --rounds 3 [--routed] [--duration 8]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import harness

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
WRAPPER = """
import os, runpy, sys
sys.setswitchinterval(float(os.environ["BENCH_SWITCH_INTERVAL"]))
sys.argv[0] = "gethook"
runpy.run_module("gethook_lite", run_name="__main__")
"""


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def _run(variant: str, routed: bool, duration: float, work: Path) -> dict:
    path, _, interval = variant.partition(":")
    os.environ["PYTHONPATH"] = str(Path(path).resolve())
    wrapper = work / "wrapper.py"
    wrapper.write_text(WRAPPER)
    if interval:
        os.environ["BENCH_SWITCH_INTERVAL"] = interval
        harness.SERVER_COMMAND[:] = [harness.PYTHON, str(wrapper)]
    else:
        harness.SERVER_COMMAND[:] = []
    procs = harness.Procs()
    try:
        receiver = None
        if routed:
            receiver = harness.ReceiverProcess(procs, work)
        with tempfile.TemporaryDirectory(dir=work) as data:
            gateway = harness.Gateway(procs, Path(data), work, "gateway").start()
            api = harness.create_account(gateway.url)
            wired = harness.wire(api, receiver.url if receiver else None, "ab")
            before = _cpu_seconds(gateway.pid)
            out = subprocess.run(
                [harness.PYTHON, str(harness.HERE / "loadgen.py"),
                 f"{gateway.url}/ingest/{wired['token']}", "--duration", str(duration),
                 "--connections", "64"],
                capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
            cpu = _cpu_seconds(gateway.pid) - before
            gateway.stop()
        load = json.loads(out)
        accepted = load["statuses"].get("202", 0)
        return {
            "rps": load["ok_rps"],
            "cpu_us": 1e6 * cpu / max(accepted, 1),
            "p99_ms": load.get("p99_ms"),
        }
    finally:
        procs.stop_all()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--variant", action="append", required=True, help="NAME=PATH[:INTERVAL]")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--routed", action="store_true")
    args = parser.parse_args()
    variants = dict(v.split("=", 1) for v in args.variant)
    runs: dict[str, list[dict]] = {name: [] for name in variants}
    with tempfile.TemporaryDirectory() as folder:
        for number in range(args.rounds):
            names = list(variants) if number % 2 == 0 else list(reversed(variants))
            for name in names:
                result = _run(variants[name], args.routed, args.duration, Path(folder))
                runs[name].append(result)
                print(name, json.dumps(result), file=sys.stderr)
    for name, results in runs.items():
        rps = [r["rps"] for r in results]
        cpu = [r["cpu_us"] for r in results]
        print(
            f"{name:12} {statistics.median(rps):7,.0f} rps (min {min(rps):,.0f}, max"
            f" {max(rps):,.0f}); server CPU {statistics.median(cpu):6.0f} µs per 202"
            f" (min {min(cpu):.0f}, max {max(cpu):.0f})"
        )


if __name__ == "__main__":
    main()
