"""A per-instance cache of values read from the database, dropped whenever they change.

Ingest reads a few things on every request (the source behind a token, the routing table, the
verified custom domains), so the domain keeps copies in memory and forgets them on every change.
The generation closes a race: a value read from the database while a change was committed
could be the old one, so it is kept only if no ``forget`` happened since the read began.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

__all__ = ["GenerationCache"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class GenerationCache(Generic[K, V]):
    """Values by key; ``forget`` drops one key or all of them and starts a new generation."""

    def __init__(self) -> None:
        self._values: dict[K, V] = {}
        self._generation = 0

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, key: object) -> bool:
        return key in self._values

    @property
    def generation(self) -> int:
        """Take this before reading a value to ``put``."""
        return self._generation

    def get(self, key: K) -> V | None:
        return self._values.get(key)

    def put(self, key: K, value: V, generation: int) -> None:
        """Keep ``value``, read since ``generation``, unless a change was forgotten meanwhile."""
        if generation == self._generation:
            self._values[key] = value

    def forget(self, key: K | None = None) -> None:
        """Drop one key, or every one (``None``): something they were read from changed."""
        self._generation += 1
        if key is None:
            self._values.clear()
        else:
            self._values.pop(key, None)
