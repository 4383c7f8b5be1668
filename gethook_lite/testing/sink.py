"""A ``gethook sink`` process and the client side of a sink: fresh sources, waiting, answers.

``SinkServer`` runs ``python -m gethook_lite sink --port 0`` and reads the one JSON line it
prints when ready; ``SinkApi`` talks to it; ``WebhookSink`` is one sink source as a test sees it.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlencode

import msgspec

from gethook_lite.patterns import matches
from gethook_lite.testing.capture import CapturedEvent, decode_event
from gethook_lite.testing.http import HttpResponse, request
from gethook_lite.testing.signatures import assert_signed

__all__ = ["SinkApi", "SinkApiError", "SinkInfo", "SinkServer", "SinkStartError", "WebhookSink"]

# Generous: CI machines are often slow and shared; a healthy sink is ready in well under 1 s.
DEFAULT_STARTUP_TIMEOUT_SECONDS = 30.0
# How long a stopped sink may take to remove its data directory before it is killed.
_STOP_GRACE_SECONDS = 10.0
# One long-poll asks for at most this long; a longer wait is several polls.
_MAX_POLL_SECONDS = 30.0
# Beyond a long-poll's own timeout, how late its answer may be before the socket gives up.
_POLL_SLACK_SECONDS = 10.0
_API_TIMEOUT_SECONDS = 10.0
_PAGE_SIZE = 500
# How much of a failed sink's log an error message quotes.
_LOG_TAIL_CHARS = 4000
# How many of the arrived requests a timeout message lists one by one.
_LISTED_ARRIVALS = 5


class SinkStartError(RuntimeError):
    """``gethook sink`` did not become ready; the message quotes its log."""


class SinkApiError(RuntimeError):
    """The sink's API refused a request; the message is its error text."""


class SinkInfo(msgspec.Struct, frozen=True):
    """The line ``gethook sink`` prints once ready."""

    base_url: str
    ingest_url: str
    api_key: str
    source_id: str


class SinkServer:
    """One ``gethook sink`` subprocess: ``start()`` waits for its JSON line, ``stop()`` (also
    run at interpreter exit) terminates it so it removes its temporary data directory."""

    def __init__(
        self,
        extra_args: Sequence[str] = (),
        *,
        startup_timeout: float = DEFAULT_STARTUP_TIMEOUT_SECONDS,
        python: str = sys.executable,
        label: str = "gethook-sink",
    ) -> None:
        self._command = [python, "-m", "gethook_lite", "sink", "--port", "0", *extra_args]
        self._startup_timeout = startup_timeout
        self._label = label
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._log_path: Path | None = None
        self.info: SinkInfo | None = None

    def start(self) -> SinkInfo:
        """Start the sink and return its address and key; raise SinkStartError on failure."""
        if self.info is not None:
            return self.info
        handle, name = tempfile.mkstemp(prefix=f"{self._label}-", suffix=".log")
        self._log_path = Path(name)
        self._log = os.fdopen(handle, "w+b")
        # Registered before the process exists: whatever happens next, it is stopped at exit.
        atexit.register(self.stop)
        self._process = subprocess.Popen(
            self._command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._log
        )
        line = _first_line(self._process, self._startup_timeout)
        if not line:
            code = None
            if line is not None:  # stdout closed: the process is exiting
                with contextlib.suppress(subprocess.TimeoutExpired):
                    code = self._process.wait(_STOP_GRACE_SECONDS)
            log = self.log_tail()
            self.stop()
            what = (
                f"exited with status {code} before it was ready"
                if code is not None
                else f"was not ready within {self._startup_timeout:g} s"
            )
            raise SinkStartError(f"`{' '.join(self._command)}` {what}; its log:\n{log}")
        try:
            self.info = msgspec.json.decode(line, type=SinkInfo)
        except msgspec.DecodeError as exc:
            log = self.log_tail()
            self.stop()
            raise SinkStartError(f"unexpected ready line {line!r} ({exc}); log:\n{log}") from None
        return self.info

    def log_tail(self) -> str:
        """The end of the sink's stderr log (empty once stopped)."""
        if self._log_path is None:
            return ""
        try:
            return self._log_path.read_text("utf-8", "replace")[-_LOG_TAIL_CHARS:]
        except OSError:
            return ""

    def api(self) -> SinkApi:
        """A client of the started sink's API, with its key."""
        if self.info is None:
            raise RuntimeError("the sink is not started")
        return SinkApi(self.info.base_url, self.info.api_key)

    @property
    def pid(self) -> int | None:
        """The sink's process id while it runs."""
        return None if self._process is None else self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        """Terminate the sink (SIGTERM, then SIGKILL after a grace period); idempotent."""
        atexit.unregister(self.stop)
        self.info = None
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(_STOP_GRACE_SECONDS)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            if process.stdout is not None:
                process.stdout.close()
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._log_path is not None:
            self._log_path.unlink(missing_ok=True)
            self._log_path = None


def _first_line(process: subprocess.Popen[bytes], timeout: float) -> bytes | None:
    """The first stdout line of ``process`` (stripped), b"" if stdout closed first, or None
    when ``timeout`` passed.

    A thread reads, so the wait has a timeout on any platform; it then drains stdout to its
    end, so the process can never block on a full pipe.
    """
    lines: queue.Queue[bytes] = queue.Queue()
    stdout = process.stdout
    assert stdout is not None

    def read() -> None:
        with contextlib.suppress(ValueError, OSError):  # closed by stop()
            lines.put(stdout.readline())
            for _ in stdout:
                pass
        lines.put(b"")

    threading.Thread(target=read, name="gethook-sink-stdout", daemon=True).start()
    try:
        return lines.get(timeout=timeout).strip()
    except queue.Empty:
        return None


class SinkApi:
    """The sink's HTTP API, authenticated with its key."""

    def __init__(self, base_url: str, api_key: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: dict[str, Any] | None = None,
        timeout: float = _API_TIMEOUT_SECONDS,
        accept: Iterable[int] = (),
    ) -> HttpResponse:
        """One API call; raise SinkApiError unless it answered 2xx or a status in ``accept``."""
        query = urlencode({k: v for k, v in (params or {}).items() if v is not None})
        url = f"{self.base_url}{path}" + (f"?{query}" if query else "")
        payload = None if body is None else msgspec.json.encode(body)
        answer = request(method, url, headers=self._headers, body=payload, timeout=timeout)
        if not answer.is_success and answer.status_code not in set(accept):
            raise SinkApiError(f"{method} {path}: HTTP {answer.status_code}: {_error_text(answer)}")
        return answer

    def create_sink_source(self, name: str) -> dict[str, Any]:
        """A fresh sink source (every request kept raw); its read shape."""
        answer = self.call("POST", "/v1/sources", {"name": name, "sink": True})
        source: dict[str, Any] = answer.json()["data"]
        return source

    def events(self, source_id: str) -> list[CapturedEvent]:
        """Every event of the source, oldest first."""
        found: dict[str, CapturedEvent] = {}
        offset = 0
        while True:
            params = {"source_id": source_id, "limit": _PAGE_SIZE, "offset": offset}
            page = self.call("GET", "/v1/events", params=params).json()["data"]
            for item in page["items"]:
                event = decode_event(item)
                found[event.id] = event
            offset += len(page["items"])
            if not page["items"] or offset >= page["total"]:
                break
        # Ids are time-ordered; the listing is newest first and may shift while it is paged.
        return [found[key] for key in sorted(found)]

    def wait(
        self,
        source_id: str,
        count: int,
        *,
        event_type: str | None,
        after: str | None,
        timeout: float,
    ) -> list[CapturedEvent] | None:
        """Long-poll: at least ``count`` matching events after ``after``, oldest first, or None
        when ``timeout`` passes first."""
        params = {
            "source_id": source_id,
            "count": count,
            "event_type": event_type,
            "after": after,
            "timeout": _seconds(timeout),
        }
        answer = self.call(
            "GET",
            "/v1/events/wait",
            params=params,
            timeout=timeout + _POLL_SLACK_SECONDS,
            accept=(408,),
        )
        if answer.status_code == 408:
            # Only the wait's own timeout is an answer; a 408 from anything else is an error.
            if _error_code(answer) != "wait_timeout":
                raise SinkApiError(f"GET /v1/events/wait: HTTP 408: {_error_text(answer)}")
            return None
        return [decode_event(item) for item in answer.json()["data"]]

    def set_response_plan(
        self, source_id: str, statuses: Sequence[int], delay_ms: int, body: str | None
    ) -> None:
        plan = {"statuses": list(statuses), "delay_ms": delay_ms, "body": body}
        self.call("PUT", f"/v1/sources/{source_id}/response-plan", plan)

    def reset_response_plan(self, source_id: str) -> None:
        self.call("DELETE", f"/v1/sources/{source_id}/response-plan")


def _seconds(value: float) -> str:
    # Milliseconds are plenty; "2.5", "5", "0.25" read as a person would write them.
    return f"{max(value, 0.0):.3f}".rstrip("0").rstrip(".") or "0"


def _error_code(answer: HttpResponse) -> str | None:
    try:
        document = answer.json()
    except ValueError:
        return None
    code = document.get("code") if isinstance(document, dict) else None
    return code if isinstance(code, str) else None


def _error_text(answer: HttpResponse) -> str:
    try:
        document = answer.json()
    except ValueError:
        return answer.text[:500]
    if isinstance(document, dict) and isinstance(document.get("error"), str):
        return document["error"]
    return answer.text[:500]


Predicate = Callable[[CapturedEvent], bool]


class WebhookSink:
    """One sink source, as the ``webhook_sink`` fixture gives it to a test.

    ``url`` is where the app under test should send; what arrives there is kept raw (every
    request, duplicates too, any method and sub-path) and read back with ``wait_for`` and
    ``requests``.
    """

    def __init__(self, api: SinkApi, source: dict[str, Any]) -> None:
        self._api = api
        self.source_id: str = source["id"]
        self.url: str = source["ingest_url"]

    def __repr__(self) -> str:
        return f"<WebhookSink {self.source_id} {self.url}>"

    @property
    def requests(self) -> list[CapturedEvent]:
        """Everything received so far, oldest first (method, path, query, headers, body)."""
        return self._api.events(self.source_id)

    def wait_for(
        self,
        count: int = 1,
        event_type: str | None = None,
        where: Predicate | None = None,
        timeout: float = 5.0,
    ) -> list[CapturedEvent]:
        """Wait until at least ``count`` events arrived whose type matches the glob
        ``event_type`` (None: any) and for which ``where(event)`` is true; return them, oldest
        first. Returns as soon as they are there; raises AssertionError after ``timeout``
        seconds, saying what did arrive."""
        if count < 1:
            raise ValueError("count must be at least 1")
        deadline = time.monotonic() + timeout
        matched: list[CapturedEvent] = []
        cursor: str | None = None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    self._timeout_message(count, event_type, where, matched, timeout)
                )
            batch = self._api.wait(
                self.source_id,
                count - len(matched),
                event_type=event_type,
                after=cursor,
                timeout=min(remaining, _MAX_POLL_SECONDS),
            )
            if batch is None:
                continue  # the poll ran out: the loop ends at the deadline
            if where is None:
                return batch
            matched.extend(event for event in batch if where(event))
            if len(matched) >= count:
                return matched
            if batch:
                cursor = batch[-1].id

    def assert_no_more(self, timeout: float = 0.5, event_type: str | None = None) -> None:
        """Assert that nothing more (of ``event_type``) arrives within ``timeout`` seconds
        after what is already here: with ``wait_for``, "sent exactly once"."""
        seen = self.requests
        extra = self._api.wait(
            self.source_id,
            1,
            event_type=event_type,
            after=seen[-1].id if seen else None,
            timeout=timeout,
        )
        if extra:
            arrived = ", ".join(_describe(event) for event in extra[:_LISTED_ARRIVALS])
            raise AssertionError(
                f"expected nothing more at {self.url} within {timeout:g} s after "
                f"{len(seen)} request(s), but {len(extra)} more arrived: {arrived}"
            )

    def respond_with(
        self, statuses: int | Sequence[int], *, delay_ms: int = 0, body: str | None = None
    ) -> None:
        """Answer the next requests with these statuses in turn, then the last one forever
        (e.g. ``[500, 500, 200]``), after ``delay_ms``, with ``body`` (None: the default)."""
        plan = [statuses] if isinstance(statuses, int) else list(statuses)
        self._api.set_response_plan(self.source_id, plan, delay_ms, body)

    def reset_responses(self) -> None:
        """Back to the default answer (202)."""
        self._api.reset_response_plan(self.source_id)

    def assert_signed(
        self,
        scheme: str,
        secret: str,
        event: CapturedEvent,
        *,
        tolerance_seconds: int | None = None,
        now: float | None = None,
    ) -> None:
        """Assert ``event`` is signed with ``secret`` as ``scheme`` signs: standard_webhooks
        (or svix), stripe, github, shopify or slack; AssertionError says why not."""
        extra = {} if tolerance_seconds is None else {"tolerance_seconds": tolerance_seconds}
        assert_signed(scheme, secret, event, now=now, **extra)

    def _timeout_message(
        self,
        count: int,
        event_type: str | None,
        where: Predicate | None,
        matched: list[CapturedEvent],
        timeout: float,
    ) -> str:
        wanted = f"{count} event(s)"
        if event_type is not None:
            wanted += f" of type {event_type!r}"
        if where is not None:
            wanted += f" matching where={getattr(where, '__name__', repr(where))}"
        arrived = self.requests
        if where is None:
            # The server's glob rule (gethook_lite.patterns), so the count agrees with the wait.
            matched = [event for event in arrived if matches(event_type, event.event_type)]
        head = (
            f"timed out after {timeout:g} s waiting for {wanted} "
            f"at {self.url} (source {self.source_id})."
        )
        if not arrived:
            return (
                f"{head}\nNothing arrived at all: is the app configured to send to this URL, "
                "and did the code that sends run?"
            )
        types = Counter(event.event_type or "(no type)" for event in arrived)
        summary = ", ".join(f"{name} x{n}" for name, n in types.most_common())
        listed = "\n".join(f"  {_describe(event)}" for event in arrived[-_LISTED_ARRIVALS:])
        more = "" if len(arrived) <= _LISTED_ARRIVALS else f" (the last {_LISTED_ARRIVALS})"
        return (
            f"{head}\n{len(matched)} matched; {len(arrived)} request(s) arrived: {summary}\n"
            f"Received{more}:\n{listed}"
        )


def _describe(event: CapturedEvent) -> str:
    target = (event.path or "/") + (f"?{event.query}" if event.query else "")
    kind = event.event_type or "(no type)"
    return f"{event.method} {target} {kind} {event.id} ({len(event.body)} bytes)"
