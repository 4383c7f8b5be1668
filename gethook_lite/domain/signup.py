"""Sign-up on the open internet: who may create accounts, and how fast.

The policy (``accounts.signup``) says whether anyone may; the throttle bounds how many accounts
one client address creates per hour (``accounts.signups_per_client``), so an open instance is
not filled with accounts by one script. Sign-ups and failed logins are counted apart
(domain/throttle.py).
"""

from __future__ import annotations

from gethook_lite.constants import SIGNUP_LIMIT_WINDOW_SECONDS
from gethook_lite.context import Context
from gethook_lite.domain.accounts import check_signup_allowed
from gethook_lite.domain.throttle import SlidingWindowLimit, client_key
from gethook_lite.errors import TooManyRequests

__all__ = ["admit_signup"]


def admit_signup(ctx: Context, client: str, signup_token: str | None) -> None:
    """403 when the policy refuses sign-up, 429 when ``client`` has signed up too often."""
    check_signup_allowed(ctx, signup_token)
    limit = ctx.settings.accounts.signups_per_client
    if not limit:
        return
    # Every admitted attempt counts (also one that then fails, e.g. on a taken email): what is
    # bounded is the work and the probing one client can do.
    wait = _throttle(ctx, limit).admit(client_key(client))
    if wait:
        raise TooManyRequests("too many sign-ups from this address; try again later", wait)


def _throttle(ctx: Context, limit: int) -> SlidingWindowLimit:
    if ctx.signup_limit is None:
        ctx.signup_limit = SlidingWindowLimit(
            ctx.clock, limit=limit, window_seconds=SIGNUP_LIMIT_WINDOW_SECONDS
        )
    return ctx.signup_limit
