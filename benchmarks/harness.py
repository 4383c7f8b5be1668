"""The benchmark's plumbing: child processes, the REST API, read-only looks at the database.

Every process started here is remembered and ended (by its own pid) when the run ends; every
wait has a deadline.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PYTHON = sys.executable
SERVER_COMMAND: list[str] = []  # empty: `python -m gethook_lite`
SERVER_ENV: dict[str, str] = {}  # GETHOOK_* settings for the gateways (run.py --server-env)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Procs:
    """The child processes of this run; ``stop_all`` ends each of them by its pid."""

    def __init__(self) -> None:
        self.children: list[subprocess.Popen] = []

    def start(self, argv: list[str], **kwargs) -> subprocess.Popen:
        process = subprocess.Popen(argv, **kwargs)
        self.children.append(process)
        return process

    def stop(self, process: subprocess.Popen, timeout: float = 15.0) -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if process in self.children:
            self.children.remove(process)

    def stop_all(self) -> None:
        for process in reversed(list(self.children)):
            self.stop(process)


def wait_ready(
    url: str,
    process: subprocess.Popen,
    log: Path,
    timeout: float = 60.0,
    interval: float = 0.05,
    started: float | None = None,
) -> float:
    """Poll GET url until 200; return the seconds it took (from ``started``, default now)."""
    started = time.monotonic() if started is None else started
    host, port = url.split("//")[1].split("/")[0].split(":")
    path = "/" + url.split("//")[1].split("/", 1)[1]
    while time.monotonic() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"{url} process exited early:\n{log.read_text()[-3000:]}")
        try:
            conn = http.client.HTTPConnection(host, int(port), timeout=1)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                return time.monotonic() - started
        except OSError:
            pass
        finally:
            conn.close()
        time.sleep(interval)
    raise RuntimeError(f"{url} did not become ready in {timeout} s:\n{log.read_text()[-3000:]}")


def clean_env(settings: dict[str, str] | None = None) -> dict[str, str]:
    # Defaults, as a user gets them: no GETHOOK_* setting leaks in from the caller's shell,
    # except those given on purpose with --server-env, and a phase's own ``settings``.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GETHOOK_")}
    env.update(SERVER_ENV)
    env.update(settings or {})
    return env


class Gateway:
    """A real ``gethook serve`` on its own data directory and port."""

    def __init__(
        self,
        procs: Procs,
        data_dir: Path,
        work: Path,
        name: str,
        settings: dict[str, str] | None = None,
    ) -> None:
        self.procs = procs
        self.data_dir = data_dir
        self.work = work
        self.name = name
        self.settings = settings or {}  # GETHOOK_* variables this gateway runs with
        self.port = 0
        self.process: subprocess.Popen | None = None
        self.log = work / f"{name}.log"
        self.startup_seconds = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "gethook.db"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, poll_interval: float = 0.05) -> Gateway:
        """Start and wait for ``/readyz``; ``startup_seconds`` counts from just before the
        process is created (the interpreter's start-up and imports included)."""
        self.port = free_port()
        # SERVER_COMMAND may be replaced (run.py --server-wrapper) to A/B a prototype fix.
        command = SERVER_COMMAND or [PYTHON, "-m", "gethook_lite"]
        started = time.monotonic()
        with self.log.open("ab") as log:
            self.process = self.procs.start(
                [*command, "serve", "--host", "127.0.0.1",
                 "--port", str(self.port), "--data-dir", str(self.data_dir)],
                cwd=self.work, env=clean_env(self.settings), stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        self.startup_seconds = wait_ready(
            f"{self.url}/readyz", self.process, self.log, interval=poll_interval, started=started
        )
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.procs.stop(self.process)
            self.process = None


class BareApp:
    """The HTTP ceiling (benchmarks/bare_app.py)."""

    def __init__(self, procs: Procs, work: Path) -> None:
        self.port = free_port()
        self.log = work / "bare_app.log"
        with self.log.open("ab") as log:
            self.process = procs.start(
                [PYTHON, str(HERE / "bare_app.py"), "--port", str(self.port)],
                cwd=work, env=clean_env(), stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        wait_ready(f"http://127.0.0.1:{self.port}/readyz", self.process, self.log)

    @property
    def ingest_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/ingest/bare-token"


class ReceiverProcess:
    """The cheap receiver (benchmarks/receiver.py) and its control requests."""

    def __init__(self, procs: Procs, work: Path) -> None:
        self.log = work / "receiver.log"
        self.process = procs.start(
            [PYTHON, str(HERE / "receiver.py")],
            cwd=work, stdout=subprocess.PIPE, stderr=self.log.open("ab"), text=True,
        )  # fmt: skip
        line = self.process.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"receiver did not start: {line!r}")
        self.port = int(line.split()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def path_url(self, name: str) -> str:
        """A URL of its own (``/hook/NAME``): the records tell the destinations apart."""
        return f"{self.url}/{name}"

    def control(self, command: str) -> dict:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("GET", f"/_control/{command}")
            return json.loads(conn.getresponse().read())
        finally:
            conn.close()

    def dump(self, path: Path) -> list[tuple[str, float]]:
        """The requests received since the last dump or reset: (webhook-id, arrival time)."""
        return [(webhook_id, at) for webhook_id, at, _ in self.dump_with_paths(path)]

    def dump_with_paths(self, path: Path) -> list[tuple[str, float, str]]:
        """Like ``dump``, with each request's path (``/hook/NAME``)."""
        self.control(f"dump?path={path}")
        records = []
        with path.open() as lines:
            for line in lines:
                webhook_id, at, target = line.rstrip("\n").split("\t")
                records.append((webhook_id, float(at), target))
        return records


class Api:
    """A keep-alive JSON client for the gateway's REST API (also used to time requests)."""

    def __init__(self, base_url: str, key: str | None = None) -> None:
        host, port = base_url.split("//")[1].split(":")
        self.host, self.port = host, int(port)
        self.key = key
        self.conn: http.client.HTTPConnection | None = None

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict | None]:
        headers = {"content-type": "application/json"}
        if self.key:
            headers["authorization"] = f"Bearer {self.key}"
        payload = json.dumps(body).encode() if body is not None else None
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
            try:
                self.conn.request(method, path, body=payload, headers=headers)
                response = self.conn.getresponse()
                raw = response.read()
                break
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None  # the server closed an idle keep-alive connection: redial
                if attempt:
                    raise
        try:
            decoded = json.loads(raw) if raw else None
        except ValueError:
            decoded = None
        return response.status, decoded

    def ok(self, method: str, path: str, body: dict | None = None) -> dict:
        status, answer = self.call(method, path, body)
        if status >= 300:
            raise RuntimeError(f"{method} {path} answered {status}: {answer}")
        return answer["data"] if answer else {}

    def timed(self, path: str, reps: int, budget_s: float) -> dict:
        """Time ``reps`` GETs of ``path`` (at most ``budget_s`` seconds); the first is cold."""
        samples, status = [], None
        started = time.monotonic()
        for _ in range(reps):
            begun = time.perf_counter()
            status, _ = self.call("GET", path)
            samples.append((time.perf_counter() - begun) * 1000)
            if time.monotonic() - started > budget_s:
                break
        warm = sorted(samples[1:]) or samples
        return {
            "status": status,
            "cold_ms": round(samples[0], 2),
            "p50_ms": round(warm[len(warm) // 2], 2),
            "max_ms": round(warm[-1], 2),
            "n": len(samples),
        }


def create_account(base_url: str) -> Api:
    answer = Api(base_url).ok("POST", "/v1/accounts", {"name": "bench"})
    return Api(base_url, answer["api_key"]["key"])


def wire(
    api: Api,
    receiver_url: str | None,
    name: str,
    timeout_seconds: int = 30,
    retry_policy: dict | None = None,
) -> dict:
    """A source (auth_mode none), and when a receiver is given a destination and a route."""
    source = api.ok("POST", "/v1/sources", {"name": name})
    wired = {"source": source, "token": source["path_token"], "source_id": source["id"]}
    if receiver_url:
        destination_id, route_id = add_route(
            api, source["id"], receiver_url, name, timeout_seconds, retry_policy
        )
        wired.update(destination_id=destination_id, route_id=route_id)
    return wired


def add_route(
    api: Api,
    source_id: str,
    url: str,
    name: str,
    timeout_seconds: int = 30,
    retry_policy: dict | None = None,
) -> tuple[str, str]:
    """A destination for ``url`` and a route to it from the source: (destination, route) ids."""
    destination = api.ok(
        "POST", "/v1/destinations", {"name": name, "url": url, "timeout_seconds": timeout_seconds}
    )
    body: dict = {"source_id": source_id, "destination_id": destination["id"]}
    if retry_policy is not None:
        body["retry_policy"] = retry_policy
    route = api.ok("POST", "/v1/routes", body)
    return destination["id"], route["id"]


class ReadOnlyDb:
    """A read-only look at a gateway's SQLite file (WAL: never blocks the gateway's writer)."""

    def __init__(self, path: Path) -> None:
        # Autocommit: each statement reads the newest commit. (An implicit transaction, which
        # sqlite3 opens before a write even to a TEMP table, would freeze the snapshot.)
        self.conn = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, timeout=10, isolation_level=None
        )

    def scalar(self, sql: str, *params) -> object:
        return self.conn.execute(sql, params).fetchone()[0]

    def events_of_source(self, source_id: str) -> int:
        return self.scalar("SELECT count(*) FROM events WHERE source_id = ?", source_id)

    def open_deliveries(self) -> int:
        return self.scalar(
            "SELECT count(*) FROM deliveries WHERE status IN ('pending', 'in_flight')"
        )

    def received_at(self, event_ids: list[str]) -> dict[str, float]:
        found: dict[str, float] = {}
        for start in range(0, len(event_ids), 900):
            chunk = event_ids[start : start + 900]
            marks = ", ".join("?" * len(chunk))
            rows = self.conn.execute(
                f"SELECT id, received_at FROM events WHERE id IN ({marks})", chunk
            )
            found.update(rows)
        return found

    def first_attempt_started(self, event_ids: list[str]) -> dict[str, float]:
        found: dict[str, float] = {}
        for start in range(0, len(event_ids), 900):
            chunk = event_ids[start : start + 900]
            marks = ", ".join("?" * len(chunk))
            rows = self.conn.execute(
                "SELECT event_id, min(started_at) FROM attempts"
                f" WHERE event_id IN ({marks}) GROUP BY event_id",
                chunk,
            )
            found.update(rows)
        return found

    def close(self) -> None:
        self.conn.close()


def wait_until(predicate, timeout: float, interval: float = 0.1) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds pass; return its last answer."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in kB."""
    found = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(("VmRSS:", "VmHWM:")):
                name, value = line.split(":")
                found[name] = int(value.split()[0])
    return found


def copy_data_dir(source: Path, target: Path) -> None:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("gethook.lock"))


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]
