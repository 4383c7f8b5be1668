"""Which request headers travel with a delivery besides ours: the names a destination may not
set itself (custom headers) and the provider's headers a destination with
``forward_original_headers`` receives."""

from __future__ import annotations

import json
from collections.abc import Iterable

__all__ = ["REDACTED", "RESERVED_HEADERS", "RESERVED_PREFIXES", "forwardable_headers"]

# What ingest stores in place of a credential header's value.
REDACTED = "[redacted]"

# Headers a destination may not set: hop-by-hop ones, ones the HTTP client owns, and ones
# that carry our signature or auth (a custom header must not be able to forge them).
RESERVED_HEADERS = frozenset(
    {
        "host", "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade",
        "te", "trailer", "trailers", "proxy-authorization", "proxy-authenticate",
        "proxy-connection", "content-encoding", "expect", "user-agent", "authorization",
        "content-type",  # the event's own content type is sent, byte for byte with its body
    }
)  # fmt: skip
RESERVED_PREFIXES = ("webhook-", "x-gethook-", "proxy-")

# Credentials of the original request: never passed on, whatever ingest stored for them.
_CREDENTIALS = frozenset({"authorization", "cookie", "x-api-key"})


def forwardable_headers(stored: str, ours: Iterable[str]) -> dict[str, str]:
    """The original request's headers (``stored``: the event's JSON object) that may go along
    with a delivery: not reserved, not a credential (redacted ones included), and not one of
    ``ours`` (the delivery's own headers win, compared without case)."""
    taken = {name.lower() for name in ours}
    forwarded: dict[str, str] = {}
    for name, value in json.loads(stored).items():
        lowered = name.lower()
        if (
            lowered in RESERVED_HEADERS
            or lowered.startswith(RESERVED_PREFIXES)
            or lowered in _CREDENTIALS
            or lowered in taken
            or value == REDACTED
        ):
            continue
        forwarded[lowered] = value
    return forwarded
