"""Destinations' custom headers are encrypted at rest (users put tokens there), rows written in
plain text by earlier versions are encrypted at the next start, and delivery sends the header
either way."""

from __future__ import annotations

import json
import sqlite3

from tests.support.delivery import wire
from tests.support.receiver import Receiver
from tests.support.server import GethookServer

TOKEN = "tok-very-secret-4242"


def stored_headers(data_dir) -> list[str]:
    with sqlite3.connect(data_dir / "gethook.db") as conn:
        return [r[0] for r in conn.execute("SELECT custom_headers FROM destinations")]


def test_custom_headers_are_encrypted_at_rest_and_still_delivered(tmp_path):
    server = GethookServer(tmp_path / "data").start()
    with Receiver() as receiver:
        try:
            with server.client() as client:
                key = client.post("/v1/accounts", json={"name": "h"}).json()["data"]
            with server.client(key["api_key"]["key"]) as api:
                source, destination = wire(api, receiver.url)
                patched = api.patch(
                    f"/v1/destinations/{destination['id']}",
                    json={"custom_headers": {"X-Token": TOKEN}},
                )
                assert patched.json()["data"]["custom_headers"] == {"X-Token": TOKEN}
                shown = api.get(f"/v1/destinations/{destination['id']}").json()["data"]
                assert shown["custom_headers"] == {"X-Token": TOKEN}
                assert api.post(source["ingest_url"], json={"n": 1}).status_code == 202
                receiver.wait_for(1)
            assert receiver.requests[0].headers["x-token"] == TOKEN
        finally:
            server.stop()
        (stored,) = stored_headers(server.data_dir)
        assert TOKEN not in stored and stored.startswith("gAAAA")

        # A row as an earlier version wrote it: plain JSON.
        with sqlite3.connect(server.data_dir / "gethook.db") as conn:
            conn.execute(
                "UPDATE destinations SET custom_headers = ?",
                (json.dumps({"X-Token": TOKEN}),),
            )
        server.start()
        try:
            (stored,) = stored_headers(server.data_dir)
            assert TOKEN not in stored
            assert "encrypted the custom headers of 1 destination" in server.log()
            with server.client() as client:
                assert client.post(source["ingest_url"], json={"n": 2}).status_code == 202
            receiver.wait_for(2)
            assert receiver.requests[1].headers["x-token"] == TOKEN
        finally:
            server.stop()
