"""A small synchronous HTTP client on the standard library, for the test helpers.

The helpers run inside other projects' test suites, where an HTTP library cannot be assumed and
an event loop may be running already; ``http.client`` is always there and blocks plainly.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

__all__ = ["HttpResponse", "request"]


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """An answer, shaped like ``httpx.Response`` where it matters to a test."""

    status_code: int
    # Lower-case names; a repeated header's values are joined with ", ".
    headers: Mapping[str, str] = field(default_factory=dict)
    content: bytes = b""

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    def json(self) -> Any:
        """The body parsed as JSON (raises ValueError when it is not)."""
        return json.loads(self.content)


def request(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 10.0,
) -> HttpResponse:
    """Send one request and read the whole answer; redirects are not followed (as providers)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    connection_class = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    connection = connection_class(parts.hostname, parts.port, timeout=timeout)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request(method, target, body=body, headers=dict(headers or {}))
        answer = connection.getresponse()
        content = answer.read()
        received: dict[str, str] = {}
        for name, value in answer.getheaders():
            key = name.lower()
            received[key] = f"{received[key]}, {value}" if key in received else value
        return HttpResponse(status_code=answer.status, headers=received, content=content)
    finally:
        connection.close()
