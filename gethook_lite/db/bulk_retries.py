"""Bulk retry jobs, and the pages of failed deliveries a job reads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import msgspec

from gethook_lite.db.connection import POSTGRESQL, Connection
from gethook_lite.db.rows import Row, all_rows, insert, one_row

__all__ = [
    "ACTIVE_STATUSES",
    "Candidate",
    "RetryScope",
    "active_count",
    "active_jobs",
    "cancel_job",
    "candidates",
    "count_candidates",
    "delete_expired_jobs",
    "fail_job",
    "get_job",
    "insert_job",
    "job_status",
    "list_jobs",
    "mark_bulk_retry",
    "outstanding_replays",
    "record_page",
    "resync_done",
    "start_job",
]

ACTIVE_STATUSES = ("queued", "running")
# Event statuses that end a replay's delivery: anything else is still on its way (or held).
_FINAL_EVENT_STATUSES = ("delivered", "dead_letter", "accepted", "replayed")


class RetryScope(msgspec.Struct, frozen=True, kw_only=True):
    """Which failed deliveries of an account a job retries (the event type glob is matched by
    the caller, with the routes' matcher). Times are Unix seconds on ``received_at``."""

    # "dead_letter": deliveries given up; "failed": deliveries waiting to retry.
    status: str
    destination_id: str | None = None
    source_id: str | None = None
    since: float | None = None
    until: float | None = None


@dataclass(frozen=True, slots=True)
class Candidate:
    """An original event with deliveries to retry, and the destinations they go to."""

    event_id: str
    direction: str
    event_type: str | None
    destination_ids: frozenset[str]


def insert_job(conn: Connection, job: Row) -> Row:
    return insert(conn, "bulk_retries", job)


def active_count(conn: Connection, account_id: str) -> int:
    """Jobs of the account queued or running."""
    return conn.execute(
        "SELECT count(*) FROM bulk_retries WHERE account_id = ?"
        " AND status IN ('queued', 'running')",
        (account_id,),
    ).fetchone()[0]


def get_job(conn: Connection, account_id: str, job_id: str) -> Row | None:
    return one_row(
        conn.execute(
            "SELECT * FROM bulk_retries WHERE account_id = ? AND id = ?", (account_id, job_id)
        )
    )


def list_jobs(conn: Connection, account_id: str, limit: int, offset: int) -> list[Row]:
    """The account's jobs, newest first (ids are time-ordered)."""
    return all_rows(
        conn.execute(
            "SELECT * FROM bulk_retries WHERE account_id = ? ORDER BY id DESC LIMIT ? OFFSET ?",
            (account_id, limit, offset),
        )
    )


def job_status(conn: Connection, job_id: str) -> str | None:
    row = conn.execute("SELECT status FROM bulk_retries WHERE id = ?", (job_id,)).fetchone()
    return row[0] if row else None


def cancel_job(conn: Connection, account_id: str, job_id: str, now: float) -> Row | None:
    """Cancel a queued or running job (a finished one stays as it ended); the job, or None
    when the account has no such job."""
    conn.execute(
        "UPDATE bulk_retries SET status = 'cancelled', finished_at = ?"
        " WHERE account_id = ? AND id = ? AND status IN ('queued', 'running')",
        (now, account_id, job_id),
    )
    return get_job(conn, account_id, job_id)


def active_jobs(conn: Connection) -> list[Row]:
    """Every queued or running job, oldest first."""
    return all_rows(
        conn.execute("SELECT * FROM bulk_retries WHERE status IN ('queued', 'running') ORDER BY id")
    )


def start_job(conn: Connection, job_id: str, now: float) -> bool:
    """Mark a queued job running; False when it is no longer queued (cancelled meanwhile)."""
    return bool(
        conn.execute(
            "UPDATE bulk_retries SET status = 'running', started_at = ?"
            " WHERE id = ? AND status = 'queued'",
            (now, job_id),
        ).rowcount
    )


def record_page(
    conn: Connection,
    job_id: str,
    *,
    cursor: str,
    done: int,
    failed: int,
    finished_at: float | None,
) -> bool:
    """Record a page worked through: the cursor moves past it, its counts are added, and the
    job completes when ``finished_at`` is given. A job cancelled meanwhile keeps its status
    (the counts still tell what was made); False then."""
    conn.execute(
        "UPDATE bulk_retries SET cursor = ?, done = done + ?, failed = failed + ? WHERE id = ?",
        (cursor, done, failed, job_id),
    )
    if finished_at is None:
        return job_status(conn, job_id) == "running"
    return bool(
        conn.execute(
            "UPDATE bulk_retries SET status = 'completed', finished_at = ?"
            " WHERE id = ? AND status = 'running'",
            (finished_at, job_id),
        ).rowcount
    )


def fail_job(conn: Connection, job_id: str, error: str, now: float) -> None:
    conn.execute(
        "UPDATE bulk_retries SET status = 'failed', error = ?, finished_at = ?"
        " WHERE id = ? AND status IN ('queued', 'running')",
        (error, now, job_id),
    )


def resync_done(conn: Connection) -> int:
    """At start: a running job's ``done`` becomes the number of replays naming it. A process
    that died mid-page committed replays the job's counts do not include yet (each replay
    commits alone); the page is worked through again, and those replays no longer match."""
    return conn.execute(
        "UPDATE bulk_retries SET done ="
        " (SELECT count(*) FROM events WHERE bulk_retry_id = bulk_retries.id)"
        " WHERE status = 'running'"
    ).rowcount


def mark_bulk_retry(conn: Connection, event_id: str, job_id: str) -> None:
    """Name the job that made a replay (in the replay's own transaction)."""
    conn.execute("UPDATE events SET bulk_retry_id = ? WHERE id = ?", (job_id, event_id))


def outstanding_replays(conn: Connection, job_id: str) -> int:
    """The job's replays not yet delivered, dead-lettered or otherwise finished."""
    marks = ", ".join("?" for _ in _FINAL_EVENT_STATUSES)
    return conn.execute(
        f"SELECT count(*) FROM events WHERE bulk_retry_id = ? AND status NOT IN ({marks})",
        (job_id, *_FINAL_EVENT_STATUSES),
    ).fetchone()[0]


def candidates(
    conn: Connection,
    account_id: str,
    scope: RetryScope,
    after: str,
    upto: str,
    limit: int,
) -> list[Candidate]:
    """The next ``limit`` original events after ``after`` (up to ``upto``, in id order) with a
    delivery in ``scope``'s status; an event already replayed is left out (its replay stands
    for it), which is also what keeps a job from replaying an event twice."""
    where, params = _candidate_where(account_id, scope, after, upto)
    destination_ids = _joined_by_space(conn, "d.destination_id")
    rows = conn.execute(
        f"SELECT d.event_id, e.direction, e.event_type, {destination_ids}"
        f" FROM deliveries d JOIN events e ON e.id = d.event_id WHERE {where}"
        " GROUP BY d.event_id, e.direction, e.event_type ORDER BY d.event_id LIMIT ?",
        [*params, limit],
    ).fetchall()
    return [Candidate(row[0], row[1], row[2], frozenset(row[3].split(" "))) for row in rows]


def _joined_by_space(conn: Connection, column: str) -> str:
    """An aggregate joining ``column``'s values with spaces (SQLite has string_agg only from
    3.44; PostgreSQL has no group_concat)."""
    if conn.dialect == POSTGRESQL:
        return f"string_agg({column}, ' ')"
    return f"group_concat({column}, ' ')"


def count_candidates(
    conn: Connection,
    account_id: str,
    scope: RetryScope,
    upto: str,
    cap: int,
    keep: Callable[[str | None], bool] | None = None,
    page: int = 5000,
) -> int:
    """How many candidates (whose event type ``keep`` accepts, when given), counting stopped
    past ``cap`` (the answer is then ``cap + 1``)."""
    if keep is None:
        where, params = _candidate_where(account_id, scope, "", upto)
        return conn.execute(
            "SELECT count(*) FROM (SELECT d.event_id FROM deliveries d"
            f" JOIN events e ON e.id = d.event_id WHERE {where} GROUP BY d.event_id LIMIT ?) AS c",
            [*params, cap + 1],
        ).fetchone()[0]
    # Types are matched here, with the routes' matcher, in pages so memory stays one page's.
    counted, after = 0, ""
    while counted <= cap:
        rows = candidates(conn, account_id, scope, after, upto, page)
        counted += sum(1 for row in rows if keep(row.event_type))
        if len(rows) < page:
            break
        after = rows[-1].event_id
    return min(counted, cap + 1)


def _candidate_where(
    account_id: str, scope: RetryScope, after: str, upto: str
) -> tuple[str, list[str | float]]:
    """The condition on deliveries ``d`` joined with their events ``e`` that selects
    ``scope``'s candidates in ``(after, upto]``; it matches the partial indexes of 0016."""
    if scope.status == "dead_letter":
        delivery_status = "d.status = 'dead_letter'"
    else:
        delivery_status = "d.status = 'pending' AND d.attempts_count > 0"
    clauses = [
        "d.account_id = ?",
        delivery_status,
        "d.event_id > ?",
        "d.event_id <= ?",
        "e.replayed_at IS NULL",
    ]
    params: list[str | float] = [account_id, after, upto]
    for condition, value in (
        ("d.destination_id = ?", scope.destination_id),
        ("e.source_id = ?", scope.source_id),
        ("e.received_at >= ?", scope.since),
        ("e.received_at <= ?", scope.until),
    ):
        if value is not None:
            clauses.append(condition)
            params.append(value)
    return " AND ".join(clauses), params


def delete_expired_jobs(conn: Connection, account_id: str, cutoff: float, limit: int) -> int:
    """Delete up to ``limit`` of the account's finished jobs that ended before ``cutoff``
    (retention; a queued or running job is kept whatever its age)."""
    return conn.execute(
        "DELETE FROM bulk_retries WHERE id IN (SELECT id FROM bulk_retries"
        " WHERE account_id = ? AND status NOT IN ('queued', 'running') AND finished_at < ?"
        " ORDER BY id LIMIT ?)",
        (account_id, cutoff, limit),
    ).rowcount
