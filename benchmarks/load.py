"""The load generators, each in its own process: wrk (with post.lua) or benchmarks/loadgen.py.

Both report the same shape: requests completed, ``ok`` (2xx), requests/s, latency in ms.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
from pathlib import Path

from harness import HERE, PYTHON, Procs

LOADGEN = str(HERE / "loadgen.py")


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(url: str, duration: float, connections: int, body_file: Path) -> dict:
    """Closed loop: ``connections`` keep-alive connections POST the body back to back."""
    argv = [
        "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--timeout", "10s",
        "-s", str(HERE / "post.lua"), url, "--", str(body_file),
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
    line = next((x for x in done.stdout.splitlines() if x.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed: {done.stdout}\n{done.stderr}")
    raw = json.loads(line.removeprefix("WRK_JSON "))
    seconds = raw["duration_us"] / 1e6
    errors = raw["errors"]
    ok = raw["requests"] - errors["status"]
    return {
        "generator": "wrk",
        "requests": raw["requests"],
        "ok": ok,
        "non_2xx": errors["status"],
        "socket_errors": errors["connect"] + errors["read"] + errors["write"] + errors["timeout"],
        "seconds": round(seconds, 3),
        "rps": round(raw["requests"] / seconds, 1),
        "ok_rps": round(ok / seconds, 1),
        "p50_ms": raw["p50_us"] / 1000,
        "p90_ms": raw["p90_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
    }


def loadgen_argv(
    url: str,
    *,
    duration: float,
    connections: int,
    rate: float | None = None,
    count: int | None = None,
    record: Path | None = None,
    deliver: bool = False,
    timeout: float = 30.0,
    start_at: float | None = None,
) -> list[str]:
    argv = [PYTHON, LOADGEN, url, "--duration", str(duration), "--connections", str(connections)]
    argv += ["--timeout", str(timeout)]
    if rate:
        argv += ["--rate", str(rate)]
    if count is not None:
        argv += ["--count", str(count)]
    if record is not None:
        argv += ["--record", str(record)]
    if deliver:
        argv.append("--deliver")
    if start_at is not None:
        argv += ["--start-at", repr(start_at)]
    return argv


def parse_loadgen(stdout: str) -> dict:
    raw = json.loads(stdout.strip().splitlines()[-1])
    return {
        "generator": "python",
        "requests": raw["requests"],
        "ok": raw["ok"],
        "non_2xx": raw["requests"] - raw["ok"],
        "socket_errors": sum(raw["errors"].values()),
        "seconds": raw["elapsed_s"],
        "rps": raw["rps"],
        "ok_rps": raw["ok_rps"],
        "p50_ms": raw["p50_ms"],
        "p90_ms": raw["p90_ms"],
        "p99_ms": raw["p99_ms"],
        "max_ms": raw["max_ms"],
        "service_p50_ms": raw["service_p50_ms"],
        "service_p99_ms": raw["service_p99_ms"],
        "errors": raw["errors"],
        "statuses": raw["statuses"],
    }


def run_loadgen(url: str, *, duration: float, connections: int, **options) -> dict:
    argv = loadgen_argv(url, duration=duration, connections=connections, **options)
    timeout = duration + options.get("timeout", 30.0) + 60
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"loadgen failed: {done.stderr[-3000:]}")
    return parse_loadgen(done.stdout)


def start_loadgen(procs: Procs, url: str, *, duration: float, connections: int, **options):
    """Start loadgen.py in the background; ``stop_loadgen`` ends it and returns its report."""
    argv = loadgen_argv(url, duration=duration, connections=connections, **options)
    return procs.start(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop_loadgen(procs: Procs, process: subprocess.Popen, early: bool = True) -> dict:
    """Wait for a background loadgen; with ``early`` tell it to stop now (SIGTERM: the
    requests in flight finish, then it reports what it did until then)."""
    if early and process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        output, errors = process.communicate(timeout=120)
    finally:
        procs.stop(process)  # only if it did not end by itself
    if process.returncode != 0:
        raise RuntimeError(f"loadgen failed ({process.returncode}): {errors[-3000:]}")
    return parse_loadgen(output)


def run_closed(
    generator: str, url: str, duration: float, connections: int, body_file: Path
) -> dict:
    """Closed-loop load with the chosen generator (wrk preferred: it costs the CPU least)."""
    if generator == "wrk":
        return run_wrk(url, duration, connections, body_file)
    return run_loadgen(url, duration=duration, connections=connections)
