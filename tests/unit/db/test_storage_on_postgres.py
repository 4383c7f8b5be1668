"""The storage functions whose SQL differs on PostgreSQL, run on a fresh PostgreSQL database
with several connections standing for several processes (design §4.3, §6.6, §6.8)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from gethook_lite.db import accounts, destination_state, retention, sink, stats
from gethook_lite.db.ingest import accept_events
from gethook_lite.db.postgres import PgConnection, connect_postgres
from gethook_lite.db.rows import insert
from tests.support.storage import in_transaction

NOW = 1_800_000_000.0
DAY = int(NOW // 86400)


@pytest.fixture
def other_conn(pg_url) -> Iterator[PgConnection]:
    """A second connection to the same database: another process, as far as PostgreSQL knows."""
    conn = connect_postgres(pg_url)
    yield conn
    conn.close()


@pytest.fixture
def account(pg_conn) -> str:
    insert(
        pg_conn,
        "accounts",
        {"id": "acc_1", "name": "a", "retention_days": 7, "created_at": NOW},
    )
    for source_id in ("src_1", "src_sink"):
        insert(
            pg_conn,
            "sources",
            {
                "id": source_id,
                "account_id": "acc_1",
                "name": source_id,
                "path_token": f"tok_{source_id}",
                "created_at": NOW,
                "sink": int(source_id == "src_sink"),
            },
        )
    insert(
        pg_conn,
        "destinations",
        {
            "id": "dest_1",
            "account_id": "acc_1",
            "name": "d",
            "url": "https://example.test/hook",
            "signing_secret_enc": "x",
            "created_at": NOW,
            "updated_at": NOW,
        },
    )
    insert(
        pg_conn,
        "routes",
        {
            "id": "rt_1",
            "account_id": "acc_1",
            "source_id": "src_1",
            "destination_id": "dest_1",
            "retry_policy": "{}",
            "created_at": NOW,
        },
    )
    return "acc_1"


def _event(event_id: str, external_id: str | None = None) -> dict[str, Any]:
    return {
        "id": event_id,
        "account_id": "acc_1",
        "direction": "inbound",
        "source_id": "src_1",
        "event_type": "invoice.paid",
        "external_event_id": external_id,
        "payload_hash": "h",
        "content_type": "application/json",
        "headers": "{}",
        "body": b"{}",
        "created_by": "ingest",
        "replay_of": None,
        "received_at": NOW,
        "created_at": NOW,
    }


def _wait_until_blocked(url: str, blocked_pid: int) -> None:
    """Until ``blocked_pid``'s statement waits for a lock (watched from a connection of its
    own: read inside an open transaction, pg_stat_activity would not move)."""
    watcher = connect_postgres(url)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            row = watcher.execute(
                "SELECT wait_event_type FROM pg_stat_activity WHERE pid = ?", (blocked_pid,)
            ).fetchone()
            if row is not None and row[0] == "Lock":
                return
            time.sleep(0.01)
    finally:
        watcher.close()
    raise AssertionError("the second connection never waited for the first")


def _race(
    url: str,
    first: PgConnection,
    second: PgConnection,
    write_first: Callable[[PgConnection], Any],
    write_second: Callable[[PgConnection], Any],
) -> tuple[Any, Any]:
    """``first`` writes and stays open; ``second`` writes meanwhile (and must wait for it);
    then ``first`` commits. Both results."""
    first.execute("BEGIN")
    first_result = write_first(first)
    second_result: list[Any] = []
    failure: list[BaseException] = []

    def run_second() -> None:
        try:
            second_result.append(in_transaction(second, write_second))
        except BaseException as exc:  # re-raised in the test's thread
            failure.append(exc)

    thread = threading.Thread(target=run_second)
    thread.start()
    try:
        _wait_until_blocked(url, second.raw.info.backend_pid)
    finally:
        first.execute("COMMIT")
        thread.join(10)
    if failure:
        raise failure[0]
    return first_result, second_result[0]


def test_inserted_events_are_counted_in_each_writers_shard_and_read_summed(
    pg_conn, other_conn, account
):
    in_transaction(pg_conn, lambda c: accept_events(c, [(_event("evt_1"), [])]))
    in_transaction(
        other_conn,
        lambda c: accept_events(c, [(_event("evt_2"), []), (_event("evt_3"), [])]),
    )

    counters = stats.read_counters(pg_conn)
    assert counters["events_processed"] == 3
    assert type(counters["events_processed"]) is int
    tallies = stats.tallies_between(pg_conn, account, DAY, DAY)
    assert [(row["status"], row["n"]) for row in tallies] == [("accepted", 3)]
    assert type(tallies[0]["n"]) is int
    shards = {
        row[0]
        for row in pg_conn.execute(
            "SELECT shard FROM event_tallies WHERE account_id = ?", (account,)
        )
    }
    pids = {pg_conn.raw.info.backend_pid % 8, other_conn.raw.info.backend_pid % 8}
    assert shards == pids  # each writer added into its own row


def test_a_tally_summing_to_nothing_is_not_read(pg_conn, other_conn, account):
    in_transaction(pg_conn, lambda c: accept_events(c, [(_event("evt_1"), [])]))
    # Another process moving the event on: -1 in its shard, +1 elsewhere.
    moved_away = stats.tally_key("acc_1", NOW, "inbound", "accepted", "accepted", "src_1")
    stats.add_to_books(other_conn, {moved_away: -1}, {})
    assert stats.tallies_between(pg_conn, account, DAY, DAY) == []


def test_a_duplicate_racing_in_from_another_process_is_reported_as_a_duplicate(
    pg_url, pg_conn, other_conn, account
):
    first, second = _race(
        pg_url,
        pg_conn,
        other_conn,
        lambda c: accept_events(c, [(_event("evt_1", "ext-1"), [])]),
        lambda c: accept_events(
            c, [(_event("evt_2", "ext-1"), []), (_event("evt_3", "ext-1"), [])]
        ),
    )

    assert first == [("evt_1", "accepted")]
    # evt_3 duplicates evt_2 within its batch; evt_2 lost the race: both point at evt_1.
    assert second == [("evt_1", "duplicate"), ("evt_1", "duplicate")]
    ids = [row[0] for row in pg_conn.execute("SELECT id FROM events ORDER BY id")]
    assert ids == ["evt_1"]
    assert stats.read_counters(pg_conn)["events_processed"] == 1
    assert pg_conn.execute("SELECT count(*) FROM changes").fetchone()[0] == 1


def test_a_batch_that_lost_one_race_keeps_its_other_events(pg_url, pg_conn, other_conn, account):
    route = {"id": "rt_1", "destination_id": "dest_1"}
    _, second = _race(
        pg_url,
        pg_conn,
        other_conn,
        lambda c: accept_events(c, [(_event("evt_1", "ext-1"), [route])]),
        lambda c: accept_events(
            c, [(_event("evt_2", "ext-1"), [route]), (_event("evt_3", "ext-2"), [route])]
        ),
    )

    assert second == [("evt_1", "duplicate"), ("evt_3", "queued")]
    deliveries = [row[0] for row in pg_conn.execute("SELECT event_id FROM deliveries")]
    assert sorted(deliveries) == ["evt_1", "evt_3"]


def test_captures_from_two_processes_take_consecutive_plan_positions(
    pg_url, pg_conn, other_conn, account
):
    sink.put_response_plan(
        pg_conn,
        {
            "source_id": "src_sink",
            "account_id": account,
            "statuses": "[500, 201]",
            "delay_ms": 0,
            "body": None,
            "updated_at": NOW,
        },
    )

    first, second = _race(
        pg_url,
        pg_conn,
        other_conn,
        lambda c: sink.take_plan_answer(c, "src_sink"),
        lambda c: sink.take_plan_answer(c, "src_sink"),
    )
    third = in_transaction(pg_conn, lambda c: sink.take_plan_answer(c, "src_sink"))

    assert [first["position"], second["position"], third["position"]] == [1, 2, 3]
    assert first["statuses"] == "[500, 201]"
    assert sink.take_plan_answer(pg_conn, "src_none") is None


def test_locked_controls_exist_and_hold_their_rows_until_the_commit(pg_conn, other_conn, account):
    pg_conn.execute("BEGIN")
    controls = destination_state.get_controls(pg_conn, ["dest_1", "dest_gone"], lock=True)
    assert list(controls) == ["dest_1"]
    assert controls["dest_1"].account_id == account
    assert controls["dest_1"].circuit_state == "closed"

    other_conn.execute("SET lock_timeout = '100ms'")
    with pytest.raises(psycopg.errors.LockNotAvailable):
        in_transaction(
            other_conn, lambda c: destination_state.get_controls(c, ["dest_1"], lock=True)
        )
    pg_conn.execute("COMMIT")
    again = in_transaction(
        other_conn, lambda c: destination_state.get_controls(c, ["dest_1"], lock=True)
    )
    assert again == controls


def test_no_free_pages_to_release_on_postgresql(pg_conn):
    assert retention.release_free_pages(pg_conn, 100) == 0


def test_operator_commands_read_and_write_through_the_url(pg_url, account):
    from gethook_lite.db.retention import set_retention_days
    from gethook_lite.ops import admin
    from gethook_lite.ops.schema import migration_plan

    assert admin.write(pg_url, set_retention_days, account, 30)
    assert [row["retention_days"] for row in admin.read(pg_url, accounts.list_accounts)] == [30]
    with pytest.raises(admin.OperatorError, match="database read failed"):
        admin.read(pg_url, lambda conn: conn.execute("SELECT * FROM no_such_table"))
    plan = migration_plan(pg_url)
    assert (plan.database_exists, plan.pending, plan.refused) == (True, (), None)


def test_bulk_retry_candidates_list_each_events_destinations(pg_conn, account):
    from gethook_lite.db.bulk_retries import Candidate, RetryScope, candidates, count_candidates

    insert(
        pg_conn,
        "destinations",
        {
            "id": "dest_2",
            "account_id": account,
            "name": "d2",
            "url": "https://example.test/other",
            "signing_secret_enc": "x",
            "created_at": NOW,
            "updated_at": NOW,
        },
    )
    routes = [
        {"id": "rt_1", "destination_id": "dest_1"},
        {"id": "rt_1", "destination_id": "dest_2"},
    ]
    accept_events(pg_conn, [(_event("evt_1"), routes), (_event("evt_2"), routes[:1])])
    pg_conn.execute("UPDATE deliveries SET status = 'dead_letter'")
    scope = RetryScope(status="dead_letter")

    found = candidates(pg_conn, account, scope, "", "evt_9", 10)

    assert found == [
        Candidate("evt_1", "inbound", "invoice.paid", frozenset({"dest_1", "dest_2"})),
        Candidate("evt_2", "inbound", "invoice.paid", frozenset({"dest_1"})),
    ]
    assert count_candidates(pg_conn, account, scope, "evt_9", cap=10) == 2


def test_a_destination_is_live_until_deactivated_or_deleted(pg_conn, account):
    assert destination_state.is_live(pg_conn, "dest_1")
    pg_conn.execute("UPDATE destinations SET active = 0")
    assert not destination_state.is_live(pg_conn, "dest_1")
    pg_conn.execute("UPDATE destinations SET active = 1, deleted_at = ?", (NOW,))
    assert not destination_state.is_live(pg_conn, "dest_1")
    assert not destination_state.is_live(pg_conn, "dest_gone")
