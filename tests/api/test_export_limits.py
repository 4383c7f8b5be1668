"""Exports are bounded per account and fair between accounts (issue 20).

Before: twenty exports of one account wrote 6 GB kept for 24 h, and another account's small
export waited 29 s behind them. The worker is driven with ``run_once`` / ``claim_next``.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager

import pytest
from litestar.testing import TestClient

from gethook_lite.app import create_app
from gethook_lite.domain.exports import exports_dir
from gethook_lite.tasks import exports as exports_task
from gethook_lite.tasks.exports import ExportWorker
from tests.conftest import FAST_PASSWORDS, bearer, make_settings, new_account
from tests.support.exports import call, create_export, paused_worker, publish


@contextmanager
def app_client(tmp_path, clock, **exports):
    settings = make_settings(tmp_path, **{f"exports.{k}": v for k, v in exports.items()})
    app = create_app(settings, clock=clock, passwords=FAST_PASSWORDS, start_scheduler=False)
    with TestClient(app) as client:
        paused_worker(client)  # jobs stay pending until a test runs the worker
        yield client


def account(client, name: str) -> dict[str, str]:
    return bearer(new_account(client, name)[1])


def job_of(client, auth, export_id: str) -> dict:
    return client.get(f"/v1/exports/{export_id}", headers=auth).json()["data"]


def refused(client, auth, status: int) -> str:
    answer = client.post("/v1/exports", json={"format": "csv"}, headers=auth)
    assert answer.status_code == status, answer.text
    return answer.json()["error"]


def test_jobs_queued_or_running_per_account_are_capped_with_409(tmp_path, clock):
    with app_client(tmp_path, clock, max_active_per_account=2) as client:
        auth, other = account(client, "a"), account(client, "b")
        create_export(client, auth, format="csv")
        create_export(client, auth, format="jsonl")
        assert "exports.max_active_per_account" in refused(client, auth, 409)
        create_export(client, other, format="csv")  # another account has its own budget
        call(client, ExportWorker(client.app.state.ctx).run_once)
        create_export(client, auth, format="csv")  # finished jobs no longer count


def test_finished_files_per_account_are_capped_with_409(tmp_path, clock):
    with app_client(tmp_path, clock, max_stored_per_account=1) as client:
        auth = account(client, "a")
        job = create_export(client, auth, format="csv")
        call(client, ExportWorker(client.app.state.ctx).run_once)
        assert job_of(client, auth, job["id"])["status"] == "completed"
        assert "exports.max_stored_per_account" in refused(client, auth, 409)


def test_a_job_growing_past_the_stored_bytes_fails_and_leaves_no_file(tmp_path, clock):
    with app_client(tmp_path, clock, max_stored_bytes_per_account=1024) as client:
        auth = account(client, "a")
        publish(client, auth, 40)  # ~200 bytes per JSONL line
        job = create_export(client, auth, format="jsonl")
        worker = ExportWorker(client.app.state.ctx, page_events=2)
        call(client, worker.run_once)
        failed = job_of(client, auth, job["id"])
        assert failed["status"] == "failed"
        assert "exports.max_stored_bytes_per_account" in failed["error"]
        assert list(exports_dir(client.app.state.ctx.settings).iterdir()) == []


def test_below_the_disk_floor_new_exports_are_503(tmp_path, clock):
    with app_client(tmp_path, clock, min_free_disk_bytes=10**18) as client:
        auth = account(client, "a")
        error = refused(client, auth, 503)
        assert "exports.min_free_disk_bytes" in error and "disk" in error


def test_a_running_job_fails_when_the_disk_falls_below_the_floor(client, auth):
    paused_worker(client)
    publish(client, auth, 3)
    job = create_export(client, auth, format="csv")
    worker = ExportWorker(client.app.state.ctx, disk_free=lambda path: 0)
    call(client, worker.run_once)
    failed = job_of(client, auth, job["id"])
    assert failed["status"] == "failed" and "exports.min_free_disk_bytes" in failed["error"]
    assert list(exports_dir(client.app.state.ctx.settings).iterdir()) == []


def test_the_worker_takes_accounts_in_turn(tmp_path, clock):
    with app_client(tmp_path, clock, max_active_per_account=3) as client:
        first, second = account(client, "a"), account(client, "b")
        a1 = create_export(client, first, format="csv")
        a2 = create_export(client, first, format="csv")
        a3 = create_export(client, first, format="csv")
        b1 = create_export(client, second, format="csv")
        worker = ExportWorker(client.app.state.ctx)
        order = [call(client, worker.claim_next)["id"] for _ in range(4)]
        # Oldest first would be a1, a2, a3, b1: the other account waited for all of them.
        assert order == [a1["id"], b1["id"], a2["id"], a3["id"]]
        assert call(client, worker.claim_next) is None


def test_a_small_export_is_not_held_behind_another_accounts_large_one(
    tmp_path, clock, monkeypatch, caplog: pytest.LogCaptureFixture
):
    with app_client(tmp_path, clock) as client:
        heavy, light = account(client, "heavy"), account(client, "light")
        publish(client, heavy, 60)
        publish(client, light, 1)
        large = create_export(client, heavy, format="jsonl")
        small = create_export(client, light, format="jsonl")
        worker = ExportWorker(client.app.state.ctx, page_events=1)
        # The large job's pages wait (10 s at most in all) until the small file is published:
        # on a loaded machine one commit can outlast 60 pages of reads, which would decide the
        # order by timing. A worker that ran one job at a time still finishes the large first.
        small_file = exports_dir(client.app.state.ctx.settings) / f"{small['id']}.jsonl"
        append_page = exports_task._append_page
        deadline = time.monotonic() + 10

        def large_pages_wait_for_the_small_file(path, *args):
            while path.name.startswith(large["id"]) and not small_file.exists():
                if time.monotonic() > deadline:
                    break
                time.sleep(0.01)
            return append_page(path, *args)

        monkeypatch.setattr(exports_task, "_append_page", large_pages_wait_for_the_small_file)
        with caplog.at_level(logging.INFO, logger="gethook_lite.tasks.exports"):
            assert call(client, worker.run_once) == 2
        completed = [r.args[0] for r in caplog.records if "completed" in r.getMessage()]
        # Before: one job at a time, oldest first: the small one waited for all 60 pages.
        assert completed == [small["id"], large["id"]]
