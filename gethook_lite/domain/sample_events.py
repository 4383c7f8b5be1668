"""Test events: a realistic sample, signed with a source's own secret, through the real ingest.

The sample goes through ``accept.ingest``, the function the ingest route calls, so it is
verified, typed, deduplicated, stored and routed exactly like a provider's request.
"""

from __future__ import annotations

from gethook_lite.context import Context
from gethook_lite.domain.accept import Captured, SlackChallenge, ingest
from gethook_lite.domain.accounts import Caller
from gethook_lite.domain.sources import get_source, live_source_for_token
from gethook_lite.errors import BadRequest, Conflict, NotFound, Unauthorized
from gethook_lite.ingest.verification import VerificationConfigError
from gethook_lite.samples import (
    InvalidEventType,
    build_sample,
    provider_for_auth_mode,
    sign_sample,
)

__all__ = ["TEST_EVENT_HEADER", "send_sample_event"]

# Marks the stored event as one we made, so it can be told apart from a provider's in listings.
TEST_EVENT_HEADER = (b"x-gethook-test-event", b"1")


async def send_sample_event(
    ctx: Context, caller: Caller, source_id: str, event_type: str | None
) -> tuple[str, str]:
    """Build, sign and ingest a sample for the caller's source; return (event id, status).

    ``event_type`` None means the provider's first sample type; a type without a hand-written
    sample gets a minimal valid envelope of that type (never an error).
    """
    source = await get_source(ctx, caller, source_id)
    # The source as ingest sees it, secrets decrypted: the sample is signed with them.
    live = await live_source_for_token(ctx, source["path_token"])
    if live is None:
        raise NotFound("source not found")
    now = ctx.clock.now()
    try:
        sample = build_sample(provider_for_auth_mode(live.auth_mode), event_type, now=now)
        request = sign_sample(sample, live.auth_mode, live.verification_config, now)
    except InvalidEventType as exc:
        raise BadRequest(str(exc)) from None
    except VerificationConfigError:
        raise Conflict("the source's verification settings are invalid; fix them first") from None
    try:
        result = await ingest(
            ctx, source["path_token"], [*request.raw_headers(), TEST_EVENT_HEADER], request.body
        )
    except Unauthorized as exc:
        # Our own signature was refused: the caller's API key is fine (not a 401), the
        # source's configuration is what cannot be met.
        raise Conflict(f"the test event was rejected: {exc.message}") from None
    if isinstance(result, SlackChallenge):
        # Only a url_verification body is answered so, and no sample is one.
        raise BadRequest("event_type: a Slack url_verification is not an event")
    if isinstance(result, Captured):  # a sink source's: stored like any capture
        return result.event_id, result.status
    return result
