"""The customer portal at /portal/{token}: one customer's destinations, their deliveries and
attempts, and only the actions its session grants, under the account's brand.

No dashboard session here: the link's token is the credential (domain/portal.py). Every
response carries its own CSP, whose frame-ancestors lists the session's allowed origins
('none' when none, and on every error page). Forms post back with the session's CSRF token.
"""

from __future__ import annotations

import hmac
import re
from urllib.parse import urlsplit

from litestar import Request, Response, Router, get, post
from litestar.exceptions import HTTPException
from litestar.params import FromPath
from litestar.response import Redirect

from gethook_lite.api.common import Ctx
from gethook_lite.constants import PORTAL_EVENTS_PAGE_SIZE
from gethook_lite.context import Context
from gethook_lite.domain import destinations, events, portal
from gethook_lite.domain.branding import get_brand_settings
from gethook_lite.errors import DomainError, Forbidden, NotFound
from gethook_lite.web.render import body_view, html

__all__ = ["portal_router"]

_DIRECTIONS = ("outbound", "inbound")
_HOST = re.compile(r"^[A-Za-z0-9.-]+(:\d{1,5})?$")


def _csp(session: portal.PortalSession | None, logo_url: str | None = None) -> str:
    ancestors = " ".join(session.allowed_origins) if session and session.allowed_origins else ""
    logo = urlsplit(logo_url) if logo_url else None
    # Only a plain host[:port] goes into the header (the brand form checks less than a CSP needs).
    fits = logo is not None and _HOST.match(logo.netloc) is not None
    logo_origin = f" https://{logo.netloc}" if logo and fits else ""
    return (
        f"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:"
        f"{logo_origin}; connect-src 'self'; form-action 'self'; "
        f"frame-ancestors {ancestors or chr(39) + 'none' + chr(39)}; base-uri 'none'; "
        "object-src 'none'"
    )


def _headers(csp: str) -> dict[str, str]:
    # no-referrer: the token is in the URL; a logo fetched from elsewhere must not learn it.
    return {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


async def _brand(ctx: Context, session: portal.PortalSession) -> dict:
    try:
        return await get_brand_settings(ctx, session.caller)
    except NotFound:
        return {}


async def _view(
    ctx: Context, session: portal.PortalSession, template: str, status_code: int = 200, **more
) -> Response:
    brand = await _brand(ctx, session)
    return html(
        template,
        status_code=status_code,
        headers=_headers(_csp(session, brand.get("logo_url"))),
        brand=brand,
        portal=session,
        base=f"/portal/{more.pop('token')}",
        **more,
    )


async def _session(ctx: Context, token: str) -> portal.PortalSession:
    return await portal.find_portal_session(ctx, token)


async def _form_session(
    request: Request, ctx: Context, token: str, capability: str
) -> tuple[portal.PortalSession, dict]:
    session = await _session(ctx, token)
    form = await request.form()
    sent = form.get("csrf_token") or ""
    if not hmac.compare_digest(str(sent).encode(), session.csrf_token.encode()):
        raise Forbidden("this form did not come from this portal page; reload it and try again")
    session.acting_caller(capability)  # 404 when not granted
    return session, dict(form)


async def _own_destinations(ctx: Context, session: portal.PortalSession) -> list[dict]:
    found = []
    for destination_id in session.destination_ids:
        try:
            found.append(await destinations.get_destination(ctx, session.caller, destination_id))
        except NotFound:
            continue  # deleted since the link was made
    return found


async def _recent_events(ctx: Context, session: portal.PortalSession) -> list[dict]:
    """The newest events delivered to the session's destinations, both directions."""
    seen: dict[str, dict] = {}
    for destination_id in session.destination_ids:
        filters = events.parse_filters(None, None, None, None, None, destination_id=destination_id)
        for direction in _DIRECTIONS:
            items, _ = await events.list_events(
                ctx, session.caller, direction, filters, PORTAL_EVENTS_PAGE_SIZE, 0, count=False
            )
            seen.update((item["id"], item) for item in items)
    newest = sorted(seen.values(), key=lambda item: item["id"], reverse=True)
    return newest[:PORTAL_EVENTS_PAGE_SIZE]


async def _lists(ctx: Context, session: portal.PortalSession) -> dict:
    own = await _own_destinations(ctx, session)
    recent = await _recent_events(ctx, session)
    return {
        "destinations": own,
        "names": {destination["id"]: destination["name"] for destination in own},
        "deliveries": await portal.event_deliveries(ctx, session, recent),
    }


@get("/{token:str}")
async def portal_home(ctx: Ctx, token: FromPath[str], request: Request) -> Response:
    session = await _session(ctx, token)
    return await _view(
        ctx,
        session,
        "portal.html",
        token=token,
        **await _lists(ctx, session),
        new_secret=None,
        notice=request.query_params.get("notice", "")[:40],
    )


async def _visible_event(ctx: Context, session: portal.PortalSession, event_id: str):
    """The event and its attempts to the session's destinations; 404 for any other event."""
    allowed = set(session.destination_ids)
    if not allowed & await portal.event_destination_ids(ctx, event_id):
        raise NotFound("there is no such event here")
    for direction in _DIRECTIONS:
        try:
            event, attempts = await events.get_event(ctx, session.caller, direction, event_id)
        except NotFound:
            continue
        return event, [a for a in attempts if a["destination_id"] in allowed]
    raise NotFound("there is no such event here")


@get("/{token:str}/events/{event_id:str}")
async def portal_event(ctx: Ctx, token: FromPath[str], event_id: FromPath[str]) -> Response:
    session = await _session(ctx, token)
    event, attempts = await _visible_event(ctx, session, event_id)
    by_destination: dict[str, list[dict]] = {}
    for attempt in attempts:
        by_destination.setdefault(attempt["destination_id"], []).append(attempt)
    return await _view(
        ctx,
        session,
        "portal_event.html",
        token=token,
        event=event,
        body=body_view(event["body"], event["content_type"]),
        deliveries=by_destination,
        destinations={d["id"]: d for d in await _own_destinations(ctx, session)},
    )


@post("/{token:str}/events/{event_id:str}/replay", status_code=303)
async def portal_replay(
    request: Request, ctx: Ctx, token: FromPath[str], event_id: FromPath[str]
) -> Response:
    session, _ = await _form_session(request, ctx, token, "replay")
    event, _ = await _visible_event(ctx, session, event_id)
    replayed = await events.replay_event(
        ctx,
        session.acting_caller("replay"),
        event["direction"],
        event_id,
        only_destinations=frozenset(session.destination_ids),
    )
    return Redirect(f"/portal/{token}/events/{replayed['replay_event_id']}", status_code=303)


def _granted_destination(session: portal.PortalSession, destination_id: str) -> None:
    if destination_id not in session.destination_ids:
        raise NotFound("there is no such destination here")


@post("/{token:str}/destinations/{destination_id:str}/rotate-secret", status_code=200)
async def portal_rotate(
    request: Request, ctx: Ctx, token: FromPath[str], destination_id: FromPath[str]
) -> Response:
    """The new secret is shown once, on this answer (not a redirect: it is never stored)."""
    session, _ = await _form_session(request, ctx, token, "rotate_secret")
    _granted_destination(session, destination_id)
    rotated = await destinations.rotate_secret(
        ctx, session.acting_caller("rotate_secret"), destination_id
    )
    return await _view(
        ctx,
        session,
        "portal.html",
        token=token,
        **await _lists(ctx, session),
        new_secret={"destination": rotated["name"], "secret": rotated["signing_secret"]},
        notice="",
    )


@post("/{token:str}/destinations/{destination_id:str}/url", status_code=303)
async def portal_edit_url(
    request: Request, ctx: Ctx, token: FromPath[str], destination_id: FromPath[str]
) -> Response:
    session, form = await _form_session(request, ctx, token, "edit_url")
    _granted_destination(session, destination_id)
    await destinations.update_destination(
        ctx, session.acting_caller("edit_url"), destination_id, {"url": str(form.get("url", ""))}
    )
    return Redirect(f"/portal/{token}?notice=url-saved", status_code=303)


@get("/{token:str}/brand.css")
async def portal_brand_css(ctx: Ctx, token: FromPath[str]) -> Response:
    """The account's primary colour as a stylesheet: the CSP allows no inline style."""
    session = await _session(ctx, token)
    colour = (await _brand(ctx, session)).get("primary_color")  # validated #rrggbb on save
    css = f":root {{ --accent: {colour}; --portal-accent: {colour}; }}\n" if colour else ""
    return Response(
        css, media_type="text/css", headers={"Cache-Control": "no-store", **_headers(_csp(None))}
    )


def _error(status: int, message: str) -> Response:
    return html(
        "portal_error.html",
        status_code=status,
        headers=_headers(_csp(None)),
        status=status,
        message=message,
        brand={},
        portal=None,
        base="",
    )


def _domain_error(_: Request, exc: DomainError) -> Response:
    return _error(exc.status_code, exc.message)


def _http_exception(_: Request, exc: HTTPException) -> Response:
    status = exc.status_code
    return _error(status, "There is no such page." if status == 404 else "That did not work.")


portal_router = Router(
    "/portal",
    route_handlers=[
        portal_home,
        portal_event,
        portal_replay,
        portal_rotate,
        portal_edit_url,
        portal_brand_css,
    ],
    exception_handlers={DomainError: _domain_error, HTTPException: _http_exception},
    include_in_schema=False,
)
