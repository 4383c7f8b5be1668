"""Accounts, sign-up, login and API keys."""

from __future__ import annotations

import msgspec
from litestar import Request, Router, delete, get, post
from litestar.params import FromPath

from gethook_lite.api import openapi
from gethook_lite.api.common import (
    AUTHENTICATED,
    Ctx,
    CurrentCaller,
    data,
    decode_body,
    present_time,
)
from gethook_lite.domain import accounts
from gethook_lite.domain.signup import admit_signup

__all__ = ["api_key_router", "public_account_router"]


class CreateAccount(msgspec.Struct, kw_only=True):
    name: str


class Register(msgspec.Struct, kw_only=True):
    name: str
    email: str
    password: str


class Login(msgspec.Struct, kw_only=True):
    email: str
    password: str


class CreateApiKey(msgspec.Struct, kw_only=True):
    name: str
    role: str | None = None


def present_account(account: dict) -> dict:
    return {
        "id": account["id"],
        "name": account["name"],
        "plan": "self_hosted",
        "email": account["email"],
        "retention_days": account["retention_days"],
        "created_at": present_time(account["created_at"]),
    }


def present_api_key(key: dict) -> dict:
    shaped = {
        "id": key["id"],
        "account_id": key["account_id"],
        "user_id": key["user_id"],
        "name": key["name"],
        "role": key["role"],
        "key_prefix": key["key_prefix"],
        "created_at": present_time(key["created_at"]),
        "revoked_at": present_time(key["revoked_at"]),
    }
    if "key" in key:
        shaped["key"] = key["key"]
    return shaped


def _account_with_key(account: dict, key: dict) -> dict:
    return data({"account": present_account(account), "api_key": present_api_key(key)})


def _client(request: Request) -> str:
    """The client's address, the key sign-up is throttled by."""
    return request.client.host if request.client else "unknown"


@post("/accounts", status_code=201, opt=openapi.body(CreateAccount))
async def create_account(request: Request, ctx: Ctx) -> dict:
    body = decode_body(await request.body(), CreateAccount)
    admit_signup(ctx, _client(request), request.headers.get("x-signup-token"))
    account, key = await accounts.create_account(ctx, body.name)
    return _account_with_key(account, key)


@post("/auth/register", status_code=201, opt=openapi.body(Register))
async def register(request: Request, ctx: Ctx) -> dict:
    body = decode_body(await request.body(), Register)
    admit_signup(ctx, _client(request), request.headers.get("x-signup-token"))
    account, key = await accounts.register(ctx, body.name, body.email, body.password)
    return _account_with_key(account, key)


@post("/auth/login", status_code=200, opt=openapi.body(Login))
async def login(request: Request, ctx: Ctx) -> dict:
    body = decode_body(await request.body(), Login)
    client = request.client.host if request.client else "unknown"
    account, key = await accounts.login(ctx, body.email, body.password, client)
    return _account_with_key(account, key)


@post("/api-keys", status_code=201, opt=openapi.body(CreateApiKey))
async def create_api_key(request: Request, ctx: Ctx, caller: CurrentCaller) -> dict:
    body = decode_body(await request.body(), CreateApiKey)
    return data(present_api_key(await accounts.create_api_key(ctx, caller, body.name, body.role)))


@get("/api-keys")
async def list_api_keys(ctx: Ctx, caller: CurrentCaller) -> dict:
    return data([present_api_key(key) for key in await accounts.list_api_keys(ctx, caller)])


@delete("/api-keys/{key_id:str}", status_code=204)
async def revoke_api_key(ctx: Ctx, caller: CurrentCaller, key_id: FromPath[str]) -> None:
    await accounts.revoke_api_key(ctx, caller, key_id)


public_account_router = Router("/v1", route_handlers=[create_account, register, login])
api_key_router = Router(
    "/v1",
    route_handlers=[create_api_key, list_api_keys, revoke_api_key],
    dependencies=AUTHENTICATED,
)
