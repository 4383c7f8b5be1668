"""Bulk retry: replay the dead letters (or the deliveries waiting to retry) of one destination,
source or event type in a time range, as a job with progress, cancellable.

Decisions:

- A request counts what it will retry (``matched``) and queues a job; ``dry_run`` only counts.
  Each event is replayed by the one replay rule (``events.replay_event``), to the destinations
  whose deliveries matched only (``only_destinations``): a destination that already got the
  event is not sent it again. The replay names the job (``bulk_retry_id`` on the event).
- "dead_letter" matches events with a dead-lettered delivery in scope; "failed" those with a
  delivery in scope waiting to retry (pending after at least one attempt), whose retry the
  replay supersedes. An event already replayed (status ``replayed``) is left out: its replay
  stands for it.
- The job works in event id order with a durable cursor, a page at a time (see
  ``work_page``). Each replay commits with the original's ``replayed`` mark, and a replayed
  event no longer matches, so a page worked through again after a crash replays nothing twice.
- Only events that existed when the job was made can match (``upto``, an id of that moment):
  replays it makes, should they fail in turn, are never retried by the same job.
- Bounds: ``bulk_retries.max_active_per_account`` jobs queued or running (409 beyond), at most
  ``bulk_retries.max_events`` events per job (400 beyond: narrow the time range).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from gethook_lite.clock import format_time
from gethook_lite.config import BulkRetrySettings
from gethook_lite.context import Context
from gethook_lite.db import bulk_retries as store
from gethook_lite.db.bulk_retries import RetryScope
from gethook_lite.db.resources import get_destination, get_source
from gethook_lite.domain.accounts import Caller
from gethook_lite.domain.events import replay_event
from gethook_lite.domain.text import optional_time
from gethook_lite.errors import BadRequest, Conflict, NotFound
from gethook_lite.ids import new_id
from gethook_lite.patterns import compile_pattern, validate_event_type_pattern

__all__ = [
    "JOB_STATUSES",
    "RETRY_STATUSES",
    "BulkRetryFilter",
    "JobPlan",
    "PageOutcome",
    "cancel_bulk_retry",
    "create_bulk_retry",
    "get_bulk_retry",
    "job_plan",
    "list_bulk_retries",
    "present_job",
    "work_page",
]

RETRY_STATUSES = ("dead_letter", "failed")
JOB_STATUSES = ("queued", "running", "completed", "cancelled", "failed")
_MAX_ID_LENGTH = 255


@dataclass(frozen=True, slots=True)
class BulkRetryFilter:
    """A request's filter as given (the API's struct, unvalidated)."""

    destination_id: str | None = None
    source_id: str | None = None
    event_type: str | None = None
    status: str = "dead_letter"
    since: str | None = None
    until: str | None = None


@dataclass(frozen=True, slots=True)
class JobPlan:
    """A job's filter, parsed for the worker: what to read and which event types pass."""

    scope: RetryScope
    event_type: str | None

    def keeps(self, event_type: str | None) -> bool:
        """Whether an event of this type is in the job (the routes' glob matcher)."""
        return self.event_type is None or compile_pattern(self.event_type).matches(event_type)


@dataclass(frozen=True, slots=True)
class PageOutcome:
    """What one page of a job did."""

    replayed: int
    failed: int
    # The job ended: every match worked through (completed), or it was cancelled meanwhile.
    ended: bool


async def create_bulk_retry(
    ctx: Context, caller: Caller, wanted: BulkRetryFilter, *, dry_run: bool
) -> dict:
    """Count the events the filter matches and queue a job retrying them (with ``dry_run``,
    only count). The job as created, or ``{"matched": N}`` for a dry run."""
    caller.require_write()
    plan, shown = await _validated(ctx, caller, wanted)
    limits = ctx.settings.bulk_retries
    # Events made from here on are never part of this job (its own replays among them).
    upto = new_id("evt")
    matched = await ctx.db.read(
        store.count_candidates,
        caller.account_id,
        plan.scope,
        upto,
        limits.max_events,
        plan.keeps if plan.event_type is not None else None,
    )
    if matched > limits.max_events:
        raise BadRequest(
            f"filter: matches more than {limits.max_events} events, the most one bulk retry"
            " takes (bulk_retries.max_events); narrow it with filter.from and filter.to"
        )
    if dry_run:
        return {"matched": matched}
    job = {
        "id": new_id("bjob"),
        "account_id": caller.account_id,
        "status": "queued",
        "filter": json.dumps(shown),
        "matched": matched,
        "done": 0,
        "failed": 0,
        "cursor": "",
        "upto": upto,
        "error": None,
        "created_at": ctx.clock.now(),
        "started_at": None,
        "finished_at": None,
    }
    await ctx.db.write(_insert_within_limits, job, limits)
    if ctx.bulk_retry_worker is not None:
        ctx.bulk_retry_worker.wake()
    return job


def _insert_within_limits(conn, job: dict, limits: BulkRetrySettings) -> None:
    # Counted in the insert's transaction, so concurrent creates cannot both pass the check.
    active = store.active_count(conn, job["account_id"])
    if active >= limits.max_active_per_account:
        raise Conflict(
            f"bulk retries: {active} jobs are already queued or running, the limit"
            " (bulk_retries.max_active_per_account); wait for one to finish or cancel one"
        )
    store.insert_job(conn, job)


async def _validated(
    ctx: Context, caller: Caller, wanted: BulkRetryFilter
) -> tuple[JobPlan, dict[str, Any]]:
    """The job's plan and its filter as the API shows it; 400 naming the field, 404 for a
    destination or source that is not the caller's."""
    scopes = [
        name
        for name in ("destination_id", "source_id", "event_type")
        if getattr(wanted, name) is not None
    ]
    if len(scopes) != 1:
        raise BadRequest(
            "filter: give exactly one of filter.destination_id, filter.source_id or"
            " filter.event_type"
        )
    if wanted.status not in RETRY_STATUSES:
        raise BadRequest(f"filter.status: must be one of {', '.join(RETRY_STATUSES)}")
    for name in ("destination_id", "source_id"):
        value = getattr(wanted, name)
        if value is not None and not 0 < len(value) <= _MAX_ID_LENGTH:
            raise BadRequest(f"filter.{name}: must be 1 to {_MAX_ID_LENGTH} characters")
    try:
        pattern = validate_event_type_pattern(
            wanted.event_type, ctx.settings.routes.max_pattern_length
        )
    except ValueError as exc:
        raise BadRequest(f"filter.event_type: {exc}") from None
    if wanted.event_type is not None and pattern is None:
        raise BadRequest("filter.event_type: must not be empty")
    since = optional_time(wanted.since, "filter.from")
    until = optional_time(wanted.until, "filter.to")
    if since is not None and until is not None and until < since:
        raise BadRequest("filter.to: must not be before filter.from")
    # Another account's id answers like an unknown one: its existence stays hidden.
    if wanted.destination_id is not None and not await ctx.db.read(
        get_destination, caller.account_id, wanted.destination_id
    ):
        raise NotFound("destination not found")
    if wanted.source_id is not None and not await ctx.db.read(
        get_source, caller.account_id, wanted.source_id
    ):
        raise NotFound("source not found")
    scope = RetryScope(
        status=wanted.status,
        destination_id=wanted.destination_id,
        source_id=wanted.source_id,
        since=since,
        until=until,
    )
    shown = {
        "destination_id": wanted.destination_id,
        "source_id": wanted.source_id,
        "event_type": pattern,
        "status": wanted.status,
        "from": format_time(since),
        "to": format_time(until),
    }
    return JobPlan(scope, pattern), shown


def job_plan(job: dict) -> JobPlan:
    """A stored job's plan (its filter was validated when it was created)."""
    shown = json.loads(job["filter"])
    scope = RetryScope(
        status=shown["status"],
        destination_id=shown["destination_id"],
        source_id=shown["source_id"],
        since=optional_time(shown["from"], "filter.from"),
        until=optional_time(shown["to"], "filter.to"),
    )
    return JobPlan(scope, shown["event_type"])


async def get_bulk_retry(ctx: Context, caller: Caller, job_id: str) -> dict:
    job = await ctx.db.read(store.get_job, caller.account_id, job_id)
    if job is None:
        raise NotFound("bulk retry not found")
    return job


async def list_bulk_retries(ctx: Context, caller: Caller, limit: int, offset: int) -> list[dict]:
    """The caller's jobs, newest first."""
    return await ctx.db.read(store.list_jobs, caller.account_id, limit, offset)


async def cancel_bulk_retry(ctx: Context, caller: Caller, job_id: str) -> dict:
    """Stop a queued or running job from making more replays (those made stay, and are
    delivered); a finished job is answered as it is."""
    caller.require_write()
    job = await ctx.db.write(store.cancel_job, caller.account_id, job_id, ctx.clock.now())
    if job is None:
        raise NotFound("bulk retry not found")
    return job


async def work_page(ctx: Context, job: dict, limit: int) -> PageOutcome:
    """Replay the next page (at most ``limit`` candidates) of a running job and record it.

    The cursor moves past the page and the counts grow in one write after it. A crash before
    that write leaves the cursor before the page: the page is read again at the next start,
    and the events this run replayed are no longer in it (``store.candidates``).
    """
    plan = job_plan(job)
    rows = await ctx.db.read(
        store.candidates, job["account_id"], plan.scope, job["cursor"], job["upto"], limit
    )
    # The job acts for its account, as the admin key that created it did.
    caller = Caller(account_id=job["account_id"], key_id=f"bulk_retry:{job['id']}", role="admin")
    cursor, replayed, failed, cancelled = job["cursor"], 0, 0, False
    for row in rows:
        if plan.keeps(row.event_type):
            # Looked up before each replay, so a cancel stops the job within one event.
            if await ctx.db.read(store.job_status, job["id"]) != "running":
                cancelled = True
                break
            try:
                await replay_event(
                    ctx,
                    caller,
                    row.direction,
                    row.event_id,
                    only_destinations=row.destination_ids,
                    bulk_retry_id=job["id"],
                )
            except (NotFound, Conflict):
                # Deleted by retention meanwhile, or no current route goes to the destination.
                failed += 1
            else:
                replayed += 1
        cursor = row.event_id
    exhausted = not cancelled and len(rows) < limit
    running = await ctx.db.write(
        store.record_page,
        job["id"],
        cursor=cursor,
        done=replayed,
        failed=failed,
        finished_at=ctx.clock.now() if exhausted else None,
    )
    return PageOutcome(replayed, failed, ended=exhausted or cancelled or not running)


def present_job(job: dict) -> dict:
    """The API shape of a bulk retry job."""
    return {
        "id": job["id"],
        "account_id": job["account_id"],
        "status": job["status"],
        "filter": json.loads(job["filter"]),
        "matched": job["matched"],
        "done": job["done"],
        "failed": job["failed"],
        "error": job["error"],
        "created_at": format_time(job["created_at"]),
        "started_at": format_time(job["started_at"]),
        "finished_at": format_time(job["finished_at"]),
    }
