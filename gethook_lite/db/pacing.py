"""Delivery pacing as stored: which destinations have a rate limit, their own concurrency cap
or FIFO ordering (on themselves or on routes), the candidates a claim may take from them,
which delivery blocks a FIFO queue, and the pacing state every claiming process shares (token
buckets and Retry-After windows, ``destination_pacing``; ``gethook_lite.delivery.pacing``
computes with them)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final, NamedTuple

from gethook_lite.db.claim_order import Candidate, ClaimLimits
from gethook_lite.db.connection import POSTGRESQL, Connection

__all__ = [
    "FIFO_SETTLE_SECONDS",
    "DestinationPacing",
    "FifoHead",
    "PacingState",
    "blocking_deliveries",
    "fifo_head",
    "load_pacing",
    "load_pacing_state",
    "next_due_after",
    "paced_candidates",
    "save_buckets",
    "slow_down",
]

# On PostgreSQL a FIFO queue's head goes only once it is this old. Event order is event id
# order, and ids carry the clock of the machine that received the event: one whose clock is
# behind, or whose ingest commits late, can add an event that sorts before a head already
# sent. One second is above the clock skew doctor accepts (250 ms) plus an ingest commit.
FIFO_SETTLE_SECONDS: Final = 1.0

# The statuses that keep a delivery in its FIFO queue: a held one (paused destination, open
# circuit) blocks those behind it as much as a pending retry does.
_OPEN = "('pending', 'in_flight', 'held')"


class DestinationPacing(NamedTuple):
    """One destination's pacing rules, read at every claim (so a change applies at once)."""

    destination_id: str
    account_id: str
    rate_count: int | None  # deliveries per ``rate_period`` seconds
    rate_period: int | None  # 1 or 60
    max_concurrency: int | None
    fifo: bool  # every delivery to it in event order
    fifo_routes: tuple[str, ...]  # routes whose deliveries to it go in event order


def load_pacing(conn: Connection) -> list[DestinationPacing]:
    """The live destinations with any pacing rule (few: both queries use partial indexes)."""
    found: dict[str, DestinationPacing] = {}
    for row in conn.execute(
        "SELECT id, account_id, rate_limit_count, rate_limit_period, max_concurrency, ordering"
        " FROM destinations WHERE (rate_limit_count IS NOT NULL OR max_concurrency IS NOT NULL"
        " OR ordering = 'fifo') AND deleted_at IS NULL"
    ):
        destination_id, account_id, count, period, max_concurrency, ordering = row
        found[destination_id] = DestinationPacing(
            destination_id, account_id, count, period, max_concurrency, ordering == "fifo", ()
        )
    routes: dict[str, list[str]] = {}
    accounts: dict[str, str] = {}
    for route_id, destination_id, account_id in conn.execute(
        "SELECT r.id, r.destination_id, d.account_id FROM routes r"
        " JOIN destinations d ON d.id = r.destination_id"
        " WHERE r.ordering = 'fifo' AND r.deleted_at IS NULL AND d.deleted_at IS NULL"
    ):
        routes.setdefault(destination_id, []).append(route_id)
        accounts[destination_id] = account_id
    for destination_id, route_ids in routes.items():
        current = found.get(destination_id) or DestinationPacing(
            destination_id, accounts[destination_id], None, None, None, False, ()
        )
        found[destination_id] = current._replace(fifo_routes=tuple(sorted(route_ids)))
    return list(found.values())


class FifoHead(NamedTuple):
    """The first open delivery of a FIFO queue: the only one that may be attempted."""

    delivery_id: int
    event_id: str
    status: str
    next_attempt_at: float | None
    created_at: float | None = None


def fifo_head(conn: Connection, destination_id: str, route_id: str | None) -> FifoHead | None:
    """The open delivery first in event order to the destination (from ``route_id`` only,
    when given), or None when the queue is empty.

    Event order is event id order: ids are time-ordered and strictly increasing as events are
    received (``gethook_lite.ids``), so it is the order of receipt, and an index seek instead
    of sorting a long queue by the events' ``received_at`` at every claim.
    """
    route_filter = " AND route_id = ?" if route_id is not None else ""
    params = (destination_id, route_id) if route_id is not None else (destination_id,)
    row = conn.execute(
        "SELECT id, event_id, status, next_attempt_at, created_at FROM deliveries"
        f" WHERE destination_id = ?{route_filter} AND status IN {_OPEN}"
        " ORDER BY event_id, id LIMIT 1",
        params,
    ).fetchone()
    return FifoHead(*row) if row is not None else None


def paced_candidates(
    conn: Connection,
    now: float,
    limits: ClaimLimits,
    destinations: list[str],
    full_accounts: set[str],
) -> list[Candidate]:
    """Candidates from destinations with their own pacing: a FIFO queue's head when it is due
    (nothing while it is in flight, waiting for a retry or held), and up to the destination's
    room of its other due deliveries, oldest first."""
    candidates: list[Candidate] = []
    for destination in destinations:
        room = limits.room(destination)
        ordering = limits.orderings.get(destination)
        account = ordering.account_id if ordering is not None else None
        if room <= 0 or (account is not None and account in full_accounts):
            continue
        if ordering is not None:
            queues = [None] if ordering.whole else list(ordering.routes)
            settled = now - FIFO_SETTLE_SECONDS if conn.dialect == POSTGRESQL else None
            for route_id in queues:
                head = fifo_head(conn, destination, route_id)
                if head is not None and head.status == "pending" and _due(head, now, settled):
                    candidates.append(Candidate(head.delivery_id, destination, ordering.account_id))
            if ordering.whole:
                continue
        routes = list(ordering.routes) if ordering is not None else []
        skip_routes = f" AND route_id NOT IN ({', '.join('?' * len(routes))})" if routes else ""
        for delivery_id, account_id in conn.execute(
            "SELECT id, account_id FROM deliveries WHERE status = 'pending'"
            f" AND destination_id = ? AND next_attempt_at <= ?{skip_routes}"
            " ORDER BY next_attempt_at LIMIT ?",
            [destination, now, *routes, room],
        ):
            if account_id not in full_accounts:
                candidates.append(Candidate(delivery_id, destination, account_id))
    return candidates


def next_due_after(conn: Connection, seen_up_to: float) -> float | None:
    """When the earliest pending delivery due after ``seen_up_to`` falls due (None: none).

    Deliveries due earlier were seen by the last claim: those it left wait for a pacing rule
    or a busy slot, and must not hide the next retry of another destination from the
    scheduler's sleep."""
    row = conn.execute(
        "SELECT min(next_attempt_at) FROM deliveries"
        " WHERE status = 'pending' AND next_attempt_at > ?",
        (seen_up_to,),
    ).fetchone()
    return row[0]


def _due(head: FifoHead, now: float, settled: float | None) -> bool:
    """Due, and (``settled``: on PostgreSQL) created long enough ago that no event received
    by another process can still come before it."""
    if head.next_attempt_at is None or head.next_attempt_at > now:
        return False
    return settled is None or head.created_at is None or head.created_at <= settled


class PacingState(NamedTuple):
    """A destination's shared pacing state: its bucket (tokens counted at ``stamp``, unix
    seconds; None before its first spent token) and the end of its Retry-After window."""

    tokens: float | None
    stamp: float | None
    slowed_until: float | None


def load_pacing_state(
    conn: Connection, now: float, rate_limited: Iterable[str]
) -> dict[str, PacingState]:
    """The buckets of the ``rate_limited`` destinations and every window still open at
    ``now`` (a claim reads them under the claim lock)."""
    ids = sorted(rate_limited)
    by_id = f" OR destination_id IN ({', '.join('?' * len(ids))})" if ids else ""
    rows = conn.execute(
        "SELECT destination_id, tokens, stamp, slowed_until FROM destination_pacing"
        f" WHERE slowed_until > ?{by_id}",
        [now, *ids],
    )
    return {row[0]: PacingState(row[1], row[2], row[3]) for row in rows}


def save_buckets(conn: Connection, buckets: Mapping[str, tuple[float, float]]) -> None:
    """Store the buckets a claim spent tokens from: destination -> (tokens, stamp)."""
    if not buckets:
        return
    conn.executemany(
        "INSERT INTO destination_pacing (destination_id, tokens, stamp) VALUES (?, ?, ?)"
        " ON CONFLICT (destination_id) DO UPDATE SET tokens = excluded.tokens,"
        " stamp = excluded.stamp",
        [(destination, tokens, stamp) for destination, (tokens, stamp) in buckets.items()],
    )


def slow_down(conn: Connection, windows: Mapping[str, float]) -> None:
    """Destination -> until when it asked to be left alone (a 429 or 503 with Retry-After):
    the later of that and any window already open. A destination deleted meanwhile is
    skipped (the row would have nothing to refer to)."""
    if not windows:
        return
    conn.executemany(
        "INSERT INTO destination_pacing (destination_id, slowed_until)"
        " SELECT ?, ? WHERE EXISTS (SELECT 1 FROM destinations WHERE id = ?)"
        " ON CONFLICT (destination_id) DO UPDATE SET slowed_until = CASE"
        " WHEN destination_pacing.slowed_until > excluded.slowed_until"
        " THEN destination_pacing.slowed_until ELSE excluded.slowed_until END",
        [(destination, until, destination) for destination, until in windows.items()],
    )


def blocking_deliveries(conn: Connection, event_id: str) -> list[tuple[str, str]]:
    """For an event's open deliveries waiting in a FIFO queue behind another event's delivery:
    (destination id, the blocking event's id) pairs. Empty when nothing blocks it."""
    blocked: list[tuple[str, str]] = []
    rows = conn.execute(
        "SELECT dl.destination_id, dl.route_id, d.ordering AS dest_ordering,"
        " r.ordering AS route_ordering FROM deliveries dl"
        " JOIN destinations d ON d.id = dl.destination_id JOIN routes r ON r.id = dl.route_id"
        " WHERE dl.event_id = ? AND dl.status IN ('pending', 'held')",
        (event_id,),
    ).fetchall()
    for destination_id, route_id, dest_ordering, route_ordering in rows:
        if dest_ordering == "fifo":
            head = fifo_head(conn, destination_id, None)
        elif route_ordering == "fifo":
            head = fifo_head(conn, destination_id, route_id)
        else:
            continue
        if head is not None and head.event_id != event_id:
            blocked.append((destination_id, head.event_id))
    return blocked
