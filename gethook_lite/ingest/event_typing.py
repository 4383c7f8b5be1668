"""Inbound event typing: the event_type and external_event_id of a request, and its payload hash.

Pure functions over the raw request; named event_typing so it never shadows the stdlib ``typing``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

import msgspec

__all__ = [
    "MAX_EVENT_TYPE_LENGTH",
    "MAX_EXTERNAL_EVENT_ID_LENGTH",
    "EventIdentity",
    "identify_event",
    "payload_hash",
]

MAX_EVENT_TYPE_LENGTH = 255
MAX_EXTERNAL_EVENT_ID_LENGTH = 255

# JSON's own insignificant whitespace (RFC 8259), not str.isspace().
_JSON_WHITESPACE = " \t\r\n"
# Headers that carry an idempotency id regardless of provider, in order of preference.
_GENERIC_ID_HEADERS = ("webhook-id", "idempotency-key", "x-event-id")
_GENERIC_TYPE_FIELDS = ("type", "event_type")


class EventIdentity(NamedTuple):
    """What an inbound request says it is: its type and the sender's id for it."""

    event_type: str | None
    external_event_id: str | None


def payload_hash(body: bytes) -> str:
    """The hash of the raw body as stored on the event: ``sha256:<hex>``."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


def identify_event(auth_mode: str, headers: Mapping[str, str], body: bytes) -> EventIdentity:
    """Extract event_type and external_event_id: provider fields first, then generic ones.

    ``headers`` keys are lower-case. Each value is the first usable candidate: a non-empty
    string after trimming; types are cut to 255 characters, longer ids are refused (None) so
    that deduplication never merges two events whose ids differ only after the cut.
    """
    document = _json_object(body)
    # A cleaned value is None or a non-empty string, so ``or`` takes the first usable one.
    return EventIdentity(
        event_type=_first(_clean_type, _provider_types(auth_mode, headers, document))
        or _generic_type(headers, document),
        external_event_id=_first(_clean_id, _provider_ids(auth_mode, headers, document))
        or _generic_id(headers),
    )


def _json_object(body: bytes) -> dict[str, Any] | None:
    """The body as a JSON object, or None when it is anything else (never raises)."""
    try:
        # utf-8-sig: a leading BOM is tolerated; any other encoding is not JSON we type.
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    if not text.lstrip(_JSON_WHITESPACE).startswith("{"):
        return None
    try:
        document = _decode_json(text)
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        return None
    return document if isinstance(document, dict) else None


# A body with no more brackets than this cannot nest deep enough to meet json.loads's
# recursion limit, so whether it decodes does not depend on how deep the caller's stack is.
_FAST_DECODE_MAX_BRACKETS = 200


def _decode_json(text: str) -> object:
    """``json.loads(text)``, faster (this ran once per webhook at ~10 µs a KB).

    msgspec decodes what it accepts exactly as json.loads does (tests/unit/test_event_typing
    checks the edges: duplicate keys, escapes, huge numbers); what it refuses (NaN, lone
    surrogates, overflowing floats) and anything nested deeply goes to json.loads as before.
    """
    if text.count("[") + text.count("{") <= _FAST_DECODE_MAX_BRACKETS:
        try:
            return msgspec.json.decode(text)
        except msgspec.DecodeError:
            pass
    return json.loads(text)


def _body_field(document: dict[str, Any] | None, *path: str) -> object:
    """The value at ``path`` in the JSON object, or None when any step is missing."""
    value: object = document
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _provider_types(
    auth_mode: str, headers: Mapping[str, str], document: dict[str, Any] | None
) -> list[object]:
    if auth_mode == "stripe":
        return [_body_field(document, "type")]
    if auth_mode == "github":
        return [_github_type(headers.get("x-github-event"), _body_field(document, "action"))]
    if auth_mode == "shopify":
        return [headers.get("x-shopify-topic")]
    if auth_mode == "slack":
        # Event callbacks nest the type; url_verification and the like carry it at the top.
        return [_body_field(document, "event", "type"), _body_field(document, "type")]
    return []


def _github_type(event: object, action: object) -> str | None:
    """``issues.opened`` from the X-GitHub-Event header and the body's action; header alone else."""
    event_name = _trimmed(event)
    if event_name is None:
        return None
    action_name = _trimmed(action)
    return f"{event_name}.{action_name}" if action_name else event_name


def _provider_ids(
    auth_mode: str, headers: Mapping[str, str], document: dict[str, Any] | None
) -> list[object]:
    if auth_mode == "stripe":
        return [_body_field(document, "id")]
    if auth_mode == "github":
        return [headers.get("x-github-delivery")]
    if auth_mode == "shopify":
        return [headers.get("x-shopify-webhook-id")]
    if auth_mode == "slack":
        return [_body_field(document, "event_id")]
    return []


def _generic_type(headers: Mapping[str, str], document: dict[str, Any] | None) -> str | None:
    """The X-Event-Type header, else the body's "type", else its "event_type"."""
    # Written out rather than as a list of candidates: this runs for every webhook.
    cleaned = _clean_type(headers.get("x-event-type"))
    if cleaned is None and document is not None:
        for field in _GENERIC_TYPE_FIELDS:
            cleaned = _clean_type(document.get(field))
            if cleaned is not None:
                break
    return cleaned


def _generic_id(headers: Mapping[str, str]) -> str | None:
    # A body "id" is only trusted for Stripe: elsewhere it often names a resource, not the event.
    for name in _GENERIC_ID_HEADERS:
        cleaned = _clean_id(headers.get(name))
        if cleaned is not None:
            return cleaned
    return None


def _trimmed(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    return value.strip() or None


def _clean_type(value: object) -> str | None:
    text = _trimmed(value)
    if text is None:
        return None
    # Cutting may expose inner whitespace at the new end; trim it again.
    return text[:MAX_EVENT_TYPE_LENGTH].rstrip()


def _clean_id(value: object) -> str | None:
    text = _trimmed(value)
    if text is None or len(text) > MAX_EXTERNAL_EVENT_ID_LENGTH:
        return None
    return text


def _first(clean: Callable[[object], str | None], values: Iterable[object]) -> str | None:
    """The first of ``values`` that ``clean`` makes usable, cleaned."""
    for value in values:
        cleaned = clean(value)
        if cleaned is not None:
            return cleaned
    return None
