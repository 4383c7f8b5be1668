"""Helpers for the in-process export tests: publish events, create jobs, drive the worker.

The app's own worker is paused (``paused_worker``) so that nothing runs a job behind a test's
back; a test then runs the queued jobs itself (``finished_job``, ``run_jobs``), and a job is
finished when the call returns: no waiting, no polling.
"""

from __future__ import annotations

from gethook_lite.tasks.exports import ExportWorker

__all__ = [
    "call",
    "create_export",
    "driven_worker",
    "finished_job",
    "paused_worker",
    "publish",
    "run_jobs",
]


def call(client, fn, *args):
    return client.blocking_portal.call(fn, *args)


def publish(client, auth, count: int, **fields) -> list[str]:
    ids = []
    for n in range(count):
        body = {"payload": {"n": n}, "event_type": f"order.{n % 3}", **fields}
        answer = client.post("/v1/outbound-events", json=body, headers=auth)
        assert answer.status_code == 202, answer.text
        ids.append(answer.json()["data"]["id"])
    return ids


def create_export(client, auth, **request) -> dict:
    answer = client.post("/v1/exports", json=request, headers=auth)
    assert answer.status_code == 202, answer.text
    return answer.json()["data"]


def paused_worker(client) -> None:
    """Stop whichever export worker runs now (jobs then stay pending)."""
    worker = client.app.state.ctx.export_worker
    if worker is not None:
        call(client, worker.stop)


def driven_worker(client, **options) -> ExportWorker:
    """A worker built with ``options`` and prepared as a start prepares it (jobs a dead
    process left running are queued again), whose loop does not run: tests call it."""
    worker = ExportWorker(client.app.state.ctx, **options)
    call(client, worker.prepare)
    return worker


def run_jobs(client, worker: ExportWorker | None = None) -> int:
    """One pass of the worker: expired files deleted, every queued job run to its end."""
    return call(client, (worker or ExportWorker(client.app.state.ctx)).run_once)


def finished_job(client, auth, export_id: str, worker: ExportWorker | None = None) -> dict:
    """Run the queued jobs, then the job as the API shows it (completed or failed)."""
    run_jobs(client, worker)
    job = client.get(f"/v1/exports/{export_id}", headers=auth).json()["data"]
    assert job["status"] in ("completed", "failed"), job
    return job
