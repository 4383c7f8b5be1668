"""Hostile input at the ingest door, against a real server: it refuses cleanly and stays up."""

from __future__ import annotations

import socket
import time

import httpx
import pytest


@pytest.fixture
def source(server, account_key) -> dict:
    with server.client(account_key) as api:
        return api.post("/v1/sources", json={"name": "door"}).json()["data"]


def raw_request(server, payload: bytes, read_timeout: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=read_timeout) as sock:
        sock.sendall(payload)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
                if b"\r\n\r\n" in b"".join(chunks):
                    break
        except (TimeoutError, ConnectionResetError):
            pass
        return b"".join(chunks)


def test_oversized_body_is_refused_before_it_is_read(server, source):
    path = f"/ingest/{source['path_token']}"
    # Announce 50 MB but send only the headers: the answer must not wait for the body.
    started = time.monotonic()
    answer = raw_request(
        server,
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n\r\n".encode(),
    )
    assert answer.startswith(b"HTTP/1.1 413")
    assert time.monotonic() - started < 2
    # Chunked (no length announced): refused once the limit is crossed.
    too_big = httpx.post(source["ingest_url"], content=iter([b"x" * 65536] * 40))
    assert too_big.status_code == 413 and set(too_big.json()) == {"error"}
    assert httpx.get(f"{server.url}/healthz").status_code == 200


def test_huge_and_repeated_headers_do_not_break_the_server(server, source):
    path = f"/ingest/{source['path_token']}"
    huge = b"X-Big: " + b"a" * 200_000 + b"\r\n"
    answer = raw_request(server, f"POST {path} HTTP/1.1\r\nHost: x\r\n".encode() + huge + b"\r\n")
    assert not answer.startswith(b"HTTP/1.1 5")
    repeated = b"".join(b"X-Rep: %d\r\n" % n for n in range(500))
    answer = raw_request(
        server,
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n".encode() + repeated
        + b"\r\n{}",
    )  # fmt: skip
    assert answer.startswith(b"HTTP/1.1 202") or answer.startswith(b"HTTP/1.1 4")
    assert httpx.get(f"{server.url}/healthz").status_code == 200


def test_slow_client_does_not_hold_up_others(server, source):
    path = f"/ingest/{source['path_token']}"
    slow = socket.create_connection(("127.0.0.1", server.port))
    try:
        slow.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Le".encode())
        started = time.monotonic()
        for _ in range(20):
            assert httpx.post(source["ingest_url"], json={"ok": True}).status_code == 202
        assert time.monotonic() - started < 5
    finally:
        slow.close()


def test_invalid_utf8_and_empty_bodies_are_kept(server, source, account_key):
    assert httpx.post(source["ingest_url"], content=b"\xff\xfe\xfa").status_code == 202
    assert httpx.post(source["ingest_url"], content=b"").status_code == 202
    with server.client(account_key) as api:
        items = api.get("/v1/events").json()["data"]["items"]
    assert {item.get("body_encoding") for item in items} == {"base64", None}
