"""What every signed-in page shares: the account, the navigation, the session's CSRF token."""

from __future__ import annotations

from typing import Any

from litestar import Response

from gethook_lite.context import Context
from gethook_lite.domain import accounts
from gethook_lite.web.render import html
from gethook_lite.web.sessions import WebSession

__all__ = ["NAV", "page"]

# (path, label) of the sidebar, in the order people use them.
NAV = (
    ("/", "Overview"),
    ("/events", "Events"),
    ("/sources", "Sources"),
    ("/destinations", "Destinations"),
    ("/routes", "Routes"),
    ("/api-keys", "API keys"),
    ("/exports", "Exports"),
    ("/domains", "Custom domains"),
    ("/brand", "Brand"),
)


async def page(
    ctx: Context,
    session: WebSession,
    template: str,
    active: str,
    *,
    status_code: int = 200,
    **context: Any,
) -> Response:
    account = await accounts.get_account(ctx, session.caller.account_id)
    return html(
        template,
        status_code=status_code,
        nav=NAV,
        active=active,
        account=account,
        session=session,
        can_write=session.can_write,
        csrf_token=session.csrf_token,
        **context,
    )
