"""POST /ingest/{token} as a plain ASGI route: the one endpoint that must be fast.

Providers post here thousands of times a second. Litestar's request machinery (signature
model, dependency injection, Request and Response objects) costs more than everything the
gateway itself does per webhook, so this route reads the body and answers by hand. Errors are
raised as usual and leave through the app's exception handlers, as the envelope.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import NamedTuple
from weakref import WeakKeyDictionary

import msgspec
from litestar import asgi
from litestar.types import HTTPResponseBodyEvent, HTTPResponseStartEvent, Receive, Scope, Send
from prometheus_client import Counter

from gethook_lite.context import Context
from gethook_lite.db import StorageError
from gethook_lite.domain.accept import Captured, RequestLine, SlackChallenge, ingest
from gethook_lite.domain.sink import ScriptedAnswer
from gethook_lite.domain.sources import live_source_for_token
from gethook_lite.errors import BadRequest, DomainError, MethodNotAllowed, NotFound, PayloadTooLarge

__all__ = ["Answer", "answer_ingest", "ingest_route", "read_body", "send_answer"]


@asgi("/ingest", is_mount=True, copy_scope=False)
async def ingest_route(scope: Scope, receive: Receive, send: Send) -> None:
    """Verify, store and acknowledge one webhook; 202 once it is committed.

    The app's IngestFront answers /ingest/... before Litestar routes it; this route is what
    Litestar's routing reaches otherwise (a server with a root path), and the reference the
    front's tests compare it with."""
    ctx: Context = scope["litestar_app"].state.ctx
    answer = await answer_ingest(ctx, scope, receive, _several_hosts(scope["headers"]))
    if answer is not None:
        await send_answer(send, answer)


class Answer(NamedTuple):
    """An ingest response, decided before anything is sent (an error raised while deciding
    still leaves as the envelope, since nothing has started)."""

    status: int
    body: bytes
    content_type: bytes
    extra_headers: list[tuple[bytes, bytes]] | None = None


async def answer_ingest(
    ctx: Context, scope: Scope, receive: Receive, several_hosts: bool
) -> Answer | None:
    """The answer to one ingest request (None: the sender hung up; nobody waits for one).

    ``scope["path"]`` is the path below /ingest, as Litestar's mount leaves it;
    ``several_hosts``: the request has two Host headers, or one listing two hosts."""
    token, sub_path = _token(scope)
    method: str = scope.get("method") or "POST"  # type: ignore[assignment]
    if method != "POST" or sub_path:
        # Only a sink source takes other methods and sub-paths (one cached lookup); any other
        # request answers exactly as it always did.
        source = await live_source_for_token(ctx, token)
        if source is None or not source.sink:
            if sub_path:
                raise NotFound("unknown ingest token")
            raise MethodNotAllowed("method not allowed on this endpoint", {"Allow": "POST"})
        sub_path = _raw_sub_path(scope, token, sub_path)
    if several_hosts:
        # The custom-domain guard reads one Host; a second must not slip another one past it.
        # (gethook serve already refuses this in the protocol; this covers any other server.)
        raise BadRequest("more than one Host header")
    try:
        body = await read_body(scope, receive, ctx.settings.server.max_body_bytes)
        if body is None:
            _count(ctx, "disconnected")
            return None
        request = RequestLine(method, sub_path, scope.get("query_string", b"").decode("latin-1"))
        result = await ingest(ctx, token, scope["headers"], body, request)
    except Exception as exc:
        _count(ctx, _outcome(exc))
        raise
    if isinstance(result, SlackChallenge):
        _count(ctx, "url_verification")
        # 200 with {"challenge": …} at the top level, where Slack reads it (no envelope).
        return _json(200, {"challenge": result.value})
    if isinstance(result, Captured):
        _count(ctx, result.status)
        return await _answer_capture(result)
    event_id, status = result
    _count(ctx, status)
    return _json(202, {"data": {"id": event_id, "status": status}})


# The ingest_requests child of each outcome, per Metrics (one per running instance):
# labels() validates and locks on every call, a microsecond per webhook.
_OUTCOME_COUNTERS: WeakKeyDictionary[Counter, dict[str, Counter]] = WeakKeyDictionary()


def _count(ctx: Context, outcome: str) -> None:
    """One more ingest request with this outcome (gethook_ingest_requests{outcome=…})."""
    counter = ctx.metrics.ingest_requests
    children = _OUTCOME_COUNTERS.get(counter)
    if children is None:
        children = _OUTCOME_COUNTERS.setdefault(counter, {})
    child = children.get(outcome)
    if child is None:
        child = children[outcome] = counter.labels(outcome)
    child.inc()


async def _answer_capture(captured: Captured) -> Answer:
    """A sink's answer: 202 with the usual envelope, or what its response plan scripts. A
    scripted error still says the request was stored (and as which event)."""
    answer = captured.answer
    envelope = {"data": {"id": captured.event_id, "status": captured.status}}
    if answer is None:
        return _json(202, envelope)
    if answer.delay_ms:
        await asyncio.sleep(answer.delay_ms / 1000)
    extra = [(b"x-gethook-event-id", captured.event_id.encode())]
    if answer.body is not None:
        return Answer(answer.status, answer.body.encode(), _content_type(answer.body), extra)
    if 200 <= answer.status < 300:
        return _json(answer.status, envelope, extra)
    return _json(answer.status, _scripted_error(captured, answer), extra)


def _scripted_error(captured: Captured, answer: ScriptedAnswer) -> dict:
    return {
        "error": f"scripted answer {answer.status} (the sink's response plan, request"
        f" {answer.number}); the request was stored as {captured.event_id}",
        "code": "scripted_response",
        "event_id": captured.event_id,
        "request_number": answer.number,
    }


def _content_type(body: str) -> bytes:
    try:
        msgspec.json.decode(body)
    except msgspec.DecodeError:
        return b"text/plain; charset=utf-8"
    return b"application/json"


def _json(status: int, document: object, extra: list[tuple[bytes, bytes]] | None = None) -> Answer:
    return Answer(status, msgspec.json.encode(document), b"application/json", extra)


async def send_answer(send: Send, answer: Answer) -> None:
    status, body, content_type, extra = answer
    if status < 200 or status in (204, 304):
        body = b""  # these statuses carry no body
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", content_type),
            (b"content-length", str(len(body)).encode()),
            *(extra or ()),
        ],
    }
    await send(start)
    message: HTTPResponseBodyEvent = {
        "type": "http.response.body",
        "body": body,
        "more_body": False,
    }
    await send(message)


def _several_hosts(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """Two Host headers, or one listing two hosts (``Host: a, b``)."""
    hosts = [value for name, value in headers if name == b"host"]
    return len(hosts) > 1 or any(b"," in value for value in hosts)


def _token(scope: Scope) -> tuple[str, str]:
    """The token and the path below it ("" or "/sub/path"; only a sink source takes one)."""
    # Mounted at /ingest, the route sees the rest of the path, normalised ("/<token>/…/").
    token, _, below = scope["path"].strip("/").partition("/")
    if not token:
        raise NotFound("unknown ingest token")
    return token, f"/{below}" if below else ""


def _raw_sub_path(scope: Scope, token: str, sub_path: str) -> str:
    """The path below the token as the client sent it (percent-encoding and a trailing slash
    kept), which the routed path no longer shows."""
    raw = scope.get("raw_path")
    if not raw:
        return sub_path
    text = raw.decode("latin-1").partition("?")[0]  # some servers leave the query in it
    start = text.find(f"/{token}")
    return text[start + len(token) + 1 :] if start >= 0 else sub_path


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes | None:
    """The whole request body (None if the client went away), refused with 413 as soon as it
    is known to exceed ``limit``."""
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            raise PayloadTooLarge("request body is too large")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk: bytes = message.get("body", b"")  # type: ignore[assignment]
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge("request body is too large")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _outcome(exc: Exception) -> str:
    if isinstance(exc, DomainError):
        return {401: "unauthorized", 404: "not_found", 413: "too_large"}.get(
            exc.status_code, "rejected"
        )
    return "unavailable" if isinstance(exc, StorageError) else "error"
