"""The destination field rules on their own, without an app (they are pure)."""

from __future__ import annotations

import pytest

from gethook_lite.domain import destination_rules as rules
from gethook_lite.errors import BadRequest


@pytest.mark.parametrize(
    ("value", "expected"), [(None, 30), (1, 1), (120, 120), (0, None), (121, None), (True, None)]
)
def test_timeout(value, expected):
    if expected is None:
        with pytest.raises(BadRequest, match="timeout_seconds: must be between 1 and 120"):
            rules.validate_timeout(value)
    else:
        assert rules.validate_timeout(value) == expected


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"Webhook-Id": "x"}, "webhook-id is reserved"),
        ({"X-A": "1", "x-a": "2"}, "is given twice"),
        ({"X-A": "line\nbreak"}, "must be one line"),
        ({"bad name": "x"}, "is not a valid header name"),
    ],
)
def test_custom_headers_refused(headers, message):
    with pytest.raises(BadRequest, match=message):
        rules.validate_custom_headers(headers)


def test_preset_headers_yield_to_the_users_and_may_not_clash_with_api_key_auth():
    merged = rules.merge_headers({"X-Version": "1", "X-Keep": "k"}, {"x-version": "2"})
    assert merged == {"X-Keep": "k", "x-version": "2"}
    auth = rules.validate_auth_config({"type": "api_key", "header": "X-Key", "value": "v"})
    with pytest.raises(BadRequest, match=r"custom_headers\.x-key: is the auth_config header"):
        rules.check_header_clash({"x-key": "1"}, auth)
