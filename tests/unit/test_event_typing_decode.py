"""The fast JSON decode that typing uses gives what json.loads gives, or raises as it does."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gethook_lite.ingest.event_typing import _decode_json

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
