"""Export jobs: ask for a file of your events, poll the job, download the file.

Decisions (the contract leaves these open):

- A job is written by the background worker (``gethook_lite.tasks.exports``) into
  ``<data_dir>/exports/<job id>.<ext>``: the file name comes from the job id only, never from
  input. The file appears under that name only once complete. The worker takes accounts in
  turn, so one account's large exports never hold back another's small one.
- Bounds, per account: ``exports.max_active_per_account`` jobs queued or running and
  ``exports.max_stored_per_account`` finished files (``max_stored_bytes_per_account`` bytes)
  at once; one more answers 409 naming the setting, and a job that grows past the bytes fails.
  Below ``exports.min_free_disk_bytes`` of free disk a new export answers 503 and a running
  one fails: the database needs that space more.
- Events are written in id (arrival) order, read in keyset pages. An export is not a snapshot:
  each page shows the events as they were when it was read, and events arriving while the
  export runs may be included.
- A job interrupted by a restart is run again from scratch at the next start.
- Expiry: ``exports.ttl_hours`` after completion the file is deleted. The job keeps its status
  ``completed`` (the contract's four statuses stay the only ones) and shows ``expires_at``; its
  download answers 410 Gone from then on, until the retention task deletes the expired job
  itself (then 404, as for any unknown id).
- ``include_attempts`` only changes JSONL; a CSV row is one event (``attempts_count`` counts
  them). CSV cells are written verbatim (no spreadsheet-formula escaping), so the file parses
  back to exactly what the API shows.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from gethook_lite.clock import format_time, parse_time
from gethook_lite.config import ExportSettings, Settings
from gethook_lite.context import Context
from gethook_lite.db import exports as store
from gethook_lite.db.events import EventFilters
from gethook_lite.domain.accounts import Caller
from gethook_lite.domain.events import EVENT_STATUSES, present_attempt, present_event
from gethook_lite.domain.text import optional_time
from gethook_lite.errors import (
    BadRequest,
    Conflict,
    DomainError,
    NotFound,
    ServiceUnavailable,
)
from gethook_lite.ids import new_id

__all__ = [
    "CSV_COLUMNS",
    "DIRECTIONS",
    "EXPORT_FORMATS",
    "MEDIA_TYPES",
    "Download",
    "ExportGone",
    "ExportLimitReached",
    "ExportPlan",
    "check_disk_floor",
    "create_export",
    "download_export",
    "export_file_name",
    "exports_dir",
    "file_header",
    "format_page",
    "get_export",
    "list_exports",
    "plan_export",
    "present_export",
]

EXPORT_FORMATS = ("jsonl", "csv")
DIRECTIONS = ("inbound", "outbound", "all")
MEDIA_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv"}
CSV_COLUMNS = (
    "id", "direction", "source_id", "event_type", "external_event_id", "status", "final_state",
    "attempts_count", "received_at", "payload_hash", "content_type", "body", "body_encoding",
)  # fmt: skip
# Job ids are ours (new_id), but the file name is built from them: refuse anything else.
_SAFE_ID = re.compile(r"^exp_[0-9a-z]+$")
# What the worker fills in later; null in a new job.
_RESULT_FIELDS = ("file_name", "row_count", "size_bytes", "error", "completed_at", "expires_at")


class ExportGone(DomainError):
    """The export finished but its file has expired (410)."""

    status_code = 410


class ExportLimitReached(Exception):
    """A running job stopped at a bound; the message is the job's ``error``, safe to show."""


@dataclass(frozen=True, slots=True)
class Download:
    """What the download endpoint streams."""

    path: Path
    filename: str
    media_type: str


@dataclass(frozen=True, slots=True)
class ExportPlan:
    """A job's filters, parsed for the worker."""

    format: str
    directions: tuple[str, ...]
    filters: EventFilters
    include_attempts: bool


async def create_export(
    ctx: Context,
    caller: Caller,
    *,
    format: str,
    direction: str = "all",
    status: str | None = None,
    source_id: str | None = None,
    since: str | None = None,
    until: str | None = None,
    include_attempts: bool = False,
) -> dict:
    """Validate the request, queue the job and wake the worker; return the job (pending)."""
    filters = _validated_filters(format, direction, status, since, until)
    # Another account's source answers like an unknown one: its existence stays hidden.
    if source_id is not None and not await ctx.db.read(
        store.source_belongs_to, caller.account_id, source_id
    ):
        raise NotFound("source not found")
    limits = ctx.settings.exports
    if not check_disk_floor(exports_dir(ctx.settings), limits.min_free_disk_bytes):
        raise ServiceUnavailable(
            "exports: the server's disk is nearly full (less than"
            f" {limits.min_free_disk_bytes} bytes free, exports.min_free_disk_bytes);"
            " try again later"
        )
    job = {
        "id": new_id("exp"),
        "account_id": caller.account_id,
        "status": "pending",
        "format": format,
        "filters": json.dumps(
            {**filters, "source_id": source_id, "include_attempts": include_attempts}
        ),
        "created_at": ctx.clock.now(),
    }
    await ctx.db.write(_insert_within_limits, job, limits)
    if ctx.export_worker is not None:
        ctx.export_worker.wake()
    # The job as created (the worker may already be running it: the answer is still `pending`).
    return {**dict.fromkeys(_RESULT_FIELDS), **job}


def _insert_within_limits(conn, job: dict, limits: ExportSettings) -> None:
    # Counted in the insert's transaction, so concurrent creates cannot both pass the check.
    usage = store.account_usage(conn, job["account_id"])
    if usage.active >= limits.max_active_per_account:
        raise Conflict(
            f"exports: {usage.active} exports are already queued or running, the limit"
            " (exports.max_active_per_account); wait for one to finish"
        )
    if usage.stored >= limits.max_stored_per_account:
        raise Conflict(
            f"exports: {usage.stored} finished export files are kept, the limit"
            " (exports.max_stored_per_account); wait for one to expire"
        )
    if usage.stored_bytes >= limits.max_stored_bytes_per_account:
        raise Conflict(
            f"exports: finished export files already hold {usage.stored_bytes} bytes, the"
            " limit (exports.max_stored_bytes_per_account); wait for one to expire"
        )
    store.insert_export(conn, job)


def check_disk_floor(directory: Path, floor: int) -> bool:
    """Whether the disk holding ``directory`` (or its data dir) has at least ``floor`` free."""
    if floor <= 0:
        return True
    probe = directory if directory.exists() else directory.parent
    return shutil.disk_usage(probe).free >= floor


def _validated_filters(
    format: str, direction: str, status: str | None, since: str | None, until: str | None
) -> dict[str, Any]:
    if format not in EXPORT_FORMATS:
        raise BadRequest(f"format: must be one of {', '.join(EXPORT_FORMATS)}")
    if direction not in DIRECTIONS:
        raise BadRequest(f"direction: must be one of {', '.join(DIRECTIONS)}")
    if status is not None and status not in EVENT_STATUSES:
        raise BadRequest(f"status: must be one of {', '.join(EVENT_STATUSES)}")
    since_at, until_at = optional_time(since, "since"), optional_time(until, "until")
    if since_at is not None and until_at is not None and until_at < since_at:
        raise BadRequest("until: must not be before since")
    # Times are kept normalised (RFC 3339, UTC, Z), as every time the API shows.
    return {
        "direction": direction,
        "status": status,
        "since": format_time(since_at),
        "until": format_time(until_at),
    }


async def list_exports(ctx: Context, caller: Caller, limit: int) -> list[dict]:
    return await ctx.db.read(store.list_exports, caller.account_id, limit)


async def get_export(ctx: Context, caller: Caller, export_id: str) -> dict:
    job = await ctx.db.read(store.get_export, caller.account_id, export_id)
    if job is None:
        raise NotFound("export not found")
    return job


async def download_export(ctx: Context, caller: Caller, export_id: str) -> Download:
    """The finished file of a job of the caller's: 409 before completion, 410 once expired."""
    job = await get_export(ctx, caller, export_id)
    if job["status"] != "completed":
        raise Conflict(f"export is not completed yet (status: {job['status']})")
    expired = job["expires_at"] is not None and job["expires_at"] <= ctx.clock.now()
    path = exports_dir(ctx.settings) / job["file_name"] if job["file_name"] else None
    if expired or path is None or not path.is_file():
        raise ExportGone("export file has expired; create a new export")
    return Download(
        path=path,
        filename=export_file_name(job),
        media_type=MEDIA_TYPES[job["format"]],
    )


def present_export(job: dict) -> dict:
    """The API shape of an export job (docs/wire.md, "Exports", plus expires_at)."""
    return {
        "id": job["id"],
        "account_id": job["account_id"],
        "status": job["status"],
        "format": job["format"],
        "filters": json.loads(job["filters"]),
        "row_count": job["row_count"],
        "size_bytes": job["size_bytes"],
        "error": job["error"],
        "created_at": format_time(job["created_at"]),
        "completed_at": format_time(job["completed_at"]),
        "expires_at": format_time(job["expires_at"]),
    }


# -- what the worker uses ----------------------------------------------------------------------


def exports_dir(settings: Settings) -> Path:
    return settings.data_dir / "exports"


def export_file_name(job: dict) -> str:
    """``<job id>.<ext>``: from the id only, never from input."""
    if not _SAFE_ID.match(job["id"]) or job["format"] not in EXPORT_FORMATS:
        raise ValueError(f"refusing to build a file name from {job['id']!r}")
    return f"{job['id']}.{job['format']}"


def plan_export(job: dict) -> ExportPlan:
    """A stored job's filters in the form the storage functions take."""
    filters = json.loads(job["filters"])
    direction = filters.get("direction", "all")
    return ExportPlan(
        format=job["format"],
        directions=("inbound", "outbound") if direction == "all" else (direction,),
        filters=EventFilters(
            status=filters.get("status"),
            source_id=filters.get("source_id"),
            since=parse_time(filters["since"]) if filters.get("since") else None,
            until=parse_time(filters["until"]) if filters.get("until") else None,
        ),
        include_attempts=bool(filters.get("include_attempts")),
    )


def file_header(format: str) -> bytes:
    """What a file starts with: the CSV header row; nothing for JSONL."""
    if format == "csv":
        return _csv_text([CSV_COLUMNS]).encode()
    return b""


def format_page(plan: ExportPlan, events: list[dict], attempts: dict[str, list[dict]]) -> bytes:
    """One page of events in the job's format (pure: runs in a worker thread)."""
    if plan.format == "csv":
        return _csv_text(_csv_row(event) for event in events).encode()
    lines = []
    for event in events:
        shaped = present_event(event)
        if plan.include_attempts:
            shaped["attempts"] = [present_attempt(a) for a in attempts.get(event["id"], [])]
        lines.append(msgspec.json.encode(shaped))
        lines.append(b"\n")
    return b"".join(lines)


def _csv_row(event: dict) -> list[Any]:
    # The API's view of the event (times, body text or base64), plus the stored content type,
    # which the Event shape does not carry. CSV has no null: an absent value is an empty cell.
    shaped = {**present_event(event), "content_type": event["content_type"]}
    return ["" if shaped.get(column) is None else shaped[column] for column in CSV_COLUMNS]


def _csv_text(rows) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)  # RFC 4180: CRLF line ends, quotes where needed
    return buffer.getvalue()
