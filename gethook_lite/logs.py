"""Logging set-up: plain text for people, one JSON object per line for machines."""

from __future__ import annotations

import json
import logging
import re
import sys

from gethook_lite.clock import format_time

__all__ = ["RedactingFormatter", "configure", "redact_tokens"]

# An ingest URL's token is a credential. Whatever writes a line (our access log, an exception
# handler, a traceback, a library), the token is cut to its first 4 characters, as the access
# log shows it, before the line leaves the process.
_INGEST_TOKEN = re.compile(r"(/ingest/[A-Za-z0-9_-]{4})[A-Za-z0-9_-]+")


def redact_tokens(text: str) -> str:
    if "/ingest/" not in text:
        return text  # the common case costs one substring search
    return _INGEST_TOKEN.sub(r"\1…", text)


class RedactingFormatter(logging.Formatter):
    """Wraps a formatter and redacts ingest tokens from its whole output, tracebacks included."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self._inner = inner

    def format(self, record: logging.LogRecord) -> str:
        return redact_tokens(self._inner.format(record))


class JsonFormatter(logging.Formatter):
    """One line per record; extra fields passed with ``extra={"fields": {...}}`` are merged."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": format_time(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(level: str, fmt: str) -> None:
    # Each request and attempt logs a line: skip the work no line of ours shows (the caller's
    # file and line, thread and process names), documented switches of the logging module.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        formatter: logging.Formatter = JsonFormatter()
    else:
        formatter = logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    handler.setFormatter(RedactingFormatter(formatter))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
