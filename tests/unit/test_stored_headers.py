"""The request headers an event keeps: lower-cased, repeats joined, hop-by-hop dropped, and
credentials redacted in the stored copy only."""

from __future__ import annotations

from types import SimpleNamespace

from gethook_lite.delivery.forwarded_headers import REDACTED
from gethook_lite.domain.accept import stored_headers

RAW = [
    (b"Host", b"hooks.example.com"),
    (b"x-tag", b"a"),
    (b"Authorization", b"Bearer s"),
    (b"connection", b"keep-alive"),
    (b"X-Tag", b"b"),
    (b"x-hook-key", b"k1"),
    (b"cookie", b"c=1"),
    (b"x-hook-key", b"k2"),
]


def test_headers_and_their_stored_copy():
    source = SimpleNamespace(auth_mode="none", verification_config={})
    headers, kept = stored_headers(RAW, source)  # type: ignore[arg-type]
    assert list(headers.items()) == [
        ("host", "hooks.example.com"),
        ("x-tag", "a, b"),
        ("authorization", "Bearer s"),
        ("x-hook-key", "k1, k2"),
        ("cookie", "c=1"),
    ]
    assert list(kept.items()) == [
        ("host", "hooks.example.com"),
        ("x-tag", "a, b"),
        ("authorization", REDACTED),
        ("x-hook-key", "k1, k2"),
        ("cookie", REDACTED),
    ]


def test_an_api_key_sources_key_header_is_redacted_too():
    source = SimpleNamespace(auth_mode="api_key", verification_config={"header": "X-Hook-Key"})
    headers, kept = stored_headers(RAW, source)  # type: ignore[arg-type]
    assert headers["x-hook-key"] == "k1, k2"
    assert kept["x-hook-key"] == REDACTED
    assert list(kept) == list(headers)
