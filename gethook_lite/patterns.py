"""Event type patterns of routes: a small glob language.

``*`` matches any run of characters (empty and dots included), ``?`` exactly one character,
everything else itself, case-sensitively. There is no escaping and no ``[...]`` class: ``[`` is
an ordinary character (which is why ``fnmatch`` is not used). An absent pattern or ``*`` matches
every event, typed or not; any other pattern never matches an event without a type.

Matching takes time linear in ``len(pattern) + len(event_type)``, whatever either holds: event
types come from untrusted senders and patterns from any account, and ingest matches one event
against every route of its source. A regex with one ``.*`` per star backtracks for polynomial
time of high degree, and even a plain search for a segment full of ``?`` costs
``len(segment) * len(event_type)``. Here the segments between stars are found left to right,
each at its earliest position (taking the earliest never loses a match a later one would find,
so nothing is retried), and a segment with ``?`` is searched with the bit-parallel Shift-And
scan: one step per character of the event type, the segment's positions held in one integer.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

__all__ = [
    "MATCH_ALL",
    "MAX_PATTERN_LENGTH",
    "CompiledPattern",
    "compile_pattern",
    "matches",
    "validate_event_type_pattern",
]

# Longest pattern the language allows at all; settings (routes.max_pattern_length) may lower it.
MAX_PATTERN_LENGTH = 255
MATCH_ALL = "*"
_ANY_ONE = "?"


def validate_event_type_pattern(
    pattern: str | None, max_length: int = MAX_PATTERN_LENGTH
) -> str | None:
    """Return the pattern to store (None for absent or empty); raise ValueError when invalid."""
    if pattern is None or pattern == "":
        return None
    if not isinstance(pattern, str):
        raise ValueError("event_type_pattern must be a string")
    if len(pattern) > max_length:
        raise ValueError(f"event_type_pattern must be at most {max_length} characters")
    if any(ch.isspace() or not ch.isprintable() for ch in pattern):
        raise ValueError("event_type_pattern must not contain spaces or control characters")
    return pattern


@dataclass(frozen=True, slots=True)
class _Segment:
    """A run of the pattern between stars, ready to be compared or searched."""

    text: str
    wild: bool  # holds a '?': compared character by character, searched with Shift-And
    masks: dict[str, int]  # Shift-And: bit i set where the segment accepts that character
    any_mask: int  # bits of the '?' positions: what any other character is accepted at

    @staticmethod
    @lru_cache(maxsize=4096)
    def of(text: str) -> _Segment:
        any_mask = sum(1 << i for i, ch in enumerate(text) if ch == _ANY_ONE)
        masks: dict[str, int] = {}
        for i, ch in enumerate(text):
            if ch != _ANY_ONE:
                masks[ch] = masks.get(ch, any_mask) | (1 << i)
        return _Segment(text=text, wild=any_mask != 0, masks=masks, any_mask=any_mask)

    def matches_at(self, text: str, start: int) -> bool:
        """Whether the segment matches ``text`` at ``start`` (the caller checked the length)."""
        if not self.wild:
            return text.startswith(self.text, start)
        return all(p == _ANY_ONE or p == text[start + i] for i, p in enumerate(self.text))

    def find(self, text: str, start: int, end: int) -> int:
        """The first index in ``[start, end - len]`` where the segment matches, or -1."""
        if not self.wild:
            return text.find(self.text, start, end)  # C; linear for long needles too
        masks, any_mask = self.masks, self.any_mask
        if not masks:  # only '?': matches wherever enough characters are left
            return start if start + len(self.text) <= end else -1
        last = 1 << (len(self.text) - 1)
        state = 0  # bit i: the segment's first i+1 characters end at the current character
        for index in range(start, end):
            state = ((state << 1) | 1) & masks.get(text[index], any_mask)
            if state & last:
                return index - len(self.text) + 1
        return -1


@dataclass(frozen=True, slots=True)
class CompiledPattern:
    """A pattern split at its stars; ``matches`` runs in linear time."""

    pattern: str | None
    head: _Segment  # anchored at the start (the whole pattern when it has no star)
    middle: tuple[_Segment, ...]  # found left to right, each as early as possible
    tail: _Segment | None  # anchored at the end; None when the pattern has no star
    min_length: int  # characters an event type needs at least: everything but the stars

    def matches(self, event_type: str | None) -> bool:
        """Return True when an event of type ``event_type`` (None: untyped) matches."""
        # "" is stored as None (see validate_event_type_pattern): "match all" as well.
        if not self.pattern or self.pattern == MATCH_ALL:
            return True
        if event_type is None or len(event_type) < self.min_length:
            return False
        head, tail = self.head, self.tail
        if tail is None:
            return len(event_type) == len(head.text) and head.matches_at(event_type, 0)
        end = len(event_type) - len(tail.text)
        if not head.matches_at(event_type, 0) or not tail.matches_at(event_type, end):
            return False
        position = len(head.text)
        for segment in self.middle:
            found = segment.find(event_type, position, end)
            if found < 0:
                return False
            position = found + len(segment.text)
        return True


@lru_cache(maxsize=4096)
def compile_pattern(pattern: str | None) -> CompiledPattern:
    """Split ``pattern`` at its stars once, for many matches."""
    parts = (pattern or "").split("*")
    head = _Segment.of(parts[0])
    if len(parts) == 1:
        return CompiledPattern(pattern, head, (), None, len(head.text))
    middle = tuple(_Segment.of(p) for p in parts[1:-1] if p)
    tail = _Segment.of(parts[-1])
    min_length = len(head.text) + len(tail.text) + sum(len(s.text) for s in middle)
    return CompiledPattern(pattern, head, middle, tail, min_length)


def matches(pattern: str | None, event_type: str | None) -> bool:
    """Return True when an event of type ``event_type`` (None: untyped) matches ``pattern``."""
    return compile_pattern(pattern).matches(event_type)
