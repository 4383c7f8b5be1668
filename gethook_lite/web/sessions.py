"""Dashboard sign-in: server-side sessions in the database, keyed by a random cookie token.

Why the database and not a signed cookie: signing out (or revoking the API key a session was
made from) must end the session at once, which a self-contained cookie cannot do. The cookie
holds 256 random bits; only their sha256 is stored. A session stands for one API key: the key
made by an email/password sign-in (``accounts.login``, throttle included; revoked again at
sign-out) or the key pasted into the sign-in form. Its role is read from the key on every
request, so demoting or revoking a key takes effect on the next page.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from litestar import Request

from gethook_lite.constants import WEB_SESSION_LIFETIME_SECONDS
from gethook_lite.context import Context
from gethook_lite.db import web_sessions as store
from gethook_lite.domain import accounts
from gethook_lite.domain.accounts import Caller

__all__ = [
    "LOGIN_CSRF_COOKIE",
    "SESSION_COOKIE",
    "WebSession",
    "check_csrf",
    "end_session",
    "find_session",
    "new_token",
    "sign_in_with_key",
    "sign_in_with_password",
]

SESSION_COOKIE = "gethook_session"
# The sign-in form has no session yet: it is protected by a double-submit cookie instead.
LOGIN_CSRF_COOKIE = "gethook_login_csrf"


@dataclass(frozen=True, slots=True)
class WebSession:
    """A signed-in dashboard user: the caller the domain functions take, and the CSRF token
    every form of this session must send back."""

    caller: Caller
    csrf_token: str
    token_hash: str
    owns_key: bool

    @property
    def can_write(self) -> bool:
        return self.caller.role == "admin"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def _open_session(ctx: Context, account_id: str, key_id: str, owns_key: bool) -> str:
    token, now = new_token(), ctx.clock.now()
    session = {
        "token_hash": _hash(token),
        "account_id": account_id,
        "key_id": key_id,
        "owns_key": int(owns_key),
        "csrf_token": new_token(),
        "created_at": now,
        "expires_at": now + WEB_SESSION_LIFETIME_SECONDS,
    }
    await ctx.db.write(store.insert_session, session, now)
    return token


async def sign_in_with_password(ctx: Context, email: str, password: str, client: str) -> str:
    """The API's login (same checks, same throttle); return the new session's cookie token."""
    account, key = await accounts.login(ctx, email, password, client)
    return await _open_session(ctx, account["id"], key["id"], owns_key=True)


async def sign_in_with_key(ctx: Context, api_key: str) -> str:
    """Sign in with an existing API key (admin or viewer); return the cookie token."""
    caller = await accounts.authenticate(ctx, f"Bearer {api_key.strip()}")
    return await _open_session(ctx, caller.account_id, caller.key_id, owns_key=False)


async def find_session(ctx: Context, request: Request) -> WebSession | None:
    """The request's live session, or None (no cookie, unknown, expired, key revoked)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token or len(token) > 100:
        return None
    token_hash = _hash(token)
    row = await ctx.db.read(store.find_session, token_hash, ctx.clock.now())
    if row is None:
        return None
    caller = Caller(account_id=row["account_id"], key_id=row["key_id"], role=row["role"])
    return WebSession(
        caller=caller,
        csrf_token=row["csrf_token"],
        token_hash=token_hash,
        owns_key=bool(row["owns_key"]),
    )


async def end_session(ctx: Context, session: WebSession) -> None:
    """Sign out: forget the session, and revoke the key that was made for it."""
    await ctx.db.write(store.delete_session, session.token_hash)
    if session.owns_key:
        await accounts.revoke_api_key(ctx, session.caller, session.caller.key_id)


def check_csrf(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison of a form's CSRF token with the one we issued."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())
