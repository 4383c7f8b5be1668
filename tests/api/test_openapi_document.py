"""/openapi.json describes every request and success body exactly; /docs renders it offline."""

from __future__ import annotations

import re
import typing

import pytest

from gethook_lite.api.events import EventStatus
from gethook_lite.constants import MAX_JSON_DEPTH
from gethook_lite.domain.events import EVENT_STATUSES


@pytest.fixture
def document(client) -> dict:
    answer = client.get("/openapi.json")
    assert answer.status_code == 200
    return answer.json()


def operations(document: dict):
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def resolve(document: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_every_success_body_has_a_schema_with_properties(document):
    checked = 0
    for path, method, operation in operations(document):
        for status, response in operation["responses"].items():
            if not status.startswith("2") or status == "204":
                continue
            content = response.get("content", {})
            assert content, (method, path, status)
            for media_type, media in content.items():
                if media_type != "application/json":
                    continue  # the export download: a file
                schema = resolve(document, media["schema"])
                assert schema.get("properties"), (method, path, status, schema)
                checked += 1
                if path != "/ingest/{token}" or status == "202":
                    data = resolve(document, schema["properties"].get("data", {}))
                    # Inside the envelope: a read struct (or a list of them), never `{}`.
                    assert data.get("properties") or resolve(document, data.get("items", {})).get(
                        "properties"
                    ), (method, path, status, data)
    assert checked >= 40


def test_every_json_request_body_has_a_schema_with_properties(document):
    for path, method, operation in operations(document):
        body = operation.get("requestBody")
        if body is None or path == "/ingest/{token}":
            continue
        schema = resolve(document, body["content"]["application/json"]["schema"])
        if "oneOf" in schema:  # an optional body: X | null
            schema = resolve(document, next(s for s in schema["oneOf"] if s != {"type": "null"}))
        assert schema.get("properties"), (method, path, schema)


def test_every_operation_has_a_summary_and_a_description(document):
    for path, method, operation in operations(document):
        assert operation.get("summary"), (method, path)
        assert operation.get("description"), (method, path)
        assert operation.get("tags"), (method, path)


def test_errors_are_documented_as_our_envelope(document):
    for path, method, operation in operations(document):
        bad_input = operation["responses"]["400"]["content"]["application/json"]["schema"]
        assert resolve(document, bad_input)["required"] == ["error"], (method, path)


def test_query_parameters_carry_their_bounds(document):
    parameters = {p["name"]: p for p in document["paths"]["/v1/events"]["get"]["parameters"]}
    limit = parameters["limit"]["schema"]
    assert (limit["type"], limit["minimum"], limit["maximum"], limit["default"]) == (
        "integer",
        1,
        500,
        50,
    )
    assert "dead_letter" in parameters["status"]["schema"]["enum"]
    assert parameters["since"]["schema"]["format"] == "date-time"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("limit=501", "limit: must be at most 500"),
        ("limit=0", "limit: must be at least 1"),
        ("limit=ten", "limit: must be an integer"),
        ("offset=-1", "offset: must be at least 0"),
        ("source_id=" + "x" * 256, "source_id: must be at most 255 characters"),
    ],
)
def test_parameter_errors_name_the_parameter_in_our_words(client, auth, query, expected):
    answer = client.get(f"/v1/events?{query}", headers=auth)
    assert answer.status_code == 400
    assert answer.json() == {"error": expected}


@pytest.mark.parametrize(
    "path", ["/v1/events?limit=&offset=&status=&since=", "/v1/stats?days=", "/v1/exports?limit="]
)
def test_an_empty_query_value_is_an_absent_parameter(client, auth, path):
    answer = client.get(path, headers=auth)
    assert answer.status_code == 200, answer.text


def test_a_missing_key_is_401_before_a_bad_body_or_query(client):
    assert client.post("/v1/sources", content=b'{"name": 5}').status_code == 401
    assert client.get("/v1/events?limit=ten").status_code == 401


def test_every_json_body_refuses_deep_nesting(client, auth, document):
    """Every typed body goes through the MAX_JSON_DEPTH check (ApiRequest), not only the ones
    the e2e test posts: JSON far deeper than the limit is a 400 saying so, never a 500."""
    deep = b'{"a": ' * 10 * MAX_JSON_DEPTH + b"1" + b"}" * 10 * MAX_JSON_DEPTH
    checked = 0
    for path, method, operation in operations(document):
        if "requestBody" not in operation or path == "/ingest/{token}":
            continue
        url = re.sub(r"\{[^}]+\}", "x_missing", path)
        answer = client.request(
            method.upper(), url, content=b'{"unknown": %s}' % deep, headers=auth
        )
        assert answer.status_code == 400, (method, path, answer.text)
        assert "deeper than" in answer.json()["error"], (method, path, answer.text)
        checked += 1
    assert checked >= 12


def test_docs_is_an_offline_html_reference(client, document):
    answer = client.get("/docs")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    page = answer.text
    # Nothing fetched from, or linked to, another host: no script at all, no absolute URL.
    assert "<script" not in page
    assert re.findall(r"https?://", page) == []
    for path, method, operation in operations(document):
        assert f"<code>{path}</code>" in page, (method, path)
        assert operation["summary"] in page.replace("&#x27;", "'")
    for name in document["components"]["schemas"]:
        assert f"<h3>{name}</h3>" in page, name


def test_docs_serves_the_same_document(client, document):
    assert client.get("/docs/openapi.json").json() == document


def test_documented_event_statuses_are_the_domains(document):
    assert typing.get_args(EventStatus) == EVENT_STATUSES
    assert tuple(document["components"]["schemas"]["Event"]["properties"]["status"]["enum"]) == (
        EVENT_STATUSES
    )
