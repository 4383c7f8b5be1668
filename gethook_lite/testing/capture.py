"""What a sink captured, as typed records decoded from the API's event shape."""

from __future__ import annotations

import base64
import json
from typing import Any

import msgspec

__all__ = ["CapturedEvent", "CapturedRequest", "decode_event"]


class CapturedRequest(msgspec.Struct, frozen=True, kw_only=True):
    """One request as the sink received it, byte for byte."""

    method: str
    # Below the ingest URL: "" for the ingest URL itself, else "/sub/path".
    path: str
    # The raw query string, without the "?" ("" when there was none).
    query: str
    # Lower-case names; a repeated header's values are joined with ", ".
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body parsed as JSON (raises ValueError when it is not)."""
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        """A header's value by any spelling of its name, or None."""
        return self.headers.get(name.lower())


class CapturedEvent(CapturedRequest, frozen=True, kw_only=True):
    """A captured request and what the gateway made of it (its id, type and sender's id)."""

    id: str
    source_id: str | None
    event_type: str | None
    external_event_id: str | None
    received_at: str


class _WireEvent(msgspec.Struct, frozen=True):
    """The fields of the API's event read (``present_event``) the helpers use."""

    id: str
    received_at: str
    headers: dict[str, str]
    body: str
    source_id: str | None = None
    event_type: str | None = None
    external_event_id: str | None = None
    body_encoding: str | None = None
    # The request as ingest received it; null (or absent on an older server) for events the
    # API made, which read here as a POST to the ingest URL itself.
    request_method: str | None = None
    request_path: str | None = None
    request_query: str | None = None


def decode_event(document: Any) -> CapturedEvent:
    """A CapturedEvent from one event of the API (raises msgspec.ValidationError if it is not)."""
    wire = msgspec.convert(document, _WireEvent)
    # The API sends bodies that are not UTF-8 as base64 (domain/text.py, text_or_base64).
    body = (
        base64.b64decode(wire.body) if wire.body_encoding == "base64" else wire.body.encode("utf-8")
    )
    return CapturedEvent(
        id=wire.id,
        source_id=wire.source_id,
        event_type=wire.event_type,
        external_event_id=wire.external_event_id,
        received_at=wire.received_at,
        method=wire.request_method or "POST",
        path=wire.request_path or "",
        query=wire.request_query or "",
        headers={name.lower(): value for name, value in wire.headers.items()},
        body=body,
    )
