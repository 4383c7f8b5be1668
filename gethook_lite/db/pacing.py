"""Delivery pacing as stored: which destinations have a rate limit, their own concurrency cap
or FIFO ordering (on themselves or on routes), the candidates a claim may take from them, and
which delivery blocks a FIFO queue (``gethook_lite.delivery.pacing`` holds the token buckets)."""

from __future__ import annotations

from typing import NamedTuple

from gethook_lite.db.claim_order import Candidate, ClaimLimits
from gethook_lite.db.connection import Connection

__all__ = [
    "DestinationPacing",
    "FifoHead",
    "blocking_deliveries",
    "fifo_head",
    "load_pacing",
    "next_due_after",
    "paced_candidates",
]

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
        "SELECT id, event_id, status, next_attempt_at FROM deliveries"
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
            for route_id in queues:
                head = fifo_head(conn, destination, route_id)
                if head is not None and head.status == "pending" and _due(head, now):
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


def _due(head: FifoHead, now: float) -> bool:
    return head.next_attempt_at is not None and head.next_attempt_at <= now


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
