"""GET /docs: the API reference as one HTML page, rendered on the server from /openapi.json.

No JavaScript and nothing fetched from another host: the page works offline, behind a strict
Content-Security-Policy and in a terminal browser. It is a Litestar OpenAPI render plugin, so
Litestar serves it beside the document it renders (``/docs/openapi.json``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from html import escape
from typing import Any

from litestar import Request
from litestar.enums import MediaType
from litestar.openapi.plugins import OpenAPIRenderPlugin

from gethook_lite.api.openapi import cached_document

__all__ = ["DocumentPlugin", "ReferencePlugin", "render_reference"]

_METHOD_ORDER = ("get", "post", "patch", "put", "delete")
_REF_PREFIX = "#/components/schemas/"
_LITERAL = re.compile(r"``?([^`]+)``?")
_STYLE = """
body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1d232a;background:#fbfbfc}
main{max-width:980px;margin:0 auto;padding:24px 32px 64px}
nav{columns:3;font-size:14px;margin:8px 0 24px}nav a{display:block}
h1{margin:0 0 4px}h2{margin-top:40px;border-bottom:2px solid #dde2e8;padding-bottom:4px}
section.op{background:#fff;border:1px solid #dde2e8;border-radius:6px;padding:4px 16px 12px;
margin:14px 0}
h3{font-size:16px;margin:12px 0 4px}h4{font-size:13px;margin:12px 0 4px;color:#56606b;
text-transform:uppercase;letter-spacing:.04em}
code{font:13px ui-monospace,monospace;background:#f0f2f5;padding:1px 4px;border-radius:3px}
.m{display:inline-block;min-width:58px;text-align:center;color:#fff;border-radius:3px;
font:bold 12px ui-monospace,monospace;padding:2px 6px;margin-right:8px}
.get{background:#2f7d4f}.post{background:#2b64b5}.patch{background:#a86a12}
.delete{background:#b23a3a}.put{background:#6b4bb5}
table{border-collapse:collapse;width:100%;font-size:14px}
td,th{border-top:1px solid #e6e9ee;padding:4px 8px;text-align:left;vertical-align:top}
th{color:#56606b;font-weight:600}.auth{color:#56606b;font-size:13px}a{color:#2b64b5}
"""


class ReferencePlugin(OpenAPIRenderPlugin):
    """Serves the HTML reference at the OpenAPI config's path (``/docs``)."""

    def __init__(self) -> None:
        super().__init__(path="/", media_type=MediaType.HTML)

    def render(self, request: Request, openapi_schema: dict[str, Any]) -> bytes:
        state = request.app.state
        if "reference_page" not in state:
            state.reference_page = render_reference(cached_document(request.app)).encode()
        return state.reference_page


class DocumentPlugin(OpenAPIRenderPlugin):
    """``/docs/openapi.json``: the same document as ``/openapi.json`` (Litestar would
    otherwise serve its own, without our additions, at this path)."""

    def __init__(self) -> None:
        super().__init__(path="/openapi.json", media_type=MediaType.JSON)

    def render(self, request: Request, openapi_schema: dict[str, Any]) -> bytes:
        return self.render_json(request, cached_document(request.app))


def render_reference(document: dict[str, Any]) -> str:
    """The whole page: operations grouped by resource, then every schema they use."""
    groups: dict[str, list[tuple[str, str, dict]]] = {}
    for path, operations in document["paths"].items():
        for method in _METHOD_ORDER:
            if method in operations:
                operation = operations[method]
                group = (operation.get("tags") or [_group_of(path)])[0]
                groups.setdefault(group, []).append((method, path, operation))
    info = document["info"]
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width,initial-scale=1'>",
        f"<title>{escape(info['title'])} API reference</title><style>{_STYLE}</style></head>",
        "<body><main>",
        f"<h1>{escape(info['title'])} API reference</h1>",
        f"<p>Version {escape(info['version'])}. Machine-readable: "
        "<a href='/openapi.json'>/openapi.json</a> (OpenAPI 3.1).</p>",
        '<p>Every success answers <code>{"data": …}</code>, every failure '
        '<code>{"error": "…"}</code> naming the field at fault. <code>/v1</code> endpoints '
        "take <code>Authorization: Bearer hk_…</code> unless marked public; unknown JSON "
        "fields are ignored.</p>",
        "<nav>",
        *(f"<a href='#{_anchor(name)}'>{escape(name)}</a>" for name in groups),
        "<a href='#schemas'>Schemas</a></nav>",
    ]
    for name, operations in groups.items():
        parts.append(f"<h2 id='{_anchor(name)}'>{escape(name)}</h2>")
        parts.extend(_operation(method, path, op) for method, path, op in operations)
    parts.append("<h2 id='schemas'>Schemas</h2>")
    for name, schema in sorted(document.get("components", {}).get("schemas", {}).items()):
        parts.append(_schema_section(name, schema))
    parts.append("</main></body></html>")
    return "\n".join(parts)


def _group_of(path: str) -> str:
    segments = [s for s in path.split("/") if s and s != "v1" and not s.startswith("{")]
    return (segments[0] if segments else "root").replace("-", " ").capitalize()


def _anchor(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _prose(text: str) -> str:
    return _LITERAL.sub(r"<code>\1</code>", escape(text, quote=False))


def _operation(method: str, path: str, op: dict[str, Any]) -> str:
    auth = "API key" if op.get("security") else "public"
    if path.startswith("/ingest/"):
        auth = "the path token"
    parts = [
        f"<section class='op' id='{_anchor(op.get('operationId', method + path))}'>",
        f"<h3><span class='m {method}'>{method.upper()}</span><code>{escape(path)}</code></h3>",
        f"<p><strong>{escape(op.get('summary', ''))}</strong> "
        f"<span class='auth'>· auth: {auth}</span></p>",
    ]
    if op.get("description"):
        parts.append(f"<p>{_prose(op['description'])}</p>")
    parameters = op.get("parameters", [])
    if parameters:
        rows = [
            (
                f"<code>{escape(p['name'])}</code>",
                p["in"],
                _type_of(p.get("schema", {})) + _bounds(p.get("schema", {})),
                "yes" if p.get("required") else "no",
                _prose(p.get("description", "")),
            )
            for p in parameters
        ]
        parts.append("<h4>Parameters</h4>" + _table(("name", "in", "type", "required", ""), rows))
    body = op.get("requestBody")
    if body:
        media = body.get("content", {})
        shown = ", ".join(
            f"{_type_of(m.get('schema', {}))} <span class='auth'>({escape(kind)})</span>"
            for kind, m in media.items()
        )
        optional = "" if body.get("required") else " <span class='auth'>(optional)</span>"
        parts.append(f"<h4>Request body{optional}</h4><p>{shown}</p>")
    successes: list[tuple[str, dict]] = []
    errors: list[tuple[str, dict]] = []
    for status, response in op.get("responses", {}).items():
        (successes if status < "400" else errors).append((status, response))
    responses = [
        (
            f"<code>{status}</code>",
            escape(response.get("description", "")),
            ", ".join(_type_of(m.get("schema", {})) for m in response.get("content", {}).values())
            or "no body",
        )
        for status, response in successes
    ]
    parts.append("<h4>Responses</h4>" + _table(("status", "", "body"), responses))
    if errors:
        codes = ", ".join(f"<code>{status}</code>" for status, _ in errors)
        parts.append(f"<p class='auth'>Errors ({_link('Error')}): {codes}</p>")
    parts.append("</section>")
    return "\n".join(parts)


def _schema_section(name: str, schema: dict[str, Any]) -> str:
    parts = [f"<section class='op' id='schema-{_anchor(name)}'><h3>{escape(name)}</h3>"]
    if schema.get("description"):
        parts.append(f"<p>{_prose(schema['description'])}</p>")
    required = set(schema.get("required", []))
    rows = [
        (
            f"<code>{escape(field)}</code>",
            _type_of(prop) + _bounds(prop),
            "yes" if field in required else "no",
            _prose(prop.get("description", "")),
        )
        for field, prop in schema.get("properties", {}).items()
    ]
    if rows:
        parts.append(_table(("field", "type", "required", ""), rows))
    else:
        parts.append(f"<p>{_type_of(schema)}</p>")
    parts.append("</section>")
    return "\n".join(parts)


def _table(headings: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    head = "".join(f"<th>{h}</th>" for h in headings)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _link(name: str) -> str:
    return f"<a href='#schema-{_anchor(name)}'>{escape(name)}</a>"


def _type_of(schema: dict[str, Any]) -> str:
    """A schema in a few linked words: ``Source``, ``array of Event``, ``string | null``."""
    if "$ref" in schema:
        return _link(schema["$ref"].removeprefix(_REF_PREFIX))
    for combiner in ("oneOf", "anyOf"):
        if combiner in schema:
            return " | ".join(_type_of(choice) for choice in schema[combiner])
    if "enum" in schema:
        values = [v for v in schema["enum"] if v is not None]
        shown = "one of " + ", ".join(f"<code>{escape(str(v))}</code>" for v in values)
        return shown + (" | null" if None in schema["enum"] else "")
    kind = schema.get("type")
    if isinstance(kind, list):
        return " | ".join(_type_of({**schema, "type": k}) for k in kind)
    if kind == "array":
        return f"array of {_type_of(schema.get('items', {}))}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        values = schema["additionalProperties"]
        return f"object of {_type_of(values)}" if values else "object"
    if kind is None:
        return "any JSON"
    shown = escape(str(kind))
    if schema.get("format"):
        shown += f" ({escape(schema['format'])})"
    return shown


def _bounds(schema: dict[str, Any]) -> str:
    notes = []
    if "minimum" in schema and "maximum" in schema:
        notes.append(f"{int(schema['minimum']):,} to {int(schema['maximum']):,}")
    if "maxLength" in schema:
        notes.append(f"≤ {schema['maxLength']} chars")
    if "default" in schema:
        notes.append(f"default {escape(str(schema['default']))}")
    if "enum" in schema and "oneOf" in schema:
        notes.append("one of " + ", ".join(escape(str(v)) for v in schema["enum"]))
    return f" <span class='auth'>({'; '.join(notes)})</span>" if notes else ""
