"""Retention also ages the live stream's change log and the rejected requests it shows."""

from __future__ import annotations

from tests.conftest import bearer, new_account
from tests.support.retention import DAY, app_client, count, ingest, make_source, purge


def test_change_log_and_rejected_requests_expire_with_the_account_retention(tmp_path, clock):
    with app_client(tmp_path, clock, **{"retention.batch_size": 2}) as client:
        _, key = new_account(client, "short")
        auth = bearer(key)
        plain = make_source(client, auth)
        stripe = client.post(
            "/v1/sources",
            json={"name": "s", "provider": "stripe", "verification_config": {"secret": "whsec_x"}},
            headers=auth,
        ).json()["data"]
        for _ in range(3):
            ingest(client, plain)
        refused = client.post(f"/ingest/{stripe['path_token']}", content=b"{}")
        assert refused.status_code == 401
        assert count(client, "SELECT count(*) FROM changes") == 4
        assert count(client, "SELECT count(*) FROM rejected_requests") == 1
        clock.advance(29 * DAY)
        young = ingest(client, plain)
        clock.advance(2 * DAY)
        counts = purge(client)
        assert counts["changes"] == 4 and counts["rejected_requests"] == 1
        assert count(client, "SELECT count(*) FROM rejected_requests") == 0
        assert count(client, "SELECT count(*) FROM changes WHERE subject_id = ?", young) == 1
        assert count(client, "SELECT count(*) FROM changes") == 1
