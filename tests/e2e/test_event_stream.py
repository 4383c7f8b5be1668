"""GET /v1/events/stream over a real server, read by a real SSE client (httpx-sse); and the
requests refused by verification, listed and streamed."""

from __future__ import annotations

import json
import socket
import threading
import time

import httpx
import pytest

from tests.support.delivery import stripe_headers, wait_for_event, wire
from tests.support.receiver import Receiver
from tests.support.server import GethookServer
from tests.support.sse import read_stream

STRIPE_SECRET = "whsec_stream_test_secret"


def start_server(tmp_path, more_env: dict[str, str] | None = None, **live: str) -> GethookServer:
    env = {f"GETHOOK_LIVE_{name.upper()}": value for name, value in live.items()}
    return GethookServer(tmp_path / "data", env={**env, **(more_env or {})}).start()


@pytest.fixture
def server(tmp_path):
    running = start_server(tmp_path, rejected_per_source="3")
    yield running
    running.stop()


def new_account(server: GethookServer, name: str = "acme") -> str:
    with server.client() as client:
        answer = client.post("/v1/accounts", json={"name": name})
        assert answer.status_code == 201, answer.text
        return answer.json()["data"]["api_key"]["key"]


def new_source(api: httpx.Client, **fields) -> dict:
    answer = api.post("/v1/sources", json={"name": "src", **fields})
    assert answer.status_code == 201, answer.text
    return answer.json()["data"]


# One client for every ingest: httpx.post builds a client (and its TLS context) per call.
_SENDER = httpx.Client(timeout=10)


@pytest.fixture(autouse=True, scope="module")
def _close_sender():
    yield
    _SENDER.close()


def post_event(url: str, event_type: str, n: int = 0, body_pad: int = 0) -> str:
    body = json.dumps({"type": event_type, "n": n, "pad": "x" * body_pad})
    answer = _SENDER.post(url, content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 202, answer.text
    return answer.json()["data"]["id"]


def received_ids(messages) -> list[str]:
    return [m.data["id"] for m in messages if m.event == "event.received"]


def test_replay_then_live_with_the_item_shape_of_the_event_list(server):
    key = new_account(server)
    with server.client(key) as api:
        source = new_source(api)
        first = [post_event(source["ingest_url"], "charge.succeeded", n) for n in range(3)]
        later: list[str] = []

        def publish_later() -> None:
            time.sleep(0.5)
            later.extend(post_event(source["ingest_url"], "charge.failed", n) for n in range(2))

        thread = threading.Thread(target=publish_later)
        thread.start()
        messages = read_stream(server.url, key, count=5, params={"after": "0"})
        thread.join()
        assert received_ids(messages) == first + later
        ids = [m.id for m in messages]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        listed = api.get("/v1/events", params={"limit": 1}).json()["data"]["items"][0]
        assert messages[-1].data == listed


def test_resume_by_last_event_id_loses_nothing_and_repeats_nothing(server):
    """Events keep arriving while the reader is away and while it reconnects."""
    key = new_account(server)
    with server.client(key) as api:
        source = new_source(api)
    sent: list[str] = []
    stop = threading.Event()

    def publish() -> None:
        n = 0
        while not stop.is_set() and n < 40:
            sent.append(post_event(source["ingest_url"], "order.created", n))
            n += 1
            time.sleep(0.01)

    thread = threading.Thread(target=publish)
    thread.start()
    try:
        first = read_stream(server.url, key, count=10, params={"after": "0"})
        # Away for a while: events arrive in the gap, and go on arriving during the reconnect.
        time.sleep(0.3)
        second = read_stream(
            server.url,
            key,
            count=0,
            last_event_id=first[-1].id,
            until=lambda got: (
                bool(got) and not thread.is_alive() and got[-1].data["id"] == sent[-1]
            ),
        )
    finally:
        stop.set()
        thread.join()
    assert received_ids(first) + received_ids(second) == sent
    assert first[-1].id < second[0].id


def test_filters_narrow_the_stream(server):
    key = new_account(server)
    with server.client(key) as api:
        one, other = new_source(api), new_source(api)
        post_event(other["ingest_url"], "charge.succeeded")
        post_event(one["ingest_url"], "invoice.paid")
        wanted = post_event(one["ingest_url"], "charge.refunded")
        post_event(one["ingest_url"], "charge")
        post_event(other["ingest_url"], "charge.x")
        marker = post_event(one["ingest_url"], "charge.marker")
    messages = read_stream(
        server.url,
        key,
        count=2,
        params={"after": "0", "source_id": one["id"], "event_type": "charge.*",
                "status": "accepted", "direction": "inbound"},
    )  # fmt: skip
    assert received_ids(messages) == [wanted, marker]
    everything = read_stream(server.url, key, count=6, params={"after": "0"})
    assert received_ids(everything)[-1] == marker
    with httpx.Client(base_url=server.url) as client:
        bad = client.get(
            "/v1/events/stream",
            params={"status": "nope"},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert bad.status_code == 400 and "status" in bad.json()["error"]


def test_stream_is_scoped_to_the_account_and_viewers_may_read(server):
    mine, theirs = new_account(server, "mine"), new_account(server, "theirs")
    with server.client(mine) as api:
        my_source = new_source(api)
        viewer = api.post("/v1/api-keys", json={"name": "v", "role": "viewer"}).json()["data"]
    with server.client(theirs) as api:
        their_source = new_source(api)
    post_event(their_source["ingest_url"], "a.b")
    mine_id = post_event(my_source["ingest_url"], "a.b")
    post_event(their_source["ingest_url"], "a.b")
    marker = post_event(my_source["ingest_url"], "a.b")
    messages = read_stream(server.url, viewer["key"], count=2, params={"after": "0"})
    assert received_ids(messages) == [mine_id, marker]
    with httpx.Client(base_url=server.url) as client:
        assert client.get("/v1/events/stream").status_code == 401


def test_status_changes_carry_the_attempt_that_caused_them(server):
    key = new_account(server)
    with Receiver() as receiver, server.client(key) as api:
        source, destination = wire(api, receiver.url)
        event_id = post_event(source["ingest_url"], "charge.succeeded")
        wait_for_event(api, event_id, {"delivered"})
        messages = read_stream(
            server.url,
            key,
            count=0,
            params={"after": "0", "destination_id": destination["id"]},
            until=lambda got: any(
                m.event == "event.updated" and m.data["status"] == "delivered" for m in got
            ),
        )
    updates = [m.data for m in messages if m.event == "event.updated"]
    assert [u["status"] for u in updates] == ["delivering", "delivered"]
    assert updates[-1]["attempt"]["outcome"] == "success"
    assert updates[-1]["attempt"]["destination_id"] == destination["id"]
    assert updates[0]["attempt"] is None


def test_rejected_requests_are_kept_bounded_listed_and_streamed(server):
    key = new_account(server)
    with server.client(key) as api:
        source = new_source(api, provider="stripe", verification_config={"secret": STRIPE_SECRET})
        body = b'{"id": "evt_1", "type": "charge.succeeded"}'
        stale = stripe_headers(STRIPE_SECRET, body, timestamp=int(time.time()) - 412)
        answer = httpx.post(
            source["ingest_url"],
            content=body,
            headers={**stale, "Authorization": "Bearer sender-credential"},
        )
        assert answer.status_code == 401
        assert "Stripe-Signature timestamp is 41" in answer.json()["error"]
        assert "tolerance is 300 s" in answer.json()["error"]
        listed = api.get(f"/v1/sources/{source['id']}/rejected-requests").json()["data"]["items"]
        assert len(listed) == 1
        rejected = listed[0]
        assert rejected["reason"].startswith("Stripe-Signature timestamp is 41")
        assert rejected["headers"]["authorization"] == "[redacted]"
        assert rejected["body"] == body.decode() and not rejected["body_truncated"]
        assert STRIPE_SECRET not in json.dumps(rejected)
        # Bounded per source: the most recent three (live.rejected_per_source) stay.
        for n in range(4):
            httpx.post(source["ingest_url"], content=f'{{"n": {n}}}', headers={})
        listed = api.get(f"/v1/sources/{source['id']}/rejected-requests").json()["data"]["items"]
        assert [json.loads(item["body"])["n"] for item in listed] == [3, 2, 1]
        assert listed[0]["reason"].startswith("missing stripe-signature header")
        # Another account's key sees no such source.
        other = new_account(server, "other")
        with server.client(other) as their_api:
            assert their_api.get(f"/v1/sources/{source['id']}/rejected-requests").status_code == 404
    # The stream carries them; a replay shows those still kept (the oldest two were dropped).
    messages = read_stream(server.url, key, count=3, params={"after": "0"})
    assert [m.event for m in messages] == ["request.rejected"] * 3
    assert [m.data for m in messages] == listed[::-1]


def test_a_reader_too_far_behind_is_dropped_and_resumes_by_cursor(tmp_path):
    """A reader that stops reading never slows ingest; it is disconnected, then resumes."""
    # Commits without waiting for the disk: hundreds of ingests stay fast on a busy machine.
    server = start_server(
        tmp_path,
        {"GETHOOK_STORAGE_SYNCHRONOUS": "normal"},
        subscriber_buffer="20",
        heartbeat_seconds="60",
    )
    try:
        key = new_account(server)
        with server.client(key) as api:
            source = new_source(api)
        slow = socket.socket()
        # A tiny receive window: the server's buffers fill after a few messages.
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.connect(("127.0.0.1", server.port))
        request = f"GET /v1/events/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
        slow.sendall(request.encode() + b"\r\n")
        time.sleep(0.3)  # subscribed (live only)
        sent, started = [], time.monotonic()
        for n in range(250):
            sent.append(post_event(source["ingest_url"], "bulk.item", n, body_pad=32_000))
        ingest_seconds = time.monotonic() - started
        slow.settimeout(10)
        seen = b""
        while chunk := slow.recv(65536):
            seen += chunk
        slow.close()
        text = seen.decode(errors="replace")
        assert "fell too far behind; reconnect with Last-Event-ID" in text
        got = [line for line in text.split("\n") if line.startswith("id: ")]
        assert 0 < len(got) < len(sent)
        # The last complete message's id is where the reader resumes.
        complete = text.rsplit("\n\nid: ", 1)[0]
        resume_after = complete.rsplit("id: ", 1)[1].split("\n", 1)[0]  # a number, or txid.seq
        first_part = [
            json.loads(line[len("data: ") :])["id"]
            for line in complete.split("\n")
            if line.startswith("data: ")
        ]
        rest = read_stream(
            server.url, key, count=len(sent) - len(first_part), last_event_id=resume_after
        )
        assert first_part + received_ids(rest) == sent
        print(f"250 ingests of 32 KB, a reader stalled: {ingest_seconds:.2f} s; {len(got)} read")
    finally:
        server.stop()


def test_heartbeats_keep_a_quiet_stream_open_and_stopping_ends_it_at_once(tmp_path):
    server = start_server(tmp_path, heartbeat_seconds="0.2")
    try:
        key = new_account(server)
        with (
            httpx.Client(base_url=server.url, timeout=10) as client,
            client.stream(
                "GET", "/v1/events/stream", headers={"Authorization": f"Bearer {key}"}
            ) as response,
        ):
            assert response.status_code == 200
            comments = (line for line in response.iter_lines() if line.startswith(":"))
            assert next(comments) == ": live"
            assert next(comments) == ": heartbeat"
            started = time.monotonic()
            server.stop()
            # Graceful shutdown closes the stream rather than waiting for it (10 s) to end.
            assert time.monotonic() - started < 5
    finally:
        server.stop()


def test_one_account_cannot_hold_more_than_its_share_of_live_readers(tmp_path):
    server = start_server(tmp_path, max_subscribers_per_account="2")
    try:
        key, other_key = new_account(server), new_account(server, "other")
        with server.client(key) as api, server.client(other_key) as other:
            api.timeout = other.timeout = httpx.Timeout(10.0)
            with api.stream("GET", "/v1/events/stream") as first:
                assert first.status_code == 200
                # A long poll is a live reader too: it holds the second place while it waits.
                waiting = threading.Thread(
                    target=api.get, args=("/v1/events/wait",), kwargs={"params": {"timeout": 3}}
                )
                waiting.start()
                time.sleep(0.5)
                refused = api.get("/v1/events/stream")
                assert refused.status_code == 429
                assert "2 live readers" in refused.json()["error"]
                assert refused.headers["retry-after"] == "5"
                refused = api.get("/v1/events/wait", params={"timeout": 1})
                assert refused.status_code == 429
                # Another account is not held back by this one's readers.
                with other.stream("GET", "/v1/events/stream") as theirs:
                    assert theirs.status_code == 200
                waiting.join()
            # A reader that left frees its place.
            with api.stream("GET", "/v1/events/stream") as again:
                assert again.status_code == 200
    finally:
        server.stop()
