"""Event type patterns of routes: a small glob language.

``*`` matches any run of characters (empty and dots included), ``?`` exactly one character,
everything else itself, case-sensitively. There is no escaping and no ``[...]`` class: ``[`` is
an ordinary character (which is why ``fnmatch`` is not used). An absent pattern or ``*`` matches
every event, typed or not; any other pattern never matches an event without a type.

Matching is linear in practice and O(len(pattern) * len(event_type)) at worst. A regex with one
``.*`` per star can backtrack for polynomial time of high degree, and event types come from
untrusted senders.
"""

from __future__ import annotations

from functools import lru_cache

__all__ = ["MATCH_ALL", "MAX_PATTERN_LENGTH", "matches", "validate_event_type_pattern"]

MAX_PATTERN_LENGTH = 255
MATCH_ALL = "*"


def validate_event_type_pattern(pattern: str | None) -> str | None:
    """Return the pattern to store (None for absent or empty); raise ValueError when invalid."""
    if pattern is None or pattern == "":
        return None
    if not isinstance(pattern, str):
        raise ValueError("event_type_pattern must be a string")
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise ValueError(f"event_type_pattern must be at most {MAX_PATTERN_LENGTH} characters")
    if any(ch.isspace() or not ch.isprintable() for ch in pattern):
        raise ValueError("event_type_pattern must not contain spaces or control characters")
    return pattern


@lru_cache(maxsize=1024)
def _segments(pattern: str) -> tuple[str, ...]:
    """Split a pattern at its stars: ``a*b*c`` gives ``("a", "b", "c")``."""
    return tuple(pattern.split("*"))


def _matches_at(segment: str, text: str, start: int, end: int) -> bool:
    """Return True when ``segment`` matches ``text`` at ``start`` without passing ``end``."""
    if start + len(segment) > end:
        return False
    return all(p == "?" or p == text[start + i] for i, p in enumerate(segment))


def _find(segment: str, text: str, start: int, end: int) -> int:
    """Return the first index in ``[start, end - len(segment)]`` where ``segment`` matches."""
    for index in range(start, end - len(segment) + 1):
        if _matches_at(segment, text, index, end):
            return index
    return -1


def _glob_match(segments: tuple[str, ...], text: str) -> bool:
    """Match ``text`` against star-separated segments.

    The first segment is anchored at the start, the last at the end, and the middle ones are
    found left to right, each as early as possible: taking the earliest match never loses a
    match a later choice would find, so no backtracking is needed.
    """
    if len(segments) == 1:
        return len(segments[0]) == len(text) and _matches_at(segments[0], text, 0, len(text))
    head, *middle, tail = segments
    end = len(text) - len(tail)
    if end < len(head):
        return False
    if not _matches_at(head, text, 0, end) or not _matches_at(tail, text, end, len(text)):
        return False
    position = len(head)
    for segment in middle:
        found = _find(segment, text, position, end)
        if found < 0:
            return False
        position = found + len(segment)
    return True


def matches(pattern: str | None, event_type: str | None) -> bool:
    """Return True when an event of type ``event_type`` (None: untyped) matches ``pattern``."""
    # "" is stored as None (see validate_event_type_pattern), so it means "match all" as well.
    if not pattern or pattern == MATCH_ALL:
        return True
    if event_type is None:
        return False
    return _glob_match(_segments(pattern), event_type)
