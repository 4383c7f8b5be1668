"""Bulk retry jobs through the in-process app: counting, the job's shape and progress, each
scope, validation, isolation, cancel, bounds. The app's worker is paused; each test drives
the worker itself (``run_to_end``) and the scheduler with the fake clock."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from tests.conftest import bearer, make_settings, new_account
from tests.support.api import drain, event_detail, ingest, make_route, make_source
from tests.support.bulk_retries import (
    NO_RETRIES,
    call,
    create_job,
    dead_letters,
    driven_worker,
    job,
    paused_worker,
    replays_of,
    run_to_end,
)
from tests.support.receiver import Receiver, Reply
from tests.support.retention import purge

JOB_FIELDS = {
    "id", "account_id", "status", "filter", "matched", "done", "failed", "error", "created_at",
    "started_at", "finished_at",
}  # fmt: skip


@pytest.fixture
def settings(tmp_path):
    # Pages of two events: every job here takes several pages. No circuit breaker: the
    # tests make many dead letters at a failing receiver (an open circuit would hold them).
    return make_settings(
        tmp_path,
        **{"bulk_retries.page_size": 2, "delivery.circuit_breaker.enabled": False},
    )


@pytest.fixture(autouse=True)
def _jobs_run_by_the_tests(client):
    paused_worker(client)


class Switch:
    """A receiver's health, flipped by the test: down (503) or up (200)."""

    def __init__(self) -> None:
        self.up = False

    def reply(self, _n: int) -> Reply:
        return Reply(200 if self.up else 503)


@pytest.fixture
def switch() -> Switch:
    return Switch()


@pytest.fixture
def receiver(switch):
    with Receiver(switch.reply) as running:
        yield running


def test_dead_letters_of_a_destination_are_counted_then_each_replayed_once(
    client, auth, switch, receiver
):
    source = make_source(client, auth)
    destination = make_route(client, auth, receiver.url, source["id"], retry_policy=NO_RETRIES)
    originals = dead_letters(client, source, [b'{"n": %d}' % n for n in range(7)])
    assert event_detail(client, auth, originals[0])["event"]["status"] == "dead_letter"

    counted = client.post(
        "/v1/bulk-retries",
        json={"filter": {"destination_id": destination["id"]}, "dry_run": True},
        headers=auth,
    )
    assert counted.status_code == 200, counted.text
    assert counted.json()["data"] == {"matched": 7}
    assert client.get("/v1/bulk-retries", headers=auth).json()["data"] == []

    created = create_job(client, auth, destination_id=destination["id"])
    assert set(created) == JOB_FIELDS
    assert created["id"].startswith("bjob_") and created["status"] == "queued"
    assert (created["matched"], created["done"], created["failed"]) == (7, 0, 0)
    assert created["filter"] == {
        "destination_id": destination["id"], "source_id": None, "event_type": None,
        "status": "dead_letter", "from": None, "to": None,
    }  # fmt: skip

    switch.up = True
    run_to_end(client, driven_worker(client))
    finished = job(client, auth, created["id"])
    assert finished["status"] == "completed"
    assert (finished["matched"], finished["done"], finished["failed"]) == (7, 7, 0)
    assert finished["started_at"] and finished["finished_at"]

    made = replays_of(client, created["id"])
    assert sorted(original for _, original in made) == originals  # each once
    for replay_id, original in made:
        replay = event_detail(client, auth, replay_id)["event"]
        assert replay["created_by"] == "replay" and replay["replay_of"] == original
        assert replay["bulk_retry_id"] == created["id"]
        assert replay["status"] == "delivered"
        assert event_detail(client, auth, original)["event"]["status"] == "replayed"
        assert event_detail(client, auth, original)["event"]["bulk_retry_id"] is None
    delivered = Counter(r.headers["webhook-id"] for r in receiver.requests[7:])
    assert sorted(delivered) == sorted(replay_id for replay_id, _ in made)
    assert set(delivered.values()) == {1}
    # Replayed originals no longer match: a second job finds nothing.
    assert create_job(client, auth, dry_run=True, expect=200, destination_id=destination["id"]) == {
        "matched": 0
    }


def test_source_scope_replays_only_to_the_destinations_that_failed(client, auth, switch, receiver):
    with Receiver() as healthy:
        source = make_source(client, auth)
        make_route(client, auth, healthy.url, source["id"], retry_policy=NO_RETRIES)
        make_route(client, auth, receiver.url, source["id"], retry_policy=NO_RETRIES)
        other = make_source(client, auth)
        make_route(client, auth, receiver.url, other["id"], retry_policy=NO_RETRIES)
        originals = dead_letters(client, source, [b"{}", b"{}", b"{}"])
        dead_letters(client, other, [b"{}"])
        assert len(healthy.requests) == 3

        created = create_job(client, auth, source_id=source["id"])
        assert created["matched"] == 3
        switch.up = True
        run_to_end(client, driven_worker(client))
        assert job(client, auth, created["id"])["done"] == 3
        assert len(healthy.requests) == 3  # it had them: not sent again
        made = replays_of(client, created["id"])
        assert sorted(original for _, original in made) == originals
        assert sorted(r.headers["webhook-id"] for r in receiver.requests[4:]) == [
            r for r, _ in made
        ]


def test_event_type_scope_takes_a_glob_as_routes_do(client, auth, switch, receiver):
    source = make_source(client, auth)
    make_route(client, auth, receiver.url, source["id"], retry_policy=NO_RETRIES)
    types = ["invoice.paid", "invoice.failed", "order.created", "invoice"]
    originals = dead_letters(client, source, [b'{"type": "%s"}' % t.encode() for t in types])
    counted = create_job(client, auth, dry_run=True, expect=200, event_type="invoice.*")
    assert counted == {"matched": 2}
    created = create_job(client, auth, event_type="invoice.*")
    switch.up = True
    run_to_end(client, driven_worker(client))
    assert sorted(o for _, o in replays_of(client, created["id"])) == originals[:2]
    assert job(client, auth, created["id"])["done"] == 2


def test_failed_status_retries_deliveries_waiting_to_retry_and_supersedes_them(
    client, auth, clock, switch, receiver
):
    source = make_source(client, auth)
    destination = make_route(client, auth, receiver.url, source["id"])  # default retries
    originals = [ingest(client, source)["id"] for _ in range(3)]
    drain(client)
    assert event_detail(client, auth, originals[0])["event"]["status"] == "retry_scheduled"
    assert create_job(client, auth, dry_run=True, expect=200, destination_id=destination["id"]) == {
        "matched": 0
    }
    created = create_job(client, auth, destination_id=destination["id"], status="failed")
    assert created["matched"] == 3
    switch.up = True
    run_to_end(client, driven_worker(client))
    assert job(client, auth, created["id"])["done"] == 3
    clock.advance(7 * 86_400)  # past every retry the originals had
    drain(client)
    for original in originals:
        detail = event_detail(client, auth, original)
        assert [a["outcome"] for a in detail["attempts"]] == ["http_5xx", "cancelled"]
    made = {replay for replay, _ in replays_of(client, created["id"])}
    assert {r.headers["webhook-id"] for r in receiver.requests[3:]} == made
    assert len(receiver.requests) == 6


def test_time_range_bounds_what_is_retried(client, auth, clock, receiver):
    source = make_source(client, auth)
    make_route(client, auth, receiver.url, source["id"], retry_policy=NO_RETRIES)
    dead_letters(client, source, [b"{}"])
    clock.advance(3600)
    start = clock.now()
    dead_letters(client, source, [b"{}", b"{}"])
    clock.advance(3600)
    dead_letters(client, source, [b"{}"])
    window = {"from": _rfc3339(start), "to": _rfc3339(start + 1800)}
    counted = create_job(client, auth, dry_run=True, expect=200, source_id=source["id"], **window)
    assert counted == {"matched": 2}
    created = create_job(client, auth, source_id=source["id"], **window)
    assert created["filter"]["from"] == window["from"].replace("Z", ".000000Z")


def _rfc3339(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "filter: is required"),
        ({"filter": {}}, "filter: give exactly one of"),
        ({"filter": {"source_id": "src_x", "event_type": "a.*"}}, "filter: give exactly one"),
        ({"filter": {"event_type": "a", "status": "delivered"}}, "filter.status"),
        ({"filter": {"event_type": "a", "from": "yesterday"}}, "filter.from"),
        ({"filter": {"event_type": "a", "to": 1800000000}}, "filter.to"),
        (
            {"filter": {"event_type": "a", "from": "2027-01-02T00:00:00Z", "to": "2027-01-01"}},
            "filter.to: must not be before filter.from",
        ),
        ({"filter": {"event_type": "has space"}}, "filter.event_type"),
        ({"filter": {"event_type": ""}}, "filter.event_type"),
        ({"filter": {"event_type": "a"}, "dry_run": "yes"}, "dry_run"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(client, auth, body, field):
    answer = client.post("/v1/bulk-retries", json=body, headers=auth)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"].startswith(field), answer.json()


def test_another_accounts_ids_are_404(client, auth, receiver):
    _, other_key = new_account(client, "other")
    other = bearer(other_key)
    theirs = make_route(client, other, receiver.url, make_source(client, other)["id"])
    their_source = make_source(client, other)
    for filter_ in ({"destination_id": theirs["id"]}, {"source_id": their_source["id"]}):
        answer = client.post("/v1/bulk-retries", json={"filter": filter_}, headers=auth)
        assert answer.status_code == 404, answer.text
    their_job = create_job(client, other, destination_id=theirs["id"])
    assert client.get(f"/v1/bulk-retries/{their_job['id']}", headers=auth).status_code == 404
    cancel = client.post(f"/v1/bulk-retries/{their_job['id']}/cancel", headers=auth)
    assert cancel.status_code == 404
    assert client.get("/v1/bulk-retries", headers=auth).json()["data"] == []
    assert job(client, other, their_job["id"])["status"] == "queued"


def test_a_viewer_key_may_read_but_not_start_or_cancel(client, auth):
    key = client.post("/v1/api-keys", json={"name": "v", "role": "viewer"}, headers=auth)
    viewer = bearer(key.json()["data"]["key"])
    made = create_job(client, auth, event_type="a.*")
    start = client.post("/v1/bulk-retries", json={"filter": {"event_type": "a"}}, headers=viewer)
    assert start.status_code == 403
    assert client.post(f"/v1/bulk-retries/{made['id']}/cancel", headers=viewer).status_code == 403
    assert job(client, viewer, made["id"])["status"] == "queued"


def test_cancel_stops_further_replays_and_keeps_those_made(client, auth, receiver):
    source = make_source(client, auth)
    make_route(client, auth, receiver.url, source["id"], retry_policy=NO_RETRIES)
    dead_letters(client, source, [b"{}"] * 5)
    created = create_job(client, auth, source_id=source["id"])
    worker = driven_worker(client)
    assert call(client, worker.run_once) == 1
    assert job(client, auth, created["id"])["done"] == 2
    cancelled = client.post(f"/v1/bulk-retries/{created['id']}/cancel", headers=auth)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["data"]["status"] == "cancelled"
    assert cancelled.json()["data"]["finished_at"]
    assert call(client, worker.run_once) == 0
    after = job(client, auth, created["id"])
    assert (after["status"], after["done"]) == ("cancelled", 2)
    assert len(replays_of(client, created["id"])) == 2
    # Cancelling a finished job answers it as it is.
    again = client.post(f"/v1/bulk-retries/{created['id']}/cancel", headers=auth)
    assert again.status_code == 200 and again.json()["data"]["status"] == "cancelled"


def test_list_is_newest_first_and_paged(client, auth):
    made = []
    for _ in range(3):
        made.append(create_job(client, auth, event_type="a.*")["id"])
        client.post(f"/v1/bulk-retries/{made[-1]}/cancel", headers=auth)
    listed = client.get("/v1/bulk-retries", headers=auth).json()["data"]
    assert [j["id"] for j in listed] == made[::-1]
    page = client.get("/v1/bulk-retries", params={"limit": 1, "offset": 1}, headers=auth)
    assert [j["id"] for j in page.json()["data"]] == [made[1]]
    assert client.get("/v1/bulk-retries", params={"limit": 0}, headers=auth).status_code == 400


def test_active_jobs_per_account_are_bounded(client, auth):
    limit = client.app.state.ctx.settings.bulk_retries.max_active_per_account
    made = [create_job(client, auth, event_type="a.*") for _ in range(limit)]
    refused = client.post("/v1/bulk-retries", json={"filter": {"event_type": "a"}}, headers=auth)
    assert refused.status_code == 409
    assert "bulk_retries.max_active_per_account" in refused.json()["error"]
    client.post(f"/v1/bulk-retries/{made[0]['id']}/cancel", headers=auth)
    create_job(client, auth, event_type="a.*")


def test_a_filter_matching_more_than_the_maximum_is_refused(client, auth, receiver):
    client.app.state.ctx.settings.bulk_retries.max_events = 2
    source = make_source(client, auth)
    make_route(client, auth, receiver.url, source["id"], retry_policy=NO_RETRIES)
    dead_letters(client, source, [b"{}"] * 3)
    refused = client.post(
        "/v1/bulk-retries", json={"filter": {"source_id": source["id"]}}, headers=auth
    )
    assert refused.status_code == 400
    assert "more than 2 events" in refused.json()["error"]
    assert "filter.from" in refused.json()["error"]


def test_retention_deletes_finished_jobs_and_keeps_active_ones(client, auth, clock):
    finished = create_job(client, auth, event_type="a.*")
    client.post(f"/v1/bulk-retries/{finished['id']}/cancel", headers=auth)
    clock.advance(31 * 86_400)  # past the default 30 days
    active = create_job(client, auth, event_type="b.*")
    clock.advance(31 * 86_400)
    assert purge(client)["bulk_retries"] == 1
    assert client.get(f"/v1/bulk-retries/{finished['id']}", headers=auth).status_code == 404
    assert job(client, auth, active["id"])["status"] == "queued"
