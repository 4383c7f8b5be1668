"""``gethook listen`` end to end: a real server, a real ``listen`` process, a real local app.

The app goes away and comes back (events are held, then delivered in order); ``listen`` is
killed and restarted (nothing sent meanwhile is missed, nothing is sent twice); a request
refused by verification shows with its reason; Ctrl-C ends it cleanly.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.receiver import Receiver
from tests.support.server import GethookServer, free_port
from tests.support.standard_webhooks import verify_standard_webhook


class Listen:
    """A ``gethook listen --json`` process and the JSON lines it printed."""

    def __init__(self, server: GethookServer, key: str, state_dir: Path, forward_to: str):
        self.out_path = state_dir.parent / f"listen-{time.monotonic_ns()}.out"
        self.command = [
            sys.executable, "-m", "gethook_lite", "listen",
            "--api-url", server.url, "--api-key", key,
            "--provider", "stripe", "--forward-to", forward_to,
            "--original-headers", "--json", "--retry-max-seconds", "0.3",
        ]  # fmt: skip
        self.env = {**os.environ, "GETHOOK_STATE_DIR": str(state_dir)}
        self.process: subprocess.Popen | None = None

    def start(self) -> Listen:
        with self.out_path.open("ab") as out:
            self.process = subprocess.Popen(
                self.command, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        self.wait_for(lambda line: line.get("message", "").startswith("Ready"))
        return self

    def lines(self) -> list[dict]:
        found = []
        for text in self.out_path.read_text().splitlines():
            try:
                found.append(json.loads(text))
            except ValueError:
                found.append({"text": text})
        return found

    def wait_for(self, predicate, timeout: float = 15.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines():
                if predicate(line):
                    return line
            assert self.process.poll() is None, self.out_path.read_text()
            time.sleep(0.05)
        raise AssertionError(f"not printed: {self.out_path.read_text()}")

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()


@pytest.fixture
def server(tmp_path):
    running = GethookServer(tmp_path / "data").start()
    yield running
    running.stop()


def trigger(api: httpx.Client, source_id: str, event_type: str) -> str:
    answer = api.post(f"/v1/sources/{source_id}/test-events", json={"event_type": event_type})
    assert answer.status_code == 202, answer.text
    return answer.json()["data"]["event"]["id"]


def test_listen_holds_while_the_app_is_down_and_resumes_after_a_restart(server, tmp_path):
    with server.client() as client:
        key = client.post("/v1/accounts", json={"name": "dev"}).json()["data"]["api_key"]["key"]
    port = free_port()
    listen = Listen(server, key, tmp_path / "state", f"http://127.0.0.1:{port}/hook")
    api = server.client(key)
    sent: list[str] = []
    received = []
    try:
        with Receiver(port=port) as app:
            listen.start()
            ready = listen.wait_for(lambda line: line.get("kind") == "listening")
            source_id, secret = ready["source_id"], ready["signing_secret"]
            sent += [trigger(api, source_id, "charge.succeeded") for _ in range(3)]
            received += app.wait_for(3)
        # The app is down: events are held, and listen says it waits.
        sent += [trigger(api, source_id, "invoice.paid") for _ in range(3)]
        listen.wait_for(lambda line: line.get("message", "").startswith("waiting for"))
        time.sleep(0.5)
        with Receiver(port=port) as app:
            received += app.wait_for(3)
            listen.wait_for(lambda line: line.get("id") == sent[-1])
        # listen dies (crash); events arrive meanwhile; a new listen resumes where it stopped.
        listen.kill()
        sent += [trigger(api, source_id, "customer.created") for _ in range(3)]
        with Receiver(port=port) as app:
            listen.start()
            received += app.wait_for(3)
            time.sleep(0.5)  # nothing more comes: nothing twice
            received += app.requests[3:]
            # A refused request shows with its reason.
            ingest_url = api.get(f"/v1/sources/{source_id}").json()["data"]["ingest_url"]
            assert httpx.post(ingest_url, content=b"{}").status_code == 401
            rejected = listen.wait_for(lambda line: line.get("kind") == "request.rejected")
            assert rejected["reason"].startswith("missing stripe-signature header")
            # Ctrl-C ends it cleanly.
            listen.process.send_signal(signal.SIGINT)
            assert listen.process.wait(timeout=10) == 0
    finally:
        if listen.process.poll() is None:
            listen.kill()
        api.close()
    assert [request.headers["webhook-id"] for request in received] == sent
    events = {event_id: api_event(server, key, event_id) for event_id in sent}
    for request in received:
        event = events[request.headers["webhook-id"]]
        assert request.body == event["body"].encode()
        assert request.headers["content-type"] == event["headers"]["content-type"]
        assert verify_standard_webhook(secret, request.headers, request.body)
        # --original-headers: the app's own Stripe verification sees Stripe's header.
        assert request.headers["stripe-signature"] == event["headers"]["stripe-signature"]
    forwarded = [line for line in listen.lines() if line.get("kind") == "event.received"]
    assert [line["id"] for line in forwarded] == sent
    assert all(line["local_status"] == 200 for line in forwarded)


def api_event(server: GethookServer, key: str, event_id: str) -> dict:
    with server.client(key) as api:
        return api.get(f"/v1/events/{event_id}").json()["data"]["event"]


def test_trigger_sends_a_signed_sample_and_tail_prints_it(server, tmp_path):
    """From nothing: trigger creates the dev account (key kept) and a Stripe source; tail, with
    the same state, follows the account and prints the event and its status change."""
    env = {**os.environ, "GETHOOK_STATE_DIR": str(tmp_path / "state")}
    cli = [sys.executable, "-m", "gethook_lite"]
    first = subprocess.run(
        [*cli, "trigger", "stripe", "invoice.paid", "--api-url", server.url],
        env=env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert "Created account acct_" in first.stderr
    assert first.stdout.startswith("Sent invoice.paid as evt_")
    assert "(stripe-dev): accepted" in first.stdout
    state = json.loads((tmp_path / "state" / "cli.json").read_text())
    assert oct((tmp_path / "state" / "cli.json").stat().st_mode & 0o777) == "0o600"
    key = state[f"key:{server.url}"]
    out_path = tmp_path / "tail.out"
    with out_path.open("wb") as out:
        tail = subprocess.Popen(
            [*cli, "tail", "--json", "--api-url", server.url], env=env, stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while "Ready" not in out_path.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        again = subprocess.run(
            [*cli, "trigger", "stripe", "charge.refunded", "--api-url", server.url],
            env=env, capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert again.returncode == 0 and "Created account" not in again.stderr, again.stderr
        event_id = again.stdout.split(" as ", 1)[1].split()[0]
        while time.monotonic() < deadline:
            lines = [json.loads(line) for line in out_path.read_text().splitlines()]
            if any(line.get("id") == event_id for line in lines):
                break
            time.sleep(0.05)
        received = next(line for line in lines if line.get("id") == event_id)
        assert received["kind"] == "event.received"
        assert received["event_type"] == "charge.refunded"
        with server.client(key) as api:
            assert api.get(f"/v1/events/{event_id}").status_code == 200
        tail.send_signal(signal.SIGINT)
        assert tail.wait(timeout=10) == 0
    finally:
        if tail.poll() is None:
            tail.kill()
            tail.wait()
