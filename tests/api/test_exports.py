"""Export jobs through the in-process app: shapes, validation, isolation, the worker's files.

The app's export worker is paused for every test here; each test runs the queued jobs itself
(``finished_job``), with a worker tuned as it needs (small pages), so a job is done when the
call returns. One test keeps the worker's own loop running to show a new job wakes it.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import json

import pytest

from gethook_lite.db import exports as export_store
from gethook_lite.domain.exports import CSV_COLUMNS, exports_dir
from gethook_lite.tasks.exports import ExportWorker
from tests.conftest import bearer, new_account
from tests.support.exports import (
    call,
    create_export,
    driven_worker,
    finished_job,
    paused_worker,
    publish,
    run_jobs,
)
from tests.support.receiver import Receiver, Reply

JOB_FIELDS = {
    "id", "account_id", "status", "format", "filters", "row_count", "size_bytes", "error",
    "created_at", "completed_at",
}  # fmt: skip


# -- helpers -----------------------------------------------------------------------------------


def make_source(client, auth) -> dict:
    answer = client.post("/v1/sources", json={"name": "s"}, headers=auth)
    assert answer.status_code == 201, answer.text
    return answer.json()["data"]


def ingest(client, source: dict, body: bytes, content_type="application/json") -> str:
    answer = client.post(
        f"/ingest/{source['path_token']}", content=body, headers={"content-type": content_type}
    )
    assert answer.status_code == 202, answer.text
    return answer.json()["data"]["id"]


@pytest.fixture(autouse=True)
def _jobs_run_by_the_tests(client):
    paused_worker(client)


def run_export(client, auth, worker: ExportWorker | None = None, **request) -> tuple[dict, bytes]:
    """Create an export, run it, download it; return (job, file content)."""
    job = finished_job(client, auth, create_export(client, auth, **request)["id"], worker)
    assert job["status"] == "completed", job
    answer = client.get(f"/v1/exports/{job['id']}/download", headers=auth)
    assert answer.status_code == 200, answer.text
    return job, answer.content


def api_events(client, auth, path: str = "/v1/outbound-events", **params) -> list[dict]:
    """Every event the list endpoint shows, oldest first (the order exports use)."""
    items, offset = [], 0
    while True:
        page = client.get(
            path, params={"limit": 500, "offset": offset, **params}, headers=auth
        ).json()["data"]
        items.extend(page["items"])
        offset += len(page["items"])
        if offset >= page["total"]:
            return sorted(items, key=lambda event: event["id"])


def jsonl(content: bytes) -> list[dict]:
    return [json.loads(line) for line in content.decode().splitlines()]


def sql(client, statement: str, *params):
    def run(conn):
        return conn.execute(statement, params).fetchall()

    return call(client, client.app.state.ctx.db.write, run)


# -- creating, reading, listing ----------------------------------------------------------------


def test_create_answers_202_with_a_pending_job(client, auth, account):
    job = create_export(client, auth, format="jsonl", status="accepted", since="2027-01-01")
    assert set(job) >= JOB_FIELDS
    assert job["id"].startswith("exp_") and job["account_id"] == account[0]
    assert job["status"] == "pending" and job["format"] == "jsonl"
    assert job["filters"] == {
        "direction": "all",
        "status": "accepted",
        "source_id": None,
        "since": "2027-01-01T00:00:00.000000Z",
        "until": None,
        "include_attempts": False,
    }
    assert job["row_count"] is None and job["completed_at"] is None
    assert job["created_at"].endswith("Z")


def test_job_completes_with_counts_and_is_listed_newest_first(client, auth):
    publish(client, auth, 3)
    first = finished_job(client, auth, create_export(client, auth, format="csv")["id"])
    second = finished_job(client, auth, create_export(client, auth, format="jsonl")["id"])
    assert first["status"] == "completed" and first["row_count"] == 3
    assert first["size_bytes"] > 0 and first["completed_at"] and first["expires_at"]
    assert first["error"] is None
    listed = client.get("/v1/exports", headers=auth).json()["data"]
    assert [job["id"] for job in listed] == [second["id"], first["id"]]
    assert client.get("/v1/exports", params={"limit": 1}, headers=auth).json()["data"] == [second]


def test_empty_export_is_a_valid_empty_file(client, auth):
    job, content = run_export(client, auth, format="jsonl")
    assert job["row_count"] == 0 and content == b""
    job, content = run_export(client, auth, format="csv")
    assert job["row_count"] == 0
    assert list(csv.reader(io.StringIO(content.decode()))) == [list(CSV_COLUMNS)]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "format"),
        ({"format": "xml"}, "format"),
        ({"format": 1}, "format"),
        ({"format": "csv", "direction": "sideways"}, "direction"),
        ({"format": "csv", "status": "lost"}, "status"),
        ({"format": "csv", "since": "last tuesday"}, "since"),
        ({"format": "csv", "until": 5}, "until"),
        ({"format": "csv", "since": "2027-01-02", "until": "2027-01-01"}, "until"),
        ({"format": "csv", "include_attempts": "yes"}, "include_attempts"),
        ({"format": "csv", "source_id": ["src_1"]}, "source_id"),
    ],
)
def test_bad_requests_are_400_naming_the_field(client, auth, body, field):
    answer = client.post("/v1/exports", json=body, headers=auth)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"].startswith(f"{field}:")


def test_malformed_json_is_400_and_unknown_fields_are_ignored(client, auth):
    answer = client.post("/v1/exports", content=b"{nope", headers=auth)
    assert answer.status_code == 400 and "JSON" in answer.json()["error"]
    assert create_export(client, auth, format="csv", colour="blue")["status"] == "pending"


def test_viewer_key_reads_but_cannot_create(client, auth):
    publish(client, auth, 1)
    job = finished_job(client, auth, create_export(client, auth, format="csv")["id"])
    made = client.post("/v1/api-keys", json={"name": "v", "role": "viewer"}, headers=auth)
    viewer = bearer(made.json()["data"]["key"])
    refused = client.post("/v1/exports", json={"format": "csv"}, headers=viewer)
    assert refused.status_code == 403 and "viewer" in refused.json()["error"]
    assert client.get(f"/v1/exports/{job['id']}", headers=viewer).status_code == 200
    assert client.get(f"/v1/exports/{job['id']}/download", headers=viewer).status_code == 200


def test_requests_without_a_key_are_401(client):
    assert client.get("/v1/exports").status_code == 401
    assert client.post("/v1/exports", json={"format": "csv"}).status_code == 401


# -- tenant isolation --------------------------------------------------------------------------


def test_another_accounts_source_is_404(client, auth):
    _, other_key = new_account(client, "other")
    foreign = make_source(client, bearer(other_key))
    answer = client.post(
        "/v1/exports", json={"format": "csv", "source_id": foreign["id"]}, headers=auth
    )
    assert answer.status_code == 404 and answer.json() == {"error": "source not found"}
    unknown = client.post(
        "/v1/exports", json={"format": "csv", "source_id": "src_nope"}, headers=auth
    )
    assert unknown.status_code == 404


def test_another_accounts_job_is_invisible(client, auth):
    publish(client, auth, 2)
    job = finished_job(client, auth, create_export(client, auth, format="csv")["id"])
    _, other_key = new_account(client, "other")
    other = bearer(other_key)
    for path in (f"/v1/exports/{job['id']}", f"/v1/exports/{job['id']}/download"):
        answer = client.get(path, headers=other)
        assert answer.status_code == 404 and answer.json() == {"error": "export not found"}
    assert client.get("/v1/exports", headers=other).json()["data"] == []
    # And the other account's own export holds none of the first account's events.
    publish(client, other, 1)
    theirs, content = run_export(client, other, format="jsonl")
    assert theirs["row_count"] == 1
    assert {event["account_id"] for event in jsonl(content)} == {theirs["account_id"]}


# -- the files ---------------------------------------------------------------------------------


def test_jsonl_lines_are_the_api_view_of_each_event(client, auth):
    source = make_source(client, auth)
    for n in range(4):
        publish(client, auth, 1, external_event_id=f"ext-{n}")
        ingest(client, source, json.dumps({"type": "user.created", "n": n}).encode())
    job, content = run_export(client, auth, format="jsonl")
    expected = api_events(client, auth, "/v1/events") + api_events(client, auth)
    expected.sort(key=lambda event: event["id"])
    assert job["row_count"] == 8 and job["size_bytes"] == len(content)
    assert jsonl(content) == expected
    assert "attempts" not in jsonl(content)[0]


def test_download_headers_name_the_file_after_the_job(client, auth):
    publish(client, auth, 1)
    for format, media_type in (("jsonl", "application/x-ndjson"), ("csv", "text/csv")):
        job = finished_job(client, auth, create_export(client, auth, format=format)["id"])
        answer = client.get(f"/v1/exports/{job['id']}/download", headers=auth)
        assert answer.headers["content-type"].startswith(media_type)
        assert (
            answer.headers["content-disposition"] == f'attachment; filename="{job["id"]}.{format}"'
        )
        assert (exports_dir(client.app.state.ctx.settings) / f"{job['id']}.{format}").is_file()


def test_csv_rows_match_the_api_and_binary_bodies_are_base64(client, auth):
    source = make_source(client, auth)
    text_id = ingest(client, source, b'line one,\n"quoted"\r\nlast', "text/plain")
    binary_id = ingest(client, source, b"\xff\xfe\x00raw", "application/octet-stream")
    publish(client, auth, 1)
    job, content = run_export(client, auth, format="csv")
    rows = list(csv.DictReader(io.StringIO(content.decode(), newline="")))
    assert list(rows[0]) == list(CSV_COLUMNS) and job["row_count"] == 3
    by_id = {row["id"]: row for row in rows}
    assert [row["id"] for row in rows] == sorted(by_id)
    assert by_id[text_id]["body"] == 'line one,\n"quoted"\r\nlast'
    assert by_id[text_id]["body_encoding"] == "" and by_id[text_id]["content_type"] == "text/plain"
    assert by_id[binary_id]["body_encoding"] == "base64"
    assert base64.b64decode(by_id[binary_id]["body"]) == b"\xff\xfe\x00raw"
    everything = api_events(client, auth, "/v1/events") + api_events(client, auth)
    for event in everything:
        row = by_id[event["id"]]
        for column in CSV_COLUMNS:
            if column in ("content_type", "body_encoding"):
                continue
            expected = event.get(column)
            assert row[column] == ("" if expected is None else str(expected)), column


def test_filters_select_the_events(client, auth, clock):
    source, other_source = make_source(client, auth), make_source(client, auth)
    early = ingest(client, source, b"{}")
    clock.advance(3600)
    late = ingest(client, source, b"{}")
    ingest(client, other_source, b"{}")
    outbound = publish(client, auth, 2)

    def exported(**filters) -> list[str]:
        return [
            event["id"] for event in jsonl(run_export(client, auth, format="jsonl", **filters)[1])
        ]

    assert exported(source_id=source["id"]) == [early, late]
    assert exported(direction="outbound") == outbound
    assert len(exported(direction="inbound")) == 3
    assert exported(direction="inbound", source_id=source["id"], since="2027-01-15T08:30:00Z") == [
        late
    ]
    assert exported(until="2027-01-15T08:30:00Z") == [early]
    assert exported(status="delivered") == []
    assert len(exported(status="accepted")) == 5


def test_small_pages_stream_every_event_once_in_id_order(client, auth):
    source = make_source(client, auth)
    for _ in range(7):
        publish(client, auth, 2)
        ingest(client, source, b"{}")
    expected = sorted(
        [e["id"] for e in api_events(client, auth, "/v1/events")]
        + [e["id"] for e in api_events(client, auth)]
    )
    for options in ({"page_events": 4}, {"page_body_bytes": 1}):
        worker = driven_worker(client, **options)
        job, content = run_export(client, auth, worker, format="jsonl")
        assert [event["id"] for event in jsonl(content)] == expected
        assert job["row_count"] == 21


def test_include_attempts_adds_each_events_attempts(client, auth):
    with Receiver(lambda n: Reply(500) if n == 1 else Reply(200)) as receiver:
        destination = client.post(
            "/v1/destinations", json={"name": "d", "url": receiver.url}, headers=auth
        ).json()["data"]
        client.post(
            "/v1/routes",
            json={
                "destination_id": destination["id"],
                "retry_policy": {
                    "max_attempts": 2,
                    "backoff": "fixed",
                    "initial_interval_seconds": 1,
                },
            },
            headers=auth,
        )
        event_id = publish(client, auth, 1)[0]
        ctx = client.app.state.ctx
        call(client, ctx.scheduler.drain)
        ctx.clock.advance(2)
        call(client, ctx.scheduler.drain)
    detail = client.get(f"/v1/outbound-events/{event_id}", headers=auth).json()["data"]
    assert len(detail["attempts"]) == 2
    _, content = run_export(client, auth, format="jsonl", include_attempts=True)
    [line] = jsonl(content)
    assert line == {**detail["event"], "attempts": detail["attempts"]}


# -- lifecycle: not ready, resumed, failed, expired --------------------------------------------


def test_download_is_409_until_the_job_completes(client, auth):
    publish(client, auth, 2)
    job = create_export(client, auth, format="csv")
    answer = client.get(f"/v1/exports/{job['id']}/download", headers=auth)
    assert answer.status_code == 409
    assert answer.json() == {"error": "export is not completed yet (status: pending)"}
    assert finished_job(client, auth, job["id"])["row_count"] == 2


def test_job_left_running_by_a_restart_is_run_again_from_scratch(client, auth):
    publish(client, auth, 3)
    job = create_export(client, auth, format="jsonl")
    sql(client, "UPDATE exports SET status = 'running' WHERE id = ?", job["id"])
    leftover = exports_dir(client.app.state.ctx.settings) / f"{job['id']}.jsonl.part"
    leftover.write_bytes(b"half a line from the process that died")
    assert client.get(f"/v1/exports/{job['id']}", headers=auth).json()["data"]["status"] == (
        "running"
    )
    worker = driven_worker(client)  # prepared as the next start prepares it
    done = finished_job(client, auth, job["id"], worker)
    content = client.get(f"/v1/exports/{job['id']}/download", headers=auth).content
    assert done["status"] == "completed" and done["row_count"] == 3
    assert len(jsonl(content)) == 3 and not leftover.exists()


def test_write_failure_marks_the_job_failed_without_leaking_paths(client, auth):
    directory = exports_dir(client.app.state.ctx.settings)
    directory.rmdir()
    directory.write_text("not a directory")  # every write into it now fails
    job = finished_job(client, auth, create_export(client, auth, format="csv")["id"])
    assert job["status"] == "failed"
    assert job["error"].startswith("could not write the export file")
    assert str(directory) not in job["error"]
    answer = client.get(f"/v1/exports/{job['id']}/download", headers=auth)
    assert answer.status_code == 409


def test_files_expire_after_the_ttl(client, auth, clock):
    publish(client, auth, 1)
    job = finished_job(client, auth, create_export(client, auth, format="csv")["id"])
    path = exports_dir(client.app.state.ctx.settings) / f"{job['id']}.csv"
    ttl = client.app.state.ctx.settings.exports.ttl_hours * 3600
    clock.advance(ttl - 1)
    assert client.get(f"/v1/exports/{job['id']}/download", headers=auth).status_code == 200
    clock.advance(1)
    gone = client.get(f"/v1/exports/{job['id']}/download", headers=auth)
    assert gone.status_code == 410 and "expired" in gone.json()["error"]
    # The worker deletes the file on its next pass.
    run_jobs(client)
    assert not path.exists()
    kept = client.get(f"/v1/exports/{job['id']}", headers=auth).json()["data"]
    assert kept["status"] == "completed" and kept["row_count"] == 1


def test_a_new_job_wakes_the_running_worker_at_once(client, auth):
    publish(client, auth, 1)
    ctx = client.app.state.ctx
    # It would otherwise look only once an hour: finishing within seconds proves the wake.
    worker = ExportWorker(ctx, poll_seconds=3600)
    call(client, worker.start)
    try:
        job = create_export(client, auth, format="csv")

        async def completed() -> dict:
            async with asyncio.timeout(10):
                while True:
                    row = await ctx.db.read(export_store.get_export, job["account_id"], job["id"])
                    if row["status"] == "completed":
                        return row
                    await asyncio.sleep(0.01)

        assert call(client, completed)["row_count"] == 1
    finally:
        call(client, worker.stop)
