"""Customer portal sessions: a link an account hands one of its own customers, showing only
the destinations it names, with only the actions it grants, until it expires or is revoked.

The link carries 256 random bits; only their sha256 is stored. The portal acts through the
same domain functions as the API and dashboard, as a caller of the account whose role is
``admin`` only for the granted actions (each page checks the capability first).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from gethook_lite.constants import (
    PORTAL_MAX_DESTINATIONS,
    PORTAL_MAX_ORIGINS,
    PORTAL_SESSION_DEFAULT_SECONDS,
    PORTAL_SESSION_MAX_SECONDS,
    PORTAL_SESSION_MIN_SECONDS,
)
from gethook_lite.context import Context
from gethook_lite.db import portal_sessions as store
from gethook_lite.domain import destinations
from gethook_lite.domain.accounts import Caller
from gethook_lite.errors import BadRequest, DomainError, NotFound
from gethook_lite.ids import new_id

__all__ = [
    "CAPABILITIES",
    "PortalGone",
    "PortalSession",
    "create_portal_session",
    "event_deliveries",
    "event_destination_ids",
    "find_portal_session",
    "revoke_portal_session",
]

CAPABILITIES = ("view", "replay", "rotate_secret", "edit_url")


class PortalGone(DomainError):
    """The link expired or was revoked: a clear page, no data."""

    status_code = 410


@dataclass(frozen=True, slots=True)
class PortalSession:
    """A live portal session, as the portal pages use it."""

    id: str
    account_id: str
    destination_ids: tuple[str, ...]
    capabilities: frozenset[str]
    allowed_origins: tuple[str, ...]
    csrf_token: str
    expires_at: float

    def can(self, capability: str) -> bool:
        return capability in self.capabilities

    @property
    def caller(self) -> Caller:
        """Read-only, as the domain functions take it."""
        return Caller(account_id=self.account_id, key_id=f"portal:{self.id}", role="viewer")

    def acting_caller(self, capability: str) -> Caller:
        """A caller that may change things, for a granted action only."""
        if not self.can(capability):
            raise NotFound("this portal link does not offer that action")
        return Caller(account_id=self.account_id, key_id=f"portal:{self.id}", role="admin")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _origin(value: object) -> str:
    if not isinstance(value, str) or len(value) > 255:
        raise BadRequest("allowed_origins: each must be an origin such as https://app.example")
    parts = urlsplit(value.strip())
    if (
        parts.scheme not in ("https", "http")
        or not parts.hostname
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or parts.username
        or any(c in value for c in " ;,'\"")
    ):
        raise BadRequest(
            f"allowed_origins: {value!r} is not an origin (scheme://host[:port], no path)"
        )
    return f"{parts.scheme}://{parts.netloc.lower()}"


def _validated(
    destination_ids: list[str],
    capabilities: list[str] | None,
    expires_in_seconds: int | None,
    allowed_origins: list[str] | None,
) -> tuple[list[str], list[str], int, list[str]]:
    if not destination_ids:
        raise BadRequest("destination_ids: name at least one destination")
    if len(destination_ids) > PORTAL_MAX_DESTINATIONS:
        raise BadRequest(f"destination_ids: at most {PORTAL_MAX_DESTINATIONS}")
    unknown = [c for c in capabilities or [] if c not in CAPABILITIES]
    if unknown:
        raise BadRequest(f"capabilities: {unknown[0]!r} is not one of {', '.join(CAPABILITIES)}")
    granted = [c for c in CAPABILITIES if c == "view" or c in (capabilities or [])]
    seconds = PORTAL_SESSION_DEFAULT_SECONDS if expires_in_seconds is None else expires_in_seconds
    if not PORTAL_SESSION_MIN_SECONDS <= seconds <= PORTAL_SESSION_MAX_SECONDS:
        raise BadRequest(
            f"expires_in_seconds: must be between {PORTAL_SESSION_MIN_SECONDS} and "
            f"{PORTAL_SESSION_MAX_SECONDS}"
        )
    if len(allowed_origins or []) > PORTAL_MAX_ORIGINS:
        raise BadRequest(f"allowed_origins: at most {PORTAL_MAX_ORIGINS}")
    origins = list(dict.fromkeys(_origin(o) for o in allowed_origins or []))
    return list(dict.fromkeys(destination_ids)), granted, seconds, origins


async def create_portal_session(
    ctx: Context,
    caller: Caller,
    destination_ids: list[str],
    capabilities: list[str] | None = None,
    expires_in_seconds: int | None = None,
    allowed_origins: list[str] | None = None,
) -> tuple[dict, str]:
    """A new session (the stored row) and its token, shown once; 404 for a destination the
    account does not have."""
    caller.require_write()
    ids, granted, seconds, origins = _validated(
        destination_ids, capabilities, expires_in_seconds, allowed_origins
    )
    for destination_id in ids:
        try:
            await destinations.get_destination(ctx, caller, destination_id)
        except NotFound:
            raise NotFound(f"destination_ids: destination {destination_id} not found") from None
    token = secrets.token_urlsafe(32)
    now = ctx.clock.now()
    row = {
        "id": new_id("ps"),
        "account_id": caller.account_id,
        "token_hash": _hash(token),
        "destination_ids": json.dumps(ids),
        "capabilities": json.dumps(granted),
        "allowed_origins": json.dumps(origins),
        "csrf_token": secrets.token_urlsafe(32),
        "created_at": now,
        "expires_at": now + seconds,
        "revoked_at": None,
    }
    await ctx.db.write(store.insert_portal_session, row)
    return row, token


async def find_portal_session(ctx: Context, token: str) -> PortalSession:
    """The live session of a link: 404 for an unknown one, 410 once expired or revoked."""
    row = await ctx.db.read(store.find_by_token_hash, _hash(token)) if token else None
    if row is None:
        raise NotFound("this portal link does not exist")
    if row["revoked_at"] is not None:
        raise PortalGone("this portal link was revoked; ask for a new one")
    if row["expires_at"] <= ctx.clock.now():
        raise PortalGone("this portal link has expired; ask for a new one")
    return PortalSession(
        id=row["id"],
        account_id=row["account_id"],
        destination_ids=tuple(json.loads(row["destination_ids"])),
        capabilities=frozenset(json.loads(row["capabilities"])),
        allowed_origins=tuple(json.loads(row["allowed_origins"])),
        csrf_token=row["csrf_token"],
        expires_at=row["expires_at"],
    )


async def revoke_portal_session(ctx: Context, caller: Caller, session_id: str) -> None:
    caller.require_write()
    found = await ctx.db.write(
        store.revoke_portal_session, caller.account_id, session_id, ctx.clock.now()
    )
    if not found:
        raise NotFound("portal session not found")


async def event_destination_ids(ctx: Context, event_id: str) -> set[str]:
    return await ctx.db.read(store.event_destination_ids, event_id)


# A delivery's state in the words (and badge) the dashboard uses for events.
_DELIVERY_STATUS = {"succeeded": "delivered", "in_flight": "delivering"}


async def event_deliveries(ctx: Context, session: PortalSession, events: list[dict]) -> list[dict]:
    """One row per delivery of ``events`` to the session's destinations, newest event first:
    a customer sees how its own endpoints fared, not the event's state across the account."""
    rows = await ctx.db.read(
        store.event_deliveries, [e["id"] for e in events], list(session.destination_ids)
    )
    by_event: dict[str, list[dict]] = {}
    for row in rows:
        status = _DELIVERY_STATUS.get(row["status"], row["status"])
        if row["status"] == "pending" and row["attempts_count"]:
            status = "retry_scheduled"
        by_event.setdefault(row["event_id"], []).append({**row, "status": status})
    return [
        {"event": event, **delivery}
        for event in events
        for delivery in sorted(by_event.get(event["id"], []), key=lambda d: d["destination_id"])
    ]
