"""Accounts, sign-up and login, API keys and the caller they authenticate."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

from gethook_lite.context import Context
from gethook_lite.db import accounts as store
from gethook_lite.domain.text import require_text
from gethook_lite.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    TooManyRequests,
    Unauthorized,
)
from gethook_lite.ids import new_id
from gethook_lite.secrets_box import (
    API_KEY_PREFIX,
    api_key_hash_matches,
    generate_api_key,
    hash_api_key,
    key_prefix,
)

__all__ = [
    "ROLES",
    "Caller",
    "authenticate",
    "create_account",
    "create_api_key",
    "list_api_keys",
    "login",
    "register",
    "revoke_api_key",
]

ROLES = ("admin", "viewer")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
MAX_EMAIL_LENGTH = 254


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: the account, the key used and its role."""

    account_id: str
    key_id: str
    role: str

    def require_write(self) -> None:
        if self.role != "admin":
            raise Forbidden("this API key has the viewer role and cannot make changes")


def _new_key_row(
    account_id: str, name: str, role: str, now: float, secret: str | None = None
) -> tuple[dict, str]:
    secret = secret or generate_api_key()
    row = {
        "id": new_id("key"),
        "account_id": account_id,
        "user_id": None,
        "name": name,
        "role": role,
        "key_prefix": key_prefix(secret),
        "key_hash": hash_api_key(secret),
        "created_at": now,
        "revoked_at": None,
    }
    return row, secret


def _insert_account_with_key(conn, account: dict, key: dict) -> None:
    if account["email"] is not None and store.email_taken(conn, account["email"]):
        raise Conflict("an account with this email already exists")
    store.insert_account(conn, account)
    store.insert_api_key(conn, key)


async def create_account(
    ctx: Context,
    name: str,
    *,
    email: str | None = None,
    password: str | None = None,
    key_name: str = "bootstrap",
    api_key: str | None = None,
) -> tuple[dict, dict]:
    """Create an account and its first admin key; return (account, key row with ``key``).

    ``api_key`` chooses that key (``gethook sink --api-key``: a CI job knows it in advance);
    otherwise one is generated.
    """
    name = require_text(name, "name")
    if api_key is not None and not _chosen_key_ok(api_key):
        raise BadRequest(
            f"api key: must be {API_KEY_PREFIX} followed by {MIN_CHOSEN_KEY_LENGTH} to 100"
            " letters and digits"
        )
    now = ctx.clock.now()
    # Argon2 takes tens of milliseconds on purpose: keep it off the event loop.
    password_hash = await asyncio.to_thread(ctx.passwords.hash, password) if password else None
    account_id = new_id("acct")
    account = {
        "id": account_id,
        "name": name,
        "email": email,
        "password_hash": password_hash,
        "retention_days": ctx.settings.accounts.default_retention_days,
        "created_at": now,
    }
    key, secret = _new_key_row(account_id, key_name, "admin", now, api_key)
    await ctx.db.write(_insert_account_with_key, account, key)
    return account, {**key, "key": secret}


# A chosen key is still the account's only credential: long enough not to be guessed.
MIN_CHOSEN_KEY_LENGTH = 16
_CHOSEN_KEY = re.compile(r"[A-Za-z0-9]+")


def _chosen_key_ok(key: str) -> bool:
    rest = key.removeprefix(API_KEY_PREFIX)
    return (
        key.startswith(API_KEY_PREFIX)
        and MIN_CHOSEN_KEY_LENGTH <= len(rest) <= 100
        and _CHOSEN_KEY.fullmatch(rest) is not None
    )


def check_signup_allowed(ctx: Context, signup_token: str | None) -> None:
    """Apply the instance's sign-up policy (open, token, closed)."""
    policy = ctx.settings.signup_policy
    if policy == "closed":
        raise Forbidden("sign-up is closed on this instance; ask the operator for an account")
    if policy == "token" and signup_token != ctx.settings.accounts.signup_token:
        raise Forbidden("sign-up needs a valid signup token (X-Signup-Token header)")


async def register(ctx: Context, name: str, email: str, password: str) -> tuple[dict, dict]:
    """Sign up with email and password."""
    email = _normalise_email(email)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise BadRequest(f"password: must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise BadRequest(f"password: must be at most {MAX_PASSWORD_LENGTH} characters")
    return await create_account(ctx, name, email=email, password=password, key_name="login")


async def login(ctx: Context, email: str, password: str, client: str) -> tuple[dict, dict]:
    """Check email and password; return the account and a fresh admin key."""
    email = email.strip().lower()
    if len(email) > MAX_EMAIL_LENGTH:
        # No account can have it; answered before the throttle so it cannot fill its tables
        # with megabyte-long keys.
        raise Unauthorized("invalid email or password")
    # Throttled per email *and* client, so nobody can lock the owner out (domain/throttle.py).
    wait = ctx.login_throttle.begin(email, client)
    if wait:
        raise TooManyRequests("too many failed logins from this address; try again later", wait)
    try:
        account = await _check_password(ctx, email, password)
    except BaseException:
        ctx.login_throttle.abandon(email, client)  # not the caller's failure: do not count it
        raise
    if account is None:
        raise Unauthorized("invalid email or password")  # begin() counted it already
    ctx.login_throttle.succeeded(email, client)
    key, secret = _new_key_row(account["id"], "login", "admin", ctx.clock.now())
    await ctx.db.write(store.insert_api_key, key)
    return account, {**key, "key": secret}


async def _check_password(ctx: Context, email: str, password: str) -> dict | None:
    """The account when ``password`` is its password, else None."""
    account = await ctx.db.read(store.find_account_by_email, email)
    stored_hash = account["password_hash"] if account else None
    if len(password) > MAX_PASSWORD_LENGTH:
        return None  # register() refuses such passwords: no need to hash a megabyte
    # Verify against a dummy hash when the account does not exist, so the answer takes as
    # long either way and does not reveal which emails have accounts.
    ok = await asyncio.to_thread(
        ctx.passwords.verify, stored_hash or await _dummy_hash(ctx), password
    )
    return account if account and stored_hash and ok else None


async def _dummy_hash(ctx: Context) -> str:
    if ctx.dummy_password_hash is None:
        ctx.dummy_password_hash = await asyncio.to_thread(ctx.passwords.hash, "not a real password")
    return ctx.dummy_password_hash


async def authenticate(ctx: Context, authorization: str | None) -> Caller:
    """Turn an ``Authorization: Bearer hk_…`` header into a Caller, or raise 401."""
    if not authorization:
        raise Unauthorized("missing API key: send Authorization: Bearer hk_...")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token.startswith(API_KEY_PREFIX) or len(token) > 200:
        raise Unauthorized("malformed Authorization header: expected Bearer hk_...")
    # Looked up by the hash, so the database never compares the secret itself.
    key = await ctx.db.read(store.find_key_by_hash, hash_api_key(token))
    # The lookup compares hashes, never the secret; the re-check is constant-time anyway.
    if (
        key is None
        or key["revoked_at"] is not None
        or not api_key_hash_matches(token, key["key_hash"])
    ):
        raise Unauthorized("invalid or revoked API key")
    return Caller(account_id=key["account_id"], key_id=key["id"], role=key["role"])


async def create_api_key(ctx: Context, caller: Caller, name: str, role: str | None) -> dict:
    name = require_text(name, "name")
    role = role or "admin"
    if role not in ROLES:
        raise BadRequest(f"role: must be one of {', '.join(ROLES)}")
    key, secret = _new_key_row(caller.account_id, name, role, ctx.clock.now())
    await ctx.db.write(store.insert_api_key, key)
    return {**key, "key": secret}


async def list_api_keys(ctx: Context, caller: Caller) -> list[dict]:
    return await ctx.db.read(store.list_api_keys, caller.account_id)


async def revoke_api_key(ctx: Context, caller: Caller, key_id: str) -> None:
    revoked = await ctx.db.write(store.revoke_api_key, caller.account_id, key_id, ctx.clock.now())
    if not revoked:
        raise NotFound("API key not found")


async def get_account(ctx: Context, account_id: str) -> dict:
    account = await ctx.db.read(store.get_account, account_id)
    if account is None:
        raise NotFound("account not found")
    return account


def _normalise_email(email: str) -> str:
    email = email.strip().lower()
    if not _EMAIL.match(email) or len(email) > MAX_EMAIL_LENGTH:
        raise BadRequest("email: must be an email address")
    return email
