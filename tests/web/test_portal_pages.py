"""The customer portal's actions in-process: CSRF bound to the portal session, capabilities,
and a replay that reaches only the portal's own destinations."""

from __future__ import annotations

import re

from tests.support.api import ingest, make_route, make_source

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _setup(client, auth, capabilities):
    source = make_source(client, auth)
    mine = make_route(client, auth, "https://example.com/mine", source["id"])
    theirs = make_route(client, auth, "https://example.com/theirs", source["id"])
    event = ingest(client, source, b'{"type": "a"}')
    data = client.post(
        "/v1/portal-sessions",
        json={"destination_ids": [mine["id"]], "capabilities": capabilities},
        headers=auth,
    ).json()["data"]
    base = data["url"][data["url"].index("/portal/") :]
    return base, event["id"], mine, theirs


def _deliveries(client, event_id: str) -> set[str]:
    rows = client.blocking_portal.call(
        client.app.state.ctx.db.read,
        lambda conn: conn.execute(
            "SELECT destination_id FROM deliveries WHERE event_id = ?", (event_id,)
        ).fetchall(),
    )
    return {row[0] for row in rows}


def test_a_portal_replay_goes_only_to_the_portals_destinations(client, auth):
    base, event_id, mine, theirs = _setup(client, auth, ["replay"])
    assert _deliveries(client, event_id) == {mine["id"], theirs["id"]}
    page = client.get(f"{base}/events/{event_id}")
    assert page.status_code == 200 and "https://example.com/theirs" not in page.text
    token = _CSRF.search(page.text).group(1)
    answer = client.post(
        f"{base}/events/{event_id}/replay", data={"csrf_token": token}, follow_redirects=False
    )
    assert answer.status_code == 303, answer.text
    replay_id = answer.headers["location"].rsplit("/", 1)[1]
    assert _deliveries(client, replay_id) == {mine["id"]}


def test_portal_forms_need_the_portal_csrf_token_and_a_granted_capability(client, auth):
    base, event_id, mine, theirs = _setup(client, auth, [])
    page = client.get(base)
    assert 'action="' + base + "/destinations" not in page.text  # no action offered
    token = _CSRF.search(client.get(f"{base}/events/{event_id}").text)
    assert token is None  # view only: not a single form
    refused = client.post(f"{base}/events/{event_id}/replay", data={"csrf_token": "forged"})
    assert refused.status_code == 403
    assert _deliveries(client, event_id) == {mine["id"], theirs["id"]}


def test_a_granted_edit_url_changes_only_the_portals_destination(client, auth):
    base, _, mine, theirs = _setup(client, auth, ["edit_url"])
    token = _CSRF.search(client.get(base).text).group(1)
    new = {"csrf_token": token, "url": "https://example.com/moved"}
    assert client.post(f"{base}/destinations/{theirs['id']}/url", data=new).status_code == 404
    answer = client.post(f"{base}/destinations/{mine['id']}/url", data=new, follow_redirects=False)
    assert answer.status_code == 303
    listed = client.get("/v1/destinations", headers=auth).json()["data"]
    urls = {d["id"]: d["url"] for d in listed}
    assert urls[mine["id"]] == "https://example.com/moved"
    assert urls[theirs["id"]] == "https://example.com/theirs"
