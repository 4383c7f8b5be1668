"""Login throttling that slows password guessing without letting anyone lock a user out.

Why this shape: counting failures per email alone (what we did before) hands the lockout to
the attacker — five wrong passwords for someone else's email, from anywhere, kept the owner
out. So the unit that is throttled is the one that failed:

- **email + client address**: after ``pair_free`` failures the pair waits, with exponential
  backoff (``backoff_base`` doubling up to ``backoff_cap``). This is what stops one address
  guessing one user's password.
- **client address** (any email): after ``client_free`` failures the address waits, with the
  same backoff. This stops one address spraying a common password over many emails. An IPv6
  client counts by its /64, which one subscriber usually holds whole.
- **email** (any client), the global ceiling: once an email collected ``email_ceiling`` failures
  it is under attack, and every *failed* client then gets a single free failure for it before
  its backoff starts (instead of ``pair_free``). This slows an attacker spread over many
  addresses; it never blocks a client that has not failed.

A client that has not failed (no failure for this email, none for any email over its own
allowance) is always let through to the password check, so the owner logging in from their
usual address is never throttled by someone else's guesses. A throttled client is answered
429 *before* the password is checked, even when it would be right: otherwise the 429 would not
slow guessing at all.

An attempt counts as a failure from the moment it starts (``begin``) and is taken back when the
password was right (``succeeded``): parallel requests from one address cannot all slip past the
check while the slow password hash runs.

Time is the injected clock's monotonic time, so a wall-clock step neither lifts nor extends
a wait. Memory is bounded: each table keeps at most ``max_keys`` entries, forgetting the ones
that failed longest ago first.
"""

from __future__ import annotations

import ipaddress
import math
from collections import OrderedDict, deque
from dataclasses import dataclass

from gethook_lite.clock import Clock
from gethook_lite.constants import (
    LOGIN_BACKOFF_BASE_SECONDS,
    LOGIN_BACKOFF_CAP_SECONDS,
    LOGIN_CLIENT_FREE_FAILURES,
    LOGIN_EMAIL_CEILING,
    LOGIN_FAILURE_MEMORY_SECONDS,
    LOGIN_PAIR_FREE_FAILURES,
    LOGIN_THROTTLE_MAX_KEYS,
)

__all__ = ["LoginThrottle", "SlidingWindowLimit", "client_key"]

# An IPv6 subscriber usually gets a whole /64: counting addresses inside it separately would
# hand an attacker 2**64 fresh clients.
_IPV6_CLIENT_PREFIX = 64


def client_key(host: str) -> str:
    """The address a client is counted by: IPv4 as is, IPv6 by its /64."""
    try:
        address = ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return host  # not an IP (a test client, a Unix socket): count it by its name
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        network = ipaddress.IPv6Network((address, _IPV6_CLIENT_PREFIX), strict=False)
        return str(network)
    return str(address)


@dataclass(slots=True)
class _Failures:
    count: int
    last: float


class _FailureTable:
    """Failure counts per key, forgotten after a quiet spell; bounded in size."""

    def __init__(self, memory_seconds: float, max_keys: int) -> None:
        self._memory = memory_seconds
        self._max_keys = max_keys
        self._entries: OrderedDict[object, _Failures] = OrderedDict()

    def get(self, key: object, now: float) -> _Failures | None:
        entry = self._entries.get(key)
        if entry is not None and now - entry.last >= self._memory:
            del self._entries[key]
            return None
        return entry

    def count(self, key: object, now: float) -> int:
        entry = self.get(key, now)
        return entry.count if entry else 0

    def add(self, key: object, now: float) -> None:
        entry = self.get(key, now)
        if entry is None:
            entry = self._entries[key] = _Failures(0, now)
            while len(self._entries) > self._max_keys:
                self._entries.popitem(last=False)  # the one that failed longest ago
        entry.count += 1
        entry.last = now
        self._entries.move_to_end(key)

    def take_back(self, key: object) -> None:
        """Undo one ``add`` (an attempt that turned out to be right)."""
        entry = self._entries.get(key)
        if entry is not None:
            entry.count -= 1
            if entry.count <= 0:
                del self._entries[key]

    def clear(self, key: object) -> None:
        self._entries.pop(key, None)


class LoginThrottle:
    """Decides whether a login attempt may be checked; see the module docstring for why."""

    def __init__(
        self,
        clock: Clock,
        *,
        pair_free: int = LOGIN_PAIR_FREE_FAILURES,
        client_free: int = LOGIN_CLIENT_FREE_FAILURES,
        email_ceiling: int = LOGIN_EMAIL_CEILING,
        backoff_base: float = LOGIN_BACKOFF_BASE_SECONDS,
        backoff_cap: float = LOGIN_BACKOFF_CAP_SECONDS,
        memory_seconds: float = LOGIN_FAILURE_MEMORY_SECONDS,
        max_keys: int = LOGIN_THROTTLE_MAX_KEYS,
    ) -> None:
        self._clock = clock
        self._pair_free = pair_free
        self._client_free = client_free
        self._email_ceiling = email_ceiling
        self._base = backoff_base
        self._cap = backoff_cap
        self._pairs = _FailureTable(memory_seconds, max_keys)
        self._clients = _FailureTable(memory_seconds, max_keys)
        self._emails = _FailureTable(memory_seconds, max_keys)

    def retry_after(self, email: str, client: str) -> int:
        """Seconds this client must wait before trying ``email`` again (0 = go ahead)."""
        now = self._clock.monotonic()
        client = client_key(client)
        pair = self._pairs.get((email, client), now)
        by_client = self._clients.get(client, now)
        if pair is None and by_client is None:
            return 0  # a client that has not failed is never held back
        wait = 0.0
        if pair is not None:
            under_attack = self._emails.count(email, now) >= self._email_ceiling
            free = 1 if under_attack else self._pair_free
            wait = self._wait(pair, free, now)
        if by_client is not None:
            wait = max(wait, self._wait(by_client, self._client_free, now))
        return int(wait + 0.999)

    def begin(self, email: str, client: str) -> int:
        """Start an attempt: the wait (nothing counted) or 0, the attempt counted as failed."""
        wait = self.retry_after(email, client)
        if wait:
            return wait
        now = self._clock.monotonic()
        client = client_key(client)
        self._pairs.add((email, client), now)
        self._clients.add(client, now)
        self._emails.add(email, now)
        return 0

    def succeeded(self, email: str, client: str) -> None:
        """The attempt ``begin`` counted had the right password: take it back, clear the pair."""
        client = client_key(client)
        self._pairs.clear((email, client))
        self._clients.take_back(client)
        self._emails.take_back(email)

    def abandon(self, email: str, client: str) -> None:
        """The attempt ``begin`` counted never got an answer (an error): take it back."""
        client = client_key(client)
        self._pairs.take_back((email, client))
        self._clients.take_back(client)
        self._emails.take_back(email)

    def _wait(self, failures: _Failures, free: int, now: float) -> float:
        if failures.count < free:
            return 0.0
        backoff = min(self._cap, self._base * 2 ** min(failures.count - free, 32))
        return max(0.0, failures.last + backoff - now)


class SlidingWindowLimit:
    """At most ``limit`` actions per key in any ``window_seconds`` (e.g. sign-ups per client).

    Unlike login failures, every admitted action counts, and nothing is taken back. Memory is
    bounded like the login tables: at most ``max_keys`` keys, the least recently active
    forgotten first.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        limit: int,
        window_seconds: float,
        max_keys: int = LOGIN_THROTTLE_MAX_KEYS,
    ) -> None:
        self._clock = clock
        self._limit = limit
        self._window = window_seconds
        self._max_keys = max_keys
        self._times: OrderedDict[str, deque[float]] = OrderedDict()

    def admit(self, key: str) -> int:
        """Count one action for ``key`` and answer 0, or the seconds to wait (not counted)."""
        now = self._clock.monotonic()
        times = self._times.get(key)
        if times is None:
            times = self._times[key] = deque()
            while len(self._times) > self._max_keys:
                self._times.popitem(last=False)
        while times and now - times[0] >= self._window:
            times.popleft()
        if len(times) >= self._limit:
            return max(1, math.ceil(times[0] + self._window - now))
        times.append(now)
        self._times.move_to_end(key)
        return 0
