"""What every controller shares: request decoding, the caller, the context."""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec
from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide

from gethook_lite.clock import format_time
from gethook_lite.constants import MAX_JSON_DEPTH
from gethook_lite.context import Context
from gethook_lite.domain.accounts import Caller, authenticate
from gethook_lite.errors import BadRequest

__all__ = [
    "AUTHENTICATED",
    "PUBLIC",
    "Ctx",
    "CurrentCaller",
    "data",
    "decode_body",
    "present_time",
    "provide_caller",
    "query_int",
    "query_str",
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


async def provide_caller(request: Request, ctx: Ctx) -> Caller:
    """Authenticate the request; a viewer key may only read (403 on any write)."""
    caller = await authenticate(ctx, request.headers.get("authorization"))
    if request.method not in _READ_METHODS:
        caller.require_write()
    return caller


PUBLIC = {"ctx": Provide(provide_ctx, sync_to_thread=False)}
AUTHENTICATED = {"caller": Provide(provide_caller)}


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
            children = item.values()
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


def query_int(request: Request, name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter within [low, high]; 400 naming it otherwise."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name}: must be an integer") from None
    if not low <= value <= high:
        raise BadRequest(f"{name}: must be between {low} and {high}")
    return value


def query_str(request: Request, name: str, max_length: int = 255) -> str | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if len(raw) > max_length:
        raise BadRequest(f"{name}: must be at most {max_length} characters")
    return raw


def data(value: Any) -> dict[str, Any]:
    """The success envelope."""
    return {"data": value}
