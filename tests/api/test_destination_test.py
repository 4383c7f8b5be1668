"""POST /v1/destinations/{id}/test through the real app and a real local receiver: one signed
sample sent now through the dispatcher's own path, answered with the attempt."""

from __future__ import annotations

import json

import pytest
from litestar.testing import TestClient

from gethook_lite.app import create_app
from gethook_lite.delivery.signing import verify_signature
from gethook_lite.samples import sample_event_types
from tests.conftest import FAST_PASSWORDS, bearer, make_settings
from tests.support.receiver import Receiver, Reply
from tests.support.resolver import MapResolver


def make_destination(client, auth, url: str, **fields) -> dict:
    answer = client.post("/v1/destinations", json={"name": "d", "url": url, **fields}, headers=auth)
    assert answer.status_code == 201, answer.text
    return answer.json()["data"]


def test_a_test_event_is_signed_sent_and_answered_with_the_attempt(client, auth):
    with Receiver(lambda n: Reply(status=200, body=b"thanks")) as receiver:
        destination = make_destination(
            client, auth, receiver.url, custom_headers={"X-Team": "billing"},
            auth_config={"type": "bearer", "token": "tok"},
        )  # fmt: skip
        answer = client.post(f"/v1/destinations/{destination['id']}/test", headers=auth)
        assert answer.status_code == 200, answer.text
        result = answer.json()["data"]
        assert result["outcome"] == "success"
        assert result["response_status"] == 200
        assert result["response_body"] == "thanks"
        assert isinstance(result["latency_ms"], int) and result["latency_ms"] >= 0
        assert result["error_message"] is None
        assert result["event_type"] == sample_event_types("generic")[0]
        [got] = receiver.requests
    # Signed, authenticated and dressed exactly as a delivery is.
    headers = got.headers
    assert headers["webhook-id"] == result["event_id"]
    assert verify_signature(
        destination["signing_secret"], headers["webhook-id"], int(headers["webhook-timestamp"]),
        got.body, headers["webhook-signature"],
    )  # fmt: skip
    assert headers["authorization"] == "Bearer tok"
    assert headers["x-team"] == "billing"
    assert headers["x-gethook-event-type"] == result["event_type"]
    assert json.loads(got.body)  # a realistic JSON sample
    # Answered, not recorded: the event log holds no test event.
    assert client.get("/v1/events", headers=auth).json()["data"]["total"] == 0


def test_event_type_is_chosen_and_a_receiver_error_is_an_outcome(client, auth):
    big = b"x" * 100_000
    with Receiver(lambda n: Reply(status=503, body=big)) as receiver:
        destination = make_destination(client, auth, receiver.url)
        answer = client.post(
            f"/v1/destinations/{destination['id']}/test",
            json={"event_type": "invoice.paid"},
            headers=auth,
        )
        assert answer.status_code == 200, answer.text
        result = answer.json()["data"]
        assert result["event_type"] == "invoice.paid"
        assert result["outcome"] == "http_5xx" and result["response_status"] == 503
        # Capped as an attempt's body is.
        assert len(result["response_body"]) == 4096
        assert receiver.requests[0].headers["x-gethook-event-type"] == "invoice.paid"


def test_a_receiver_that_is_down_is_a_network_error_outcome(client, auth):
    with Receiver() as receiver:
        url = receiver.url
    destination = make_destination(client, auth, url)
    answer = client.post(f"/v1/destinations/{destination['id']}/test", headers=auth)
    assert answer.status_code == 200, answer.text
    result = answer.json()["data"]
    assert result["outcome"] == "network_error" and "cannot connect" in result["error_message"]
    assert result["response_status"] is None


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"event_type": "bad type!"}, 400),
        ({"event_type": 5}, 400),
    ],
)
def test_bad_bodies_are_400(client, auth, body, status):
    destination = make_destination(client, auth, "http://127.0.0.1:9/hook")
    answer = client.post(f"/v1/destinations/{destination['id']}/test", json=body, headers=auth)
    assert answer.status_code == status, answer.text
    assert "error" in answer.json()


def test_viewer_keys_and_other_accounts_may_not_test(client, auth):
    destination = make_destination(client, auth, "http://127.0.0.1:9/hook")
    viewer = client.post("/v1/api-keys", json={"name": "v", "role": "viewer"}, headers=auth)
    answer = client.post(
        f"/v1/destinations/{destination['id']}/test",
        headers=bearer(viewer.json()["data"]["key"]),
    )
    assert answer.status_code == 403
    other = client.post("/v1/accounts", json={"name": "b"}).json()["data"]["api_key"]["key"]
    answer = client.post(f"/v1/destinations/{destination['id']}/test", headers=bearer(other))
    assert answer.status_code == 404
    assert client.post("/v1/destinations/dest_nope/test", headers=auth).status_code == 404


def test_a_refused_address_is_a_network_policy_outcome_not_a_500(tmp_path, clock):
    resolver = MapResolver()
    app = create_app(
        make_settings(tmp_path), clock=clock, passwords=FAST_PASSWORDS, start_scheduler=False,
        resolver=resolver,
    )  # fmt: skip
    with TestClient(app) as client, Receiver() as receiver:
        key = client.post("/v1/accounts", json={"name": "a"}).json()["data"]["api_key"]["key"]
        auth = bearer(key)
        port = receiver.url.split(":")[2].split("/")[0]
        resolver.names["rebind.test"] = "127.0.0.1"
        destination = make_destination(client, auth, f"http://rebind.test:{port}/hook")
        # By test time the name points at the cloud metadata service.
        resolver.names["rebind.test"] = "169.254.169.254"
        answer = client.post(f"/v1/destinations/{destination['id']}/test", headers=auth)
        assert answer.status_code == 200, answer.text
        result = answer.json()["data"]
        assert result["outcome"] == "network_error"
        assert "network policy" in result["error_message"]
        assert receiver.requests == []


def test_a_deactivated_destination_can_be_tested(client, auth):
    with Receiver() as receiver:
        destination = make_destination(client, auth, receiver.url)
        url = f"/v1/destinations/{destination['id']}"
        assert client.patch(url, json={"active": False}, headers=auth).status_code == 200
        answer = client.post(f"{url}/test", headers=auth)
        assert answer.status_code == 200, answer.text
        assert answer.json()["data"]["outcome"] == "success"
        assert len(receiver.requests) == 1


def test_one_test_at_a_time_per_destination(client, auth):
    # A test bypasses the scheduler's caps: a second one while the first still waits is 429.
    with Receiver(lambda n: Reply(status=200, delay=1.0)) as receiver:
        destination = make_destination(client, auth, receiver.url, timeout_seconds=5)
        other = make_destination(client, auth, receiver.url)
        url = f"/v1/destinations/{destination['id']}/test"
        ctx = client.app.state.ctx
        ctx.destination_tests_in_flight.add(destination["id"])  # as if one were in flight
        refused = client.post(url, headers=auth)
        assert refused.status_code == 429 and refused.headers["retry-after"] == "5"
        assert "still waiting" in refused.json()["error"]
        # Another destination is not held up, and the slot frees once the answer came.
        assert client.post(f"/v1/destinations/{other['id']}/test", headers=auth).status_code == 200
        ctx.destination_tests_in_flight.discard(destination["id"])
        assert client.post(url, headers=auth).status_code == 200
        assert client.post(url, headers=auth).status_code == 200
        assert ctx.destination_tests_in_flight == set()
