"""The destinations page shows pause and circuit state, and pauses and resumes."""

from __future__ import annotations

from tests.support.api import ingest, make_route, make_source
from tests.web.helpers import csrf_of, sign_in


def test_pause_and_resume_from_the_destinations_page(client, account, auth):
    source = make_source(client, auth)
    dest = make_route(client, auth, "http://127.0.0.1:9/x", source["id"])
    assert sign_in(client, key=account[1]).status_code == 303
    page = client.get("/destinations").text
    assert ">Pause<" in page
    answer = client.post(
        f"/destinations/{dest['id']}/paused",
        data={"csrf_token": csrf_of(page), "paused": "true"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    ingest(client, source)
    page = client.get("/destinations").text
    assert "paused" in page and "1 held" in page and ">Resume<" in page
    assert client.get(f"/v1/destinations/{dest['id']}", headers=auth).json()["data"]["paused"]
    client.post(
        f"/destinations/{dest['id']}/paused", data={"csrf_token": csrf_of(page), "paused": "false"}
    )
    shown = client.get(f"/v1/destinations/{dest['id']}", headers=auth).json()["data"]
    assert shown["paused"] is False and shown["circuit"]["held_count"] == 0
