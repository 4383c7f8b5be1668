"""Templates (package data, autoescaped) and how a page becomes a response."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from litestar import MediaType, Response

if TYPE_CHECKING:
    from jinja2 import Environment

__all__ = ["body_view", "html", "render"]

# Statuses and outcomes by the colour family of their badge (the text is always shown too).
_TONES = {
    "delivered": "good", "success": "good", "active": "good", "verified": "good",
    "dead_letter": "bad", "http_5xx": "bad", "http_4xx": "bad", "timeout": "bad",
    "network_error": "bad", "revoked": "bad", "inactive": "muted",
    "retry_scheduled": "warn", "delivering": "info", "queued": "info", "pending": "info",
    "received": "info", "accepted": "muted", "replayed": "muted", "cancelled": "muted",
    "running": "info", "completed": "good", "failed": "bad", "held": "warn",
    "paused": "warn", "circuit_open": "bad", "circuit_half_open": "warn",
}  # fmt: skip


def _when(value: float | str | None) -> str:
    """A time for people: ``2026-11-29 17:58:01 UTC``."""
    if value is None:
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@cache
def _environment() -> Environment:
    """The templates' environment, made on the first page: jinja2 is not imported before,
    since it costs ~15 ms of every start-up (issue 13) and an API-only instance never needs it.
    """
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    # Autoescape everything: bodies, headers, event types and names come from outside.
    env = Environment(
        loader=PackageLoader("gethook_lite.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["tone"] = lambda status: _TONES.get(str(status), "muted")
    env.filters["label"] = lambda status: str(status).replace("_", " ")
    return env


def render(template: str, **context: Any) -> str:
    return _environment().get_template(template).render(**context)


def html(
    template: str, status_code: int = 200, headers: dict[str, str] | None = None, **context: Any
) -> Response:
    """A page; never cached, since every page shows an account's data."""
    return Response(
        render(template, **context),
        status_code=status_code,
        media_type=MediaType.HTML,
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def body_view(body: bytes, content_type: str | None) -> dict[str, Any]:
    """How to show a stored body: pretty JSON, raw text, or binary as base64."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return {
            "kind": "binary",
            "size": len(body),
            "text": base64.b64encode(body[:65536]).decode(),
            "content_type": content_type,
        }
    pretty = None
    if text.strip()[:1] in ("{", "["):
        try:
            pretty = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except (ValueError, RecursionError):
            pretty = None
    return {
        "kind": "json" if pretty is not None else "text",
        "size": len(body),
        "text": pretty if pretty is not None else text,
        "raw": text,
        "content_type": content_type,
    }
