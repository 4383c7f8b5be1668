"""Bulk retry jobs: retry the failed deliveries of a destination, source or event type."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from litestar import Response, Router, get, post
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, JSONBody, Parameter

from gethook_lite.api.common import (
    AUTH_GUARDS,
    AUTHENTICATED,
    Ctx,
    CurrentCaller,
    Envelope,
    ReadModel,
    enveloped,
)
from gethook_lite.domain import bulk_retry

__all__ = ["bulk_retry_router"]

MAX_JOBS_PAGE = 500
MAX_OFFSET = 1_000_000


class RetryFilter(msgspec.Struct, kw_only=True):
    """Which failed deliveries to retry: exactly one of ``destination_id``, ``source_id`` or
    ``event_type`` (a glob such as ``invoice.*``, as routes match), ``status`` dead_letter (the
    default) or failed (waiting to retry), and received ``from``/``to`` (RFC 3339, inclusive)."""

    destination_id: str | None = None
    source_id: str | None = None
    event_type: str | None = None
    # A plain string (not Literal): the domain names the allowed values in its 400 message.
    status: str = "dead_letter"
    since: str | None = msgspec.field(name="from", default=None)
    until: str | None = msgspec.field(name="to", default=None)


class CreateBulkRetry(msgspec.Struct, kw_only=True):
    """POST /v1/bulk-retries."""

    filter: RetryFilter
    # Only count what the filter matches: 200 ``{matched}``, no job.
    dry_run: bool = False


class ShownFilter(ReadModel):
    """A job's filter, validated (times normalised to RFC 3339 UTC)."""

    destination_id: str | None
    source_id: str | None
    event_type: str | None
    status: Literal["dead_letter", "failed"]
    since: str | None = msgspec.field(name="from")
    until: str | None = msgspec.field(name="to")


class BulkRetryJob(ReadModel):
    """A bulk retry job: ``matched`` events counted when it was created, ``done`` replayed so
    far, ``failed`` that could not be replayed (no current route to the destination, or
    deleted by retention)."""

    id: str
    account_id: str
    status: Literal["queued", "running", "completed", "cancelled", "failed"]
    filter: ShownFilter
    matched: int
    done: int
    failed: int
    error: str | None
    created_at: str
    started_at: str | None
    finished_at: str | None


class BulkRetryCount(ReadModel):
    """What a dry run counted: the events a job with this filter would retry."""

    matched: int


@post(
    "/bulk-retries",
    tags=["Bulk retries"],
    status_code=202,
    summary="Start a bulk retry",
    responses={
        200: ResponseSpec(
            data_container=Envelope[BulkRetryCount], description="dry_run: the count, no job"
        )
    },
)
async def create_bulk_retry(
    ctx: Ctx, caller: CurrentCaller, data: JSONBody[CreateBulkRetry]
) -> Response[Envelope[BulkRetryJob]]:
    """Count the events the filter matches and queue a job replaying each (202, the job);
    with ``dry_run``, only count (200 ``{matched}``)."""
    given = data.filter
    wanted = bulk_retry.BulkRetryFilter(
        destination_id=given.destination_id,
        source_id=given.source_id,
        event_type=given.event_type,
        status=given.status,
        since=given.since,
        until=given.until,
    )
    made = await bulk_retry.create_bulk_retry(ctx, caller, wanted, dry_run=data.dry_run)
    if data.dry_run:
        counted = enveloped(made, BulkRetryCount)
        return Response(counted, status_code=200)  # type: ignore[arg-type]
    return Response(enveloped(bulk_retry.present_job(made), BulkRetryJob), status_code=202)


@get("/bulk-retries", tags=["Bulk retries"], summary="List bulk retries")
async def list_bulk_retries(
    ctx: Ctx,
    caller: CurrentCaller,
    limit: Annotated[int, Parameter(ge=1, le=MAX_JOBS_PAGE, description="page size")] = 50,
    offset: Annotated[int, Parameter(ge=0, le=MAX_OFFSET, description="jobs to skip")] = 0,
) -> Envelope[list[BulkRetryJob]]:
    """The caller's bulk retry jobs, newest first."""
    jobs = await bulk_retry.list_bulk_retries(ctx, caller, limit, offset)
    return enveloped([bulk_retry.present_job(job) for job in jobs], list[BulkRetryJob])


@get("/bulk-retries/{bulk_retry_id:str}", tags=["Bulk retries"], summary="Get a bulk retry")
async def get_bulk_retry(
    ctx: Ctx, caller: CurrentCaller, bulk_retry_id: FromPath[str]
) -> Envelope[BulkRetryJob]:
    """One job and its progress."""
    job = await bulk_retry.get_bulk_retry(ctx, caller, bulk_retry_id)
    return enveloped(bulk_retry.present_job(job), BulkRetryJob)


@post(
    "/bulk-retries/{bulk_retry_id:str}/cancel",
    tags=["Bulk retries"],
    status_code=200,
    summary="Cancel a bulk retry",
)
async def cancel_bulk_retry(
    ctx: Ctx, caller: CurrentCaller, bulk_retry_id: FromPath[str]
) -> Envelope[BulkRetryJob]:
    """Stop a queued or running job making more replays; those it made stay and are
    delivered. A finished job is answered as it is. Takes no body."""
    job = await bulk_retry.cancel_bulk_retry(ctx, caller, bulk_retry_id)
    return enveloped(bulk_retry.present_job(job), BulkRetryJob)


bulk_retry_router = Router(
    "/v1",
    route_handlers=[create_bulk_retry, list_bulk_retries, get_bulk_retry, cancel_bulk_retry],
    dependencies=AUTHENTICATED,
    guards=AUTH_GUARDS,
)
