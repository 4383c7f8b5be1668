"""GET /metrics: Prometheus text that a real parser reads, counters that move with traffic."""

from __future__ import annotations

from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families

from gethook_lite.app import create_app
from tests.conftest import FAST_PASSWORDS, make_settings
from tests.support.api import drain, ingest, make_route, make_source
from tests.support.receiver import Receiver, Reply


def scrape(client, headers=None) -> dict[tuple[str, tuple], float]:
    answer = client.get("/metrics", headers=headers or {})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_counters_move_as_events_flow(client, auth):
    with Receiver(lambda n: Reply(500) if n == 1 else Reply(200)) as receiver:
        source = make_source(
            client, auth, auth_mode="api_key", verification_config={"header": "x-key", "value": "k"}
        )
        make_route(client, auth, receiver.url, source["id"])
        before = scrape(client)
        assert before[("gethook_queue_depth", (("state", "due"),))] == 0
        ingest(client, source, b"{}", {"x-key": "k"})
        client.post(f"/ingest/{source['path_token']}", content=b"{}", headers={"x-key": "bad"})
        client.post("/ingest/unknown", content=b"{}")
        middle = scrape(client)
        assert middle[("gethook_ingest_requests_total", (("outcome", "queued"),))] == 1
        assert middle[("gethook_ingest_requests_total", (("outcome", "unauthorized"),))] == 1
        assert middle[("gethook_ingest_requests_total", (("outcome", "not_found"),))] == 1
        assert middle[("gethook_verification_failures_total", (("auth_mode", "api_key"),))] == 1
        assert middle[("gethook_queue_depth", (("state", "due"),))] == 1
        drain(client)
        after = scrape(client)
        assert after[("gethook_delivery_attempts_total", (("outcome", "http_5xx"),))] == 1
        assert after[("gethook_delivery_retries_total", ())] == 1
        assert after[("gethook_queue_depth", (("state", "scheduled"),))] == 1
        assert after[("gethook_delivery_latency_seconds_count", ())] == 1
        assert after[("gethook_database_size_bytes", ())] > 0


def test_metrics_token_and_switch(tmp_path, clock):
    settings = make_settings(tmp_path, **{"metrics.token": "scrape-me"})
    app = create_app(settings, clock=clock, passwords=FAST_PASSWORDS, start_scheduler=False)
    with TestClient(app) as client:
        assert client.get("/metrics").status_code == 401
        scrape(client, {"Authorization": "Bearer scrape-me"})
    settings = make_settings(tmp_path / "off", **{"metrics.enabled": False})
    app = create_app(settings, clock=clock, passwords=FAST_PASSWORDS, start_scheduler=False)
    with TestClient(app) as client:
        assert client.get("/metrics").status_code == 404
