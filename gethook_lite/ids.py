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


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, index = divmod(value, 32)
        chars.append(_ALPHABET[index])
    return "".join(reversed(chars))


def format_id(prefix: str, millis: int, random_part: int) -> str:
    """The id for a moment (unix milliseconds) and 80 random bits."""
    return f"{prefix}_{_encode(millis, 10)}{_encode(random_part, 16)}"


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
