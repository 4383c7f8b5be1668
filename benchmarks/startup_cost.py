"""Start-up cost of the CLI, for A/B tests of start-up changes (run by hand).

``python benchmarks/startup_cost.py`` starts fresh processes and prints, as JSON, the median
over ``--rounds`` of each figure, in wall-clock seconds and in CPU seconds (user + system of
the process itself, read from /proc when the figure is taken: on a busy machine the wall clock
moves with what other processes do, the CPU time barely):

- ``import_app``: ``python -c "import gethook_lite.app"`` to its exit;
- ``help``: ``gethook --help`` to its exit;
- ``serve``: ``gethook serve`` on a new data directory, from the process's creation to the
  first ``/readyz`` 200 (polled every 10 ms, as run.py does);
- ``sink``: ``gethook sink --port 0`` to the JSON line it prints once ready.

``--bytecode`` runs every process with its bytecode cached, as an installed package has it
(pip compiles at install): PYTHONDONTWRITEBYTECODE is dropped and each side gets its own
PYTHONPYCACHEPREFIX, filled by a first, unmeasured run. Without it, a checkout run with
PYTHONDONTWRITEBYTECODE=1 (as on the shared machine) compiles gethook_lite at every start.

``--importtime N`` also prints the N biggest cumulative entries of ``-X importtime`` for
``import gethook_lite.app``.

``python benchmarks/startup_cost.py --ab /tmp/base`` alternates, round by round, between the
gethook_lite found in /tmp/base (e.g. ``git archive main | tar -x -C /tmp/base``) and this
checkout's, and prints each side's medians.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import select
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
TICKS = os.sysconf("SC_CLK_TCK")
FIGURES = ("import_app", "help", "serve", "sink")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


PYCACHE: dict[Path, Path] = {}  # --bytecode: each side's PYTHONPYCACHEPREFIX


def _env(code: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GETHOOK_")}
    env["PYTHONPATH"] = str(code)
    if code in PYCACHE:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE[code])
    return env


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _to_exit(argv: list[str], code: Path) -> tuple[float, float]:
    started = time.monotonic()
    process = subprocess.Popen(
        argv, cwd=code, env=_env(code), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{argv} exited {process.returncode}")
    return time.monotonic() - started, usage.ru_utime + usage.ru_stime


def import_app(code: Path) -> tuple[float, float]:
    return _to_exit([sys.executable, "-c", "import gethook_lite.app"], code)


def help_(code: Path) -> tuple[float, float]:
    return _to_exit([sys.executable, "-m", "gethook_lite", "--help"], code)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(code: Path) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="startup-cost-") as folder:
        port = _free_port()
        argv = [sys.executable, "-m", "gethook_lite", "serve", "--host", "127.0.0.1",
                "--port", str(port), "--data-dir", f"{folder}/data"]  # fmt: skip
        started = time.monotonic()
        process = subprocess.Popen(
            argv, cwd=folder, env=_env(code), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            while time.monotonic() - started < 60:
                if process.poll() is not None:
                    raise RuntimeError("gethook serve exited early")
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                try:
                    connection.request("GET", "/readyz")
                    if connection.getresponse().status == 200:
                        return time.monotonic() - started, _cpu_seconds(process.pid)
                except OSError:
                    pass
                finally:
                    connection.close()
                time.sleep(0.01)
            raise RuntimeError("gethook serve was not ready within 60 s")
        finally:
            _stop(process)


def sink(code: Path) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="startup-cost-") as folder:
        started = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, "-m", "gethook_lite", "sink", "--port", "0"],
            cwd=folder, env=_env(code), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            assert process.stdout is not None
            ready, _, _ = select.select([process.stdout], [], [], 60)
            line = process.stdout.readline() if ready else b""
            if not isinstance(json.loads(line or b"null"), dict):
                raise RuntimeError("gethook sink printed no JSON line")
            return time.monotonic() - started, _cpu_seconds(process.pid)
        finally:
            _stop(process)


MEASURES: dict[str, Callable[[Path], tuple[float, float]]] = {
    "import_app": import_app,
    "help": help_,
    "serve": serve,
    "sink": sink,
}


def importtime(code: Path, top: int) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import gethook_lite.app"],
        env=_env(code), capture_output=True, text=True, check=True,
    )  # fmt: skip
    rows = []
    for line in done.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            rows.append((int(parts[1]), int(parts[0]), parts[2].rstrip()))
    rows.sort(reverse=True)
    return [f"{cum / 1e6:6.3f} s cumulative {own / 1e6:6.3f} s own {name}" for cum, own, name in
            rows[:top]]  # fmt: skip


def _medians(samples: dict[str, list[tuple[float, float]]]) -> dict[str, dict[str, float]]:
    return {
        name: {
            "wall": round(statistics.median(wall for wall, _ in runs), 3),
            "cpu": round(statistics.median(cpu for _, cpu in runs), 3),
        }
        for name, runs in samples.items()
    }


def _measure(
    rounds: int,
    names: list[str],
    sides: dict[str, Path],
    samples: dict[str, dict[str, list[tuple[float, float]]]],
) -> None:
    for _ in range(rounds):
        for side, code in sides.items():
            for name in names:
                samples[side][name].append(MEASURES[name](code))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", default=",".join(FIGURES), help="figures, comma-separated")
    parser.add_argument("--bytecode", action="store_true", help="cached bytecode (see above)")
    parser.add_argument("--importtime", type=int, default=0, metavar="N")
    parser.add_argument("--ab", type=Path, default=None, metavar="BASE_DIR")
    args = parser.parse_args()
    names = [name for name in args.only.split(",") if name]
    sides = {"base": args.ab.resolve(), "this": REPO} if args.ab else {"this": REPO}
    samples = {side: {name: [] for name in names} for side in sides}
    with tempfile.TemporaryDirectory(prefix="startup-cost-pyc-") as pycache:
        if args.bytecode:
            for side, code in sides.items():
                PYCACHE[code] = Path(pycache) / side
                for name in names:
                    MEASURES[name](code)  # fills the cache
        _measure(args.rounds, names, sides, samples)
    result: dict[str, object] = {
        "rounds": args.rounds,
        "bytecode": args.bytecode,
        **{side: _medians(figures) for side, figures in samples.items()},
    }
    if args.importtime:
        result["importtime"] = {side: importtime(code, args.importtime) for side, code in
                                sides.items()}  # fmt: skip
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
