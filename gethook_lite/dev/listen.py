"""Following an account's event stream from the command line, and relaying it to a local app.

``follow`` reads GET /v1/events/stream and hands each message to a handler, one at a time:
while the handler holds a message (the local app is down) nothing more is read, the server
drops the idle reader in time, and the stream is resumed from the last cursor handled. The
cursor is saved after each message, so a restarted ``listen`` resumes where it stopped:
nothing missed, nothing twice.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp

from gethook_lite.constants import EVENT_STREAM_PATH
from gethook_lite.delivery.signing import signature_header
from gethook_lite.dev.client import ApiClient, ApiError, CliState, SseMessage, read_sse

__all__ = ["Forwarder", "Printer", "follow"]

# Headers never copied from the original request: the connection's own, and what our
# signature or the local request itself sets.
_NOT_FORWARDED = frozenset(
    {
        "host", "content-length", "connection", "keep-alive", "transfer-encoding", "upgrade",
        "te", "trailer", "proxy-authorization", "proxy-connection", "expect",
    }
)  # fmt: skip
_REDACTED = "[redacted]"
FIRST_RETRY_SECONDS = 0.25  # the local app is probed again this soon, then ever less often


class Printer:
    """One line per message (time, type, id, local status, latency), or JSON lines."""

    def __init__(self, json_lines: bool, echo: Callable[[str], None]) -> None:
        self.json_lines = json_lines
        self.echo = echo

    def line(self, record: dict[str, Any]) -> None:
        if self.json_lines:
            self.echo(json.dumps(record, separators=(",", ":")))
            return
        clock = datetime.now().strftime("%H:%M:%S")
        kind = record["kind"]
        if kind == "request.rejected":
            self.echo(f"{clock}  REJECTED  {record['id']}  {record['reason']}")
        elif kind == "event.updated":
            attempt = record.get("attempt") or {}
            outcome = ""
            if attempt:
                latency = attempt.get("latency_ms")
                outcome = f"  ({attempt.get('outcome')} {attempt.get('response_status') or ''}"
                outcome += f", {latency} ms)" if latency is not None else ")"
            self.echo(f"{clock}  {record['status']:<16} {record['id']}{outcome}")
        else:
            status = record.get("local_status", record.get("status"))
            latency = record.get("latency_ms")
            tail = f"  {latency} ms" if latency is not None else ""
            self.echo(
                f"{clock}  {record.get('event_type') or '-':<32} {record['id']}  → {status}{tail}"
            )

    def note(self, text: str) -> None:
        """A message about the tool itself (waiting, reconnecting), not about an event."""
        if self.json_lines:
            self.echo(json.dumps({"kind": "note", "message": text}, separators=(",", ":")))
        else:
            self.echo(text)


@dataclass
class Forwarder:
    """Sends each received event to the local app, holding it (with backoff) while the app
    cannot be reached; any HTTP answer, even an error, counts as delivered."""

    session: aiohttp.ClientSession
    url: str
    secret: str
    original_headers: bool
    printer: Printer
    retry_max_seconds: float

    async def send(self, event: dict[str, Any]) -> dict[str, Any]:
        body = _body(event)
        delay, waiting = FIRST_RETRY_SECONDS, False
        while True:
            headers = self._headers(event, body)
            started = time.monotonic()
            try:
                async with self.session.post(
                    self.url, data=body, headers=headers, allow_redirects=False
                ) as response:
                    await response.read()
                    latency = round((time.monotonic() - started) * 1000)
                    return {"local_status": response.status, "latency_ms": latency}
            except (aiohttp.ClientConnectionError, TimeoutError) as exc:
                if not waiting:
                    self.printer.note(
                        f"waiting for {self.url} ({_reason(exc)}); holding events, retrying"
                    )
                    waiting = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max_seconds)

    def _headers(self, event: dict[str, Any], body: bytes) -> dict[str, str]:
        original = event.get("headers") or {}
        headers: dict[str, str] = {}
        if self.original_headers:
            headers.update(
                (name, value)
                for name, value in original.items()
                if name not in _NOT_FORWARDED and value != _REDACTED
            )
        timestamp = int(time.time())
        signed = {
            "webhook-id": event["id"],
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature_header([self.secret], event["id"], timestamp, body),
            "x-gethook-event-type": event.get("event_type") or "",
        }
        for name, value in signed.items():
            # A Standard Webhooks provider's own headers win when asked for: the app verifies
            # them with the provider's secret.
            headers.setdefault(name, value)
        if original.get("content-type"):
            headers["content-type"] = original["content-type"]
        return headers


def _body(event: dict[str, Any]) -> bytes:
    if event.get("body_encoding") == "base64":
        return base64.b64decode(event["body"])
    return event["body"].encode("utf-8")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, aiohttp.ClientConnectorError):
        return exc.os_error.strerror or "cannot connect"
    return type(exc).__name__


Handler = Callable[[SseMessage], Awaitable[None]]


async def follow(
    api: ApiClient,
    state: CliState,
    cursor_key: str,
    params: dict[str, str | None],
    handle: Handler,
    printer: Printer,
    retry_max_seconds: float,
    on_live: Callable[[], None] | None = None,
) -> None:
    """Read the stream for ever, resuming from the saved cursor after every interruption."""
    delay = FIRST_RETRY_SECONDS
    lost = False
    while True:
        headers = api.headers()
        cursor = state.get(cursor_key)
        if cursor is not None:
            headers["Last-Event-ID"] = str(cursor)
        try:
            async with api.session.get(
                api.base_url + EVENT_STREAM_PATH,
                params={k: v for k, v in params.items() if v is not None},
                headers=headers,
            ) as response:
                if response.status >= 400:
                    raise ApiError(f"the event stream answered {response.status}: "
                                   f"{await response.text()}")  # fmt: skip
                if lost:
                    printer.note("reconnected; resuming from the last event handled")
                lost, delay = False, FIRST_RETRY_SECONDS
                async for message in read_sse(response):
                    if message is None:
                        continue
                    if message.event:
                        await handle(message)
                    elif on_live is not None:
                        on_live()
                    if message.id is not None:
                        state.set(cursor_key, int(message.id))
        except (aiohttp.ClientError, TimeoutError) as exc:
            if not lost:
                printer.note(f"lost the event stream ({_reason(exc)}); reconnecting")
            lost = True
        else:
            lost = True  # the server ended the stream (restart, or we fell behind)
        await asyncio.sleep(delay)
        delay = min(delay * 2, retry_max_seconds)
