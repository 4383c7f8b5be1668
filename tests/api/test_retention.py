"""Retention on the real app and database with a fake clock: expired events go with their
deliveries and attempts, unfinished ones stay, each account keeps its own period, expired export
jobs lose their rows and files, and freed pages go back to the file system."""

from __future__ import annotations

import asyncio

import pytest

from gethook_lite.db import retention as retention_store
from gethook_lite.tasks import retention
from tests.conftest import bearer, new_account
from tests.support.receiver import Receiver, Reply
from tests.support.retention import (
    DAY,
    add_export,
    app_client,
    count,
    ctx_of,
    drain,
    exists,
    ingest,
    make_source,
    purge,
    run,
    set_retention,
)

# -- helpers -----------------------------------------------------------------------------------


# -- events ------------------------------------------------------------------------------------


def test_expired_events_go_with_their_attempts_and_unfinished_ones_stay(tmp_path, clock):
    with (
        app_client(tmp_path, clock, **{"retention.batch_size": 2}) as client,
        Receiver() as good,
        Receiver(lambda n: Reply(500) if n == 1 else Reply(200)) as flaky,
    ):
        _, key = new_account(client, "short")
        auth = bearer(key)
        delivered_source = make_source(client, auth, good.url)
        plain_source = make_source(client, auth)
        flaky_source = make_source(client, auth, flaky.url)
        delivered = [ingest(client, delivered_source) for _ in range(3)]
        accepted = [ingest(client, plain_source) for _ in range(2)]
        unfinished = ingest(client, flaky_source)
        assert drain(client) == 4  # three successes and one failure that will be retried
        assert count(client, "SELECT count(*) FROM attempts") == 4
        clock.advance(20 * DAY)
        recent = ingest(client, plain_source)
        clock.advance(11 * DAY)  # 31 days after the first events; the default keeps 30

        counts = purge(client)

        assert counts["events"] == 5
        assert not any(exists(client, auth, e) for e in [*delivered, *accepted])
        assert exists(client, auth, unfinished) and exists(client, auth, recent)
        # The cascade took the deliveries and attempts of the deleted events.
        assert count(client, "SELECT count(*) FROM attempts") == 1
        assert count(client, "SELECT count(*) FROM deliveries") == 1
        detail = client.get(f"/v1/events/{unfinished}", headers=auth).json()["data"]
        assert [a["outcome"] for a in detail["attempts"]] == ["http_5xx"]

        # Once its delivery finishes, the old event is purged too.
        assert drain(client) == 1
        assert purge(client)["events"] == 1
        assert not exists(client, auth, unfinished) and exists(client, auth, recent)
        assert count(client, "SELECT count(*) FROM attempts") == 0


def test_each_account_keeps_its_own_retention_period(tmp_path, clock):
    with app_client(tmp_path, clock) as client:
        short_id, short_key = new_account(client, "short")
        long_id, long_key = new_account(client, "long")
        set_retention(client, short_id, 7)
        set_retention(client, long_id, 90)
        short_event = ingest(client, make_source(client, bearer(short_key)))
        long_event = ingest(client, make_source(client, bearer(long_key)))
        clock.advance(8 * DAY)
        assert purge(client)["events"] == 1
        assert not exists(client, bearer(short_key), short_event)
        assert exists(client, bearer(long_key), long_event)
        clock.advance(81 * DAY)  # 89 days: still inside the long period
        assert purge(client)["events"] == 0
        clock.advance(2 * DAY)
        assert purge(client)["events"] == 1
        assert not exists(client, bearer(long_key), long_event)


def test_events_at_the_boundary_are_kept(tmp_path, clock):
    with app_client(tmp_path, clock) as client:
        _, key = new_account(client)
        event = ingest(client, make_source(client, bearer(key)))
        clock.advance(30 * DAY)
        assert purge(client)["events"] == 0 and exists(client, bearer(key), event)
        clock.advance(0.001)
        assert purge(client)["events"] == 1


def test_a_pending_delivery_keeps_an_event_that_was_never_attempted(tmp_path, clock):
    with app_client(tmp_path, clock) as client:
        _, key = new_account(client)
        # Nothing listens on port 9 and the scheduler is not driven: the delivery stays pending.
        event = ingest(client, make_source(client, bearer(key), "http://127.0.0.1:9/x"))
        clock.advance(365 * DAY)
        assert purge(client)["events"] == 0
        assert exists(client, bearer(key), event)


def test_set_retention_days_reports_an_unknown_account(client):
    assert not run(
        client, ctx_of(client).db.write, retention_store.set_retention_days, "acct_nope", 3
    )


# -- exports -----------------------------------------------------------------------------------


def test_expired_export_jobs_lose_their_rows_and_files(client, account, clock):
    account_id = account[0]
    folder = ctx_of(client).settings.data_dir / "exports"
    add_export(client, account_id, "exp_old")
    add_export(client, account_id, "exp_old_running", status="running")
    add_export(client, account_id, "exp_failed", status="failed", file_name=None)
    clock.advance(29 * DAY)
    now = ctx_of(client).clock.now()
    add_export(client, account_id, "exp_ttl", expires_at=now - 1)
    add_export(client, account_id, "exp_fresh", expires_at=now + 3 * DAY)
    add_export(client, account_id, "exp_missing_file", expires_at=now - 1)
    (folder / "exp_missing_file.jsonl").unlink()
    clock.advance(2 * DAY)  # the first three are now 31 days old

    counts = purge(client)

    assert counts["exports"] == 4 and counts["export_files"] == 2
    remaining = run(
        client,
        ctx_of(client).db.read,
        lambda conn: sorted(row[0] for row in conn.execute("SELECT id FROM exports")),
    )
    assert remaining == ["exp_fresh", "exp_old_running"]
    assert sorted(path.name for path in folder.iterdir()) == [
        "exp_fresh.jsonl",
        "exp_old_running.jsonl",
    ]


def test_an_export_file_name_never_leads_outside_the_exports_folder(client, account, clock):
    outside = ctx_of(client).settings.data_dir / "keep.txt"
    outside.write_text("precious")
    add_export(client, account[0], "exp_bad", file_name="../keep.txt")
    clock.advance(31 * DAY)
    counts = purge(client)
    assert counts["exports"] == 1 and counts["export_files"] == 0
    assert outside.read_text() == "precious"


# -- pages and the periodic task ------------------------------------------------------------------


@pytest.mark.sqlite_only("SQLite's free pages; PostgreSQL's autovacuum reclaims space")
def test_purged_pages_go_back_to_the_file_system(client, auth, clock):
    source = make_source(client, auth)
    for _ in range(40):
        ingest(client, source, b"x" * 16_384)
    database = ctx_of(client).db.path
    clock.advance(31 * DAY)
    counts = purge(client)
    assert counts["events"] == 40 and counts["pages_released"] >= 40 * 4
    assert count(client, "PRAGMA freelist_count") == 0
    # The next pass finds nothing to release.
    assert set(purge(client).values()) == {0}
    assert database.exists()


def test_the_periodic_task_purges_and_stops(client, auth, clock):
    event = ingest(client, make_source(client, auth))
    clock.advance(31 * DAY)

    async def run_task_briefly() -> None:
        task = retention.RetentionTask(ctx_of(client), interval_seconds=0.01)
        task.start()
        for _ in range(200):
            await asyncio.sleep(0.01)
            if (
                await ctx_of(client).db.read(
                    lambda conn: conn.execute("SELECT count(*) FROM events").fetchone()[0]
                )
                == 0
            ):
                break
        await task.stop()
        await task.stop()  # stopping twice is harmless

    run(client, run_task_briefly)
    assert not exists(client, auth, event)


def test_the_task_survives_a_failing_pass(client, monkeypatch):
    calls = []

    async def failing(ctx):
        calls.append(ctx)
        raise RuntimeError("boom")

    monkeypatch.setattr(retention, "purge_once", failing)

    async def run_task_briefly() -> None:
        task = retention.RetentionTask(ctx_of(client), interval_seconds=0.01)
        task.start()
        for _ in range(200):
            if len(calls) >= 2:
                break
            await asyncio.sleep(0.01)
        await task.stop()

    run(client, run_task_briefly)
    assert len(calls) >= 2


def test_pending_domain_claims_expire_and_verified_domains_stay(client, auth, clock):
    def claim(domain: str) -> dict:
        answer = client.post("/v1/custom-domains", json={"domain": domain}, headers=auth)
        assert answer.status_code == 201, answer.text
        return answer.json()["data"]

    old = claim("old.example.com")
    owned = claim("owned.example.com")
    run(
        client,
        ctx_of(client).db.write,
        lambda conn: conn.execute(
            "UPDATE custom_domains SET status = 'verified' WHERE id = ?", (owned["id"],)
        ),
    )
    clock.advance(6 * DAY)
    young = claim("young.example.com")
    clock.advance(DAY + 1)  # old: 7 days and a second; young: one day
    assert purge(client)["domain_claims"] == 1
    listed = client.get("/v1/custom-domains", headers=auth).json()["data"]
    assert {row["id"] for row in listed} == {owned["id"], young["id"]}
    assert old["id"] not in {row["id"] for row in listed}
    assert purge(client)["domain_claims"] == 0
