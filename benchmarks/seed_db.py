"""Fill a stopped gateway's SQLite file with N realistic past events, fast.

Rows are written directly, as the gateway itself would have left them after delivering: an
inbound event (1 KB JSON body, the headers of a real ingested event), one delivery per event
and its attempts. Mix: 70 % / 30 % over two routed sources, 97 % delivered (1 attempt),
2 % dead-lettered (8 failed attempts), 1 % accepted (no delivery). Received times are spread
over the last 7 days (inside any retention window), ids are time-ordered and shaped like
gethook_lite/ids.py makes them (prefix + 10 base32 chars of milliseconds + 16 random ones).

    python benchmarks/seed_db.py DATA_DIR/gethook.db --events 1000000
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time

from gethook_lite.db.changes import log_received
from gethook_lite.db.connection import connect_sqlite
from gethook_lite.db.stats import count_inserted
from gethook_lite.ids import format_id

_EVENT_TYPES = ("charge.succeeded", "invoice.paid", "customer.created", "order.shipped")
_CHUNK = 20_000


class Ids:
    """Time-ordered ids like the gateway's: strictly increasing within one millisecond too."""

    def __init__(self) -> None:
        self.last_ms = 0
        self.last_random = 0

    def new(self, prefix: str, ms: int) -> str:
        if ms <= self.last_ms:
            ms, random_part = self.last_ms, self.last_random + 1
        else:
            random_part = int.from_bytes(os.urandom(10), "big") >> 1
        self.last_ms, self.last_random = ms, random_part
        return format_id(prefix, ms, random_part)


def _body_template(size: int) -> bytes:
    head = {"type": "charge.succeeded", "seq": "0000000000", "created": 1764201600,
            "data": {"object": {"amount": 4200, "currency": "eur"}}, "padding": ""}  # fmt: skip
    base = len(json.dumps(head, separators=(",", ":")))
    head["padding"] = "x" * max(0, size - base)
    return json.dumps(head, separators=(",", ":")).encode()


def seed(db_path: str, events: int, body_size: int = 1024) -> dict:
    """Append ``events`` delivered/dead/accepted events to the account that owns the routes."""
    conn = connect_sqlite(db_path, isolation_level=None)
    routes = conn.execute(
        "SELECT r.id, r.account_id, r.source_id, r.destination_id FROM routes r"
        " WHERE r.deleted_at IS NULL AND r.source_id IS NOT NULL ORDER BY r.id"
    ).fetchall()
    if len(routes) < 2:
        raise SystemExit("seed_db: the template needs two routed sources")
    template = conn.execute(
        "SELECT headers, content_type FROM events WHERE direction = 'inbound' LIMIT 1"
    ).fetchone()
    if template is None:
        raise SystemExit("seed_db: the template needs one real ingested event")
    headers, content_type = template
    conn.execute("PRAGMA journal_mode = MEMORY")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -262144")  # 256 MB while generating
    next_delivery = (conn.execute("SELECT coalesce(max(id), 0) FROM deliveries").fetchone()[0]) + 1
    body = _body_template(body_size)
    seq_at = body.index(b'"seq":"') + 7
    event_ids, attempt_ids = Ids(), Ids()
    end = time.time() - 3600
    start = end - 7 * 86400
    step = (end - start) / events
    started = time.perf_counter()
    conn.execute("BEGIN")
    for chunk_start in range(0, events, _CHUNK):
        event_rows, delivery_rows, attempt_rows = [], [], []
        for i in range(chunk_start, min(events, chunk_start + _CHUNK)):
            route_id, account_id, source_id, destination_id = routes[
                1 if i % 10 in (3, 7, 9) else 0
            ]
            at = start + i * step
            event_id = event_ids.new("evt", int(at * 1000))
            row_body = body[:seq_at] + f"{i:010d}".encode() + body[seq_at + 10 :]
            if i % 100 == 0:
                status, attempts, outcome = "accepted", 0, None
            elif i % 100 in (1, 27):  # one in each source
                status, attempts, outcome = "dead_letter", 8, "http_5xx"
            else:
                status, attempts, outcome = "delivered", 1, "success"
            event_rows.append(
                (event_id, account_id, source_id, _EVENT_TYPES[i % 4],
                 "sha256:" + hashlib.sha256(row_body).hexdigest(), content_type, headers,
                 row_body, status, attempts, status, at, at)
            )  # fmt: skip
            if not attempts:
                continue
            delivery_id = next_delivery
            next_delivery += 1
            finished = at + 0.004 + (attempts - 1) * 60
            delivery_rows.append(
                (delivery_id, event_id, account_id, destination_id, route_id,
                 "succeeded" if outcome == "success" else "dead_letter", attempts, outcome,
                 at, finished)
            )  # fmt: skip
            for number in range(1, attempts + 1):
                begun = at + 0.002 + (number - 1) * 60
                attempt_id = attempt_ids.new("att", int(begun * 1000))
                attempt_rows.append(
                    (attempt_id, event_id, delivery_id, destination_id, number, begun,
                     begun + 0.002, 200 if outcome == "success" else 503,
                     "ok" if outcome == "success" else "unavailable", 2.0, outcome)
                )  # fmt: skip
        conn.executemany(
            "INSERT INTO events (id, account_id, direction, source_id, event_type,"
            " external_event_id, payload_hash, content_type, headers, body, status,"
            " attempts_count, next_attempt_at, final_state, created_by, received_at, created_at)"
            " VALUES (?, ?, 'inbound', ?, ?, NULL, ?, ?, ?, ?, ?, ?, NULL, ?, 'ingest', ?, ?)",
            event_rows,
        )
        # What the ingest write does for the events it inserts (migration 0017): log them for
        # the live stream, count them in the stats tallies and counters.
        inserted = [
            {"id": row[0], "account_id": row[1], "direction": "inbound", "source_id": row[2],
             "event_type": row[3], "status": row[8], "final_state": row[10],
             "received_at": row[11], "created_at": row[12]}
            for row in event_rows
        ]  # fmt: skip
        log_received(conn, inserted)
        count_inserted(conn, inserted)
        conn.executemany(
            "INSERT INTO deliveries (id, event_id, account_id, destination_id, route_id, status,"
            " attempts_count, next_attempt_at, lease_expires_at, last_outcome, created_at,"
            " finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?, ?)",
            delivery_rows,
        )
        conn.executemany(
            "INSERT INTO attempts (id, event_id, delivery_id, destination_id, attempt_number,"
            " started_at, finished_at, response_status, response_body, latency_ms, outcome)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            attempt_rows,
        )
    conn.execute("COMMIT")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    return {
        "events": events,
        "seconds": round(time.perf_counter() - started, 1),
        "bytes": os.path.getsize(db_path),
        "sources": [routes[0][2], routes[1][2]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("db")
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args()
    print(json.dumps(seed(args.db, args.events)))


if __name__ == "__main__":
    main()
