"""Accepting an inbound webhook: verify, type, store durably, then wake the scheduler."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import msgspec

from gethook_lite.context import Context
from gethook_lite.db.ingest import accept_capture, accept_events
from gethook_lite.delivery.forwarded_headers import REDACTED
from gethook_lite.domain.domains import ingest_host_allowed
from gethook_lite.domain.rejected_requests import record_rejection
from gethook_lite.domain.routing import matching_routes
from gethook_lite.domain.sink import ScriptedAnswer, next_answer
from gethook_lite.domain.sources import LiveSource, live_source_for_token
from gethook_lite.errors import NotFound, Unauthorized
from gethook_lite.ids import new_id
from gethook_lite.ingest.event_typing import identify_event, payload_hash
from gethook_lite.ingest.url_verification import SlackChallenge, slack_challenge
from gethook_lite.ingest.verification import VerificationFailed, verify_request

__all__ = [
    "HOP_BY_HOP_HEADERS",
    "Captured",
    "RequestLine",
    "SlackChallenge",
    "ingest",
    "stored_headers",
]


@dataclass(frozen=True, slots=True)
class RequestLine:
    """What an event keeps of its request line: the method, the path below
    /ingest/{token} ('' or '/sub/path', only a sink source takes one) and the raw query."""

    method: str = "POST"
    path: str = ""
    query: str = ""


# Events made by the sample sender (POST /v1/sources/{id}/test-events) and internal callers.
_PLAIN_POST = RequestLine()


@dataclass(frozen=True, slots=True)
class Captured:
    """A sink source's capture, committed: its event, and the scripted answer (None: 202)."""

    event_id: str
    status: str
    answer: ScriptedAnswer | None


HOP_BY_HOP_HEADERS = frozenset(
    {
        "connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
        "proxy-connection", "te", "trailer", "trailers", "transfer-encoding", "upgrade",
    }
)  # fmt: skip
_REDACTED = REDACTED  # what forwarding recognises as a credential it must not pass on


def stored_headers(
    raw: Iterable[tuple[bytes, bytes]], source: LiveSource
) -> tuple[dict[str, str], dict[str, str]]:
    """The request headers (lower-cased, repeated ones joined), and the copy we store with
    credentials redacted."""
    secret_headers = _credential_headers(source)
    headers: dict[str, str] = {}
    kept: dict[str, str] = {}  # filled in the same pass: one per webhook
    for raw_name, raw_value in raw:
        name = raw_name.decode("latin-1").lower()
        if name in HOP_BY_HOP_HEADERS:
            continue
        value = raw_value.decode("latin-1")
        if name in headers:
            value = f"{headers[name]}, {value}"
        headers[name] = value
        kept[name] = _REDACTED if name in secret_headers else value
    return headers, kept


# Credentials a sender may attach to any request; never stored, whatever the source's mode.
_ALWAYS_REDACTED = frozenset({"authorization", "cookie", "x-api-key"})


def _credential_headers(source: LiveSource) -> frozenset[str]:
    # An api-key source is authenticated by a header that is itself the secret; storing it
    # would put the source's credential in the database in plain text.
    if source.auth_mode == "api_key":
        return _ALWAYS_REDACTED | {source.verification_config["header"].lower()}
    return _ALWAYS_REDACTED


async def ingest(
    ctx: Context,
    path_token: str,
    raw_headers: Iterable[tuple[bytes, bytes]],
    body: bytes,
    request: RequestLine = _PLAIN_POST,
) -> tuple[str, str] | SlackChallenge | Captured:
    """Verify and store one inbound request; return (event id, status) once committed.

    A verified Slack URL check is answered instead (a SlackChallenge), never stored. A sink
    source's request is stored even when it repeats an external id, and answered as its
    response plan says (Captured).
    """
    source = await live_source_for_token(ctx, path_token)
    if source is None:
        raise NotFound("unknown ingest token")
    headers, kept_headers = stored_headers(raw_headers, source)
    if not await ingest_host_allowed(ctx, source.custom_domain, headers.get("host")):
        # Another account's custom domain must not reach this source: answer as if unknown.
        raise NotFound("unknown ingest token")
    now = ctx.clock.now()
    try:
        verify_request(source.auth_mode, source.verification_config, headers, body, now)
    except VerificationFailed as exc:
        ctx.metrics.verification_failures.labels(source.auth_mode).inc()
        # Kept (bounded) and streamed, so whoever set the source up can see why it refused.
        await record_rejection(ctx, source, kept_headers, body, exc.detail, now)
        raise Unauthorized(f"webhook verification failed: {exc.detail}") from None
    if source.auth_mode == "slack" and not source.sink:
        challenge = slack_challenge(body)
        if challenge is not None:
            return challenge
    identity = identify_event(source.auth_mode, headers, body)
    event = {
        "id": new_id("evt"),
        "account_id": source.account_id,
        "direction": "inbound",
        "source_id": source.id,
        "event_type": identity.event_type,
        "external_event_id": identity.external_event_id,
        "payload_hash": payload_hash(body),
        "content_type": headers.get("content-type"),
        "headers": msgspec.json.encode(kept_headers).decode(),
        "body": body,
        "created_by": "ingest",
        "replay_of": None,
        "received_at": now,
        "created_at": now,
        "request_method": request.method,
        "request_path": request.path,
        "request_query": request.query,
    }
    routes = await matching_routes(ctx, source.account_id, source.id, identity.event_type)
    if source.sink:
        return await _capture(ctx, event, routes)
    event_id, status = await ctx.db.write_many(accept_events, (event, routes))
    if status == "queued" and ctx.scheduler is not None:
        ctx.scheduler.wake()
    ctx.changes_committed()
    return event_id, status


async def _capture(ctx: Context, event: dict, routes: list[dict]) -> Captured:
    """Store a sink source's request as its own event (no dedupe) with its plan's position."""
    answer = await next_answer(ctx, event["source_id"])
    event_id, status = await ctx.db.write(
        accept_capture, {**event, "capture": 1}, routes, answer.number if answer else None
    )
    if status == "queued" and ctx.scheduler is not None:
        ctx.scheduler.wake()
    ctx.changes_committed()
    return Captured(event_id, status, answer)
