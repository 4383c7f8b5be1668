"""The ingest front answers /ingest/... exactly as Litestar's routing of the ingest route does.

One battery of requests (good, duplicate, unknown token, wrong method, sub-paths, too large,
a refused signature, a sink's scripted answers, Slack's URL check, query strings, Host
trouble, storage down, an unexpected error) goes through the front, then, on new sources,
through Litestar's routing (``app.ingest_front = None``). Statuses, headers (but the date),
bodies, access-log lines, error log lines, metrics and the stored request lines must match,
ids and tokens aside; a few exact answers are checked as well.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator

import pytest
from litestar import Litestar

from gethook_lite.api.access_log import access_log_middleware
from gethook_lite.api.ingest_front import IngestFront
from gethook_lite.api.ingest_route import ingest_route
from gethook_lite.db import StorageError
from tests.conftest import make_settings
from tests.support.api import make_route, make_source
from tests.support.slack import SLACK_SECRET, slack_headers

MAX_BODY = 2048
URL_CHECK = json.dumps({"token": "t", "challenge": "c-123", "type": "url_verification"}).encode()


@pytest.fixture(params=[False, True], ids=["quiet", "access-log"])
def settings(request, tmp_path):
    return make_settings(
        tmp_path,
        **{"server.max_body_bytes": str(MAX_BODY), "server.access_log": str(request.param)},
    )


@pytest.fixture
def logs(caplog) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.INFO, logger="gethook_lite.access")
    caplog.set_level(logging.INFO, logger="gethook_lite.api")
    yield caplog


def _sources(client, auth) -> dict[str, dict]:
    plain = make_source(client, auth)
    slack = make_source(
        client, auth, provider="slack", verification_config={"secret": SLACK_SECRET}
    )
    make_route(client, auth, "http://127.0.0.1:9/hook", slack["id"])
    sink = make_source(client, auth, sink=True)
    plan = {"statuses": [201, 500, 200], "body": None}
    client.put(f"/v1/sources/{sink['id']}/response-plan", json=plan, headers=auth)
    text_sink = make_source(client, auth, sink=True)
    text_plan = {"statuses": [418], "body": "short and stout"}
    client.put(f"/v1/sources/{text_sink['id']}/response-plan", json=text_plan, headers=auth)
    return {"plain": plain, "slack": slack, "sink": sink, "text_sink": text_sink}


def _battery(client, sources: dict[str, dict], now: int) -> list[tuple]:
    plain = sources["plain"]["path_token"]
    slack = sources["slack"]["path_token"]
    sink = sources["sink"]["path_token"]
    text_sink = sources["text_sink"]["path_token"]
    signed = slack_headers(SLACK_SECRET, now, URL_CHECK)
    keyed = {"idempotency-key": "k1", "content-type": "application/json"}
    requests: list[tuple[str, str, bytes, object]] = [
        ("POST", f"/ingest/{plain}", b'{"type": "order.paid"}', keyed),
        ("POST", f"/ingest/{plain}", b'{"type": "order.paid"}', keyed),  # duplicate
        ("POST", "/ingest/no-such-token", b"{}", {}),
        ("GET", f"/ingest/{plain}", b"", {}),
        ("GET", "/ingest/no-such-token", b"", {}),
        ("POST", f"/ingest/{plain}/below", b"{}", {}),
        ("POST", "/ingest/", b"{}", {}),
        ("POST", f"/ingest/{plain}/", b"{}", {}),
        ("POST", f"/ingest//{plain}", b"{}", {}),
        ("POST", f"/ingest/{plain}?a=&b=1&c=x=", b"{}", {}),
        ("POST", f"/ingest/{plain}", b"x" * (MAX_BODY + 1), {}),
        ("POST", f"/ingest/{plain}", b"{}", [("host", "a.example"), ("host", "b.example")]),
        ("POST", f"/ingest/{plain}", b"{}", {"host": "a.example, b.example"}),
        ("POST", f"/ingest/{plain}", b"{}", {"host": "not a host!"}),
        ("POST", f"/ingest/{slack}", URL_CHECK, {"content-type": "application/json", **signed}),
        ("POST", f"/ingest/{slack}", URL_CHECK, {"x-slack-signature": "v0=00"}),
        ("POST", f"/ingest/{sink}", b"{}", {}),
        ("PUT", f"/ingest/{sink}/orders/7%2F8/?q=&r=2", b"\x00\xff", {"authorization": "s"}),
        ("DELETE", f"/ingest/{sink}", b"", {}),
        ("GET", f"/ingest/{text_sink}/x", b"", {}),
    ]
    return [_send(client, *request) for request in requests]


def _send(client, method: str, url: str, body: bytes, headers: object) -> tuple:
    answer = client.request(method, url, content=body, headers=headers)
    kept = [(name, value) for name, value in answer.headers.raw if name.lower() != b"date"]
    return method, url, answer.status_code, kept, answer.content


def _two_hosts(client, path: str) -> tuple:
    """A POST with two Host headers, as a server that passes both on would hand it over."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"a.example"), (b"host", b"b.example")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    client.blocking_portal.call(client.app, scope, receive, send)
    start, body = sent
    return "POST", path, start["status"], start["headers"], body["body"]


def _failing(client, sources: dict[str, dict], error: Exception) -> tuple:
    """A POST whose storage write raises ``error``."""
    db = client.app.state.ctx.db
    real = db.write_many

    async def broken(*_args, **_kwargs):
        raise error

    db.write_many = broken
    try:
        return _send(client, "POST", f"/ingest/{sources['plain']['path_token']}", b"{}", {})
    finally:
        db.write_many = real


def _run(client, auth, clock, logs) -> tuple[list, list[str], dict[str, dict]]:
    sources = _sources(client, auth)
    logs.clear()
    answers = _battery(client, sources, int(clock.now()))
    answers.append(_two_hosts(client, f"/ingest/{sources['plain']['path_token']}"))
    answers.append(_failing(client, sources, StorageError("disk on fire")))
    answers.append(_failing(client, sources, RuntimeError("a bug")))
    # The server's lines (not the test client's, which name the full URL).
    records = [r for r in logs.records if r.name.startswith("gethook_lite")]
    lines = [f"{r.name} {r.levelname} {r.getMessage()}" for r in records]
    for record in records:
        if record.name == "gethook_lite.access":
            lines.append(repr(record.fields))  # type: ignore[attr-defined]
    return answers, lines, sources


def _anonymise(values: object, sources: dict[str, dict]) -> str:
    """Ids, tokens and durations vary from run to run; the rest must not."""
    text = repr(values)
    for name, source in sources.items():
        token = source["path_token"]
        text = text.replace(token, f"<{name}>").replace(f"/ingest/{token[:4]}…", f"<{name}…>")
        text = text.replace(f"/ingest//{token[:3]}…", f"<//{name}…>")
    text = re.sub(r"evt_[0-9a-z]{26}", "evt_<id>", text)
    return re.sub(r"\d+\.\d\dms|'duration_ms': [\d.]+", "<duration>", text)


def _ingest_counts(client) -> dict[str, float]:
    counts: dict[str, float] = {}
    for metric in client.app.state.ctx.metrics.ingest_requests.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                counts[sample.labels["outcome"]] = sample.value
    return counts


def _stored_request_lines(client, auth) -> list[tuple]:
    events = client.get("/v1/events?limit=100", headers=auth).json()["data"]["items"]
    details = [client.get(f"/v1/events/{e['id']}", headers=auth).json()["data"] for e in events]
    return sorted(
        (
            d["event"]["source_id"],
            d["event"]["request_method"],
            d["event"]["request_path"],
            d["event"]["request_query"],
        )
        for d in details
    )


def _lines_of(stored: list[tuple], sources: dict[str, dict]) -> list[tuple]:
    names = {source["id"]: name for name, source in sources.items()}
    return sorted((names[line[0]], *line[1:]) for line in stored if line[0] in names)


def _routed_by_litestar(client) -> Callable[[], None]:
    app = client.app
    front = app.ingest_front
    app.ingest_front = None

    def restore() -> None:
        app.ingest_front = front

    return restore


def test_the_front_answers_as_litestar_routing_does(client, auth, clock, logs, settings):
    fronted, fronted_lines, fronted_sources = _run(client, auth, clock, logs)
    after_front = _ingest_counts(client)
    restore = _routed_by_litestar(client)
    try:
        routed, routed_lines, routed_sources = _run(client, auth, clock, logs)
    finally:
        restore()
    after_both = _ingest_counts(client)

    assert _anonymise(fronted, fronted_sources) == _anonymise(routed, routed_sources)
    assert _anonymise(fronted_lines, fronted_sources) == _anonymise(routed_lines, routed_sources)
    routed_counts = {k: v - after_front.get(k, 0) for k, v in after_both.items()}
    assert after_front == {k: v for k, v in routed_counts.items() if v}
    # Each source's events keep the same request lines (method, sub-path, query).
    stored = _stored_request_lines(client, auth)
    assert _lines_of(stored, fronted_sources) == _lines_of(stored, routed_sources)
    assert ("plain", "POST", "", "b=1&c=x=") in _lines_of(stored, fronted_sources)
    if settings.server.access_log:
        assert any("/ingest/" in line and "…" in line for line in fronted_lines)


def test_exact_answers_from_the_front(client, auth, clock, logs):
    answers, lines, sources = _run(client, auth, clock, logs)
    by_request = {
        (method, url): (status, dict(headers), body)
        for method, url, status, headers, body in answers
    }
    plain = sources["plain"]["path_token"]

    first = answers[0]
    assert first[2] == 202 and json.loads(first[4])["data"]["status"] == "accepted"
    assert answers[1][2] == 202 and json.loads(answers[1][4])["data"]["status"] == "duplicate"
    assert by_request[("GET", f"/ingest/{plain}")][:2] == (
        405,
        {b"allow": b"POST", b"content-type": b"application/json", b"content-length": b"47"},
    )
    assert by_request[("POST", "/ingest/no-such-token")][2] == b'{"error":"unknown ingest token"}'
    too_large = answers[10]
    assert too_large[2] == 413 and too_large[4] == b'{"error":"request body is too large"}'
    # httpx joins repeated headers into one, which the router's check refuses first.
    assert answers[11][2] == 400 and answers[11][4] == b'{"error":"Invalid host header"}'
    assert answers[-3][2] == 400 and answers[-3][4] == b'{"error":"more than one Host header"}'
    # A Host listing two hosts is not a valid Host: the router's check refuses it first.
    assert answers[12][2] == 400 and answers[12][4] == b'{"error":"Invalid host header"}'
    assert answers[13][2:] == (
        400,
        [(b"content-type", b"application/json"), (b"content-length", b"31")],
        b'{"error":"Invalid host header"}',
    )
    assert answers[14][2] == 200 and answers[14][4] == b'{"challenge":"c-123"}'
    assert answers[15][2] == 401
    assert [a[2] for a in answers[16:20]] == [201, 500, 200, 418]
    assert answers[19][4] == b"short and stout"
    assert dict(answers[19][3])[b"content-type"] == b"text/plain; charset=utf-8"
    storage_down, bug = answers[-2], answers[-1]
    assert storage_down[2] == 503 and dict(storage_down[3])[b"retry-after"] == b"1"
    assert bug[2:] == (
        500,
        [(b"content-type", b"application/json"), (b"content-length", b"33")],
        b'{"error":"internal server error"}',
    )
    assert any("unhandled error on POST /ingest/" in line for line in lines)
    assert any("storage error on POST /ingest/" in line for line in lines)
    assert [line for line in lines if plain in line] == []  # the token is a credential


def test_the_front_refuses_an_app_it_would_not_repeat_faithfully():
    async def hook(message, scope) -> None:
        pass

    def middleware(app):
        return app

    with pytest.raises(RuntimeError, match="ingest front"):
        IngestFront(Litestar(route_handlers=[ingest_route], before_send=[hook]))
    with pytest.raises(RuntimeError, match="ingest front"):
        IngestFront(Litestar(route_handlers=[ingest_route], middleware=[middleware]))
    IngestFront(Litestar(route_handlers=[ingest_route], middleware=[access_log_middleware]))
