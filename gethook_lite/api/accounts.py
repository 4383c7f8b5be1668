"""Accounts, sign-up, login and API keys."""

from __future__ import annotations

from typing import Literal

import msgspec
from litestar import Request, Router, delete, get, post
from litestar.params import FromPath, JSONBody

from gethook_lite.api.common import (
    AUTH_GUARDS,
    AUTHENTICATED,
    Ctx,
    CurrentCaller,
    Envelope,
    ReadModel,
    enveloped,
    present_time,
)
from gethook_lite.domain import accounts
from gethook_lite.domain.signup import admit_signup

__all__ = ["api_key_router", "public_account_router"]


class CreateAccount(msgspec.Struct, kw_only=True):
    """POST /v1/accounts."""

    name: str


class Register(msgspec.Struct, kw_only=True):
    """POST /v1/auth/register: the login to create, with its account."""

    name: str
    email: str
    password: str


class Login(msgspec.Struct, kw_only=True):
    """POST /v1/auth/login."""

    email: str
    password: str


class CreateApiKey(msgspec.Struct, kw_only=True):
    """POST /v1/api-keys."""

    name: str
    # admin (default) or viewer: a viewer key may only read.
    role: str | None = None


class Account(ReadModel):
    """An account: every resource belongs to one."""

    id: str
    name: str
    plan: str
    email: str | None
    retention_days: int
    created_at: str


class ApiKey(ReadModel):
    """An API key; ``key`` (the full secret) only in the answer that created it."""

    id: str
    account_id: str
    user_id: str | None
    name: str
    role: Literal["admin", "viewer"]
    key_prefix: str
    created_at: str
    revoked_at: str | None
    key: str | msgspec.UnsetType = msgspec.UNSET


class AccountWithKey(ReadModel):
    """An account and a fresh API key, its secret shown once."""

    account: Account
    api_key: ApiKey


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


def _account_with_key(account: dict, key: dict) -> Envelope[AccountWithKey]:
    shaped = {"account": present_account(account), "api_key": present_api_key(key)}
    return enveloped(shaped, AccountWithKey)


def _client(request: Request) -> str:
    """The client's address, the key sign-up is throttled by."""
    return request.client.host if request.client else "unknown"


@post("/accounts", tags=["Accounts"], status_code=201, summary="Create an account")
async def create_account(
    request: Request, ctx: Ctx, data: JSONBody[CreateAccount]
) -> Envelope[AccountWithKey]:
    """Create an account and its bootstrap admin key (the secret is shown once). Open, or
    behind ``X-Signup-Token`` when the instance sets one."""
    admit_signup(ctx, _client(request), request.headers.get("x-signup-token"))
    account, key = await accounts.create_account(ctx, data.name)
    return _account_with_key(account, key)


@post(
    "/auth/register", tags=["Accounts"], status_code=201, summary="Register a user and an account"
)
async def register(
    request: Request, ctx: Ctx, data: JSONBody[Register]
) -> Envelope[AccountWithKey]:
    """Create an account with an email and password login, and a first admin key."""
    admit_signup(ctx, _client(request), request.headers.get("x-signup-token"))
    account, key = await accounts.register(ctx, data.name, data.email, data.password)
    return _account_with_key(account, key)


@post("/auth/login", tags=["Accounts"], status_code=200, summary="Log in")
async def login(request: Request, ctx: Ctx, data: JSONBody[Login]) -> Envelope[AccountWithKey]:
    """Check an email and password; a fresh API key on success. Throttled per email and
    client (429 with Retry-After)."""
    client = request.client.host if request.client else "unknown"
    account, key = await accounts.login(ctx, data.email, data.password, client)
    return _account_with_key(account, key)


@post("/api-keys", tags=["Accounts"], status_code=201, summary="Create an API key")
async def create_api_key(
    ctx: Ctx, caller: CurrentCaller, data: JSONBody[CreateApiKey]
) -> Envelope[ApiKey]:
    """A new key for the caller's account; the answer is the only one with its secret."""
    return enveloped(
        present_api_key(await accounts.create_api_key(ctx, caller, data.name, data.role)), ApiKey
    )


@get("/api-keys", tags=["Accounts"], summary="List API keys")
async def list_api_keys(ctx: Ctx, caller: CurrentCaller) -> Envelope[list[ApiKey]]:
    """The account's keys, revoked ones included; never their secrets."""
    found = await accounts.list_api_keys(ctx, caller)
    return enveloped([present_api_key(key) for key in found], list[ApiKey])


@delete("/api-keys/{key_id:str}", tags=["Accounts"], status_code=204, summary="Revoke an API key")
async def revoke_api_key(ctx: Ctx, caller: CurrentCaller, key_id: FromPath[str]) -> None:
    """The key stops working at once."""
    await accounts.revoke_api_key(ctx, caller, key_id)


public_account_router = Router("/v1", route_handlers=[create_account, register, login])
api_key_router = Router(
    "/v1",
    route_handlers=[create_api_key, list_api_keys, revoke_api_key],
    dependencies=AUTHENTICATED,
    guards=AUTH_GUARDS,
)
