"""What every controller shares: request decoding, the success envelope, the caller, the
context.

Handlers declare their body as a typed ``data:`` parameter and their query parameters with
``Parameter(...)``, so Litestar both validates them and documents them in /openapi.json.
``ApiRequest`` makes the body decoding ours: strict (``"30"`` is not an int), empty means
``{}``, errors name the field, and JSON nested deeper than MAX_JSON_DEPTH is refused.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

import msgspec
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.handlers import BaseRouteHandler
from litestar.types import ASGIApp, Empty, Receive, Scope, Send

from gethook_lite.clock import format_time
from gethook_lite.constants import MAX_JSON_DEPTH
from gethook_lite.context import Context
from gethook_lite.domain.accounts import Caller, authenticate
from gethook_lite.errors import BadRequest

if TYPE_CHECKING:
    from litestar.types import HTTPScope

__all__ = [
    "AUTHENTICATED",
    "AUTH_GUARDS",
    "PUBLIC",
    "ApiRequest",
    "Ctx",
    "CurrentCaller",
    "Envelope",
    "ReadModel",
    "blank_query_values_middleware",
    "decode_body",
    "enveloped",
    "present_time",
    "provide_caller",
    "without_blank_values",
]

T = TypeVar("T")

# Handlers name what they need by these aliases; Litestar injects them by parameter name.
Ctx = NamedDependency[Context]
CurrentCaller = NamedDependency[Caller]

_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_AT_PATH = re.compile(r" - at `\$\.?(?P<path>[^`]*)`$")
_MISSING = re.compile(r"Object missing required field `(?P<field>[^`]+)`")
_EXPECTED = re.compile(r"Expected `(?P<want>[^`]+)`, got `(?P<got>[^`]+)`")


def provide_ctx(state: State) -> Context:
    return state.ctx


async def _authenticated(connection: ASGIConnection) -> Caller:
    """Authenticate the request; a viewer key may only read (403 on any write)."""
    ctx: Context = connection.app.state.ctx
    caller = await authenticate(ctx, connection.headers.get("authorization"))
    # Guards and dependencies here only run on HTTP routes, whose scope has a method.
    if cast("HTTPScope", connection.scope)["method"] not in _READ_METHODS:
        caller.require_write()
    return caller


async def require_caller(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """Guard: authenticate before Litestar decodes the body or the query, so that a request
    without a valid key is a 401 (or a viewer's write a 403) whatever else is wrong with it."""
    connection.state.caller = await _authenticated(connection)


async def provide_caller(request: Request) -> Caller:
    """The caller the guard authenticated (or, on a router without the guard, authenticate)."""
    caller = request.state.get("caller")
    return caller if caller is not None else await _authenticated(request)


PUBLIC = {"ctx": Provide(provide_ctx, sync_to_thread=False)}
AUTHENTICATED = {"caller": Provide(provide_caller)}
AUTH_GUARDS = [require_caller]


def decode_body(body: bytes, struct_type: type[T]) -> T:
    """Decode a JSON request body into ``struct_type``; errors name the offending field.

    An empty body is ``{}``: clients send POSTs with no body where every field is optional.
    """
    if not body.strip():
        body = b"{}"
    too_deep = f"request body nests JSON deeper than {MAX_JSON_DEPTH} levels"
    try:
        decoded = msgspec.json.decode(body, type=struct_type)
    except msgspec.ValidationError as exc:
        raise BadRequest(_describe_validation_error(str(exc))) from None
    except msgspec.DecodeError as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from None
    except RecursionError:
        # msgspec stops at Python's recursion limit (about 1,000 levels, fewer deep in a call).
        raise BadRequest(too_deep) from None
    # Fewer brackets than the limit cannot nest deeper than it: most bodies stop here.
    if body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH and _nests_deeper(
        decoded, MAX_JSON_DEPTH
    ):
        raise BadRequest(too_deep)
    return decoded


def _nests_deeper(value: object, limit: int) -> bool:
    """Whether what was decoded (unknown fields are already dropped) nests deeper than
    ``limit``; iterative, so depth cannot exhaust the stack here or in later encodes."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, msgspec.Struct):
            children = [getattr(item, name) for name in item.__struct_fields__]
        elif isinstance(item, dict):
            children = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            continue
        stack.extend((child, depth + 1) for child in children if isinstance(child, _NESTING))
    return False


_NESTING = (dict, list, msgspec.Struct)


def _describe_validation_error(message: str) -> str:
    """Turn msgspec's ``Expected `int`, got `str` - at `$.x``` into ``x: expected int, got str``."""
    path = ""
    match = _AT_PATH.search(message)
    if match:
        path = match.group("path")
        message = message[: match.start()]
    missing = _MISSING.match(message)
    if missing:
        field = f"{path}.{missing.group('field')}" if path else missing.group("field")
        return f"{field}: is required"
    expected = _EXPECTED.match(message)
    if expected:
        message = f"expected {expected.group('want')}, got {expected.group('got')}"
    elif message.startswith("Invalid enum value"):
        message = message.replace("Invalid enum value", "must be one of the allowed values, not")
    else:
        message = message[:1].lower() + message[1:]
    if not path:
        return f"request body: {message}"
    return f"{path}: {message}"


def present_time(value: float | None) -> str | None:
    return format_time(value)


class Envelope(msgspec.Struct, Generic[T]):
    """The success envelope, typed: ``Envelope[Source]`` documents ``{"data": Source}``."""

    data: T


def enveloped(value: Any, read_type: type[T]) -> Envelope[T]:
    """A domain presenter's dict (or list of them) as its read struct, in the envelope.

    Read structs forbid unknown fields: a presenter that grows a field the struct (and so the
    OpenAPI document) lacks fails loudly in the tests instead of silently leaving the wire.
    """
    return Envelope(msgspec.convert(value, read_type))


class ApiRequest(Request):
    """Litestar's request, with the handler's ``data:`` decoded strictly by ``decode_body``.

    Litestar would decode JSON to builtins and convert them leniently ("30" becomes 30), and
    its errors neither name nested fields nor match our envelope's wording; it also treats an
    empty body as missing, where our clients send none when every field is optional.
    """

    async def body(self) -> bytes:
        raw = await super().body()
        if not raw.strip() and self.route_handler.parsed_data_field is not None:
            # Litestar's JSON extractor reads an empty body as "no data"; ours is ``{}``.
            return b"{}"
        return raw

    async def json(self) -> Any:
        field = self.route_handler.parsed_data_field
        if field is None:
            return await super().json()
        if self._json is Empty:
            self._json = decode_body(await self.body(), field.annotation)
        return self._json


def blank_query_values_middleware(app: ASGIApp) -> ASGIApp:
    """Drop ``name=`` pairs from the query string: an empty value is an absent parameter
    (clients send unset filters as ``?status=&limit=``), so it takes the default rather
    than failing the parameter's type."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        query = scope.get("query_string", b"") if scope["type"] == "http" else b""
        if query:
            kept = without_blank_values(query)
            if kept is not query:
                scope = {**scope, "query_string": kept}  # type: ignore[assignment]
        await app(scope, receive, send)

    return middleware


def without_blank_values(query: bytes) -> bytes:
    """The query string without its ``name=`` pairs (``query`` itself when it has none)."""
    if b"=&" not in query and not query.endswith(b"="):
        return query
    return b"&".join(pair for pair in query.split(b"&") if not pair.endswith(b"=") or _valued(pair))


def _valued(pair: bytes) -> bool:
    """``cursor=abc=`` has a value (ending in ``=``); ``limit=`` has none."""
    return bool(pair.partition(b"=")[2])


class ReadModel(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Base of the read structs: a resource's shape on the wire, as documented."""
