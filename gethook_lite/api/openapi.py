"""The OpenAPI document served at /openapi.json: Litestar's, plus what it cannot express.

Litestar documents every handler from its signature: typed ``data:`` bodies, ``Parameter``
queries, ``Envelope[ReadStruct]`` answers, summaries and docstrings. This module adds what it
cannot know: the plain ASGI ingest route, the bearer security scheme, our error envelope
``{"error": "…"}`` on every failure (in place of Litestar's own 400 shape), and readable
names for the generic envelope's schemas.
"""

from __future__ import annotations

import copy
import inspect
import typing
from typing import Any

import msgspec
from litestar import Litestar, Request, get

__all__ = ["build_openapi", "cached_document", "openapi_json"]

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
        "tags": ["Ingest"],
        "operationId": "IngestWebhook",
        "description": "Any content type; the raw body is kept byte for byte. The path token "
        "is the credential. 202 once the event is stored; delivery follows. A sink source "
        "(`sink: true`) also takes any method and /ingest/{token}/any/sub/path, keeps "
        "duplicates, and answers as its response plan says.",
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


def build_openapi(app: Litestar) -> dict[str, Any]:
    document = copy.deepcopy(app.openapi_schema.to_schema())
    document = _rename_envelopes(document)
    _describe_structs(document, app)
    document["paths"]["/ingest/{token}"] = copy.deepcopy(_INGEST_PATH)
    # The event stream answers text/event-stream, which the generator cannot describe either.
    # (Imported here: api.stream imports this package's common helpers.)
    from gethook_lite.api.stream import STREAM_OPENAPI, STREAM_PATH

    document["paths"][STREAM_PATH] = copy.deepcopy(STREAM_OPENAPI)
    components = document.setdefault("components", {})
    components.setdefault("schemas", {})["Error"] = {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string", "description": "names the field at fault"}},
    }
    components["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "description": "hk_… API key"}
    }
    optional_bodies = _optional_bodies(app)
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            _document_errors(operation)
            for parameter in operation.get("parameters", []):
                _not_null(parameter["schema"])
            if (path, method) in optional_bodies and "requestBody" in operation:
                # ``data: JSONBody[X | None] = None``: Litestar still marks the body required.
                operation["requestBody"]["required"] = False
            if path.startswith("/v1/") and path not in _PUBLIC_PATHS:
                operation["security"] = [{"bearer": []}]
    return document


def _describe_structs(document: dict[str, Any], app: Litestar) -> None:
    """Each struct's docstring as its schema's description (Litestar gives only a title)."""
    schemas = document.get("components", {}).get("schemas", {})
    for struct in _structs_of(app):
        schema = schemas.get(struct.__name__)
        if schema is not None and struct.__doc__ and "description" not in schema:
            schema["description"] = inspect.cleandoc(struct.__doc__)


def _structs_of(app: Litestar) -> list[type[msgspec.Struct]]:
    """The structs the handlers take and return, and the structs inside them."""
    roots: list[Any] = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if getattr(handler, "parsed_data_field", None) is not None:
                roots.append(handler.parsed_data_field.annotation)
            if getattr(handler, "parsed_fn_signature", None) is not None:
                roots.append(handler.parsed_fn_signature.return_type.annotation)
    found: dict[type, None] = {}
    while roots:
        annotation = roots.pop()
        for arg in typing.get_args(annotation):
            roots.append(arg)
        origin = typing.get_origin(annotation) or annotation
        if isinstance(origin, type) and issubclass(origin, msgspec.Struct) and origin not in found:
            found[origin] = None
            hints = typing.get_type_hints(origin)
            roots.extend(hints.values())
    return list(found)


def _not_null(schema: dict[str, Any]) -> None:
    """A query parameter is absent or a string, never null: ``str | None`` becomes ``str``."""
    choices = schema.get("oneOf")
    if choices and {"type": "null"} in choices:
        rest = [choice for choice in choices if choice != {"type": "null"}]
        del schema["oneOf"]
        if len(rest) == 1:
            schema.update(rest[0])
        else:
            schema["oneOf"] = rest


def _optional_bodies(app: Litestar) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            field = getattr(handler, "parsed_data_field", None)
            if field is not None and field.is_optional:
                found.update((route.path_format, method.lower()) for method in handler.http_methods)
    return found


def _rename_envelopes(document: dict[str, Any]) -> dict[str, Any]:
    """``Envelope_gethook_lite.api.resources.Source_`` → ``SourceEnvelope``, and
    ``Envelope[list[Source]]`` → ``SourceListEnvelope``: names a client generator can use."""
    schemas = document.get("components", {}).get("schemas", {})
    renames = {}
    for key, schema in schemas.items():
        title = schema.get("title", "")
        if title.startswith("Envelope[") and title.endswith("]"):
            inner = title[len("Envelope[") : -1]
            if inner.startswith("list[") and inner.endswith("]"):
                inner = inner[len("list[") : -1] + "List"
            renames[key] = f"{inner}Envelope"
    if not renames:
        return document
    text = msgspec.json.encode(document).decode()
    for old, new in renames.items():
        text = text.replace(f'"#/components/schemas/{old}"', f'"#/components/schemas/{new}"')
    renamed = msgspec.json.decode(text)
    schemas = renamed["components"]["schemas"]
    for old, new in renames.items():
        schemas[new] = schemas.pop(old)
        schemas[new]["title"] = new
        schemas[new]["description"] = "The success envelope: the answer is in ``data``."
    return renamed


def _document_errors(operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    for status, description in _ERROR_STATUSES.items():
        # Replaces Litestar's own 400 (its ValidationException shape is not what we send).
        responses[status] = {
            "description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }


def cached_document(app: Litestar) -> dict[str, Any]:
    """The document, built once per app (routes do not change after start-up)."""
    if "openapi_document" not in app.state:
        app.state.openapi_document = build_openapi(app)
    return app.state.openapi_document


@get("/openapi.json", include_in_schema=False)
async def openapi_json(request: Request) -> dict:
    return cached_document(request.app)
