"""The live stream's endpoints in-process: documented, validated, scoped."""

from __future__ import annotations


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
