"""Helpers for the in-process bulk retry tests: make dead letters, create jobs, drive the
worker. The app's own worker is paused (``paused_worker``) so that nothing runs a job behind a
test's back; a test runs passes itself (``run_pass``, ``run_to_end``)."""

from __future__ import annotations

from gethook_lite.tasks.bulk_retries import BulkRetryWorker
from tests.support.api import drain, ingest

__all__ = [
    "NO_RETRIES",
    "call",
    "create_job",
    "dead_letters",
    "driven_worker",
    "job",
    "paused_worker",
    "replays_of",
    "run_to_end",
]

# A failed first attempt dead-letters the delivery at once.
NO_RETRIES = {"max_attempts": 1}


def call(client, fn, *args):
    return client.blocking_portal.call(fn, *args)


def paused_worker(client) -> None:
    """Stop whichever bulk retry worker runs now (jobs then stay queued)."""
    worker = client.app.state.ctx.bulk_retry_worker
    if worker is not None:
        call(client, worker.stop)


def driven_worker(client) -> BulkRetryWorker:
    """A worker prepared as a start prepares it, whose loop does not run: tests call it."""
    worker = BulkRetryWorker(client.app.state.ctx)
    call(client, worker.prepare)
    return worker


def dead_letters(client, source: dict, bodies: list[bytes]) -> list[str]:
    """Ingest each body and run the scheduler: with NO_RETRIES routes to a failing receiver,
    each event is dead-lettered. Their ids, oldest first."""
    ids = [ingest(client, source, body)["id"] for body in bodies]
    drain(client)
    return ids


def create_job(client, auth, expect: int = 202, dry_run: bool = False, **filter_) -> dict:
    answer = client.post(
        "/v1/bulk-retries", json={"filter": filter_, "dry_run": dry_run}, headers=auth
    )
    assert answer.status_code == expect, answer.text
    return answer.json()["data"] if expect < 300 else answer.json()


def job(client, auth, job_id: str) -> dict:
    answer = client.get(f"/v1/bulk-retries/{job_id}", headers=auth)
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


def run_to_end(client, worker: BulkRetryWorker, max_passes: int = 1000) -> int:
    """Run passes (and the scheduler after each) until no job is active; the passes run."""
    for passes in range(1, max_passes + 1):
        left = call(client, worker.run_once)
        drain(client)
        if not left:
            return passes
    raise AssertionError("jobs still active after the passes")


def replays_of(client, job_id: str) -> list[tuple[str, str]]:
    """(replay id, original id) of every replay the job made, in order."""

    def read(conn):
        rows = conn.execute(
            "SELECT id, replay_of FROM events WHERE bulk_retry_id = ? ORDER BY id", (job_id,)
        )
        return [tuple(row) for row in rows]

    return call(client, client.app.state.ctx.db.read, read)
