"""The real `gethook serve`: start, envelope over the wire, restart persistence, CLI."""

from __future__ import annotations

import subprocess
import sys

from tests.support.server import GethookServer


def test_serve_answers_health_and_envelope(server):
    with server.client() as client:
        assert client.get("/healthz").json() == {"data": {"status": "ok"}}
        assert client.get("/readyz").status_code == 200
        missing = client.get("/v1/api-keys")
        assert missing.status_code == 401 and "error" in missing.json()
        assert client.get("/nope").json() == {"error": "no such endpoint"}


def test_data_survives_a_restart(tmp_path):
    server = GethookServer(tmp_path / "data").start()
    try:
        with server.client() as client:
            created = client.post("/v1/accounts", json={"name": "durable"}).json()["data"]
        key = created["api_key"]["key"]
        with server.client(key) as client:
            client.post("/v1/api-keys", json={"name": "second"}).raise_for_status()
        server.stop()
        server.start()
        with server.client(key) as client:
            names = {k["name"] for k in client.get("/v1/api-keys").json()["data"]}
        assert names == {"bootstrap", "second"}
    finally:
        server.stop()


def test_second_server_on_same_data_dir_refuses_to_start(server):
    second = GethookServer(server.data_dir)
    try:
        second.start(timeout=10)
    except RuntimeError as error:
        assert "another gethook process" in str(error)
    else:
        raise AssertionError("a second server started on a data dir already in use")
    finally:
        second.stop()


def test_cli_accounts_create_prints_a_working_key(tmp_path):
    data_dir = tmp_path / "data"
    result = subprocess.run(
        [sys.executable, "-m", "gethook_lite", "accounts", "create", "ops", "--data-dir", data_dir],
        capture_output=True,
        text=True,
        check=True,
    )
    key = next(
        line.split(": ", 1)[1] for line in result.stdout.splitlines() if line.startswith("api key")
    )
    server = GethookServer(data_dir).start()
    try:
        with server.client(key) as client:
            assert client.get("/v1/api-keys").status_code == 200
    finally:
        server.stop()


def test_bad_configuration_stops_start_up_naming_the_key(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "gethook_lite", "serve", "--data-dir", tmp_path],
        capture_output=True,
        text=True,
        env={"GETHOOK_SERVER_PORT": "0", "PATH": ""},
        timeout=30,
    )
    assert result.returncode != 0
    assert "server.port" in result.stderr


def test_keys_passwords_and_tokens_never_reach_the_log(tmp_path):
    server = GethookServer(
        tmp_path / "data",
        env={
            "GETHOOK_SERVER_LOG_LEVEL": "debug",
            "GETHOOK_SERVER_LOG_FORMAT": "json",
            "GETHOOK_SERVER_ACCESS_LOG": "true",
        },
    ).start()
    password = "correct horse battery staple"
    try:
        with server.client() as client:
            registered = client.post(
                "/v1/auth/register",
                json={"name": "a", "email": "a@example.com", "password": password},
            ).json()["data"]
            client.post("/v1/auth/login", json={"email": "a@example.com", "password": "nope"})
        key = registered["api_key"]["key"]
        with server.client(key) as api:
            source = api.post("/v1/sources", json={"name": "s"}).json()["data"]
            # A marker no timestamp or id can contain by chance (a bare "4242" once matched
            # the microseconds of a log line's time).
            api.post("/ingest/" + source["path_token"], content=b'{"card": "pan-4242-zq"}')
        server.stop()
        log = server.log()
        assert "/ingest/" in log  # requests are logged ...
        for secret in (key, password, source["path_token"], "pan-4242-zq"):
            assert secret not in log  # ... but never credentials, tokens or payloads
    finally:
        server.stop()
