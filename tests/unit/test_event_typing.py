"""Inbound event typing: event_type and external_event_id from providers, then generic fallbacks."""

from __future__ import annotations

import hashlib
import json

import pytest

from gethook_lite.ingest.event_typing import EventIdentity, identify_event, payload_hash


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


STRIPE_BODY = _json({"id": "evt_1NG8Du2eZvKYlo2C", "object": "event", "type": "invoice.paid"})
SLACK_CALLBACK = _json(
    {"type": "event_callback", "event_id": "Ev08MFMKH6", "event": {"type": "app_mention"}}
)

CASES = [
    # (name, auth_mode, headers, body, expected type, expected id)
    ("stripe body type and id", "stripe", {}, STRIPE_BODY, "invoice.paid", "evt_1NG8Du2eZvKYlo2C"),
    (
        "github event plus action",
        "github",
        {"x-github-event": "issues", "x-github-delivery": "72d3162e-cc78-11e3-81ab"},
        _json({"action": "opened", "issue": {"id": 1}}),
        "issues.opened",
        "72d3162e-cc78-11e3-81ab",
    ),
    (
        "github event without action",
        "github",
        {"x-github-event": "push", "x-github-delivery": "d1"},
        _json({"ref": "refs/heads/main"}),
        "push",
        "d1",
    ),
    (
        "github non-string action is ignored",
        "github",
        {"x-github-event": "ping"},
        _json({"action": 7}),
        "ping",
        None,
    ),
    (
        "github blank action is ignored",
        "github",
        {"x-github-event": "ping"},
        _json({"action": "  "}),
        "ping",
        None,
    ),
    (
        "github without event header falls back to generic",
        "github",
        {"x-event-type": "custom.thing"},
        _json({"action": "opened"}),
        "custom.thing",
        None,
    ),
    (
        "shopify topic and webhook id",
        "shopify",
        {"x-shopify-topic": "orders/create", "x-shopify-webhook-id": "b54557e4-bdd9"},
        _json({"id": 820982911946154508}),
        "orders/create",
        "b54557e4-bdd9",
    ),
    ("slack nested event.type", "slack", {}, SLACK_CALLBACK, "app_mention", "Ev08MFMKH6"),
    (
        "slack url_verification uses top-level type",
        "slack",
        {},
        _json({"type": "url_verification", "challenge": "3eZbrw1a"}),
        "url_verification",
        None,
    ),
    (
        "slack event that is not an object falls back to top-level type",
        "slack",
        {},
        _json({"type": "event_callback", "event": "app_mention"}),
        "event_callback",
        None,
    ),
    (
        "provider value wins over generic ones",
        "stripe",
        {"x-event-type": "generic.type", "webhook-id": "msg_1"},
        STRIPE_BODY,
        "invoice.paid",
        "evt_1NG8Du2eZvKYlo2C",
    ),
    (
        "stripe falls back to generic headers when the body has no fields",
        "stripe",
        {"x-event-type": "t", "idempotency-key": "k"},
        b"not json",
        "t",
        "k",
    ),
    (
        "generic x-event-type header",
        "none",
        {"x-event-type": "user.created"},
        b"",
        "user.created",
        None,
    ),
    (
        "generic header beats body",
        "hmac",
        {"x-event-type": "from.header"},
        _json({"type": "from.body"}),
        "from.header",
        None,
    ),
    ("generic body type", "none", {}, _json({"type": "order.paid"}), "order.paid", None),
    ("generic body event_type", "api_key", {}, _json({"event_type": "a.b"}), "a.b", None),
    (
        "generic body type beats event_type",
        "none",
        {},
        _json({"type": "first", "event_type": "second"}),
        "first",
        None,
    ),
    (
        "non-string type falls through to event_type",
        "none",
        {},
        _json({"type": {"name": "x"}, "event_type": "second"}),
        "second",
        None,
    ),
    ("numeric type is not a type", "none", {}, _json({"type": 3}), None, None),
    (
        "generic ids in order: webhook-id first",
        "none",
        {"webhook-id": "msg_1", "idempotency-key": "k", "x-event-id": "e"},
        b"",
        None,
        "msg_1",
    ),
    (
        "generic ids in order: idempotency-key second",
        "none",
        {"idempotency-key": "k", "x-event-id": "e"},
        b"",
        None,
        "k",
    ),
    ("generic ids in order: x-event-id last", "none", {"x-event-id": "e"}, b"", None, "e"),
    (
        "body id is only trusted for stripe",
        "none",
        {},
        _json({"id": "evt_1", "type": "t"}),
        "t",
        None,
    ),
    (
        "provider headers are ignored for other modes",
        "none",
        {"x-github-event": "push", "x-github-delivery": "d", "x-shopify-topic": "orders/create"},
        b"",
        None,
        None,
    ),
    (
        "values are trimmed",
        "none",
        {"x-event-type": "  spaced.type \t", "x-event-id": " id-1 "},
        b"",
        "spaced.type",
        "id-1",
    ),
    (
        "blank values count as absent",
        "none",
        {"x-event-type": "   ", "webhook-id": "", "x-event-id": "e"},
        _json({"type": " ", "event_type": "real"}),
        "real",
        "e",
    ),
]


@pytest.mark.parametrize(
    ("auth_mode", "headers", "body", "event_type", "external_id"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_identify_event(auth_mode, headers, body, event_type, external_id) -> None:
    assert identify_event(auth_mode, headers, body) == EventIdentity(event_type, external_id)


BODIES_WITHOUT_FIELDS = [
    ("empty", b""),
    ("plain text", b"type=order.paid&id=1"),
    ("json array", _json([{"type": "order.paid", "id": "evt_1"}])),
    ("json string", _json("order.paid")),
    ("json null", b"null"),
    ("truncated json", b'{"type": "order.paid", "id": "evt_'),
    ("invalid utf-8", b'{"type": "order.paid", "id": "evt_1", "x": "\xff\xfe"}'),
    ("utf-16", '{"type": "order.paid", "id": "evt_1"}'.encode("utf-16-le")),
    ("deeply nested", b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
    ("huge integer", b'{"n": ' + b"9" * 10_000 + b', "type": "x", "id": "y"}'),
    ("binary", bytes(range(256))),
]


@pytest.mark.parametrize("auth_mode", ["none", "stripe", "github", "slack", "shopify"])
@pytest.mark.parametrize(
    "body", [b for _, b in BODIES_WITHOUT_FIELDS], ids=[n for n, _ in BODIES_WITHOUT_FIELDS]
)
def test_bodies_that_are_not_json_objects_give_no_body_fields(auth_mode: str, body: bytes) -> None:
    assert identify_event(auth_mode, {}, body) == EventIdentity(None, None)


def test_non_json_body_still_uses_headers() -> None:
    headers = {"x-github-event": "push", "x-github-delivery": "d-1"}
    assert identify_event("github", headers, b"\xff\xfe not json") == ("push", "d-1")


@pytest.mark.parametrize(
    "body",
    [
        b'  \r\n\t{"type": "order.paid"}',
        b'\xef\xbb\xbf{"type": "order.paid"}',  # UTF-8 byte-order mark
    ],
)
def test_json_object_after_whitespace_or_bom_is_parsed(body: bytes) -> None:
    assert identify_event("none", {}, body).event_type == "order.paid"


def test_unicode_values_are_kept() -> None:
    body = _json({"type": "commande.payée", "id": "évt_1"})
    assert identify_event("stripe", {}, body) == ("commande.payée", "évt_1")


# --- length caps ----------------------------------------------------------------------------


def test_long_event_type_is_truncated_to_255() -> None:
    assert identify_event("none", {"x-event-type": "t" * 300}, b"").event_type == "t" * 255


def test_truncated_event_type_does_not_end_in_whitespace() -> None:
    long_type = "a" * 254 + " " + "b" * 10
    assert identify_event("none", {"x-event-type": long_type}, b"").event_type == "a" * 254


def test_github_type_is_truncated_after_joining() -> None:
    headers = {"x-github-event": "e" * 250}
    event_type = identify_event("github", headers, _json({"action": "opened"})).event_type
    assert event_type == "e" * 250 + ".open"


@pytest.mark.parametrize("length", [255, 256])
def test_ids_longer_than_255_are_refused_not_truncated(length: int) -> None:
    identity = identify_event("none", {"webhook-id": "i" * length}, b"")
    assert identity.external_event_id == ("i" * 255 if length == 255 else None)


def test_over_long_id_falls_through_to_the_next_candidate() -> None:
    headers = {"webhook-id": "i" * 300, "x-event-id": "short"}
    assert identify_event("none", headers, b"").external_event_id == "short"


def test_over_long_stripe_body_id_is_refused() -> None:
    body = _json({"id": "evt_" + "x" * 300, "type": "invoice.paid"})
    assert identify_event("stripe", {}, body) == ("invoice.paid", None)


def test_stripe_non_string_id_is_ignored() -> None:
    assert identify_event("stripe", {}, _json({"id": 42, "type": "t"})) == ("t", None)


# --- payload hash ---------------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"", b"{}", bytes(range(256))])
def test_payload_hash_is_sha256_of_the_raw_body(body: bytes) -> None:
    assert payload_hash(body) == "sha256:" + hashlib.sha256(body).hexdigest()


def test_payload_hash_of_empty_body_is_the_known_constant() -> None:
    expected = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert payload_hash(b"") == expected
