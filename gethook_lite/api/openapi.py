"""The OpenAPI document served at /openapi.json, accurate for every endpoint.

Controllers decode bodies themselves (for exact error messages and empty-body handling), so
Litestar cannot see their request shapes. Each handler names its body struct and query
parameters in ``opt`` (``opt=body(CreateSource)``, ``opt=query(LIST_QUERY)``); this module
merges them into Litestar's generated document, adds the bearer security scheme, and documents
the envelopes: ``{"data": …}`` on success, ``{"error": "…"}`` on every failure.
"""

from __future__ import annotations

import copy
from typing import Any

import msgspec
from litestar import Litestar, Request, get

__all__ = ["body", "build_openapi", "openapi_json", "query"]

_REF = "#/components/schemas/{name}"
_ERROR_STATUSES = {
    "400": "Bad input; the message names the field",
    "401": "Missing, malformed or revoked API key",
    "403": "The key's role may not do this",
    "404": "Unknown id, or another account's",
    "409": "Conflict",
    "413": "Body too large",
    "429": "Throttled; see Retry-After",
    "503": "Not ready, or the database is unavailable",
}
_PUBLIC_PATHS = frozenset(
    {"/v1/accounts", "/v1/auth/register", "/v1/auth/login", "/v1/platform-stats"}
)


# /ingest/{token} is a plain ASGI route (api/ingest_route.py), invisible to Litestar's
# generator, so it is described here.
_INGEST_PATH = {
    "post": {
        "summary": "Receive a webhook",
        "operationId": "IngestWebhook",
        "description": "Any content type; the raw body is kept byte for byte. The path token "
        "is the credential. 202 once the event is stored; delivery follows.",
        "parameters": [
            {"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}
        ],
        "requestBody": {
            "required": False,
            "content": {
                "application/json": {"schema": {}},
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            },
        },
        "responses": {
            "202": {
                "description": "Stored (or a duplicate of an earlier event)",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["data"],
                            "properties": {
                                "data": {
                                    "type": "object",
                                    "required": ["id", "status"],
                                    "properties": {
                                        "id": {"type": "string"},
                                        "status": {"type": "string"},
                                    },
                                }
                            },
                        }
                    }
                },
            },
            "200": {
                "description": "A Slack source's signed url_verification: the challenge, "
                "answered and not stored",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["challenge"],
                            "properties": {"challenge": {"type": "string"}},
                        }
                    }
                },
            },
        },
    }
}


def body(struct_type: type, **more: Any) -> dict[str, Any]:
    """Handler ``opt`` naming the JSON body struct the handler decodes."""
    return {"body": struct_type, **more}


def query(parameters: dict[str, dict[str, Any]], **more: Any) -> dict[str, Any]:
    """Handler ``opt`` naming the query parameters (name → JSON schema) the handler reads."""
    return {"query": parameters, **more}


def build_openapi(app: Litestar) -> dict[str, Any]:
    document = copy.deepcopy(app.openapi_schema.to_schema())
    handlers = _documented_handlers(app)
    body_types = list({h.opt["body"]: None for _, _, h in handlers if "body" in h.opt})
    refs, components = msgspec.json.schema_components(body_types, ref_template=_REF)
    ref_of = dict(zip(body_types, refs, strict=True))
    document["paths"]["/ingest/{token}"] = copy.deepcopy(_INGEST_PATH)
    _document_responses(document["paths"]["/ingest/{token}"]["post"])
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(components)
    schemas["Error"] = {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string"}},
    }
    document["components"]["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "description": "hk_… API key"}
    }
    for path, method, handler in handlers:
        operation = document["paths"].get(path, {}).get(method)
        if operation is None:
            continue
        if "body" in handler.opt or handler.opt.get("raw_body"):
            operation["requestBody"] = _json_body(ref_of.get(handler.opt.get("body")), handler.opt)
        if "query" in handler.opt:
            operation.setdefault("parameters", []).extend(
                {"name": name, "in": "query", "required": False, "schema": schema}
                for name, schema in handler.opt["query"].items()
            )
        _document_responses(operation)
        if path.startswith("/v1/") and path not in _PUBLIC_PATHS:
            operation["security"] = [{"bearer": []}]
    # The event stream answers text/event-stream, also invisible to the generator. (Imported
    # here: api.stream uses this module's helpers.)
    from gethook_lite.api.stream import STREAM_OPENAPI, STREAM_PATH

    document["paths"][STREAM_PATH] = copy.deepcopy(STREAM_OPENAPI)
    _document_errors(document["paths"][STREAM_PATH]["get"])
    return document


def _documented_handlers(app: Litestar) -> list[tuple[str, str, Any]]:
    found = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            for method in handler.http_methods:
                if method not in ("OPTIONS", "HEAD"):
                    found.append((route.path_format, method.lower(), handler))
    return found


def _json_body(ref: dict | None, opt: dict) -> dict[str, Any]:
    if opt.get("raw_body"):
        # Ingest takes any content type and keeps the bytes as they are.
        return {
            "required": False,
            "content": {
                "application/json": {"schema": {}},
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    return {"required": not opt.get("body_optional", False),
            "content": {"application/json": {"schema": ref}}}  # fmt: skip


def _document_responses(operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    for status, response in list(responses.items()):
        if status.startswith("2") and status != "204":
            response["content"] = {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["data"],
                        "properties": {"data": {}},
                    }
                }
            }
    _document_errors(operation)


def _document_errors(operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    for status, description in _ERROR_STATUSES.items():
        responses.setdefault(
            status,
            {
                "description": description,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            },
        )


@get("/openapi.json", include_in_schema=False)
async def openapi_json(request: Request) -> dict:
    app = request.app
    if "openapi_document" not in app.state:
        app.state.openapi_document = build_openapi(app)
    return app.state.openapi_document
