"""Sink sources' response plans, and GET /v1/events/wait (docs/sink.md)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Router, delete, get, put
from litestar.params import FromPath, JSONBody, Parameter, QueryParameter

from gethook_lite.api.common import (
    AUTH_GUARDS,
    AUTHENTICATED,
    Ctx,
    CurrentCaller,
    Envelope,
    ReadModel,
    enveloped,
)
from gethook_lite.api.events import Event
from gethook_lite.constants import EVENT_WAIT_PATH
from gethook_lite.domain import events, sink

__all__ = ["sink_router"]

MAX_FILTER_LENGTH = 255


class SetResponsePlan(msgspec.Struct, kw_only=True):
    """PUT /v1/sources/{id}/response-plan."""

    # The Nth captured request (N from 0) is answered statuses[min(N, len - 1)]. Required;
    # checked after the source is found, so another account's id is a 404 whatever the body.
    statuses: list[int] | None = None
    delay_ms: int = 0
    # The answer's body (JSON or text); null: the usual JSON answer.
    body: str | None = None


class ResponsePlan(ReadModel):
    """How a sink source answers: ``position`` requests were answered from ``statuses``
    since it was set (the last status repeats); ``scripted`` false is the default 202."""

    statuses: list[int]
    delay_ms: int
    body: str | None
    position: int
    scripted: bool


_PLAN_PATH = "/sources/{source_id:str}/response-plan"


@put(_PLAN_PATH, tags=["Sources"], summary="Script a sink source's answers")
async def set_response_plan(
    ctx: Ctx, caller: CurrentCaller, source_id: FromPath[str], data: JSONBody[SetResponsePlan]
) -> Envelope[ResponsePlan]:
    """Answer the sink source's next requests with these statuses in turn (then the last one
    forever), after ``delay_ms``, with ``body`` if given. Every request is still stored."""
    plan = await sink.set_response_plan(
        ctx, caller, source_id, data.statuses, data.delay_ms, data.body
    )
    return enveloped(sink.present_plan(plan), ResponsePlan)


@get(_PLAN_PATH, tags=["Sources"], summary="Get a sink source's response plan")
async def get_response_plan(
    ctx: Ctx, caller: CurrentCaller, source_id: FromPath[str]
) -> Envelope[ResponsePlan]:
    """The plan and how many requests it has answered (``position``)."""
    plan = await sink.get_response_plan(ctx, caller, source_id)
    return enveloped(sink.present_plan(plan), ResponsePlan)


@delete(_PLAN_PATH, tags=["Sources"], status_code=204, summary="Reset a sink source's answers")
async def reset_response_plan(ctx: Ctx, caller: CurrentCaller, source_id: FromPath[str]) -> None:
    """Back to the default answer: 202 with the usual envelope."""
    await sink.reset_response_plan(ctx, caller, source_id)


_Filter = Annotated[str | None, Parameter(max_length=MAX_FILTER_LENGTH)]


@get(EVENT_WAIT_PATH.removeprefix("/v1"), tags=["Events"], summary="Wait for inbound events")
async def wait_for_events(
    ctx: Ctx,
    caller: CurrentCaller,
    count: Annotated[
        int, Parameter(ge=1, le=sink.MAX_WAIT_COUNT, description="at least this many")
    ] = 1,
    source_id: _Filter = None,
    event_type: Annotated[
        str | None, Parameter(max_length=MAX_FILTER_LENGTH, description="a glob: * and ?")
    ] = None,
    after: Annotated[
        str | None, Parameter(max_length=MAX_FILTER_LENGTH, description="an event id cursor")
    ] = None,
    # Named so in the query; not ``timeout`` here, which reads as the handler's own deadline.
    wait_seconds: Annotated[
        float,
        # Bounds checked by the domain, whose error names the parameter as the client does.
        QueryParameter(
            name="timeout",
            description="seconds",
            schema_extra={"minimum": 0, "maximum": sink.MAX_WAIT_SECONDS},
        ),
    ] = 30.0,
) -> Envelope[list[Event]]:
    """Long poll: answers as soon as at least ``count`` inbound events matching the filters
    (after the ``after`` cursor) are stored, with every match (oldest first, at most 1000);
    408 with ``code: wait_timeout``, ``matched`` and ``arrived`` (counts by type) if
    ``timeout`` seconds pass first."""
    query = sink.parse_wait_query(count, source_id or None, event_type, after or None, wait_seconds)
    found = await sink.wait_for_events(ctx, caller, query)
    return enveloped([events.present_event(event) for event in found], list[Event])


sink_router = Router(
    "/v1",
    route_handlers=[set_response_plan, get_response_plan, reset_response_plan, wait_for_events],
    dependencies=AUTHENTICATED,
    guards=AUTH_GUARDS,
)
