"""Helpers of the retention tests: an app on a fake clock and the calls they repeat."""

from __future__ import annotations

from contextlib import contextmanager

from litestar.testing import TestClient

from gethook_lite.app import create_app
from gethook_lite.db import retention as retention_store
from gethook_lite.db.rows import insert
from gethook_lite.tasks import retention
from tests.conftest import FAST_PASSWORDS, make_settings

DAY = 86_400.0


@contextmanager
def app_client(tmp_path, clock, **overrides):
    settings = make_settings(tmp_path, **overrides)
    app = create_app(settings, clock=clock, passwords=FAST_PASSWORDS, start_scheduler=False)
    with TestClient(app) as client:
        yield client


def ctx_of(client):
    return client.app.state.ctx


def run(client, fn, *args):
    return client.blocking_portal.call(fn, *args)


def purge(client) -> dict:
    return run(client, retention.purge_once, ctx_of(client))


def drain(client) -> int:
    return run(client, ctx_of(client).scheduler.drain)


def count(client, sql: str, *args) -> int:
    return run(client, ctx_of(client).db.read, lambda conn: conn.execute(sql, args).fetchone()[0])


def set_retention(client, account_id: str, days: int) -> None:
    assert run(
        client, ctx_of(client).db.write, retention_store.set_retention_days, account_id, days
    )


def make_source(client, auth, url: str | None = None) -> dict:
    source = client.post("/v1/sources", json={"name": "s"}, headers=auth).json()["data"]
    if url is not None:
        destination = client.post(
            "/v1/destinations", json={"name": "d", "url": url}, headers=auth
        ).json()["data"]
        route = {"destination_id": destination["id"], "source_id": source["id"]}
        assert client.post("/v1/routes", json=route, headers=auth).status_code == 201
    return source


def ingest(client, source: dict, body: bytes = b"{}") -> str:
    answer = client.post(f"/ingest/{source['path_token']}", content=body)
    assert answer.status_code == 202, answer.text
    return answer.json()["data"]["id"]


def exists(client, auth, event_id: str) -> bool:
    answer = client.get(f"/v1/events/{event_id}", headers=auth)
    assert answer.status_code in (200, 404), answer.text
    return answer.status_code == 200


def add_export(client, account_id: str, job_id: str, **fields) -> None:
    now = ctx_of(client).clock.now()
    row = {
        "id": job_id,
        "account_id": account_id,
        "status": "completed",
        "format": "jsonl",
        "filters": "{}",
        "file_name": f"{job_id}.jsonl",
        "created_at": now,
        "completed_at": now,
        "expires_at": None,
        **fields,
    }
    run(client, ctx_of(client).db.write, insert, "exports", row)
    if row["file_name"] and "/" not in row["file_name"]:
        folder = ctx_of(client).settings.data_dir / "exports"
        folder.mkdir(exist_ok=True)
        (folder / row["file_name"]).write_text("{}\n")
