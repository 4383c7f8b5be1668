"""The dashboard's pages and buttons, in-process: each calls the API's domain functions."""

from __future__ import annotations

import re
import time

import pytest

from gethook_lite.constants import WEB_EVENTS_PAGE_SIZE
from tests.conftest import new_account
from tests.web.helpers import csrf_of, sign_in


@pytest.fixture
def setup(client, account, auth):
    """A signed-in admin with a source, a destination and a route between them."""
    source = client.post("/v1/sources", headers=auth, json={"name": "shop"}).json()["data"]
    dest = client.post(
        "/v1/destinations", headers=auth, json={"name": "billing", "url": "http://127.0.0.1:9/x"}
    ).json()["data"]
    client.post(
        "/v1/routes", headers=auth, json={"source_id": source["id"], "destination_id": dest["id"]}
    )
    assert sign_in(client, key=account[1]).status_code == 303
    return source, dest


def _ingest(client, source, body: bytes, content_type="application/json", **headers) -> str:
    answer = client.post(
        f"/ingest/{source['path_token']}",
        content=body,
        headers={"content-type": content_type, **headers},
    )
    assert answer.status_code == 202, answer.text
    return answer.json()["data"]["id"]


def test_a_script_in_a_body_header_or_type_is_shown_as_text(client, setup):
    source, _ = setup
    evil = "<script>alert(1)</script>"
    event_id = _ingest(
        client,
        source,
        f'{{"type": "{evil}", "note": "{evil}"}}'.encode(),
        **{"x-evil": evil},
    )
    for path in ("/events", f"/events/{event_id}", "/events/rows?direction=inbound"):
        page = client.get(path).text
        assert evil not in page, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page, path


def test_event_detail_pretty_prints_json_and_labels_binary(client, setup):
    source, _ = setup
    json_id = _ingest(client, source, b'{"a":{"b":1}}')
    page = client.get(f"/events/{json_id}").text
    assert "JSON, pretty-printed" in page and "{\n  &#34;a&#34;: {\n    &#34;b&#34;: 1" in page
    binary_id = _ingest(client, source, b"\xff\xfe\x00\x01", "application/octet-stream")
    page = client.get(f"/events/{binary_id}").text
    assert "Binary body" in page and "//4AAQ==" in page
    text_id = _ingest(client, source, b"plain words", "text/plain")
    assert "plain words" in client.get(f"/events/{text_id}").text


def test_events_quick_views_destination_filter_and_cursor(client, setup, auth):
    source, dest = setup
    ids = [_ingest(client, source, b"{}") for _ in range(WEB_EVENTS_PAGE_SIZE + 2)]
    page = client.get("/events").text
    assert f"{len(ids)} matching events" in page
    shown = re.findall(r'href="/events/(evt_[^"]+)"', page)
    assert shown == list(reversed(ids))[:WEB_EVENTS_PAGE_SIZE]
    older = re.search(r'href="/events\?([^"]*before=[^"]+)"', page).group(1).replace("&amp;", "&")
    rest = re.findall(r'href="/events/(evt_[^"]+)"', client.get(f"/events?{older}").text)
    assert rest == list(reversed(ids))[WEB_EVENTS_PAGE_SIZE:]
    assert "0 matching events" in client.get("/events?view=failed").text
    assert "0 matching events" in client.get("/events?view=dead_letter").text
    # A source filter is counted from the tallies too (per source), a destination's is not.
    by_source = client.get(f"/events?source_id={source['id']}").text
    assert f"{len(ids)} matching events" in by_source
    assert "0 matching events" in client.get("/events?source_id=src_other").text
    by_dest = client.get(f"/events?destination_id={dest['id']}").text
    assert "Newest first" in by_dest and by_dest.count('href="/events/evt_') == WEB_EVENTS_PAGE_SIZE
    assert "No events match" in client.get("/events?destination_id=dest_other").text
    assert client.get("/events?view=nope").status_code == 400
    assert client.get("/events?since=yesterday").status_code == 400
    assert "Newest first" in client.get("/events?since=2000-01-01T00:00").text


def test_replay_button_makes_a_new_event_and_opens_it(client, setup):
    source, _ = setup
    event_id = _ingest(client, source, b'{"n": 1}')
    page = client.get(f"/events/{event_id}").text
    answer = client.post(
        f"/events/{event_id}/replay", data={"csrf_token": csrf_of(page)}, follow_redirects=False
    )
    assert answer.status_code == 303
    new_page = client.get(answer.headers["location"]).text
    assert "This event is a replay of" in new_page and event_id in new_page


def test_send_test_event_from_the_sources_page(client, setup):
    source, _ = setup
    page = client.get("/sources").text
    assert source["ingest_url"] in page and "data-copy" in page
    answer = client.post(
        f"/sources/{source['id']}/test-event",
        data={"csrf_token": csrf_of(page), "event_type": ""},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert "x-gethook-test-event" in client.get(answer.headers["location"]).text


def test_rotate_secret_is_shown_once_and_deactivate_cancels(client, setup, auth):
    _, dest = setup
    page = client.get("/destinations").text
    token = csrf_of(page)
    rotated = client.post(f"/destinations/{dest['id']}/rotate-secret", data={"csrf_token": token})
    secret = re.search(r'value="(whsec_[^"]+)"', rotated.text).group(1)
    assert rotated.headers["cache-control"] == "no-store"
    assert secret not in client.get("/destinations").text
    client.post(f"/destinations/{dest['id']}/active", data={"csrf_token": token, "active": "false"})
    assert (
        client.get(f"/v1/destinations/{dest['id']}", headers=auth).json()["data"]["active"] is False
    )
    client.post(f"/destinations/{dest['id']}/active", data={"csrf_token": token, "active": "true"})
    assert (
        client.get(f"/v1/destinations/{dest['id']}", headers=auth).json()["data"]["active"] is True
    )


def test_api_keys_create_and_revoke(client, setup, auth):
    token = csrf_of(client.get("/api-keys").text)
    created = client.post("/api-keys", data={"csrf_token": token, "name": "ci", "role": "viewer"})
    assert created.status_code == 200
    key = re.search(r'value="(hk_[^"]+)"', created.text).group(1)
    listed = client.get("/v1/api-keys", headers=auth).json()["data"]
    new = next(item for item in listed if item["name"] == "ci")
    assert new["role"] == "viewer" and key.startswith(new["key_prefix"])
    client.post(f"/api-keys/{new['id']}/revoke", data={"csrf_token": token})
    assert client.get("/v1/api-keys", headers={"Authorization": f"Bearer {key}"}).status_code == 401


def test_overview_and_routes_pages(client, setup):
    source, _ = setup
    _ingest(client, source, b"{}")
    overview = client.get("/").text
    assert "Events per day" in overview and "<svg" in overview
    routes = client.get("/routes").text
    assert "shop" in routes and "billing" in routes and "8 attempts" in routes


def test_unknown_event_is_a_404_page(client, setup):
    answer = client.get("/events/evt_nope")
    assert answer.status_code == 404 and "event not found" in answer.text
    assert answer.headers["content-type"].startswith("text/html")


def test_create_a_source_a_destination_and_a_route_from_the_pages(client, setup, auth):
    token = csrf_of(client.get("/sources").text)
    answer = client.post(
        "/sources",
        data={"csrf_token": token, "name": "gh", "provider": "github", "secret": "s3cret"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    listed = client.get("/v1/sources", headers=auth).json()["data"]
    github = next(source for source in listed if source["name"] == "gh")
    assert github["auth_mode"] == "github" and "s3cret" not in client.get("/sources").text

    made = client.post(
        "/destinations",
        data={"csrf_token": token, "name": "erp", "url": "http://127.0.0.1:9/erp"},
    )
    assert made.status_code == 200 and re.search(r'value="whsec_', made.text)
    erp = next(
        dest
        for dest in client.get("/v1/destinations", headers=auth).json()["data"]
        if dest["name"] == "erp"
    )
    answer = client.post(
        "/routes",
        data={
            "csrf_token": token,
            "source_id": github["id"],
            "destination_id": erp["id"],
            "event_type_pattern": "issues.*",
            "max_attempts": "3",
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303
    route = next(
        item
        for item in client.get("/v1/routes", headers=auth).json()["data"]
        if item["destination_id"] == erp["id"]
    )
    assert route["retry_policy"]["max_attempts"] == 3 and route["event_type_pattern"] == "issues.*"
    client.post(f"/routes/{route['id']}/delete", data={"csrf_token": token})
    remaining = client.get("/v1/routes", headers=auth).json()["data"]
    assert all(item["id"] != route["id"] for item in remaining)


def test_bad_form_input_is_shown_on_the_page_with_a_400(client, setup):
    token = csrf_of(client.get("/destinations").text)
    answer = client.post("/destinations", data={"csrf_token": token, "name": "x", "url": "ftp://x"})
    assert answer.status_code == 400 and 'role="alert"' in answer.text and "url" in answer.text
    answer = client.post("/routes", data={"csrf_token": token, "destination_id": "dest_nope"})
    assert answer.status_code in (400, 404)
    answer = client.post("/api-keys", data={"csrf_token": token, "name": " "})
    assert answer.status_code == 400 and "name: must not be empty" in answer.text


def test_bulk_replay_of_the_matching_events_shows_the_count_then_the_result(client, setup, auth):
    source, _ = setup
    ids = [_ingest(client, source, b"{}") for _ in range(3)]
    page = client.get("/events?status=queued").text
    assert "Replay all 3 matching" in page and "Replay 3 events matching" in page
    assert "Replay all" not in client.get("/events").text  # never without a status or view
    answer = client.post(
        "/events/replay",
        data={"csrf_token": csrf_of(page), "status": "queued", "direction": "inbound"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    result = client.get(answer.headers["location"]).text
    assert "Replayed 3 events" in result
    for event_id in ids:
        event = client.get(f"/v1/events/{event_id}", headers=auth).json()["data"]["event"]
        assert event["status"] == "replayed"
    replays = client.get("/v1/events?limit=10", headers=auth).json()["data"]["items"]
    assert sum(item["created_by"] == "replay" for item in replays) == 3
    refused = client.post("/events/replay", data={"csrf_token": csrf_of(page)})
    assert refused.status_code == 400


def test_bulk_replay_stops_at_its_limit_and_says_more_are_left(client, setup, account):
    from gethook_lite.domain import bulk_replay, events
    from gethook_lite.domain.accounts import Caller

    source, _ = setup
    ids = [_ingest(client, source, b"{}") for _ in range(5)]
    ctx = client.app.state.ctx
    key_id = client.get("/v1/api-keys", headers={"Authorization": f"Bearer {account[1]}"}).json()[
        "data"
    ][0]["id"]
    caller = Caller(account_id=account[0], key_id=key_id, role="admin")
    filters = events.parse_filters("queued", None, None, None, None)
    with client.portal() as portal:
        done = portal.call(bulk_replay.replay_matching, ctx, caller, "inbound", filters, 2)
        assert done.replayed == 2 and done.more_left
        done = portal.call(bulk_replay.replay_matching, ctx, caller, "inbound", filters, 10)
    # The 2 replays made first are queued too, and newer than the rest: they count as well.
    assert done.replayed == 5 and not done.more_left
    assert len(ids) == 5


def test_exports_start_show_progress_and_download(client, setup):
    source, _ = setup
    _ingest(client, source, b'{"n": 1}')
    page = client.get("/exports").text
    answer = client.post(
        "/exports",
        data={"csrf_token": csrf_of(page), "format": "jsonl", "direction": "inbound"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    deadline = time.monotonic() + 10
    while "Download" not in (rows := client.get("/exports/rows").text):
        assert time.monotonic() < deadline, rows
        time.sleep(0.05)
    job_id = re.search(r'href="/exports/(exp_[^"/]+)/download"', rows).group(1)
    download = client.get(f"/exports/{job_id}/download")
    assert download.status_code == 200 and b'"n": 1' in download.content.replace(b'\\"', b'"')
    bad = client.post("/exports", data={"csrf_token": csrf_of(page), "format": "xml"})
    assert bad.status_code == 400 and "format" in bad.text


def test_custom_domains_and_brand_settings(client, setup, auth):
    token = csrf_of(client.get("/domains").text)
    client.post("/domains", data={"csrf_token": token, "domain": "hooks.example.com"})
    page = client.get("/domains").text
    assert "_gethook-challenge.hooks.example.com" in page
    domain_id = client.get("/v1/custom-domains", headers=auth).json()["data"][0]["id"]
    client.post(f"/domains/{domain_id}/delete", data={"csrf_token": token})
    assert client.get("/v1/custom-domains", headers=auth).json()["data"] == []

    saved = client.post(
        "/brand",
        data={"csrf_token": token, "company_name": "Acme <b>", "primary_color": "#112233"},
    )
    assert (
        saved.status_code == 200
        and "Acme &lt;b&gt;" in saved.text
        and 'fill="#112233"' in saved.text
    )
    brand = client.get("/v1/brand-settings", headers=auth).json()["data"]
    assert brand["company_name"] == "Acme <b>" and brand["logo_url"] is None
    refused = client.post("/brand", data={"csrf_token": token, "primary_color": "red"})
    assert refused.status_code == 400 and 'value="red"' in refused.text


def test_another_accounts_ids_answer_404_and_are_never_touched(client, setup):
    source, dest = setup
    event_id = _ingest(client, source, b"{}")
    other_key = new_account(client, "other")[1]
    client.cookies.clear()
    sign_in(client, key=other_key)
    token = csrf_of(client.get("/").text)
    assert client.get(f"/events/{event_id}").status_code == 404
    for path in (
        f"/events/{event_id}/replay",
        f"/destinations/{dest['id']}/rotate-secret",
        f"/destinations/{dest['id']}/active",
        f"/sources/{source['id']}/test-event",
    ):
        answer = client.post(path, data={"csrf_token": token, "active": "false"})
        assert answer.status_code == 404, path
    assert event_id not in client.get("/events").text
    assert "billing" not in client.get("/destinations").text


def test_delete_a_source_and_a_destination(client, setup, auth):
    source, dest = setup
    token = csrf_of(client.get("/sources").text)
    client.post(f"/sources/{source['id']}/delete", data={"csrf_token": token})
    assert client.get(f"/v1/sources/{source['id']}", headers=auth).status_code == 404
    client.post(f"/destinations/{dest['id']}/delete", data={"csrf_token": token})
    assert client.get(f"/v1/destinations/{dest['id']}", headers=auth).status_code == 404
    assert client.get("/v1/routes", headers=auth).json()["data"] == []
