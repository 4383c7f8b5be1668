"""Account stats and platform stats through the in-process app, on a fake clock.

Events reach their states through the real code paths (ingest, publish, the scheduler driven
by hand against local receivers, replay), so the triggers that keep the tallies are exercised
as production exercises them; every test then checks the answer against a recount of the
events table.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from litestar.testing import TestClient

from gethook_lite.app import create_app
from gethook_lite.db.database import _migration_files
from gethook_lite.domain.events import EVENT_STATUSES
from gethook_lite.domain.stats import summarise_tallies
from tests.conftest import FAST_PASSWORDS, bearer, make_settings, new_account
from tests.support.receiver import Receiver, Reply

DAY = 86_400
ONE_TRY = {"max_attempts": 1, "backoff": "fixed", "initial_interval_seconds": 1}


# -- helpers -----------------------------------------------------------------------------------


def stats(client, auth, **params) -> dict:
    answer = client.get("/v1/stats", params=params, headers=auth)
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


def publish(client, auth, count: int, event_type: str = "order.created") -> list[str]:
    ids = []
    for n in range(count):
        answer = client.post(
            "/v1/outbound-events",
            json={"payload": {"n": n}, "event_type": event_type},
            headers=auth,
        )
        assert answer.status_code == 202, answer.text
        ids.append(answer.json()["data"]["id"])
    return ids


def ingest(client, auth, count: int) -> None:
    source = client.post("/v1/sources", json={"name": "s"}, headers=auth).json()["data"]
    for _ in range(count):
        answer = client.post(f"/ingest/{source['path_token']}", content=b"{}")
        assert answer.status_code == 202, answer.text


def route(client, auth, url: str, pattern: str) -> None:
    destination = client.post(
        "/v1/destinations", json={"name": "d", "url": url}, headers=auth
    ).json()["data"]
    answer = client.post(
        "/v1/routes",
        json={
            "destination_id": destination["id"],
            "event_type_pattern": pattern,
            "retry_policy": ONE_TRY,
        },
        headers=auth,
    )
    assert answer.status_code == 201, answer.text


def drain(client) -> None:
    client.blocking_portal.call(client.app.state.ctx.scheduler.drain)


def query(client, statement: str, *params) -> list[tuple]:
    def run(conn):
        return [tuple(row) for row in conn.execute(statement, params)]

    return client.blocking_portal.call(client.app.state.ctx.db.write, run)


def recount(client, account_id: str, first_day: int, last_day: int) -> dict:
    """The Stats shape computed the slow way, from the events table itself."""
    rows = query(
        client,
        "SELECT CAST(received_at / 86400 AS INTEGER), direction, status,"
        " coalesce(final_state, ''), count(*) FROM events WHERE account_id = ?"
        " GROUP BY 1, 2, 3, 4",
        account_id,
    )
    tallies = [
        {"day": d, "direction": dr, "status": s, "final_state": f, "n": n}
        for d, dr, s, f, n in rows
        if first_day <= d <= last_day
    ]
    return summarise_tallies(tallies, first_day, last_day)


def today(clock) -> int:
    return int(clock.now() // DAY)


def date_of(clock, days_ago: int = 0) -> str:
    moment = datetime.fromtimestamp(clock.now(), UTC) - timedelta(days=days_ago)
    return moment.date().isoformat()


def counts(answer: dict) -> dict[str, int]:
    return {entry["status"]: entry["count"] for entry in answer["by_status"]}


def deliver_mix(client, auth) -> dict[str, list[str]]:
    """3 events delivered, 1 dead-lettered and replayed (its replay dead-letters too)."""
    with Receiver() as ok, Receiver(lambda n: Reply(500)) as failing:
        route(client, auth, ok.url, "ok.*")
        route(client, auth, failing.url, "bad.*")
        delivered = publish(client, auth, 3, "ok.done")
        dead = publish(client, auth, 1, "bad.done")
        drain(client)
        replay = client.post(f"/v1/outbound-events/{dead[0]}/replay", headers=auth)
        assert replay.status_code == 202, replay.text
        drain(client)
    return {"delivered": delivered, "dead": dead}


# -- the account's stats -----------------------------------------------------------------------


def test_default_window_is_30_zero_filled_utc_days_ending_today(client, auth, clock):
    answer = stats(client, auth)
    assert set(answer) == {"by_status", "daily", "totals"}
    assert [day["date"] for day in answer["daily"]] == [
        date_of(clock, ago) for ago in range(29, -1, -1)
    ]
    assert all(
        day == {"date": day["date"], "inbound": 0, "outbound": 0, "delivered": 0, "failed": 0}
        for day in answer["daily"]
    )
    assert answer["by_status"] == [{"status": s, "count": 0} for s in EVENT_STATUSES]
    assert answer["totals"] == {"total": 0, "delivered": 0, "failed": 0}


@pytest.mark.parametrize(("days", "length"), [("1", 1), ("7", 7), ("365", 365)])
def test_days_sets_the_window(client, auth, days, length):
    assert len(stats(client, auth, days=days)["daily"]) == length


@pytest.mark.parametrize("days", ["0", "366", "-3", "week"])
def test_bad_days_is_400_naming_it(client, auth, days):
    answer = client.get("/v1/stats", params={"days": days}, headers=auth)
    assert answer.status_code == 400 and answer.json()["error"].startswith("days:")


def test_stats_need_a_key(client):
    assert client.get("/v1/stats").status_code == 401


def test_counts_by_day_direction_and_outcome(client, auth, account, clock):
    ingest(client, auth, 2)
    clock.advance(DAY)
    deliver_mix(client, auth)
    answer = stats(client, auth, days=7)
    assert answer["daily"][-2] == {
        "date": date_of(clock, 1), "inbound": 2, "outbound": 0, "delivered": 0, "failed": 0,
    }  # fmt: skip
    # 3 delivered + 1 original (replayed, still failed) + its replay (dead-lettered).
    assert answer["daily"][-1] == {
        "date": date_of(clock), "inbound": 0, "outbound": 5, "delivered": 3, "failed": 2,
    }  # fmt: skip
    assert counts(answer) == {
        **dict.fromkeys(EVENT_STATUSES, 0),
        "accepted": 2, "delivered": 3, "dead_letter": 1, "replayed": 1,
    }  # fmt: skip
    assert answer["totals"] == {"total": 7, "delivered": 3, "failed": 2}
    assert answer == recount(client, account[0], today(clock) - 6, today(clock))


def test_status_changes_move_events_between_counts(client, auth, account, clock):
    with Receiver() as receiver:
        route(client, auth, receiver.url, "*")
        publish(client, auth, 2)
        assert counts(stats(client, auth))["queued"] == 2
        drain(client)
    after = stats(client, auth)
    assert counts(after)["queued"] == 0 and counts(after)["delivered"] == 2
    assert after == recount(client, account[0], today(clock) - 29, today(clock))


def test_window_leaves_out_older_events(client, auth, account, clock):
    publish(client, auth, 1)
    clock.advance(40 * DAY)
    publish(client, auth, 2)
    assert stats(client, auth)["totals"]["total"] == 2
    assert stats(client, auth, days=41)["totals"]["total"] == 3
    assert stats(client, auth, days=41)["daily"][0]["outbound"] == 1
    assert stats(client, auth, days=41) == recount(
        client, account[0], today(clock) - 40, today(clock)
    )


def test_days_are_utc_days(client, auth, clock):
    clock.advance(datetime(2027, 3, 1, 23, 59, 59, tzinfo=UTC).timestamp() - clock.now())
    publish(client, auth, 1)
    clock.advance(2)  # 00:00:01 the next day
    publish(client, auth, 1)
    daily = stats(client, auth, days=2)["daily"]
    assert [(d["date"], d["outbound"]) for d in daily] == [("2027-03-01", 1), ("2027-03-02", 1)]


def test_each_account_sees_only_its_own_events(client, auth):
    publish(client, auth, 3)
    _, other_key = new_account(client, "other")
    assert stats(client, bearer(other_key))["totals"]["total"] == 0
    assert stats(client, auth)["totals"]["total"] == 3


def test_deleted_events_leave_the_stats_but_not_the_platform_counters(client, auth, account):
    publish(client, auth, 3)
    query(client, "DELETE FROM events WHERE account_id = ?", account[0])  # as retention does
    assert stats(client, auth)["totals"]["total"] == 0
    assert counts(stats(client, auth))["accepted"] == 0
    assert client.get("/v1/platform-stats").json()["data"]["events_processed"] == 3


# -- platform stats ----------------------------------------------------------------------------


def test_platform_stats_are_public_and_count_the_whole_instance(client, auth):
    fresh = client.get("/v1/platform-stats")
    assert fresh.status_code == 200
    assert fresh.json()["data"] == {
        "events_processed": 0, "events_delivered": 0, "delivery_attempts": 0,
        "success_rate_pct": 0.0,
    }  # fmt: skip
    deliver_mix(client, auth)
    _, other_key = new_account(client, "other")
    publish(client, bearer(other_key), 2)
    data = client.get("/v1/platform-stats").json()["data"]
    # 5 events of the first account (one a replay) and 2 of the other; 5 attempts made.
    assert data == {
        "events_processed": 7, "events_delivered": 3, "delivery_attempts": 5,
        "success_rate_pct": 60.0,
    }  # fmt: skip
    assert query(client, "SELECT count(*) FROM attempts")[0][0] == data["delivery_attempts"]


def test_platform_stats_can_be_turned_off(tmp_path, clock):
    settings = make_settings(tmp_path, **{"server.platform_stats": False})
    app = create_app(settings, clock=clock, passwords=FAST_PASSWORDS, start_scheduler=False)
    with TestClient(app) as client:
        answer = client.get("/v1/platform-stats")
    assert answer.status_code == 404
    assert answer.json() == {"error": "platform stats are disabled on this instance"}


# -- the pure summary and the migration --------------------------------------------------------


def test_summarise_tallies_buckets_and_zero_fills():
    tallies = [
        {"day": 10, "direction": "inbound", "status": "delivered", "final_state": "delivered",
         "n": 4},
        {"day": 12, "direction": "outbound", "status": "replayed", "final_state": "dead_letter",
         "n": 2},
        {"day": 12, "direction": "outbound", "status": "queued", "final_state": "", "n": 1},
    ]  # fmt: skip
    summary = summarise_tallies(tallies, 10, 12)
    assert [d["date"] for d in summary["daily"]] == ["1970-01-11", "1970-01-12", "1970-01-13"]
    assert summary["daily"][1] == {
        "date": "1970-01-12", "inbound": 0, "outbound": 0, "delivered": 0, "failed": 0,
    }  # fmt: skip
    assert summary["daily"][2]["outbound"] == 3 and summary["daily"][2]["failed"] == 2
    assert summary["totals"] == {"total": 7, "delivered": 4, "failed": 2}


def test_migration_backfills_tallies_and_counters_from_existing_rows():
    conn = sqlite3.connect(":memory:", isolation_level=None)
    migrations = dict(_migration_files())
    conn.executescript(migrations[1])
    conn.execute("INSERT INTO accounts VALUES ('acct_1', 'a', NULL, NULL, 30, 0)")
    for n, (status, final) in enumerate(
        [("delivered", "delivered"), ("dead_letter", "dead_letter"), ("queued", None)]
    ):
        conn.execute(
            "INSERT INTO events (id, account_id, direction, headers, body, status, final_state,"
            " created_by, received_at, created_at) VALUES (?, 'acct_1', 'outbound', '{}', x'',"
            " ?, ?, 'api', ?, 0)",
            (f"evt_{n}", status, final, DAY * 5 + n),
        )
    conn.executescript(migrations[2])
    tallies = conn.execute(
        "SELECT day, status, final_state, n FROM event_tallies ORDER BY status"
    ).fetchall()
    assert tallies == [
        (5, "dead_letter", "dead_letter", 1), (5, "delivered", "delivered", 1), (5, "queued", "", 1)
    ]  # fmt: skip
    assert dict(conn.execute("SELECT name, value FROM counters")) == {
        "events_processed": 3, "events_delivered": 1, "events_dead_lettered": 1,
        "delivery_attempts": 0,
    }  # fmt: skip


def test_migration_0021_recounts_the_tallies_per_source_and_keeps_the_delete_trigger():
    conn = sqlite3.connect(":memory:", isolation_level=None)
    for number, script in sorted(_migration_files()):
        if number > 20:
            break
        conn.executescript(script)
    conn.execute(
        "INSERT INTO accounts (id, name, retention_days, created_at) VALUES ('acct_1', 'a', 30, 0)"
    )
    for n, source_id in enumerate(["src_a", "src_a", "src_b", None]):
        conn.execute(
            "INSERT INTO events (id, account_id, direction, source_id, headers, body, status,"
            " created_by, received_at, created_at) VALUES (?, 'acct_1', ?, ?, '{}', x'',"
            " 'accepted', 'api', ?, 0)",
            (f"evt_{n}", "inbound" if source_id else "outbound", source_id, DAY * 5 + n),
        )
    conn.executescript(dict(_migration_files())[21])
    tallies = "SELECT source_id, direction, n FROM event_tallies ORDER BY 1"
    assert conn.execute(tallies).fetchall() == [
        ("", "outbound", 1), ("src_a", "inbound", 2), ("src_b", "inbound", 1)
    ]  # fmt: skip
    conn.execute("DELETE FROM events WHERE id = 'evt_0'")
    assert conn.execute(tallies).fetchall()[1] == ("src_a", "inbound", 1)
    # `gethook backup` refuses a database this check faults (SQLite 3.40 misread the table
    # when its key columns did not come first).
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
