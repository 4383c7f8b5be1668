"""What a client can make the server hold before it is authenticated is bounded (issue 20).

Against a real ``gethook serve`` over raw sockets: header size and count (431), trickling
headers and bodies (408), the connection cap (503, also when the process has few descriptors),
two Host headers (400) and deeply nested JSON (400). Timeouts are scaled down by settings.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.support.server import GethookServer

HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 1.0


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = GethookServer(
        tmp_path_factory.mktemp("limits") / "data",
        env={
            "GETHOOK_SERVER_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
            "GETHOOK_SERVER_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT),
        },
    ).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def account_key(server) -> str:
    with server.client() as client:
        return client.post("/v1/accounts", json={"name": "limits"}).json()["data"]["api_key"]["key"]


@pytest.fixture(scope="module")
def source(server, account_key) -> dict:
    with server.client(account_key) as api:
        return api.post("/v1/sources", json={"name": "door"}).json()["data"]


def read_answer(sock: socket.socket) -> tuple[int, dict, bytes]:
    """Status, headers and body of one HTTP answer (waits for the connection to close)."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines[0].startswith("HTTP/1.1 ") else 0
    headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
    return status, headers, body


def connect(server, timeout: float = 5.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=timeout)


def assert_envelope(body: bytes) -> str:
    message = json.loads(body)["error"]
    assert isinstance(message, str) and message
    return message


def send_ignoring_reset(sock: socket.socket, data: bytes) -> None:
    # The server answered and closed before reading everything: that is the point.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        sock.sendall(data)


# -- 1. header size ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/healthz", "/ingest/{token}", "/v1/events"])
def test_header_block_over_64_kb_is_431_before_it_is_read(server, source, path):
    path = path.format(token=source["path_token"])
    with connect(server) as sock:
        # An unfinished header of 1 MB: answered once 64 KB have arrived, not buffered.
        send_ignoring_reset(sock, f"GET {path} HTTP/1.1\r\nHost: x\r\nX-Big: ".encode())
        send_ignoring_reset(sock, b"a" * 1_000_000)
        status, headers, body = read_answer(sock)
    assert status == 431
    assert headers["content-type"] == "application/json"
    assert "65536 bytes" in assert_envelope(body)
    assert httpx.get(f"{server.url}/healthz").status_code == 200


def test_more_than_100_headers_is_431(server, source):
    many = b"".join(b"X-Rep-%d: v\r\n" % n for n in range(101))
    with connect(server) as sock:
        sock.sendall(
            f"POST /ingest/{source['path_token']} HTTP/1.1\r\nHost: x\r\n".encode()
            + many
            + b"Content-Length: 2\r\n\r\n{}"
        )
        status, _, body = read_answer(sock)
    assert status == 431
    assert "100 request headers" in assert_envelope(body)
    # 99 headers (plus Host) are fine.
    answer = httpx.post(source["ingest_url"], json={}, headers={f"x-{n}": "v" for n in range(90)})
    assert answer.status_code == 202


def test_unfinished_huge_headers_do_not_grow_memory(server):
    rss_before = _rss_kb(server)

    def flood() -> None:
        with connect(server) as sock:
            send_ignoring_reset(sock, b"GET /healthz HTTP/1.1\r\nX-Big: ")
            for _ in range(40):  # 40 MB per connection if it were all read
                send_ignoring_reset(sock, b"a" * 1_000_000)

    threads = [threading.Thread(target=flood) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert _rss_kb(server) - rss_before < 30_000
    assert httpx.get(f"{server.url}/healthz").status_code == 200


def _rss_kb(server) -> int:
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1])


# -- 2. slow clients ---------------------------------------------------------------------------


def test_trickled_headers_are_cut_off_with_408(server, source):
    with connect(server) as sock:
        sock.sendall(f"POST /ingest/{source['path_token']} HTTP/1.1\r\n".encode())
        started = time.monotonic()
        try:
            for n in range(20):  # one header line every 0.2 s: 4 s if never cut
                sock.sendall(b"X-Slow-%d: v\r\n" % n)
                time.sleep(0.2)
        except (BrokenPipeError, ConnectionResetError):
            pass
        status, _, body = read_answer(sock)
        elapsed = time.monotonic() - started
    assert status == 408
    assert "headers" in assert_envelope(body)
    assert elapsed < HEADER_TIMEOUT + 2


def test_idle_connection_is_closed(server):
    with connect(server) as sock:
        started = time.monotonic()
        assert sock.recv(1) == b""  # closed, without an answer, after the header timeout
        assert time.monotonic() - started < HEADER_TIMEOUT + 2


def test_trickled_body_is_cut_off_with_408(server, source, account_key):
    with connect(server) as sock:
        sock.sendall(
            f"POST /ingest/{source['path_token']} HTTP/1.1\r\nHost: x\r\n"
            "Content-Length: 100\r\n\r\n".encode()
        )
        started = time.monotonic()
        try:
            for _ in range(20):  # one byte every 0.2 s: 100 bytes would take 20 s
                sock.sendall(b"x")
                time.sleep(0.2)
        except (BrokenPipeError, ConnectionResetError):
            pass
        status, _, body = read_answer(sock)
        elapsed = time.monotonic() - started
    assert status == 408
    assert "body" in assert_envelope(body)
    assert elapsed < BODY_TIMEOUT + 2
    # Nothing was stored for it, and the next sender is served.
    assert httpx.post(source["ingest_url"], json={"after": True}).status_code == 202


def test_connection_cap_answers_503_not_emfile(tmp_path):
    # 200 open files in all: without a cap, 300 slow clients run the process out of descriptors.
    server = GethookServer(
        tmp_path / "data",
        env={
            "GETHOOK_DELIVERY_CONCURRENCY": "8",
            "GETHOOK_DELIVERY_PER_DESTINATION_CONCURRENCY": "8",
        },
        open_files=200,
    ).start()
    slow: list[socket.socket] = []
    try:
        for _ in range(300):
            sock = connect(server)
            sock.sendall(b"POST /v1/accounts HTTP/1.1\r\nHost: x\r\n")  # never finished
            slow.append(sock)
        time.sleep(1.5)  # refused connections finish lingering
        answer = httpx.post(f"{server.url}/v1/accounts", json={"name": "n"}, timeout=5)
        assert answer.status_code == 503
        assert answer.headers["retry-after"] == "1"
        assert "too many open connections" in answer.json()["error"]
        for sock in slow:
            sock.close()
        slow.clear()
        deadline = time.monotonic() + 5
        while (status := _status(server)) != 201 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert status == 201
        assert "server.max_connections 1000 lowered to" in server.log()
    finally:
        for sock in slow:
            sock.close()
        server.stop()


def _status(server) -> int:
    try:
        return httpx.post(f"{server.url}/v1/accounts", json={"name": "n"}, timeout=2).status_code
    except httpx.TransportError:
        return 0


# -- 10. two Host headers ----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/ingest/{token}", "/healthz"])
@pytest.mark.parametrize(
    "hosts",
    ["Host: hooks.example.com\r\nHost: 127.0.0.1", "Host: hooks.example.com, 127.0.0.1"],
    ids=["two-headers", "one-header-listing-two"],
)
def test_two_host_headers_are_400(server, source, path, hosts):
    path = path.format(token=source["path_token"])
    with connect(server) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\n{hosts}\r\nContent-Length: 2\r\n\r\n{{}}".encode())
        status, _, body = read_answer(sock)
    assert status == 400
    assert "Host" in assert_envelope(body)


# -- 3. deep JSON ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/accounts"),
        ("POST", "/v1/auth/login"),
        ("POST", "/v1/sources"),
        ("POST", "/v1/destinations"),
        ("POST", "/v1/outbound-events"),
        ("POST", "/v1/routes"),
        ("POST", "/v1/exports"),
    ],
)
def test_deeply_nested_json_is_400(server, account_key, method, path):
    deep = b'{"a": ' * 1000 + b"1" + b"}" * 1000
    with server.client(account_key) as api:
        # As a known field of any type, or as one the endpoint does not know.
        for field in ("payload", "filters", "verification_config", "unknown"):
            body = b'{"name": "x", "%s": %s}' % (field.encode(), deep)
            answer = api.request(method, path, content=body)
            assert answer.status_code == 400, (path, answer.text)
            assert "deeper than 100 levels" in answer.json()["error"]


def test_nesting_limit_is_100_levels(server, account_key):
    def payload(depth: int) -> bytes:  # the body object is level 1
        return b'{"payload": ' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"

    with server.client(account_key) as api:
        assert api.post("/v1/outbound-events", content=payload(100)).status_code == 202
        answer = api.post("/v1/outbound-events", content=payload(101))
    assert answer.status_code == 400
    assert answer.json() == {"error": "request body nests JSON deeper than 100 levels"}
