"""Event typing's fast paths: its JSON decode gives what json.loads gives (or raises as it
does), and identify_event picks what its list of candidates did."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gethook_lite.ingest import event_typing
from gethook_lite.ingest.event_typing import EventIdentity, _decode_json, identify_event

EDGES = [
    '{"a":1,"a":2}',
    '{"type":"\\ud800x"}',
    '{"a":"\\uDFFF\\uD800"}',
    '{"a":"\\ud83d\\ude00"}',
    '{"type":"a\x01b"}',
    '{"a":"\t"}',
    '{"a":NaN}',
    '{"a":Infinity}',
    '{"a":-Infinity}',
    '{"a":1e400}',
    '{"a":01}',
    '{"a":1.}',
    '{"a":.5}',
    '{"a":+1}',
    '{"a":[1,]}',
    '{"a":1,}',
    "{'a':1}",
    '{"a":True}',
    '{"a":1}\x00',
    '{"a":1}\xa0',
    '{"a":1} \n',
    '{"a":"\\u0000"}',
    '{"t":"\u2028"}',
    '{"type":"x","n":' + "1" * 4300 + "}",
    '{"type":"x","n":' + "1" * 4301 + "}",
    '{"type":"x","n":1' + "0" * 400 + ".5}",
    '{"type":"x","a":' + "[" * 150 + "]" * 150 + "}",
    '{"type":"x","a":' + "[" * 5000 + "]" * 5000 + "}",
    '{"a":{"b":{"c":"d"}},"e":[true,false,null,-0,1E5,1e-5,"\\/"]}',
]


def _outcome(decode, text: str) -> tuple:
    try:
        value = decode(text)
    except (ValueError, RecursionError) as exc:
        return ("refused", type(exc) is RecursionError)
    return ("decoded", repr(value), _nan_paths(value))


def _nan_paths(value: object) -> bool:
    return isinstance(value, float) and math.isnan(value)


@pytest.mark.parametrize("text", EDGES)
def test_edges_decode_as_json_loads_does(text: str) -> None:
    assert _outcome(_decode_json, text) == _outcome(json.loads, text)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(st.text(), _JSON, max_size=6))
def test_documents_decode_as_json_loads_does(document: dict) -> None:
    for text in (json.dumps(document), json.dumps(document, ensure_ascii=False)):
        assert _outcome(_decode_json, text) == _outcome(json.loads, text)


# -- identify_event, written out, picks what the candidate lists did --------------------------


def _by_candidate_lists(auth_mode: str, headers: dict[str, str], body: bytes) -> EventIdentity:
    """identify_event as it was: every candidate listed, the first usable one taken."""
    document = event_typing._json_object(body)
    types = [
        *event_typing._provider_types(auth_mode, headers, document),
        headers.get("x-event-type"),
        *(event_typing._body_field(document, field) for field in ("type", "event_type")),
    ]
    ids = [
        *event_typing._provider_ids(auth_mode, headers, document),
        *(headers.get(name) for name in ("webhook-id", "idempotency-key", "x-event-id")),
    ]
    cleaned_types = [event_typing._clean_type(value) for value in types]
    cleaned_ids = [event_typing._clean_id(value) for value in ids]
    return EventIdentity(
        next((value for value in cleaned_types if value is not None), None),
        next((value for value in cleaned_ids if value is not None), None),
    )


_HEADER_NAMES = [
    "x-event-type", "webhook-id", "idempotency-key", "x-event-id", "x-github-event",
    "x-github-delivery", "x-shopify-topic", "x-shopify-webhook-id",
]  # fmt: skip
_VALUES = st.one_of(
    st.sampled_from(["", " ", "a", " b ", "x" * 256, "y" * 300, "order.paid"]), st.text(max_size=8)
)
_FIELDS = st.sampled_from(["type", "event_type", "id", "event_id", "action", "event"])
_BODY_VALUES = st.one_of(_VALUES, st.integers(), st.none(), st.dictionaries(_FIELDS, _VALUES))


@given(
    st.sampled_from(["none", "hmac", "api_key", "stripe", "github", "shopify", "slack"]),
    st.dictionaries(st.sampled_from(_HEADER_NAMES), _VALUES),
    st.one_of(
        st.dictionaries(_FIELDS, _BODY_VALUES).map(lambda d: json.dumps(d).encode()),
        st.sampled_from([b"", b"[]", b"not json", b'{"type": 1}']),
    ),
)
def test_identify_event_picks_as_the_candidate_lists_did(auth_mode, headers, body) -> None:
    assert identify_event(auth_mode, headers, body) == _by_candidate_lists(auth_mode, headers, body)
