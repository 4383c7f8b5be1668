"""The network policy at connection time: a name that resolves to a metadata address later
(DNS rebinding) is refused when delivering, whatever it resolved to at create time."""

from __future__ import annotations

import pytest
from litestar.testing import TestClient

from gethook_lite.app import create_app
from tests.conftest import FAST_PASSWORDS, bearer, make_settings
from tests.support.api import drain, event_detail, ingest, make_route, make_source
from tests.support.receiver import Receiver
from tests.support.resolver import MapResolver


@pytest.fixture
def resolver() -> MapResolver:
    return MapResolver()


@pytest.fixture
def rebinding_client(tmp_path, clock, resolver):
    app = create_app(
        make_settings(tmp_path),
        clock=clock,
        passwords=FAST_PASSWORDS,
        start_scheduler=False,
        resolver=resolver,
    )
    with TestClient(app) as client:
        key = client.post("/v1/accounts", json={"name": "a"}).json()["data"]["api_key"]["key"]
        yield client, bearer(key)


def test_dns_rebinding_to_metadata_is_refused_at_delivery(rebinding_client, resolver):
    client, auth = rebinding_client
    with Receiver() as receiver:
        port = receiver.url.split(":")[2].split("/")[0]
        resolver.names["good.rebind.test"] = "127.0.0.1"
        source = make_source(client, auth)
        make_route(client, auth, f"http://good.rebind.test:{port}/hook", source["id"])
        # At create time the name is harmless (the create-time check passes); by delivery
        # time it points at the cloud metadata service.
        make_route(client, auth, f"http://evil.rebind.test:{port}/hook", source["id"])
        resolver.names["evil.rebind.test"] = "169.254.169.254"
        second = ingest(client, source)["id"]
        drain(client)
        outcomes = sorted(
            (a["outcome"], a["error_message"] or "")
            for a in event_detail(client, auth, second)["attempts"]
        )
        assert outcomes[0][0] == "network_error" and "network policy" in outcomes[0][1]
        assert outcomes[1][0] == "success"
        assert len(receiver.requests) == 1


@pytest.mark.parametrize(
    "host",
    [
        "169.254.169.254",
        "[::ffff:0:a9fe:a9fe]",  # SIIT (RFC 6145): was accepted
        "[64:ff9b:1:a9fe:a9:fe00::]",  # local-use NAT64 (RFC 8215), /48 layout
        "[2001:0:4136:e378::5601:5601]",  # Teredo client address
    ],
)
def test_ip_literal_metadata_url_is_refused_at_create(client, auth, host):
    answer = client.post(
        "/v1/destinations", json={"name": "x", "url": f"http://{host}/latest"}, headers=auth
    )
    assert answer.status_code == 400 and answer.json()["error"].startswith("url:")
    assert "169.254.169.254" in answer.json()["error"]


def test_private_addresses_refused_when_the_operator_says_so(tmp_path, clock, resolver):
    settings = make_settings(tmp_path, **{"delivery.allow_private_networks": False})
    app = create_app(
        settings, clock=clock, passwords=FAST_PASSWORDS, start_scheduler=False, resolver=resolver
    )
    with TestClient(app) as client:
        key = client.post("/v1/accounts", json={"name": "a"}).json()["data"]["api_key"]["key"]
        auth = bearer(key)
        refused = client.post(
            "/v1/destinations", json={"name": "x", "url": "http://10.1.2.3/hook"}, headers=auth
        )
        assert refused.status_code == 400
        resolver.names["internal.rebind.test"] = "10.0.0.7"
        source = make_source(client, auth)
        make_route(client, auth, "http://internal.rebind.test/hook", source["id"])
        event_id = ingest(client, source)["id"]
        drain(client)
        attempt = event_detail(client, auth, event_id)["attempts"][0]
        assert attempt["outcome"] == "network_error"
        assert "network policy" in attempt["error_message"]
