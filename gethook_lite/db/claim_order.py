"""Which due deliveries get the free delivery slots: the fair order of service (pure).

Delivery slots are shared between accounts and, inside an account, between its destinations.
A slot held by a receiver that never answers cannot be taken back before the attempt's
timeout, so fairness is decided when a slot is handed out:

- caps: an account never holds more than ``per_account`` slots, a destination never more than
  ``per_destination``; the global limit is the caller's ``limit``;
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

__all__ = ["Candidate", "ClaimLimits", "fair_pick"]


class Candidate(NamedTuple):
    """A due delivery that may be claimed; candidates are given oldest due first.

    A tuple, so that the claim query's rows (delivery id, destination, account) can be used
    as they come: a claim looks at up to a thousand of them.
    """

    delivery_id: int
    destination_id: str
    account_id: str


@dataclass(frozen=True, slots=True)
class ClaimLimits:
    """What is already in flight, and the caps a claim must respect."""

    per_destination: int
    per_account: int
    busy_destinations: dict[str, int] = field(default_factory=dict)
    busy_accounts: dict[str, int] = field(default_factory=dict)

    def saturated_destinations(self) -> list[str]:
        return [d for d, n in self.busy_destinations.items() if n >= self.per_destination]

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
            limits.per_destination - limits.busy_destinations.get(destination, 0),
            limits.per_account - limits.busy_accounts.get(account, 0),
        )
        return entry.queue[: max(room, 0)]

    in_flight_dest = dict(limits.busy_destinations)
    in_flight_account = dict(limits.busy_accounts)
    # Per account, a heap of its destinations by (in flight, oldest position).
    per_account: dict[str, list[tuple[int, int, str]]] = {}
    for destination, entry in destinations.items():
        busy = in_flight_dest.get(destination, 0)
        if busy < limits.per_destination:
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
        if entry.taken < len(entry.queue) and dest_busy < limits.per_destination:
            heapq.heappush(heap, (dest_busy, dest_first, destination))
        if heap and account_busy < limits.per_account:
            heapq.heappush(ready, (account_busy, first, account))
    return chosen
