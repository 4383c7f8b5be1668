"""Logs: one JSON object per line, and no ingest token in the access log."""

from __future__ import annotations

import json
import logging

from gethook_lite.api.access_log import loggable_path
from gethook_lite.logs import JsonFormatter


def test_json_formatter_writes_one_object_per_line_with_fields():
    record = logging.LogRecord(
        "gethook_lite.delivery", logging.INFO, "", 0, "attempt %s", ("x",), None
    )
    record.fields = {"event_id": "evt_1", "outcome": "success"}
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "attempt x" and entry["event_id"] == "evt_1"
    assert entry["level"] == "info" and entry["time"].endswith("Z")


def test_ingest_token_is_shortened_in_logged_paths():
    assert loggable_path("/ingest/abcdefghijklmnopqrstuvwxyz") == "/ingest/abcd…"
    assert loggable_path("/v1/events") == "/v1/events"


def test_formatter_redacts_ingest_tokens_from_messages_and_tracebacks():
    import sys

    from gethook_lite.logs import RedactingFormatter

    token = "AbCdEfGhIjKlMnOpQrStUvWxYz012345"
    try:
        raise ValueError(f"failed on http://h/ingest/{token}?x=1")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "gethook_lite.api", logging.ERROR, "", 0, "on POST /ingest/%s/", (token,), exc_info
    )
    for inner in (logging.Formatter(), JsonFormatter()):
        line = RedactingFormatter(inner).format(record)
        assert token not in line and "/ingest/AbCd…" in line
