"""Logging set-up: plain text for people, one JSON object per line for machines."""

from __future__ import annotations

import json
import logging
import sys

from gethook_lite.clock import format_time

__all__ = ["configure"]


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
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiosqlite's debug lines print every call's arguments: event bodies, hashes, secrets.
    logging.getLogger("aiosqlite").setLevel(max(logging.INFO, root.level))
