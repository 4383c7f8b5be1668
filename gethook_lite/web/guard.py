"""The dashboard's guard: a session for every page, a CSRF token and the admin role for every
change. Separate from the API's Bearer guard (api/common.py), which it does not touch."""

from __future__ import annotations

from litestar import Request
from litestar.datastructures import FormMultiDict

from gethook_lite.context import Context
from gethook_lite.errors import Forbidden
from gethook_lite.web.sessions import WebSession, check_csrf, find_session

__all__ = ["SignInRequired", "action_session", "page_session"]


class SignInRequired(Exception):
    """No live session: pages redirect to the sign-in form."""


async def page_session(request: Request, ctx: Context) -> WebSession:
    session = await find_session(ctx, request)
    if session is None:
        raise SignInRequired
    return session


async def action_session(
    request: Request, ctx: Context, *, change: bool = True
) -> tuple[WebSession, FormMultiDict]:
    """A form POST: signed in, the session's CSRF token sent back, and (for a ``change``) the
    admin role; a viewer's POST is refused 403 even if a form was forged for it."""
    session = await page_session(request, ctx)
    form = await request.form()
    if not check_csrf(session.csrf_token, form.get("csrf_token")):
        raise Forbidden(
            "this form did not come from this dashboard session (missing or wrong CSRF token);"
            " reload the page and try again"
        )
    if change:
        session.caller.require_write()
    return session, form
