"""Sign-in (email and password, or an API key) and sign-out."""

from __future__ import annotations

from litestar import Request, Response, get, post
from litestar.response import Redirect

from gethook_lite.api.common import Ctx
from gethook_lite.constants import WEB_SESSION_LIFETIME_SECONDS
from gethook_lite.errors import DomainError
from gethook_lite.web.guard import action_session
from gethook_lite.web.render import html
from gethook_lite.web.sessions import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    check_csrf,
    end_session,
    find_session,
    new_token,
    sign_in_with_key,
    sign_in_with_password,
)

__all__ = ["AUTH_HANDLERS"]


def _cookie_flags(request: Request) -> str:
    # uvicorn sets the scheme from X-Forwarded-Proto only for its trusted proxy addresses
    # (FORWARDED_ALLOW_IPS, 127.0.0.1 by default): a local TLS proxy makes the cookie Secure.
    secure = "; Secure" if request.url.scheme == "https" else ""
    return f"; Path=/; HttpOnly; SameSite=Lax{secure}"


def safe_next(value: str | None) -> str:
    """Where to go after sign-in: a path on this site only (never ``//host`` or a URL)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value[:2000]


def _login_form(request: Request, error: str | None = None, status_code: int = 200) -> Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE)
    headers = {}
    if not token or len(token) > 100:
        token = new_token()
        headers["Set-Cookie"] = f"{LOGIN_CSRF_COOKIE}={token}{_cookie_flags(request)}"
    return html(
        "login.html",
        status_code=status_code,
        headers=headers,
        login_csrf=token,
        next_path=safe_next(request.query_params.get("next")),
        error=error,
    )


@get("/login")
async def login_page(request: Request, ctx: Ctx) -> Response:
    if await find_session(ctx, request) is not None:
        return Redirect("/", status_code=303)
    return _login_form(request)


@post("/login", status_code=303)
async def login(request: Request, ctx: Ctx) -> Response:
    form = await request.form()
    if not check_csrf(request.cookies.get(LOGIN_CSRF_COOKIE), form.get("csrf_token")):
        return _login_form(request, "The sign-in form expired; please try again.", 403)
    client = request.client.host if request.client else "unknown"
    try:
        if form.get("api_key"):
            token = await sign_in_with_key(ctx, str(form.get("api_key")))
        else:
            email, password = str(form.get("email") or ""), str(form.get("password") or "")
            token = await sign_in_with_password(ctx, email, password, client)
    except DomainError as exc:
        response = _login_form(request, exc.message, exc.status_code)
        response.headers.update(exc.headers)
        return response
    cookie = (
        f"{SESSION_COOKIE}={token}{_cookie_flags(request)}; Max-Age={WEB_SESSION_LIFETIME_SECONDS}"
    )
    return Redirect(
        safe_next(str(form.get("next") or "/")), status_code=303, headers={"Set-Cookie": cookie}
    )


@post("/logout", status_code=303)
async def logout(request: Request, ctx: Ctx) -> Response:
    session, _ = await action_session(request, ctx, change=False)
    await end_session(ctx, session)
    cookie = f"{SESSION_COOKIE}={_cookie_flags(request)}; Max-Age=0"
    return Redirect("/login", status_code=303, headers={"Set-Cookie": cookie})


AUTH_HANDLERS = [login_page, login, logout]
