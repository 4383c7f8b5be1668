"""Per-destination pacing: token buckets for rate limits, slow-down windows after a 429 or 503
with Retry-After, and the allowances a claim gives each paced destination.

The pure parts (``TokenBucket``, ``claim_limits``) are unit-tested; ``Pacer`` computes with
their state for one claim. The state itself is stored (``destination_pacing``, read and written
by the claim under the claim lock, and by the outcome write for Retry-After windows), so that
every process sharing the database keeps one bucket per destination and honours a window
another process was asked for, and a restart forgets neither. Times are unix seconds, like due
times and leases: a clock set back refills nothing (``TokenBucket.level``), one set forward at
most fills a bucket (a tenth of a second's worth).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from gethook_lite.db.claim_order import ClaimLimits, Ordering
from gethook_lite.db.pacing import DestinationPacing, PacingState

__all__ = ["BURST_SECONDS", "Pacer", "PacingSnapshot", "TokenBucket", "burst_of", "claim_limits"]

# A bucket holds at most this many seconds' worth of tokens (and at least one): a destination
# idle for a while gets a short burst, never a whole second's worth at once on top of the rate.
BURST_SECONDS = 0.1


# A token short by less than this counts as whole: times are unix seconds (about 1.8e9), whose
# rounding (a few 1e-7 s) times a rate would otherwise leave a bucket a hair short of a token.
_WHOLE = 1e-3


def burst_of(rate: float) -> float:
    """The bucket's capacity for ``rate`` tokens per second."""
    return max(1.0, rate * BURST_SECONDS)


@dataclass(slots=True)
class TokenBucket:
    """``rate`` tokens a second up to ``capacity``; one token per attempt sent."""

    rate: float
    capacity: float
    tokens: float
    stamp: float  # monotonic time ``tokens`` was counted at

    @classmethod
    def full(cls, rate: float, now: float) -> TokenBucket:
        capacity = burst_of(rate)
        return cls(rate, capacity, capacity, now)

    def level(self, now: float) -> float:
        """Tokens available at ``now`` (monotonic seconds)."""
        return min(self.capacity, self.tokens + max(0.0, now - self.stamp) * self.rate)

    def take(self, now: float, count: int) -> None:
        self.tokens = self.level(now) - count
        self.stamp = now

    def next_token_in(self, now: float) -> float | None:
        """Seconds until a whole token is available; None when one already is."""
        missing = 1.0 - self.level(now)
        return missing / self.rate if missing > _WHOLE else None

    def retune(self, rate: float, now: float) -> None:
        """The limit changed: keep what was used, at the new rate and capacity."""
        self.tokens = self.level(now)
        self.stamp = now
        self.rate = rate
        self.capacity = burst_of(rate)
        self.tokens = min(self.tokens, self.capacity)


def rate_of(pacing: DestinationPacing) -> float | None:
    """Tokens per second of a destination's rate limit, or None without one."""
    if pacing.rate_count is None or pacing.rate_period is None:
        return None
    return pacing.rate_count / pacing.rate_period


@dataclass(frozen=True, slots=True)
class PacingSnapshot:
    """The pacer's state at one instant, handed to the claim (which runs on the writer thread)."""

    tokens: dict[str, float]  # rate-limited destinations seen before: tokens available
    slowed: frozenset[str]  # destinations inside a Retry-After window


def claim_limits(
    base: ClaimLimits, paced: Iterable[DestinationPacing], snapshot: PacingSnapshot
) -> ClaimLimits:
    """``base`` with each paced destination's allowance and FIFO ordering (pure).

    A destination may take as many deliveries as it has whole tokens (a full bucket when
    first seen), as its own cap leaves free, and none while slowed down by a Retry-After.
    """
    allowances = {destination: 0 for destination in snapshot.slowed}
    orderings: dict[str, Ordering] = {}
    for pacing in paced:
        destination = pacing.destination_id
        allowed = allowances.get(destination)
        rate = rate_of(pacing)
        if rate is not None:
            tokens = snapshot.tokens.get(destination, burst_of(rate))
            allowed = _least(allowed, math.floor(tokens + _WHOLE))
        if pacing.max_concurrency is not None:
            busy = base.busy_destinations.get(destination, 0)
            allowed = _least(allowed, pacing.max_concurrency - busy)
        if allowed is not None:
            allowances[destination] = max(allowed, 0)
        if pacing.fifo or pacing.fifo_routes:
            orderings[destination] = Ordering(pacing.account_id, pacing.fifo, pacing.fifo_routes)
    return dataclasses.replace(base, allowances=allowances, orderings=orderings)


def _least(current: int | None, other: int) -> int:
    return other if current is None else min(current, other)


class Pacer:
    """Pacing state for a claim: buckets, slow-down windows, the rules last read."""

    def __init__(self) -> None:
        self._buckets: dict[str, TokenBucket] = {}
        self._slowed_until: dict[str, float] = {}
        self._ordered: dict[str, Ordering] = {}

    @classmethod
    def restored(
        cls, stored: Mapping[str, PacingState], paced: Iterable[DestinationPacing], now: float
    ) -> Pacer:
        """The pacer as stored: the buckets of the rate-limited destinations among ``paced``
        (at their current rate; a destination without a stored bucket starts full) and the
        windows still open at ``now``."""
        pacer = cls()
        for pacing in paced:
            rate = rate_of(pacing)
            state = stored.get(pacing.destination_id)
            if rate is None or state is None or state.tokens is None or state.stamp is None:
                continue
            capacity = burst_of(rate)
            bucket = TokenBucket(rate, capacity, min(state.tokens, capacity), state.stamp)
            pacer._buckets[pacing.destination_id] = bucket
        for destination, state in stored.items():
            if state.slowed_until is not None and state.slowed_until > now:
                pacer._slowed_until[destination] = state.slowed_until
        return pacer

    def buckets_of(self, destinations: Iterable[str]) -> dict[str, tuple[float, float]]:
        """The (tokens, stamp) of these destinations' buckets, to store after a claim."""
        return {
            destination: (bucket.tokens, bucket.stamp)
            for destination in set(destinations)
            if (bucket := self._buckets.get(destination)) is not None
        }

    def snapshot(self, now: float) -> PacingSnapshot:
        self._forget_ended_windows(now)
        return PacingSnapshot(
            {destination: bucket.level(now) for destination, bucket in self._buckets.items()},
            frozenset(self._slowed_until),
        )

    def claimed(self, now: float, paced: Iterable[DestinationPacing], sent: Iterable[str]) -> None:
        """After a claim: follow the rules it read, spend a token per delivery claimed."""
        buckets: dict[str, TokenBucket] = {}
        ordered: dict[str, Ordering] = {}
        for pacing in paced:
            destination = pacing.destination_id
            rate = rate_of(pacing)
            if rate is not None:
                bucket = self._buckets.get(destination)
                if bucket is None:
                    bucket = TokenBucket.full(rate, now)
                elif bucket.rate != rate:
                    bucket.retune(rate, now)
                buckets[destination] = bucket
            if pacing.fifo or pacing.fifo_routes:
                ordered[destination] = Ordering(pacing.account_id, pacing.fifo, pacing.fifo_routes)
        self._buckets = buckets
        self._ordered = ordered
        for destination in sent:
            bucket = buckets.get(destination)
            if bucket is not None:
                bucket.take(now, 1)

    def slow_down(self, destination: str, until: float) -> None:
        """No deliveries to ``destination`` before ``until`` (monotonic): it asked to wait."""
        self._slowed_until[destination] = max(until, self._slowed_until.get(destination, until))

    def slowed_until(self, destination: str) -> float | None:
        return self._slowed_until.get(destination)

    def ordered(self, destination: str, route: str) -> bool:
        """Whether a delivery's outcome may unblock a FIFO queue behind it."""
        ordering = self._ordered.get(destination)
        return ordering is not None and (ordering.whole or route in ordering.routes)

    def next_release(self, now: float) -> float | None:
        """Seconds until a paced destination may take a delivery again (a token is due or a
        slow-down ends); None when none is waiting for that."""
        self._forget_ended_windows(now)
        waits = [until - now for until in self._slowed_until.values()]
        for bucket in self._buckets.values():
            wait = bucket.next_token_in(now)
            if wait is not None:
                waits.append(wait)
        return min(waits) if waits else None

    def _forget_ended_windows(self, now: float) -> None:
        for destination, until in list(self._slowed_until.items()):
            if until <= now:
                del self._slowed_until[destination]
