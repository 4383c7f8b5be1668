"""The claim on PostgreSQL (db/deliveries.py, docs/design/postgresql.md §6.2, §6.8), on a fresh
migrated database: the same candidates as on SQLite, leases with an owner token, several
claimers (threads with a connection each, standing for processes) sharing one queue, their
pacing state and export jobs; and the lease token on SQLite across a wall-clock step."""

from __future__ import annotations

import asyncio
import random
import threading
import time

import pytest

from gethook_lite.clock import FakeClock, SystemClock
from gethook_lite.config import DeliverySettings
from gethook_lite.db import exports, pacing
from gethook_lite.db.claim_order import ClaimLimits
from gethook_lite.db.database import Database
from gethook_lite.db.deliveries import (
    BUSY,
    Busy,
    claim_due,
    queue_depth,
    reclaim_expired_leases,
    release_all_leases,
    release_leases_of,
    try_claim_lock,
)
from gethook_lite.db.postgres import connect_postgres
from gethook_lite.delivery.dispatch import AttemptResult
from gethook_lite.delivery.scheduler import Scheduler, _claim_paced
from tests.support.storage import record_attempt

NOW = 1000.0
MARGIN = 5.0


@pytest.fixture
def connect(pg_url):
    """Opens connections to the test's database (one per process it stands for), closed after."""
    opened = []

    def open_one():
        opened.append(connect_postgres(pg_url))
        return opened[-1]

    yield open_one
    for conn in opened:
        conn.close()


def seed(conn, destinations: dict[str, str], due: dict[str, list[float]]) -> None:
    """Accounts, destinations (id -> account), one route each, and pending deliveries
    (destination -> due times), one event per delivery."""
    conn.execute("BEGIN")
    seed_rows(conn, destinations, due)
    conn.execute("COMMIT")


def seed_rows(conn, destinations: dict[str, str], due: dict[str, list[float]]) -> None:
    for account in sorted(set(destinations.values())):
        conn.execute(
            "INSERT INTO accounts (id, name, retention_days, created_at) VALUES (?, 'n', 7, 0)",
            (account,),
        )
    for destination, account in destinations.items():
        conn.execute(
            "INSERT INTO destinations (id, account_id, name, url, signing_secret_enc,"
            " timeout_seconds, created_at, updated_at) VALUES (?, ?, 'n', 'http://x', 's', 10,"
            " 0, 0)",
            (destination, account),
        )
        conn.execute(
            "INSERT INTO routes (id, account_id, destination_id, retry_policy, created_at)"
            " VALUES (?, ?, ?, '{}', 0)",
            (f"r-{destination}", account, destination),
        )
    n = 0
    for destination, times in due.items():
        account = destinations[destination]
        for when in times:
            n += 1
            event = f"evt{n:06d}"
            conn.execute(
                "INSERT INTO events (id, account_id, direction, headers, body, status,"
                " created_by, received_at, created_at)"
                " VALUES (?, ?, 'inbound', '{}', ?, 'queued', 'ingest', 0, 0)",
                (event, account, b"{}"),
            )
            conn.execute(
                "INSERT INTO deliveries (event_id, account_id, destination_id, route_id, status,"
                " next_attempt_at, created_at) VALUES (?, ?, ?, ?, 'pending', ?, 0)",
                (event, account, destination, f"r-{destination}", when),
            )


def claim(conn, limit: int, limits: ClaimLimits, now: float = NOW):
    conn.execute("BEGIN")
    try:
        return claim_due(conn, now, limit, limits, MARGIN)
    finally:
        conn.execute("COMMIT")


def test_a_claim_leases_the_oldest_due_and_skips_full_destinations(pg_conn):
    seed(
        pg_conn,
        {"d0": "a0", "d1": "a0", "d2": "a1"},
        {"d0": [NOW - 30 + n for n in range(20)], "d1": [NOW - 5, NOW + 50], "d2": [NOW - 1]},
    )
    limits = ClaimLimits(per_destination=4, per_account=8, busy_destinations={"d0": 4})
    claimed = claim(pg_conn, 10, limits)
    assert sorted(c.destination_id for c in claimed) == ["d1", "d2"]
    assert all(c.lease_expires_at == NOW + 10 + MARGIN for c in claimed)
    assert queue_depth(pg_conn, NOW) == {"due": 20, "scheduled": 1, "in_flight": 2}
    events = pg_conn.execute("SELECT count(*) FROM events WHERE status = 'delivering'")
    assert events.fetchone()[0] == 2


def test_an_outcome_moves_the_delivery_on(pg_conn):
    seed(pg_conn, {"d0": "a0"}, {"d0": [NOW - 1]})
    [leased] = claim(pg_conn, 5, ClaimLimits(per_destination=4, per_account=8))
    attempt = {
        "event_id": leased.event_id,
        "delivery_id": leased.delivery_id,
        "destination_id": leased.destination_id,
        "attempt_number": 1,
        "started_at": NOW,
        "finished_at": NOW + 0.1,
        "response_status": 200,
        "outcome": "success",
    }
    assert record_attempt(pg_conn, leased, attempt, "succeeded", None)
    row = pg_conn.execute("SELECT status, attempts_count FROM deliveries").fetchone()
    assert tuple(row) == ("succeeded", 1)


def success(leased, at: float = NOW) -> dict:
    return {
        "event_id": leased.event_id,
        "delivery_id": leased.delivery_id,
        "destination_id": leased.destination_id,
        "attempt_number": leased.attempts_count + 1,
        "started_at": at,
        "finished_at": at,
        "response_status": 200,
        "outcome": "success",
    }


def claim_as(conn, owner: str, now: float = NOW, limit: int = 10, cap: int = 8):
    """One claim as a scheduler makes it (lock, counts from the table, pacing), committed."""
    conn.execute("BEGIN")
    try:
        result = _claim_paced(
            conn, now, limit, ClaimLimits(per_destination=cap, per_account=cap), MARGIN,
            owner,
        )  # fmt: skip
    finally:
        conn.execute("COMMIT")
    return result if isinstance(result, Busy) else result[0]


def test_a_stale_lease_holders_outcome_is_refused(connect):
    first, second = connect(), connect()
    seed(first, {"d0": "a0"}, {"d0": [NOW - 1]})
    [stale] = claim_as(first, "p1")
    # p1 hangs past its lease; it is reclaimed and claimed again by p2.
    assert reclaim_expired_leases(first, stale.lease_expires_at + 1) == 1
    [fresh] = claim_as(second, "p2", now=stale.lease_expires_at + 1)
    assert fresh.delivery_id == stale.delivery_id
    failed = {**success(stale), "response_status": 500, "outcome": "failure"}
    assert not record_attempt(first, stale, failed, "dead_letter", None)
    assert record_attempt(second, fresh, success(fresh), "succeeded", None)
    row = first.execute("SELECT status, attempts_count, leased_by FROM deliveries").fetchone()
    assert tuple(row) == ("succeeded", 2, None)  # both attempts made count; p2's outcome holds


def test_a_lease_claimed_again_by_the_same_process_refuses_the_older_outcome(pg_conn):
    seed(pg_conn, {"d0": "a0"}, {"d0": [NOW - 1]})
    [old] = claim_as(pg_conn, "p1")
    reclaim_expired_leases(pg_conn, old.lease_expires_at + 1)
    [new] = claim_as(pg_conn, "p1", now=old.lease_expires_at + 1)
    assert not record_attempt(pg_conn, old, success(old), "succeeded", None)
    assert record_attempt(pg_conn, new, success(new), "succeeded", None)


def test_a_process_releases_its_own_leases_only(pg_conn):
    seed(pg_conn, {"d0": "a0", "d1": "a1"}, {"d0": [NOW - 1], "d1": [NOW - 1]})
    [mine] = claim_as(pg_conn, "p1", limit=1)
    [theirs] = claim_as(pg_conn, "p2", limit=1)
    assert release_all_leases(pg_conn) == 0  # a start on PostgreSQL: the others' are live
    assert release_leases_of(pg_conn, "p1") == 1
    rows = dict(pg_conn.execute("SELECT id, coalesce(leased_by, status) FROM deliveries"))
    assert rows == {mine.delivery_id: "pending", theirs.delivery_id: "p2"}


def test_a_claim_while_another_process_claims_is_busy_not_empty(connect):
    holder, conn = connect(), connect()
    seed(conn, {"d0": "a0"}, {"d0": [NOW - 1]})
    holder.execute("BEGIN")
    assert try_claim_lock(holder)
    assert claim_as(conn, "p2") is BUSY
    holder.execute("COMMIT")
    assert len(claim_as(conn, "p2")) == 1


def test_three_claimers_keep_the_caps_and_never_claim_a_delivery_twice(pg_url, connect):
    """Three threads, a connection each (three processes), one queue: 4 destinations in 2
    accounts, 3 at most in flight per destination and 5 per account. Every claimer passes
    caps with nothing in flight of its own, so only the table's counts under the claim lock
    keep them; what is in flight is sampled under the lock, after each claim."""
    seed_conn = connect()
    destinations = {"d0": "a0", "d1": "a0", "d2": "a1", "d3": "a1"}
    seed(seed_conn, destinations, {d: [NOW - 30 + n / 10 for n in range(40)] for d in destinations})
    claimed: list[int] = []
    samples: list[tuple[dict[str, int], dict[str, int]]] = []
    busy = [0]
    errors: list[BaseException] = []

    def claimer(owner: str) -> None:
        conn = connect_postgres(pg_url)
        rng = random.Random(owner)
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                conn.execute("BEGIN")
                result = _claim_paced(
                    conn, NOW, 4, ClaimLimits(per_destination=3, per_account=5), MARGIN,
                    owner,
                )  # fmt: skip
                if not isinstance(result, Busy):
                    samples.append(in_flight(conn))
                conn.execute("COMMIT")
                if isinstance(result, Busy):
                    busy[0] += 1
                    time.sleep(0.001)
                    continue
                leases = result[0]
                if not leases and not queue_depth(conn, NOW)["due"]:
                    return
                claimed.extend(lease.delivery_id for lease in leases)
                time.sleep(rng.uniform(0.001, 0.004))  # the requests
                conn.execute("BEGIN")
                for lease in leases:
                    assert record_attempt(conn, lease, success(lease), "succeeded", None)
                conn.execute("COMMIT")
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=claimer, args=(f"p{n}",)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert sorted(claimed) == sorted(set(claimed)) and len(claimed) == 160
    assert max(max(d.values(), default=0) for d, _ in samples) == 3
    assert max(max(a.values(), default=0) for _, a in samples) <= 5
    done = seed_conn.execute("SELECT count(*) FROM deliveries WHERE status = 'succeeded'")
    assert done.fetchone()[0] == 160


def in_flight(conn) -> tuple[dict[str, int], dict[str, int]]:
    destinations: dict[str, int] = {}
    accounts: dict[str, int] = {}
    for destination, account, count in conn.execute(
        "SELECT destination_id, account_id, count(*) FROM deliveries WHERE status = 'in_flight'"
        " GROUP BY destination_id, account_id"
    ):
        destinations[destination] = destinations.get(destination, 0) + count
        accounts[account] = accounts.get(account, 0) + count
    return destinations, accounts


def test_a_rate_limits_bucket_is_shared_by_every_process(connect):
    first, second = connect(), connect()
    seed(first, {"d0": "a0"}, {"d0": [NOW - 5 + n for n in range(5)]})
    # 10 a second: a burst of one token, then one every 0.1 s, whichever process claims.
    first.execute("UPDATE destinations SET rate_limit_count = 10, rate_limit_period = 1")
    assert len(claim_as(first, "p1")) == 1
    assert claim_as(second, "p2", now=NOW + 0.05) == []
    assert len(claim_as(second, "p2", now=NOW + 0.1)) == 1
    assert claim_as(first, "p1", now=NOW + 0.15) == []


def test_a_retry_after_window_holds_for_every_process(connect):
    first, second = connect(), connect()
    seed(first, {"d0": "a0"}, {"d0": [NOW - 2, NOW - 1]})
    # p1's attempt was answered 429 with Retry-After: 30; its outcome write stores the window.
    first.execute("BEGIN")
    pacing.slow_down(first, {"d0": NOW + 30})
    pacing.slow_down(first, {"d0": NOW + 10})  # a shorter one does not shorten it
    first.execute("COMMIT")
    assert claim_as(second, "p2", now=NOW + 29) == []
    assert len(claim_as(second, "p2", now=NOW + 30.5)) == 2


def test_a_fifo_head_goes_once_settled(pg_conn):
    seed(pg_conn, {"d0": "a0"}, {"d0": [NOW - 1, NOW - 1]})
    pg_conn.execute("UPDATE destinations SET ordering = 'fifo'")
    pg_conn.execute("UPDATE deliveries SET created_at = ?", (NOW - pacing.FIFO_SETTLE_SECONDS / 2,))
    assert claim_as(pg_conn, "p1") == []  # another process may still add an earlier event
    [head] = claim_as(pg_conn, "p1", now=NOW + pacing.FIFO_SETTLE_SECONDS)
    assert head.event_id == "evt000001"
    assert claim_as(pg_conn, "p1", now=NOW + 5) == []  # the next waits for the head's outcome


# -- export jobs -------------------------------------------------------------------------------


def test_a_starting_process_leaves_another_process_live_export_alone(connect):
    first, second = connect(), connect()
    first.execute(
        "INSERT INTO accounts (id, name, retention_days, created_at) VALUES ('a0', 'n', 7, 0)"
    )
    first.execute(
        "INSERT INTO exports (id, account_id, status, format, filters, created_at)"
        " VALUES ('exp1', 'a0', 'pending', 'csv', '{}', 0)"
    )
    assert exports.claim_export(first, "exp1", "p1", NOW + 120)["leased_by"] == "p1"
    assert exports.requeue_interrupted(second, NOW + 60) == 0  # p2 starts: p1's job is live
    assert exports.claim_export(second, "exp1", "p2", NOW + 180) is None
    assert exports.renew_export_lease(first, "exp1", "p1", NOW + 180)
    # p1 hangs past its lease: the job goes back in the queue and p2 runs it.
    assert exports.requeue_expired(second, NOW + 181) == 1
    assert exports.claim_export(second, "exp1", "p2", NOW + 300) is not None
    assert not exports.renew_export_lease(first, "exp1", "p1", NOW + 400)
    assert not exports.fail_export(first, "exp1", "late", NOW + 200, "p1")
    done = {"file_name": "exp1.csv", "row_count": 1, "size_bytes": 9, "completed_at": NOW}
    assert exports.complete_export(second, "exp1", **done, expires_at=NOW + 9, owner="p2")
    row = first.execute("SELECT status, leased_by, error FROM exports").fetchone()
    assert tuple(row) == ("completed", None, None)


# -- the lease token across a wall-clock step (SQLite shifts leases with the schedule) ---------


class _HeldDispatcher:
    """Answers 200 once the test opens the gate."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock, self.gate, self.sending = clock, asyncio.Event(), asyncio.Event()

    async def send(self, claim) -> AttemptResult:
        self.sending.set()
        await self.gate.wait()
        now = self.clock.now()
        return AttemptResult("success", now, now, 1.0, 200)


def test_an_attempt_in_flight_across_a_clock_step_records_its_outcome(tmp_path):
    """The step shifts the stored lease; the outcome must name the lease as shifted, or it is
    refused and the delivery made again."""

    async def scenario() -> list[tuple]:
        db = Database(tmp_path / "g.db")
        await db.open()
        await db.migrate()
        await db.write(seed_rows, {"d0": "a0"}, {"d0": [0.0]})
        clock = FakeClock()
        dispatcher = _HeldDispatcher(clock)
        scheduler = Scheduler(db, dispatcher, clock, DeliverySettings())  # type: ignore[arg-type]
        await scheduler.start()
        await dispatcher.sending.wait()
        clock.step(+7200)
        scheduler.wake()
        await asyncio.sleep(0.3)  # the loop follows the step: the lease moves
        dispatcher.gate.set()
        await asyncio.sleep(0.3)
        found = await db.read(_states)
        await scheduler.stop()
        await db.close()
        return found

    assert asyncio.run(asyncio.wait_for(scenario(), 20)) == [("succeeded", None)]


def _states(conn) -> list[tuple]:
    return [tuple(row) for row in conn.execute("SELECT status, leased_by FROM deliveries")]


class _CountingDispatcher:
    """Answers 200 after 30-60 ms; counts requests in flight per destination over
    every scheduler it serves, and every delivery sent."""

    def __init__(self) -> None:
        self.in_flight: dict[str, int] = {}
        self.most: dict[str, int] = {}
        self.sent: list[int] = []

    async def send(self, claim) -> AttemptResult:
        destination = claim.destination_id
        self.in_flight[destination] = self.in_flight.get(destination, 0) + 1
        self.most[destination] = max(self.most.get(destination, 0), self.in_flight[destination])
        self.sent.append(claim.delivery_id)
        started = time.time()
        await asyncio.sleep(random.uniform(0.03, 0.06))
        self.in_flight[destination] -= 1
        return AttemptResult("success", started, time.time(), 5.0, 200)


def test_two_schedulers_on_one_database_keep_the_per_destination_cap(pg_url, pg_conn, tmp_path):
    """Two schedulers, each with its own Database (two processes), deliver one queue: every
    delivery goes once, and a destination never has more requests in flight than its cap,
    counted over both."""
    seed(pg_conn, {"d0": "a0", "d1": "a1"}, {"d0": [1.0] * 30, "d1": [1.0] * 30})
    settings = DeliverySettings(concurrency=16, per_destination_concurrency=3)
    dispatcher = _CountingDispatcher()

    async def scenario() -> None:
        databases = [Database(tmp_path / f"p{n}", url=pg_url) for n in range(2)]
        schedulers = []
        for n, db in enumerate(databases):
            await db.open()
            clock = SystemClock()
            scheduler = Scheduler(db, dispatcher, clock, settings, owner=f"p{n}")  # type: ignore[arg-type]
            schedulers.append(scheduler)
        for scheduler in schedulers:
            await scheduler.start()
        while len(dispatcher.sent) < 60 or await databases[0].read(_open_count):  # noqa: ASYNC110
            await asyncio.sleep(0.05)  # polling the database: no event to wait for
        for scheduler, db in zip(schedulers, databases, strict=True):
            await scheduler.stop()
            await db.close()

    asyncio.run(asyncio.wait_for(scenario(), 60))
    assert sorted(dispatcher.sent) == sorted(set(dispatcher.sent)) and len(dispatcher.sent) == 60
    assert dispatcher.most == {"d0": 3, "d1": 3}


def _open_count(conn) -> int:
    return conn.execute("SELECT count(*) FROM deliveries WHERE status <> 'succeeded'").fetchone()[0]
