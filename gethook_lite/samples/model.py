"""What a sample is: the request a provider would send, before it is signed."""

from __future__ import annotations

import json
import random
import re
import string
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "EVENT_TYPE_PATTERN",
    "InvalidEventType",
    "Sample",
    "SampleIds",
    "check_event_type",
    "compact_json",
    "iso_time",
]

# Letters, digits and the separators providers use (``.``, ``/``, ``_``, ``-``, ``:``): the
# type ends up in headers (X-GitHub-Event, X-Shopify-Topic), so nothing that could break one.
EVENT_TYPE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/\-]{0,127}")
_ALPHANUMERIC = string.ascii_letters + string.digits


class InvalidEventType(ValueError):
    """An event type no provider could send; str() says what is wrong."""


def check_event_type(event_type: str) -> str:
    """Return ``event_type`` when it could be a provider's event type; raise InvalidEventType."""
    if not isinstance(event_type, str) or not EVENT_TYPE_PATTERN.fullmatch(event_type):
        raise InvalidEventType(
            "event_type: must be 1 to 128 letters, digits or . / _ - : (starting with a letter "
            "or digit)"
        )
    return event_type


@dataclass(frozen=True, slots=True)
class Sample:
    """A provider's request before signing: its body, content type and non-signature headers.

    ``event_type`` is the type the gateway will record (GitHub's ``pull_request`` is recorded as
    ``pull_request.opened``); ``event_id`` is the provider's id for the event (Stripe's ``evt_…``,
    GitHub's delivery id, a Standard Webhooks ``msg_…``), which the signer may need.
    """

    provider: str
    event_type: str
    event_id: str
    body: bytes
    content_type: str
    headers: Mapping[str, str] = field(default_factory=dict)


class SampleIds:
    """Where a sample's ids come from: random by default, repeatable with a seed (tests)."""

    def __init__(self, seed: int | None = None) -> None:
        self._random = random.Random(seed) if seed is not None else random.SystemRandom()

    def token(self, prefix: str = "", length: int = 24) -> str:
        """``prefix`` followed by ``length`` letters and digits (Stripe-style ids)."""
        return prefix + "".join(self._random.choice(_ALPHANUMERIC) for _ in range(length))

    def upper(self, prefix: str, length: int = 10) -> str:
        """``prefix`` followed by upper-case letters and digits (Slack-style ids)."""
        chars = string.ascii_uppercase + string.digits
        return prefix + "".join(self._random.choice(chars) for _ in range(length))

    def number(self, digits: int) -> int:
        """A positive integer of exactly ``digits`` digits (GitHub and Shopify ids)."""
        return self._random.randrange(10 ** (digits - 1), 10**digits)

    def hex(self, length: int) -> str:
        """``length`` lower-case hex digits (commit SHAs)."""
        return "".join(self._random.choice("0123456789abcdef") for _ in range(length))

    def uuid(self) -> str:
        """A version-4 UUID (GitHub and Shopify delivery ids)."""
        return str(uuid.UUID(int=self._random.getrandbits(128), version=4))


def iso_time(now: float, *, millis: bool = False) -> str:
    """RFC 3339 in UTC with a ``Z``, as most providers write times."""
    moment = datetime.fromtimestamp(now, UTC)
    if millis:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def compact_json(document: Any) -> bytes:
    """JSON without insignificant whitespace, as GitHub, Shopify and Slack send it."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
