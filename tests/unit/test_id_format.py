"""Ids are written a digit pair at a time; they must read exactly as digit by digit."""

from __future__ import annotations

import random

from gethook_lite.ids import format_id, new_id

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def _digit_by_digit(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, index = divmod(value, 32)
        chars.append(_ALPHABET[index])
    return "".join(reversed(chars))


def test_ids_read_as_digit_by_digit_base32():
    rng = random.Random(7)
    millis_values = [0, 1, (1 << 48) - 1, (1 << 50) - 1, 1_764_000_000_000]
    random_values = [0, 1, (1 << 79) - 1, (1 << 80) - 1, 1 << 80]
    for _ in range(2000):
        millis_values.append(rng.getrandbits(rng.choice([41, 48, 50, 55])))
        random_values.append(rng.getrandbits(rng.choice([79, 80, 85])))
    for millis in millis_values:
        for random_part in rng.sample(random_values, 20):
            expected = f"evt_{_digit_by_digit(millis, 10)}{_digit_by_digit(random_part, 16)}"
            assert format_id("evt", millis, random_part) == expected


def test_new_ids_keep_increasing():
    ids = [new_id("evt") for _ in range(5000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(len(i) == 30 for i in ids)
