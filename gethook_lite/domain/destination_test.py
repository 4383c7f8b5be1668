"""Sending one test event to a destination now: the "send test event" button.

The sample goes out through the dispatcher the scheduler uses (same signing, auth, custom
headers, network policy and response cap), built into the same ``Claim`` a delivery is, so a
test proves exactly what a real delivery would do. It is answered, not recorded: see
``send_destination_test``.
"""

from __future__ import annotations

from dataclasses import dataclass

from gethook_lite.context import Context
from gethook_lite.db.deliveries import Claim
from gethook_lite.delivery.dispatch import AttemptResult
from gethook_lite.domain.accounts import Caller
from gethook_lite.domain.destinations import get_destination
from gethook_lite.errors import BadRequest, ServiceUnavailable, TooManyRequests
from gethook_lite.ids import new_id
from gethook_lite.retry_policy import DEFAULT_RETRY_POLICY
from gethook_lite.samples import InvalidEventType, build_sample

__all__ = ["DestinationTest", "send_destination_test"]


@dataclass(frozen=True, slots=True)
class DestinationTest:
    """A test sent to a destination and what its one attempt did."""

    event_id: str  # the webhook-id the receiver saw
    event_type: str
    attempt: AttemptResult


async def send_destination_test(
    ctx: Context, caller: Caller, destination_id: str, event_type: str | None
) -> DestinationTest:
    """Send a generic sample of ``event_type`` (default: the first generic sample type) to the
    caller's destination once, now, and answer with the attempt.

    Not recorded as an event: a delivery belongs to a route (and a destination being set up
    often has none yet), a recorded event would count in stats and exports and be retried,
    and the person who pressed the button reads the answer. One attempt, no retry: pressing
    again is the retry. A deactivated destination may be tested (that is when one fixes it).
    """
    destination = await get_destination(ctx, caller, destination_id)
    dispatcher = ctx.dispatcher
    if dispatcher is None:
        raise ServiceUnavailable("delivery is not running")
    now = ctx.clock.now()
    try:
        sample = build_sample("generic", event_type, now=now)
    except InvalidEventType as exc:
        raise BadRequest(str(exc)) from None
    event_id = new_id("evt")
    claim = Claim(
        delivery_id=0,
        event_id=event_id,
        account_id=caller.account_id,
        destination_id=destination["id"],
        route_id="",
        attempts_count=0,
        body=sample.body,
        content_type=sample.content_type,
        event_type=sample.event_type,
        url=destination["url"],
        timeout_seconds=destination["timeout_seconds"],
        auth_config_enc=destination["auth_config_enc"],
        custom_headers=destination["custom_headers"],
        signing_secret_enc=destination["signing_secret_enc"],
        previous_secret_enc=destination["previous_secret_enc"],
        previous_secret_expires_at=destination["previous_secret_expires_at"],
        destination_version=destination["updated_at"],
        retry_policy=DEFAULT_RETRY_POLICY,
        lease_expires_at=now + destination["timeout_seconds"],
    )
    # A test bypasses the scheduler's per-destination cap, so it gets its own: one at a time
    # per destination, or a key could keep any number of connections open to a receiver.
    if destination["id"] in ctx.destination_tests_in_flight:
        raise TooManyRequests(
            "a test of this destination is still waiting for its answer; try again when it has one",
            destination["timeout_seconds"],
        )
    ctx.destination_tests_in_flight.add(destination["id"])
    try:
        result = await dispatcher.send(claim)
    finally:
        ctx.destination_tests_in_flight.discard(destination["id"])
    return DestinationTest(event_id=event_id, event_type=sample.event_type, attempt=result)
