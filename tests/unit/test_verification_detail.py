"""The detail of a verification failure: words a person can act on, never a secret."""

from __future__ import annotations

import pytest

from gethook_lite.ingest.verification import VerificationFailed, verify_request
from tests.unit.test_verification import (
    BODY,
    CONFIGS,
    NOW,
    TIMESTAMPED,
    WRONG_SECRET_HEADERS,
)


def _detail(mode: str, headers: dict[str, str], now: float = NOW) -> str:
    with pytest.raises(VerificationFailed) as caught:
        verify_request(mode, CONFIGS[mode], headers, BODY, now)
    return caught.value.detail


@pytest.mark.parametrize(
    ("mode", "offset", "expected"),
    [
        ("stripe", -412, "Stripe-Signature timestamp is 412 s old; tolerance is 300 s"),
        ("stripe", 400, "Stripe-Signature timestamp is 400 s in the future; tolerance is 300 s"),
        ("slack", -301, "X-Slack-Request-Timestamp timestamp is 301 s old; tolerance is 300 s"),
        ("standard_webhooks", -999, "webhook-timestamp timestamp is 999 s old"),
    ],
)
def test_a_stale_timestamp_says_how_old_and_the_tolerance(mode, offset, expected) -> None:
    assert _detail(mode, TIMESTAMPED[mode](NOW + offset)).startswith(expected)


@pytest.mark.parametrize("mode", sorted(WRONG_SECRET_HEADERS))
def test_a_wrong_secret_names_the_header_and_what_to_check(mode) -> None:
    detail = _detail(mode, WRONG_SECRET_HEADERS[mode])
    assert "source's" in detail
    secrets = [value for config in CONFIGS.values() for value in config.values()]
    assert not any(secret in detail for secret in secrets if len(str(secret)) > 8)


def test_a_missing_header_says_which() -> None:
    assert _detail("github", {}).startswith("missing x-hub-signature-256 header: ")
