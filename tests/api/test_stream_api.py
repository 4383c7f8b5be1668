"""The live stream's endpoints in-process: documented, validated, scoped."""

from __future__ import annotations

from gethook_lite.db.changes import ChangeCursor
from gethook_lite.domain.stream import StreamFilters, stream_messages


def test_stream_and_rejected_requests_are_in_the_openapi_document(client):
    document = client.get("/openapi.json").json()
    stream = document["paths"]["/v1/events/stream"]["get"]
    assert "text/event-stream" in stream["responses"]["200"]["content"]
    names = {parameter["name"] for parameter in stream["parameters"]}
    assert {"Last-Event-ID", "after", "source_id", "destination_id", "direction",
            "event_type", "status"} <= names  # fmt: skip
    assert stream["security"] == [{"bearer": []}]
    assert "401" in stream["responses"]
    rejected = document["paths"]["/v1/sources/{source_id}/rejected-requests"]["get"]
    assert rejected["security"] == [{"bearer": []}]


def test_bad_stream_parameters_are_400_before_streaming(client, auth):
    for params in ({"after": "-3"}, {"direction": "up"}, {"status": "nope"}):
        answer = client.get("/v1/events/stream", params=params, headers=auth)
        assert answer.status_code == 400, answer.text
        assert set(answer.json()) == {"error"}
    answer = client.get("/v1/events/stream", headers={**auth, "Last-Event-ID": "abc"})
    assert answer.status_code == 400 and "Last-Event-ID" in answer.json()["error"]


def test_rejected_requests_of_an_unknown_source_are_404(client, auth):
    answer = client.get("/v1/sources/src_unknown/rejected-requests", headers=auth)
    assert answer.status_code == 404


def test_a_reader_that_goes_away_leaves_the_feed(client, account):
    """Replay, then live, then the reader closes: the feed keeps no subscription for it."""
    ctx = client.app.state.ctx
    source = client.post("/v1/sources", json={"name": "s"}, headers=_auth(account)).json()["data"]
    assert client.post(f"/ingest/{source['path_token']}", content=b"{}").status_code == 202

    async def read_two_then_leave() -> list:
        stream = stream_messages(ctx, account[0], StreamFilters(), 0)
        seen = [await anext(stream), await anext(stream)]
        assert ctx.change_feed.subscribers == 1
        await stream.aclose()
        return seen

    seen = client.blocking_portal.call(read_two_then_leave)
    assert seen[0].kind == "event.received" and isinstance(seen[1], int | ChangeCursor)
    assert ctx.change_feed.subscribers == 0


def _auth(account) -> dict[str, str]:
    return {"Authorization": f"Bearer {account[1]}"}
