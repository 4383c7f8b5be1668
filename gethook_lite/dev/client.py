"""An API client for the CLI's developer commands, the CLI's own settings file, and a strict
reader of Server-Sent Events (aiohttp, already a runtime dependency, does the HTTP)."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from gethook_lite.constants import PRIVATE_FILE_MODE
from gethook_lite.private_files import make_private_dir

__all__ = [
    "ApiClient",
    "ApiError",
    "CliState",
    "SseMessage",
    "read_sse",
]

DEFAULT_API_URL = "http://127.0.0.1:8080"


class ApiError(Exception):
    """The server refused a request; the message is its error text."""


@dataclass(frozen=True)
class SseMessage:
    id: str | None
    event: str
    data: str


async def read_sse(response: aiohttp.ClientResponse) -> AsyncIterator[SseMessage | None]:
    """The messages of a text/event-stream body as the SSE spec parses them; None for a
    comment (a heartbeat). Lines end in LF, CRLF or CR; a field without data is dropped."""
    event, last_id, block_id = "", None, None
    data: list[str] = []
    buffer = b""
    async for chunk in response.content.iter_any():
        buffer += chunk
        while True:
            line, found, rest = _split_line(buffer)
            if not found:
                break
            buffer = rest
            text = line.decode("utf-8", "replace")
            if text == "":
                if data:
                    yield SseMessage(last_id, event or "message", "\n".join(data))
                elif block_id is not None:
                    # An id without data moves the cursor only (the server says: caught up).
                    yield SseMessage(block_id, "", "")
                event, block_id = "", None
                data = []
            elif text.startswith(":"):
                yield None
            else:
                name, _, value = text.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if name == "data":
                    data.append(value)
                elif name == "event":
                    event = value
                elif name == "id" and "\0" not in value:
                    last_id = block_id = value


def _split_line(buffer: bytes) -> tuple[bytes, bool, bytes]:
    for index, byte in enumerate(buffer):
        if byte == 0x0A:
            return buffer[:index], True, buffer[index + 1 :]
        if byte == 0x0D:
            if index + 1 == len(buffer):
                return b"", False, buffer  # a CR at the end may be half of CRLF: wait
            skip = 2 if buffer[index + 1] == 0x0A else 1
            return buffer[:index], True, buffer[index + skip :]
    return b"", False, buffer


class CliState:
    """What the developer commands remember between runs, in one private JSON file: the API
    key they created, and per source the last cursor forwarded and the forwarding secret."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "cli.json"
        self._data: dict[str, Any] = {}
        if self.path.exists():
            self._data = json.loads(self.path.read_text())

    @classmethod
    def default_folder(cls) -> Path:
        named = os.environ.get("GETHOOK_STATE_DIR")
        return Path(named) if named else Path.home() / ".gethook"

    def get(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self._data[key] = value
        make_private_dir(self.path.parent)
        temporary = self.path.with_suffix(".tmp")
        # 0600 from the start: it holds an API key and signing secrets.
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
        with os.fdopen(fd, "w") as file:
            file.write(json.dumps(self._data, indent=2))
        # Atomic: a listen killed mid-write keeps the previous cursor, never a torn file.
        os.replace(temporary, self.path)


class ApiClient:
    """The public API, authenticated with one key."""

    def __init__(self, base_url: str, key: str | None) -> None:
        self.base_url = base_url.rstrip("/")
        self.key = key
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> ApiClient:
        # No total timeout: the event stream is meant to stay open.
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, connect=10))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None
        return self._session

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"} if self.key else {}

    async def call(self, method: str, path: str, body: Any = None, **params: str) -> Any:
        """The ``data`` of a JSON answer; ApiError with the server's message otherwise."""
        async with self.session.request(
            method,
            self.base_url + path,
            json=body,
            params={k: v for k, v in params.items() if v is not None},
            headers=self.headers(),
            timeout=aiohttp.ClientTimeout(total=30),
        ) as response:
            text = await response.text()
            try:
                answer = json.loads(text)
            except ValueError:
                answer = None
            if response.status >= 400:
                error = answer.get("error") if isinstance(answer, dict) else None
                message = error if isinstance(error, str) else (error or {}).get("message", text)
                raise ApiError(f"{method} {path}: {response.status} {message}")
            return answer["data"] if isinstance(answer, dict) and "data" in answer else answer
