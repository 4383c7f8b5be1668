"""What one claim costs (``db.deliveries.claim_due``), by the shape of the due backlog.

Run by hand: ``python benchmarks/claim_cost.py [calls]`` (default 200 per case). Each case
builds a real migrated SQLite file, then times ``claim_due`` per call, each call in a
transaction rolled back afterwards (every call sees the same queue). A/B two checkouts by
pointing PYTHONPATH at each in turn, e.g.
``PYTHONPATH=/work/main python benchmarks/claim_cost.py``.

Cases (10 light destinations, 3 due deliveries each, over 3 accounts, in every case):
- ``saturated N``: one destination at its concurrency cap with N due deliveries, their due
  times interleaved with the light ones' (the retry storm while its destination is full);
- ``paced N``: the same backlog at a destination with a rate limit and room for 4;
- ``account full N``: the backlog's account at its cap (the destination itself is not);
- ``busy 50000``: the same backlog with free slots (the common case under load);
- ``saturated+busy``: one saturated and one free destination with 50,000 due each;
- ``many light``: 500 destinations with 3 due each, nothing busy.
"""

from __future__ import annotations

import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

from gethook_lite.constants import CLAIM_WINDOW_FACTOR
from gethook_lite.db.claim_order import ClaimLimits, fair_pick
from gethook_lite.db.database import _apply_migrations
from gethook_lite.db.deliveries import _due_candidates, claim_due

CALLS = int(sys.argv[1]) if len(sys.argv) > 1 else 200
NOW = 1_000_000.0
LIMIT = 224  # a 256-slot scheduler with 32 in flight
PER_DESTINATION = 32
PER_ACCOUNT = 64
LIGHT = [f"light{n:02d}" for n in range(10)]


def _database(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    _apply_migrations(conn)
    conn.execute("PRAGMA foreign_keys = OFF")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.row_factory = sqlite3.Row
    return conn


def _destination(conn: sqlite3.Connection, name: str, account: str, rate: int | None) -> None:
    conn.execute(
        "INSERT INTO destinations (id, account_id, name, url, signing_secret_enc, created_at,"
        " updated_at, rate_limit_count, rate_limit_period) VALUES (?, ?, ?, 'http://x', 's',"
        " 0, 0, ?, ?)",
        (name, account, name, rate, 1 if rate else None),
    )
    conn.execute(
        "INSERT INTO routes (id, account_id, destination_id, retry_policy, created_at)"
        " VALUES (?, ?, ?, '{}', 0)",
        (f"r_{name}", account, name),
    )


def _backlog(conn: sqlite3.Connection, destination: str, account: str, count: int) -> None:
    """``count`` due deliveries, due over the last 100 s (interleaved with the light ones)."""
    step = 100.0 / max(count, 1)
    conn.executemany(
        "INSERT INTO deliveries (event_id, account_id, destination_id, route_id, status,"
        " next_attempt_at, created_at) VALUES (?, ?, ?, ?, 'pending', ?, 0)",
        (
            (
                f"evt_{destination}_{n}",
                account,
                destination,
                f"r_{destination}",
                NOW - 100 + n * step,
            )
            for n in range(count)
        ),
    )


def _events(conn: sqlite3.Connection) -> None:
    conn.execute(
        "INSERT INTO events (id, account_id, direction, headers, body, status, created_by,"
        " received_at, created_at) SELECT DISTINCT event_id, account_id, 'inbound', '{}', x'00',"
        " 'queued', 'ingest', 0, 0 FROM deliveries"
    )


def _build(path: Path, backlog: int, big: list[str], light: list[str], rate: int | None):
    conn = _database(path)
    conn.execute("BEGIN")
    for account in ("a0", "a1", "a2", "big"):
        conn.execute(
            "INSERT INTO accounts (id, name, retention_days, created_at) VALUES (?, ?, 30, 0)",
            (account, account),
        )
    for n, name in enumerate(light):
        _destination(conn, name, f"a{n % 3}", None)
        _backlog(conn, name, f"a{n % 3}", 3)
    for name in big:
        _destination(conn, name, "big", rate if name == "storm" else None)
        _backlog(conn, name, "big", backlog)
    _events(conn)
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # as a long-running gateway's file is
    return conn


def _time(conn: sqlite3.Connection, limits: ClaimLimits) -> tuple[float, float, int]:
    """Median µs of the whole claim and of choosing alone (candidates and fair order)."""
    choices = []
    for _ in range(CALLS):
        started = time.perf_counter()
        fair_pick(_due_candidates(conn, NOW, LIMIT * CLAIM_WINDOW_FACTOR, limits), LIMIT, limits)
        choices.append(time.perf_counter() - started)
    claims = []
    taken = 0
    for _ in range(CALLS):
        conn.execute("BEGIN")
        started = time.perf_counter()
        taken = len(claim_due(conn, NOW, LIMIT, limits, 30.0))
        claims.append(time.perf_counter() - started)
        conn.execute("ROLLBACK")
    return statistics.median(claims) * 1e6, statistics.median(choices) * 1e6, taken


def _limits(**fields) -> ClaimLimits:
    return ClaimLimits(per_destination=PER_DESTINATION, per_account=PER_ACCOUNT, **fields)


class Case(NamedTuple):
    name: str
    backlog: int  # due deliveries at each big destination
    big: list[str]  # "storm" (the one at its cap, paced or of a full account), "other"
    light: list[str]
    rate: int | None  # the storm destination's rate limit
    limits: ClaimLimits


def _cases() -> list[Case]:
    full = _limits(busy_destinations={"storm": 32}, busy_accounts={"big": 32})
    paced = _limits(allowances={"storm": 4})
    account_full = _limits(busy_accounts={"big": PER_ACCOUNT})
    many = [f"light{n:03d}" for n in range(500)]
    return [
        *(Case(f"saturated {n}", n, ["storm"], LIGHT, None, full) for n in (0, 10_000, 50_000)),
        *(Case(f"paced {n}", n, ["storm"], LIGHT, 1000, paced) for n in (10_000, 50_000)),
        *(
            Case(f"account full {n}", n, ["storm"], LIGHT, None, account_full)
            for n in (10_000, 50_000)
        ),
        Case("busy 50000", 50_000, ["storm"], LIGHT, None, _limits()),
        Case("saturated+busy", 50_000, ["storm", "other"], LIGHT, None, full),
        Case("many light", 0, [], many, None, _limits()),
    ]


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="gethook-claim-") as folder:
        for n, case in enumerate(_cases()):
            conn = _build(Path(folder) / f"{n}.db", case.backlog, case.big, case.light, case.rate)
            claim, choice, taken = _time(conn, case.limits)
            print(
                f"{case.name:>18}: claim {claim:8.1f} µs, choosing {choice:8.1f} µs"
                f" ({taken} claimed)",
                flush=True,
            )
            conn.close()


if __name__ == "__main__":
    main()
