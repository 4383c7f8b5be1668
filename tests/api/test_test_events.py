"""POST /v1/sources/{id}/test-events through the real app: a sample signed with the source's
own secret goes through ingest (verified, typed, stored, routed) like a provider's request."""

from __future__ import annotations

import json

import pytest

from gethook_lite.ingest.verification import verify_request
from gethook_lite.samples import sample_event_types
from tests.conftest import bearer, new_account
from tests.support.api import drain, event_detail, make_route, make_source
from tests.support.receiver import Receiver

STRIPE_SECRET = "whsec_test_events_secret_0123456789"


def send(client, auth, source_id: str, body=None):
    return client.post(f"/v1/sources/{source_id}/test-events", json=body, headers=auth)


def test_stripe_test_event_is_verified_stored_and_typed(client, auth, clock):
    config = {"secret": STRIPE_SECRET}
    source = make_source(client, auth, provider="stripe", verification_config=config)
    answer = send(client, auth, source["id"], {"event_type": "payment_intent.succeeded"})
    assert answer.status_code == 202, answer.text
    event = answer.json()["data"]["event"]
    assert event["event_type"] == "payment_intent.succeeded"
    assert event["source_id"] == source["id"]
    assert event["external_event_id"].startswith("evt_")
    assert event["status"] == "accepted"  # no route yet
    assert answer.json()["data"] == event_detail(client, auth, event["id"])
    # What was stored is what Stripe would send: its signature checks out with the secret.
    headers = event["headers"]
    assert headers["x-gethook-test-event"] == "1"
    assert headers["content-type"].startswith("application/json")
    verify_request(
        "stripe", {"secret": STRIPE_SECRET}, headers, event["body"].encode(), clock.now()
    )
    assert json.loads(event["body"])["data"]["object"]["status"] == "succeeded"


@pytest.mark.parametrize(
    ("fields", "provider"),
    [
        ({"provider": "stripe", "verification_config": {"secret": "whsec_abc"}}, "stripe"),
        ({"provider": "github", "verification_config": {"secret": "gh"}}, "github"),
        ({"provider": "shopify", "verification_config": {"secret": "shp"}}, "shopify"),
        ({"provider": "slack", "verification_config": {"secret": "sl"}}, "slack"),
        (
            {"provider": "standard_webhooks",
             "verification_config": {"secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}},
            "standard_webhooks",
        ),
        ({}, "generic"),
        ({"auth_mode": "hmac", "verification_config": {"secret": "h", "header": "X-Sig"}},
         "generic"),
        ({"auth_mode": "basic_auth",
          "verification_config": {"username": "u", "password": "p"}}, "generic"),
        ({"auth_mode": "api_key", "verification_config": {"header": "X-Key", "value": "v"}},
         "generic"),
    ],
)  # fmt: skip
def test_every_auth_mode_gets_its_default_sample_and_passes_verification(
    client, auth, fields, provider
):
    source = make_source(client, auth, **fields)
    # No body at all: the event type defaults to the provider's first sample type.
    answer = client.post(f"/v1/sources/{source['id']}/test-events", headers=auth)
    assert answer.status_code == 202, answer.text
    assert answer.json()["data"]["event"]["event_type"] == sample_event_types(provider)[0]


def test_credentials_are_not_stored_with_a_basic_auth_test_event(client, auth):
    source = make_source(
        client, auth, auth_mode="basic_auth", verification_config={"username": "u", "password": "p"}
    )
    event = send(client, auth, source["id"]).json()["data"]["event"]
    assert event["headers"]["authorization"] == "[redacted]"


def test_a_routed_test_event_is_delivered(client, auth):
    source = make_source(client, auth, provider="github", verification_config={"secret": "gh"})
    with Receiver() as receiver:
        make_route(client, auth, receiver.url, source["id"])
        answer = send(client, auth, source["id"], {"event_type": "pull_request"})
        assert answer.status_code == 202, answer.text
        event = answer.json()["data"]["event"]
        assert event["event_type"] == "pull_request.opened"
        assert event["status"] == "queued"
        assert drain(client) == 1
        assert receiver.requests[0].body == event["body"].encode()
    assert event_detail(client, auth, event["id"])["event"]["status"] == "delivered"


def test_an_event_type_without_a_sample_gets_a_minimal_envelope(client, auth):
    source = make_source(client, auth, provider="shopify", verification_config={"secret": "s"})
    answer = send(client, auth, source["id"], {"event_type": "customers/update"})
    assert answer.status_code == 202, answer.text
    event = answer.json()["data"]["event"]
    assert event["event_type"] == "customers/update"
    assert json.loads(event["body"])["admin_graphql_api_id"].startswith("gid://shopify/Customer/")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"event_type": "bad type with spaces"}, "event_type"),
        ({"event_type": ""}, "event_type"),
        ({"event_type": 42}, "event_type"),
    ],
)
def test_bad_event_types_are_400_naming_the_field(client, auth, body, field):
    source = make_source(client, auth, provider="stripe", verification_config={"secret": "s"})
    answer = send(client, auth, source["id"], body)
    assert answer.status_code == 400, answer.text
    assert field in str(answer.json()["error"])


def test_viewers_others_and_deleted_sources_cannot_be_sent_test_events(client, auth):
    source = make_source(client, auth, provider="stripe", verification_config={"secret": "s"})
    viewer = client.post("/v1/api-keys", json={"name": "v", "role": "viewer"}, headers=auth)
    assert send(client, bearer(viewer.json()["data"]["key"]), source["id"]).status_code == 403
    _, other_key = new_account(client, "other")
    assert send(client, bearer(other_key), source["id"]).status_code == 404
    assert client.delete(f"/v1/sources/{source['id']}", headers=auth).status_code == 204
    assert send(client, auth, source["id"]).status_code == 404
    assert client.get("/v1/events", headers=auth).json()["data"]["total"] == 0


def test_provider_presets_list_sample_event_types(client, auth):
    presets = client.get("/v1/provider-presets", headers=auth).json()["data"]
    stripe = next(preset for preset in presets if preset["id"] == "stripe")
    assert stripe["sample_event_types"][0] == "payment_intent.succeeded"
    assert "checkout.session.completed" in stripe["sample_event_types"]


def test_test_events_are_in_the_openapi_document(client):
    document = client.get("/openapi.json").json()
    operation = document["paths"]["/v1/sources/{source_id}/test-events"]["post"]
    assert "202" in operation["responses"]
    assert operation["requestBody"]["required"] is False
    assert operation["security"] == [{"bearer": []}]
