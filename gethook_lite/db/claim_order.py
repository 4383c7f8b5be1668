"""Which due deliveries get the free delivery slots: the fair order of service (pure).

Delivery slots are shared between accounts and, inside an account, between its destinations.
A slot held by a receiver that never answers cannot be taken back before the attempt's
timeout, so fairness is decided when a slot is handed out:

- caps: an account never holds more than ``per_account`` slots, a destination never more than
  ``per_destination`` nor more than its own allowance (``allowances``: what its rate limit,
  its own concurrency cap or a Retry-After slow-down lets it take now, see
  ``gethook_lite.delivery.pacing``); the global limit is the caller's ``limit``;
- order: the next slot goes to the account with the fewest attempts in flight (ties: the one
  whose oldest due delivery is oldest), and inside it to the destination with the fewest in
  flight (same tie rule); a destination's own deliveries go oldest first.

So an account with nothing in flight is served before one that holds many slots, however old
the latter's backlog: a healthy destination's first delivery never waits behind another
account's broken ones while any slot is free, and a freed slot goes to whoever holds least.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

__all__ = ["Candidate", "ClaimLimits", "Ordering", "fair_pick"]


class Candidate(NamedTuple):
    """A due delivery that may be claimed; candidates are given oldest due first.

    A tuple, so that the claim query's rows (delivery id, destination, account) can be used
    as they come: a claim looks at up to a thousand of them.
    """

    delivery_id: int
    destination_id: str
    account_id: str


@dataclass(frozen=True, slots=True)
class Ordering:
    """A destination's FIFO rules: all its deliveries (``whole``) or those of some routes."""

    account_id: str
    whole: bool
    routes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ClaimLimits:
    """What is already in flight, and the caps a claim must respect."""

    per_destination: int
    per_account: int
    busy_destinations: dict[str, int] = field(default_factory=dict)
    busy_accounts: dict[str, int] = field(default_factory=dict)
    # Destination -> how many more it may take in this claim (its pacing; absent: no limit
    # of its own). Zero skips it like a saturated destination.
    allowances: dict[str, int] = field(default_factory=dict)
    # Destinations with FIFO ordering (on themselves or on some of their routes).
    orderings: dict[str, Ordering] = field(default_factory=dict)

    def room(self, destination: str) -> int:
        """How many more deliveries this destination may take now."""
        room = self.per_destination - self.busy_destinations.get(destination, 0)
        return min(room, self.allowances.get(destination, room))

    def saturated_destinations(self) -> list[str]:
        full = {d for d, n in self.busy_destinations.items() if n >= self.per_destination}
        full.update(d for d, allowed in self.allowances.items() if allowed <= 0)
        return sorted(full)

    def paced_destinations(self) -> list[str]:
        """Destinations whose candidates are found one by one (their allowance, their FIFO
        heads) rather than in the claim's time-ordered window, which they would fill."""
        return sorted(set(self.allowances).union(self.orderings))

    def saturated_accounts(self) -> list[str]:
        return [a for a, n in self.busy_accounts.items() if n >= self.per_account]


@dataclass(slots=True)
class _Destination:
    first: int  # position of its oldest candidate: the tie-break
    queue: list[int]  # delivery ids, oldest first
    taken: int = 0  # next index into queue


def fair_pick(
    candidates: Iterable[Candidate | tuple[int, str, str]], limit: int, limits: ClaimLimits
) -> list[int]:
    """The delivery ids to claim, at most ``limit``, in the fair order described above."""
    destinations: dict[str, _Destination] = {}
    account_of: dict[str, str] = {}
    accounts: dict[str, int] = {}  # account -> position of its oldest candidate
    for position, (delivery_id, destination, account) in enumerate(candidates):
        entry = destinations.get(destination)
        if entry is None:
            entry = destinations[destination] = _Destination(position, [])
            account_of[destination] = account
            accounts.setdefault(account, position)
        entry.queue.append(delivery_id)
    if len(destinations) == 1:
        # The common case under load (one busy destination): no order to decide.
        [(destination, entry)] = destinations.items()
        account = account_of[destination]
        room = min(
            limit,
            limits.room(destination),
            limits.per_account - limits.busy_accounts.get(account, 0),
        )
        return entry.queue[: max(room, 0)]

    in_flight_dest = dict(limits.busy_destinations)
    in_flight_account = dict(limits.busy_accounts)
    rooms = {destination: limits.room(destination) for destination in destinations}
    # Per account, a heap of its destinations by (in flight, oldest position).
    per_account: dict[str, list[tuple[int, int, str]]] = {}
    for destination, entry in destinations.items():
        busy = in_flight_dest.get(destination, 0)
        if rooms[destination] > 0:
            per_account.setdefault(account_of[destination], []).append(
                (busy, entry.first, destination)
            )
    ready: list[tuple[int, int, str]] = []
    for account, heap in per_account.items():
        heapq.heapify(heap)
        busy = in_flight_account.get(account, 0)
        if busy < limits.per_account:
            ready.append((busy, accounts[account], account))
    heapq.heapify(ready)

    chosen: list[int] = []
    while ready and len(chosen) < limit:
        _, first, account = heapq.heappop(ready)
        heap = per_account[account]
        _, dest_first, destination = heapq.heappop(heap)
        entry = destinations[destination]
        chosen.append(entry.queue[entry.taken])
        entry.taken += 1
        dest_busy = in_flight_dest.get(destination, 0) + 1
        in_flight_dest[destination] = dest_busy
        account_busy = in_flight_account.get(account, 0) + 1
        in_flight_account[account] = account_busy
        if entry.taken < min(len(entry.queue), rooms[destination]):
            heapq.heappush(heap, (dest_busy, dest_first, destination))
        if heap and account_busy < limits.per_account:
            heapq.heappush(ready, (account_busy, first, account))
    return chosen
