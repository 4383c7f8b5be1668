"""POST /ingest/{token} as a plain ASGI route: the one endpoint that must be fast.

Providers post here thousands of times a second. Litestar's request machinery (signature
model, dependency injection, Request and Response objects) costs more than everything the
gateway itself does per webhook, so this route reads the body and answers by hand. Errors are
raised as usual and leave through the app's exception handlers, as the envelope.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec
from litestar import asgi
from litestar.types import HTTPResponseBodyEvent, HTTPResponseStartEvent, Receive, Scope, Send

from gethook_lite.context import Context
from gethook_lite.db import StorageError
from gethook_lite.domain.accept import SlackChallenge, ingest
from gethook_lite.errors import BadRequest, DomainError, MethodNotAllowed, NotFound, PayloadTooLarge

__all__ = ["ingest_route", "read_body"]


@asgi("/ingest", is_mount=True, copy_scope=False)
async def ingest_route(scope: Scope, receive: Receive, send: Send) -> None:
    """Verify, store and acknowledge one webhook; 202 once it is committed."""
    ctx: Context = scope["litestar_app"].state.ctx
    token = _token(scope)
    if scope.get("method") != "POST":
        raise MethodNotAllowed("method not allowed on this endpoint", {"Allow": "POST"})
    if _several_hosts(scope["headers"]):
        # The custom-domain guard reads one Host; a second must not slip another one past it.
        # (gethook serve already refuses this in the protocol; this covers any other server.)
        raise BadRequest("more than one Host header")
    try:
        body = await read_body(scope, receive, ctx.settings.server.max_body_bytes)
        if body is None:
            # The sender hung up mid-body: nothing was stored and nobody waits for an answer.
            ctx.metrics.ingest_requests.labels("disconnected").inc()
            return
        result = await ingest(ctx, token, scope["headers"], body)
    except Exception as exc:
        ctx.metrics.ingest_requests.labels(_outcome(exc)).inc()
        raise
    if isinstance(result, SlackChallenge):
        ctx.metrics.ingest_requests.labels("url_verification").inc()
        await _answer_slack_challenge(send, result)
        return
    event_id, status = result
    ctx.metrics.ingest_requests.labels(status).inc()
    await _send_json(send, 202, {"data": {"id": event_id, "status": status}})


async def _answer_slack_challenge(send: Send, challenge: SlackChallenge) -> None:
    """200 with ``{"challenge": …}`` at the top level, where Slack reads it (no envelope)."""
    await _send_json(send, 200, {"challenge": challenge.value})


async def _send_json(send: Send, status: int, document: object) -> None:
    answer = msgspec.json.encode(document)
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(answer)).encode()),
        ],
    }
    await send(start)
    body: HTTPResponseBodyEvent = {"type": "http.response.body", "body": answer, "more_body": False}
    await send(body)


def _several_hosts(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """Two Host headers, or one listing two hosts (``Host: a, b``)."""
    hosts = [value for name, value in headers if name == b"host"]
    return len(hosts) > 1 or any(b"," in value for value in hosts)


def _token(scope: Scope) -> str:
    # Mounted at /ingest, the route sees the rest of the path ("/<token>/"): one segment.
    token = scope["path"].strip("/")
    if not token or "/" in token:
        raise NotFound("unknown ingest token")
    return token


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
