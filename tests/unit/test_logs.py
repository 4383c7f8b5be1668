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
