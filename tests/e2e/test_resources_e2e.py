"""Sources, destinations and routes through a real `gethook serve`, as the GetHook CLI calls them.

The CLI sends ``Content-Type: application/json`` on every request, GET and DELETE included, and
creates sources with only a name and destinations with name, url and timeout.
"""

from __future__ import annotations

import base64

import httpx
import pytest

from tests.support.server import GethookServer

CLI_HEADERS = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory):
    """One server for the module: every test works in accounts of its own."""
    running = GethookServer(tmp_path_factory.mktemp("resources-e2e") / "data").start()
    yield running
    running.stop()


def new_key(server: GethookServer, name: str = "e2e") -> str:
    with server.client() as client:
        answer = client.post("/v1/accounts", json={"name": name})
        assert answer.status_code == 201, answer.text
        return answer.json()["data"]["api_key"]["key"]


def cli(server: GethookServer, key: str) -> httpx.Client:
    client = server.client(key)
    client.headers.update(CLI_HEADERS)
    return client


def data_of(answer: httpx.Response, status: int):
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"data"}
    return body["data"]


def error_of(answer: httpx.Response, status: int) -> str:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"error"} and isinstance(body["error"], str)
    return body["error"]


def test_cli_style_create_list_and_delete_of_every_resource(shared_server):
    with cli(shared_server, new_key(shared_server)) as client:
        source = data_of(client.post("/v1/sources", json={"name": "shop"}), 201)
        assert source["auth_mode"] == "none"
        assert source["ingest_url"] == f"{shared_server.url}/ingest/{source['path_token']}"
        destination = data_of(
            client.post(
                "/v1/destinations",
                json={"name": "api", "url": "http://127.0.0.1:9/hook", "timeout_seconds": 10},
            ),
            201,
        )
        assert destination["signing_secret"].startswith("whsec_")
        assert destination["timeout_seconds"] == 10
        route = data_of(
            client.post(
                "/v1/routes",
                json={"destination_id": destination["id"], "source_id": source["id"]},
            ),
            201,
        )
        assert route["retry_policy"]["max_attempts"] == 8

        assert data_of(client.get("/v1/sources"), 200) == [source]
        assert data_of(client.get(f"/v1/sources/{source['id']}"), 200) == source
        listed = data_of(client.get("/v1/destinations"), 200)
        assert [d["id"] for d in listed] == [destination["id"]]
        assert "signing_secret" not in listed[0]
        assert data_of(client.get("/v1/routes"), 200) == [route]
        presets = data_of(client.get("/v1/provider-presets"), 200)
        assert {p["id"] for p in presets} >= {"stripe", "github"}
        assert data_of(client.get("/v1/destination-presets"), 200)

        for path in (
            f"/v1/routes/{route['id']}",
            f"/v1/destinations/{destination['id']}",
            f"/v1/sources/{source['id']}",
        ):
            deleted = client.delete(path)
            assert deleted.status_code == 204 and deleted.content == b""
            error_of(client.delete(path), 404)
        for path in ("/v1/sources", "/v1/destinations", "/v1/routes"):
            assert data_of(client.get(path), 200) == []


def test_deleted_source_ingest_url_answers_404_at_once(shared_server):
    owner_key = new_key(shared_server, "owner")
    with cli(shared_server, owner_key) as owner:
        source = data_of(owner.post("/v1/sources", json={"name": "shop"}), 201)
    ingest_path = f"/ingest/{source['path_token']}"
    with shared_server.client() as sender:
        assert sender.post(ingest_path, json={"type": "a"}).status_code == 202
        with cli(shared_server, new_key(shared_server, "stranger")) as stranger:
            error_of(stranger.delete(f"/v1/sources/{source['id']}"), 404)
        assert sender.post(ingest_path, json={"type": "b"}).status_code == 202
        with cli(shared_server, owner_key) as owner:
            assert owner.delete(f"/v1/sources/{source['id']}").status_code == 204
        error_of(sender.post(ingest_path, json={"type": "c"}), 404)
    # The events it received stay readable after the source is gone.
    with cli(shared_server, owner_key) as owner:
        events = data_of(owner.get("/v1/events", params={"source_id": source["id"]}), 200)
        assert events["total"] == 2
        assert {event["event_type"] for event in events["items"]} == {"a", "b"}
        data_of(owner.get(f"/v1/events/{events['items'][0]['id']}"), 200)


def test_another_accounts_ids_are_404_over_http(shared_server):
    owner_key = new_key(shared_server, "owner")
    with cli(shared_server, owner_key) as owner:
        source = data_of(owner.post("/v1/sources", json={"name": "s"}), 201)
        destination = data_of(
            owner.post("/v1/destinations", json={"name": "d", "url": "https://203.0.113.5/"}),
            201,
        )
        route = data_of(owner.post("/v1/routes", json={"destination_id": destination["id"]}), 201)
    with cli(shared_server, new_key(shared_server, "intruder")) as intruder:
        attempts = [
            intruder.get(f"/v1/sources/{source['id']}"),
            intruder.delete(f"/v1/sources/{source['id']}"),
            intruder.get(f"/v1/destinations/{destination['id']}"),
            intruder.patch(f"/v1/destinations/{destination['id']}", json={"name": "mine"}),
            intruder.post(f"/v1/destinations/{destination['id']}/rotate-secret"),
            intruder.delete(f"/v1/destinations/{destination['id']}"),
            intruder.delete(f"/v1/routes/{route['id']}"),
            intruder.post("/v1/routes", json={"destination_id": destination["id"]}),
        ]
        for answer in attempts:
            assert error_of(answer, 404).endswith("not found")
        for path in ("/v1/sources", "/v1/destinations", "/v1/routes"):
            assert data_of(intruder.get(path), 200) == []
    with cli(shared_server, owner_key) as owner:
        shown = data_of(owner.get(f"/v1/destinations/{destination['id']}"), 200)
        assert shown["name"] == "d"
        assert data_of(owner.get("/v1/routes"), 200) == [route]


def test_validation_and_viewer_errors_over_http(shared_server):
    key = new_key(shared_server)
    with cli(shared_server, key) as client:
        bad = client.post("/v1/destinations", json={"name": "d", "url": "http://169.254.169.254/"})
        assert error_of(bad, 400).startswith("url: ")
        bad = client.post("/v1/sources", json={"name": "s", "auth_mode": "stripe"})
        assert error_of(bad, 400).startswith("verification_config.secret")
        bad = client.post("/v1/routes", json={"destination_id": "dest_x", "retry_policy": []})
        assert error_of(bad, 400).startswith("retry_policy")
        viewer = data_of(client.post("/v1/api-keys", json={"name": "ro", "role": "viewer"}), 201)
    with cli(shared_server, viewer["key"]) as read_only:
        assert data_of(read_only.get("/v1/sources"), 200) == []
        error_of(read_only.post("/v1/sources", json={"name": "s"}), 403)


def test_secrets_are_not_in_the_servers_database_files(tmp_path):
    server = GethookServer(tmp_path / "data").start()
    source_secret = "E2E-SOURCE-SECRET-51f0"
    bearer_token = "E2E-BEARER-TOKEN-77aa"
    signing = "whsec_" + base64.b64encode(b"E2E-GIVEN-SIGNING-SECRET-0000").decode()
    try:
        with cli(server, new_key(server)) as client:
            source = data_of(
                client.post(
                    "/v1/sources",
                    json={
                        "name": "gh",
                        "provider": "github",
                        "verification_config": {"secret": source_secret},
                    },
                ),
                201,
            )
            assert source_secret not in str(source)
            destination = data_of(
                client.post(
                    "/v1/destinations",
                    json={
                        "name": "d",
                        "url": "https://203.0.113.5/",
                        "signing_secret": signing,
                        "auth_config": {"type": "bearer", "token": bearer_token},
                    },
                ),
                201,
            )
            rotated = data_of(
                client.post(f"/v1/destinations/{destination['id']}/rotate-secret"), 200
            )["signing_secret"]
            reads = client.get("/v1/sources").text + client.get("/v1/destinations").text
        secrets = [source_secret, bearer_token, signing, rotated]
        running_files = b"".join(p.read_bytes() for p in server.data_dir.glob("gethook.db*"))
        server.stop()
        stopped_files = b"".join(p.read_bytes() for p in server.data_dir.glob("gethook.db*"))
        for secret in secrets:
            assert secret not in reads
            assert secret.encode() not in running_files
            assert secret.encode() not in stopped_files
    finally:
        server.stop()
