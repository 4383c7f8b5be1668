"""Slack's URL check through the real ingest route: a signed ``url_verification`` gets its
challenge back in a 200 and is neither stored nor routed; an unsigned one is refused."""

from __future__ import annotations

import json

import pytest

from gethook_lite.errors import BadRequest
from gethook_lite.ingest.url_verification import SlackChallenge, slack_challenge
from tests.support.api import make_route, make_source
from tests.support.slack import SLACK_SECRET, slack_headers

CHALLENGE = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
URL_CHECK = json.dumps(
    {"token": "Jhj5dZrVaK7ZwHHjRyZWjbDl", "challenge": CHALLENGE, "type": "url_verification"}
).encode()


@pytest.fixture
def slack_source(client, auth) -> dict:
    source = make_source(
        client, auth, provider="slack", verification_config={"secret": SLACK_SECRET}
    )
    make_route(client, auth, "http://127.0.0.1:9/hook", source["id"])
    return source


def post(client, source: dict, body: bytes, headers: dict[str, str]):
    return client.post(
        f"/ingest/{source['path_token']}",
        content=body,
        headers={"content-type": "application/json", **headers},
    )


def event_total(client, auth) -> int:
    return client.get("/v1/events", headers=auth).json()["data"]["total"]


def test_a_signed_url_check_gets_its_challenge_back_and_is_not_an_event(
    client, auth, clock, slack_source
):
    answer = post(
        client, slack_source, URL_CHECK, slack_headers(SLACK_SECRET, int(clock.now()), URL_CHECK)
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {"challenge": CHALLENGE}
    assert event_total(client, auth) == 0


def test_an_unsigned_or_badly_signed_url_check_is_refused(client, auth, clock, slack_source):
    unsigned = post(client, slack_source, URL_CHECK, {})
    assert unsigned.status_code == 401
    assert "verification failed" in unsigned.json()["error"]
    forged = post(
        client, slack_source, URL_CHECK, slack_headers("guess", int(clock.now()), URL_CHECK)
    )
    assert forged.status_code == 401
    assert CHALLENGE not in unsigned.text + forged.text
    assert event_total(client, auth) == 0


def test_a_signed_slack_event_is_still_stored_and_routed(client, auth, clock, slack_source):
    body = b'{"type": "event_callback", "event": {"type": "app_mention"}, "event_id": "Ev1"}'
    answer = post(client, slack_source, body, slack_headers(SLACK_SECRET, int(clock.now()), body))
    assert answer.status_code == 202, answer.text
    assert answer.json()["data"]["status"] == "queued"
    assert event_total(client, auth) == 1


def test_a_url_check_on_a_source_that_is_not_slack_is_an_ordinary_event(client, auth):
    source = make_source(client, auth)
    answer = post(client, source, URL_CHECK, {})
    assert answer.status_code == 202
    assert event_total(client, auth) == 1


def test_a_url_check_without_a_string_challenge_is_a_400(client, auth, clock, slack_source):
    body = b'{"type": "url_verification", "challenge": 7}'
    answer = post(client, slack_source, body, slack_headers(SLACK_SECRET, int(clock.now()), body))
    assert answer.status_code == 400
    assert answer.json()["error"].startswith("challenge:")
    assert event_total(client, auth) == 0


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"token=x&command=%2Fhello",
        b'{"type": "event_callback", "challenge": "x"}',
        b'{"challenge": "x"}',
        b"[1, 2]",
        b"{not json",
    ],
)
def test_only_a_url_verification_body_is_a_challenge(body):
    assert slack_challenge(body) is None


def test_the_challenge_is_read_from_a_url_verification_body():
    assert slack_challenge(URL_CHECK) == SlackChallenge(CHALLENGE)
    with pytest.raises(BadRequest):
        slack_challenge(b'{"type": "url_verification"}')
