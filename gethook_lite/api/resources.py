"""Sources, destinations, routes and their presets."""

from __future__ import annotations

import json
from typing import Any, Literal

import msgspec
from litestar import Router, delete, get, patch, post
from litestar.params import FromPath, JSONBody

from gethook_lite.api.common import (
    AUTH_GUARDS,
    AUTHENTICATED,
    Ctx,
    CurrentCaller,
    Envelope,
    ReadModel,
    enveloped,
)
from gethook_lite.clock import format_time
from gethook_lite.context import Context
from gethook_lite.domain import destination_control, destinations, domains, routes, sources
from gethook_lite.domain.destination_control import CircuitView, ControlView
from gethook_lite.domain.destination_pacing import present_rate_limit
from gethook_lite.presets import (
    DestinationPreset,
    ProviderPreset,
    destination_presets,
    provider_presets,
)

__all__ = ["resource_router"]


class CreateSource(msgspec.Struct, kw_only=True):
    """POST /v1/sources; ``provider`` may stand in for ``auth_mode``."""

    name: str
    auth_mode: str | None = None
    provider: str | None = None
    verification_config: dict[str, Any] | None = None
    custom_domain_id: str | None = None
    # Capture every request raw (any method, sub-paths, duplicates kept): docs/sink.md.
    sink: bool = False


class UpdateSource(msgspec.Struct, kw_only=True):
    """PATCH /v1/sources/{id}: rename, attach to a verified custom domain (null detaches), or
    change verification (``verification_config`` is merged into the current one)."""

    name: str | msgspec.UnsetType = msgspec.UNSET
    custom_domain_id: str | msgspec.UnsetType | None = msgspec.UNSET
    auth_mode: str | msgspec.UnsetType = msgspec.UNSET
    provider: str | None | msgspec.UnsetType = msgspec.UNSET
    verification_config: dict[str, Any] | None | msgspec.UnsetType = msgspec.UNSET
    sink: bool | msgspec.UnsetType = msgspec.UNSET


class CreateDestination(msgspec.Struct, kw_only=True):
    """POST /v1/destinations."""

    name: str
    url: str
    signing_secret: str | None = None
    timeout_seconds: int | None = None
    auth_config: dict[str, Any] | None = None
    custom_headers: dict[str, str] | None = None
    preset: str | None = None
    # Pass the original request's headers (minus hop-by-hop and credentials) along with ours.
    forward_original_headers: bool = False
    # Pacing: {"per_second": N} or {"per_minute": N}; attempts in flight at most; "fifo".
    rate_limit: dict[str, Any] | None = None
    max_concurrency: int | None = None
    ordering: str = "none"


class UpdateDestination(msgspec.Struct, kw_only=True):
    """PATCH /v1/destinations/{id}: null clears auth_config and custom_headers only."""

    # UNSET tells "not given" from null: only the fields present in the PATCH change.
    name: str | msgspec.UnsetType = msgspec.UNSET
    url: str | msgspec.UnsetType = msgspec.UNSET
    timeout_seconds: int | msgspec.UnsetType = msgspec.UNSET
    auth_config: dict[str, Any] | None | msgspec.UnsetType = msgspec.UNSET
    custom_headers: dict[str, str] | None | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET
    forward_original_headers: bool | msgspec.UnsetType = msgspec.UNSET
    rate_limit: dict[str, Any] | None | msgspec.UnsetType = msgspec.UNSET
    max_concurrency: int | None | msgspec.UnsetType = msgspec.UNSET
    ordering: str | msgspec.UnsetType = msgspec.UNSET


class CreateRoute(msgspec.Struct, kw_only=True):
    """POST /v1/routes; omitted retry_policy fields take the defaults."""

    destination_id: str
    source_id: str | None = None
    event_type_pattern: str | None = None
    retry_policy: dict[str, Any] | None = None
    # "fifo": this route's deliveries to its destination go one at a time, in event order.
    ordering: str = "none"


# -- read shapes ---------------------------------------------------------------------------


class Source(ReadModel):
    """A source: where a provider sends webhooks (``ingest_url``) and how they are verified."""

    id: str
    account_id: str
    name: str
    path_token: str
    # Absolute: the public base URL, or the verified custom domain, + /ingest/{path_token}.
    ingest_url: str
    status: str
    auth_mode: str
    provider: str | None
    # Secrets in it are masked; they can be set, never read back.
    verification_config: dict[str, Any] | None
    custom_domain_id: str | None
    # A sink captures every request raw: any method, sub-paths, duplicates kept (docs/sink.md).
    sink: bool
    created_at: str


class Destination(ReadModel):
    """A destination: where events are delivered, with its auth (secrets masked)."""

    id: str
    account_id: str
    name: str
    url: str
    active: bool
    timeout_seconds: int
    auth_config: dict[str, Any] | None
    custom_headers: dict[str, str] | None
    # Inbound events are delivered with the provider's own headers too (minus hop-by-hop
    # ones and credentials; ours win), so a receiver can check the provider's signature.
    forward_original_headers: bool
    # {"per_second": N} or {"per_minute": N}: never sent faster (null: no limit).
    rate_limit: dict[str, int] | None
    # Attempts in flight to it at most (null: delivery.per_destination_concurrency).
    max_concurrency: int | None
    # "fifo": one delivery at a time, in event order; a failing one blocks those behind it.
    ordering: Literal["none", "fifo"]
    preset: str | None
    created_at: str
    # Delivery control (README "Delivery control"): paused destinations and open circuits
    # hold their deliveries (status "held") instead of attempting them.
    paused: bool
    paused_at: str | None
    paused_reason: Literal["manual", "circuit_open_too_long"] | None
    circuit: CircuitView
    # Only in the answers to create and rotate-secret: shown once.
    signing_secret: str | msgspec.UnsetType = msgspec.UNSET


class RetryPolicy(ReadModel):
    """A route's full effective retry policy; waits in seconds."""

    max_attempts: int
    backoff: str
    initial_interval_seconds: int | float
    max_interval_seconds: int | float


class Route(ReadModel):
    """A route: which events (source, type glob) go to which destination, and how retried."""

    id: str
    account_id: str
    source_id: str | None
    destination_id: str
    event_type_pattern: str | None
    retry_policy: RetryPolicy
    # "fifo": its deliveries to the destination go one at a time, in event order.
    ordering: Literal["none", "fifo"]
    active: bool
    created_at: str


# -- presenters ----------------------------------------------------------------------------


def present_destination(
    ctx: Context, destination: dict, control: ControlView | None = None
) -> dict:
    """The API shape of a destination: auth secrets masked, the signing secret only when the
    caller just created or rotated it (the row then carries it in clear). ``control``: its
    pause and circuit state (a new destination's when not given)."""
    shaped = {
        **msgspec.to_builtins(control or destination_control.NEW_DESTINATION),
        "id": destination["id"],
        "account_id": destination["account_id"],
        "name": destination["name"],
        "url": destination["url"],
        "active": bool(destination["active"]),
        "timeout_seconds": destination["timeout_seconds"],
        "auth_config": destinations.masked_auth_config(ctx, destination),
        "custom_headers": destinations.decode_custom_headers(ctx, destination),
        "forward_original_headers": bool(destination["forward_original_headers"]),
        "rate_limit": present_rate_limit(destination),
        "max_concurrency": destination["max_concurrency"],
        "ordering": destination["ordering"],
        "preset": destination["preset"],
        "created_at": format_time(destination["created_at"]),
    }
    if "signing_secret" in destination:
        shaped["signing_secret"] = destination["signing_secret"]
    return shaped


def present_route(route: dict) -> dict:
    """The API shape of a route, with its full effective retry policy."""
    return {
        "id": route["id"],
        "account_id": route["account_id"],
        "source_id": route["source_id"],
        "destination_id": route["destination_id"],
        "event_type_pattern": route["event_type_pattern"],
        "retry_policy": _whole_numbers(json.loads(route["retry_policy"])),
        "ordering": route["ordering"],
        "active": bool(route["active"]),
        "created_at": format_time(route["created_at"]),
    }


def _whole_numbers(policy: dict) -> dict:
    """Whole seconds as JSON integers (5, not 5.0): clients may hold the waits as integers;
    a wait given in fractions of a second (0.2) stays as given."""
    return {
        key: int(value) if isinstance(value, float) and value.is_integer() else value
        for key, value in policy.items()
    }


# -- sources ---------------------------------------------------------------------------------


@post("/sources", tags=["Sources"], status_code=201, summary="Create a source")
async def create_source(
    ctx: Ctx, caller: CurrentCaller, data: JSONBody[CreateSource]
) -> Envelope[Source]:
    """Create a source; 201 with its ingest URL. ``provider`` (a preset id) may stand in for
    ``auth_mode``; ``verification_config`` holds the secret and settings the mode needs."""
    source = await sources.create_source(
        ctx,
        caller,
        name=data.name,
        auth_mode=data.auth_mode,
        provider=data.provider,
        verification_config=data.verification_config,
        custom_domain=await _domain_or_none(ctx, caller, data.custom_domain_id),
        sink=data.sink,
    )
    return enveloped(sources.present_source(ctx, source), Source)


async def _domain_or_none(ctx: Context, caller, domain_id: str | None) -> dict | None:
    return await domains.attachable_domain(ctx, caller, domain_id) if domain_id else None


@patch("/sources/{source_id:str}", tags=["Sources"], summary="Update a source")
async def update_source(
    ctx: Ctx, caller: CurrentCaller, source_id: FromPath[str], data: JSONBody[UpdateSource]
) -> Envelope[Source]:
    """Rename a source, attach it to a verified custom domain (null detaches), or change how
    its requests are verified (secrets settable, never returned)."""
    changes: dict[str, Any] = {}
    for field in ("name", "auth_mode", "provider", "verification_config", "sink"):
        if getattr(data, field) is not msgspec.UNSET:
            changes[field] = getattr(data, field)
    if data.custom_domain_id is not msgspec.UNSET:
        changes["custom_domain"] = await _domain_or_none(ctx, caller, data.custom_domain_id)
    source = await sources.update_source(ctx, caller, source_id, changes)
    return enveloped(sources.present_source(ctx, source), Source)


@get("/sources", tags=["Sources"], summary="List sources")
async def list_sources(ctx: Ctx, caller: CurrentCaller) -> Envelope[list[Source]]:
    """The caller's sources."""
    found = await sources.list_sources(ctx, caller)
    return enveloped([sources.present_source(ctx, source) for source in found], list[Source])


@get("/sources/{source_id:str}", tags=["Sources"], summary="Get a source")
async def get_source(ctx: Ctx, caller: CurrentCaller, source_id: FromPath[str]) -> Envelope[Source]:
    """One source; 404 for another account's id."""
    source = await sources.get_source(ctx, caller, source_id)
    return enveloped(sources.present_source(ctx, source), Source)


@delete("/sources/{source_id:str}", tags=["Sources"], status_code=204, summary="Delete a source")
async def delete_source(ctx: Ctx, caller: CurrentCaller, source_id: FromPath[str]) -> None:
    """Delete a source: its ingest URL answers 404 at once, its events stay."""
    await sources.delete_source(ctx, caller, source_id)


@get("/provider-presets", tags=["Sources"], sync_to_thread=False, summary="List provider presets")
def list_provider_presets(caller: CurrentCaller) -> Envelope[list[ProviderPreset]]:
    """The provider presets a source can verify, each with the sample event types
    POST /v1/sources/{id}/test-events can send."""
    # ``caller`` is unused but requested: presets are behind authentication like all of /v1.
    return Envelope(list(provider_presets()))


# -- destinations ------------------------------------------------------------------------------


@post("/destinations", tags=["Destinations"], status_code=201, summary="Create a destination")
async def create_destination(
    ctx: Ctx, caller: CurrentCaller, data: JSONBody[CreateDestination]
) -> Envelope[Destination]:
    """Create a destination; the answer is the only one with its signing secret (generated
    when not given). ``preset`` names a destination preset."""
    destination = await destinations.create_destination(
        ctx,
        caller,
        name=data.name,
        url=data.url,
        signing_secret=data.signing_secret,
        timeout_seconds=data.timeout_seconds,
        auth_config=data.auth_config,
        custom_headers=data.custom_headers,
        preset=data.preset,
        forward_original_headers=data.forward_original_headers,
        pacing={
            "rate_limit": data.rate_limit,
            "max_concurrency": data.max_concurrency,
            "ordering": data.ordering,
        },
    )
    return enveloped(present_destination(ctx, destination), Destination)


@get("/destinations", tags=["Destinations"], summary="List destinations")
async def list_destinations(ctx: Ctx, caller: CurrentCaller) -> Envelope[list[Destination]]:
    """The caller's destinations (secrets masked)."""
    found = await destinations.list_destinations(ctx, caller)
    views = await destination_control.control_views(ctx, [row["id"] for row in found])
    shaped = [present_destination(ctx, row, views[row["id"]]) for row in found]
    return enveloped(shaped, list[Destination])


@get("/destinations/{destination_id:str}", tags=["Destinations"], summary="Get a destination")
async def get_destination(
    ctx: Ctx, caller: CurrentCaller, destination_id: FromPath[str]
) -> Envelope[Destination]:
    """One destination (secrets masked); 404 for another account's id."""
    destination = await destinations.get_destination(ctx, caller, destination_id)
    return await with_control(ctx, destination)


async def with_control(ctx: Context, destination: dict) -> Envelope[Destination]:
    views = await destination_control.control_views(ctx, [destination["id"]])
    return enveloped(present_destination(ctx, destination, views[destination["id"]]), Destination)


@patch("/destinations/{destination_id:str}", tags=["Destinations"], summary="Update a destination")
async def update_destination(
    ctx: Ctx,
    caller: CurrentCaller,
    destination_id: FromPath[str],
    data: JSONBody[UpdateDestination],
) -> Envelope[Destination]:
    """Change only the fields present in the body; null clears auth_config and
    custom_headers."""
    given = {
        field: value
        for field in data.__struct_fields__
        if (value := getattr(data, field)) is not msgspec.UNSET
    }
    destination = await destinations.update_destination(ctx, caller, destination_id, given)
    return await with_control(ctx, destination)


@post(
    "/destinations/{destination_id:str}/rotate-secret",
    tags=["Destinations"],
    status_code=200,
    summary="Rotate a destination's signing secret",
)
async def rotate_destination_secret(
    ctx: Ctx, caller: CurrentCaller, destination_id: FromPath[str]
) -> Envelope[Destination]:
    """A new signing secret, shown once; the old one signs on for the grace period."""
    destination = await destinations.rotate_secret(ctx, caller, destination_id)
    return await with_control(ctx, destination)


@delete(
    "/destinations/{destination_id:str}",
    tags=["Destinations"],
    status_code=204,
    summary="Delete a destination",
)
async def delete_destination(
    ctx: Ctx, caller: CurrentCaller, destination_id: FromPath[str]
) -> None:
    """Delete a destination, its routes and its queued deliveries."""
    await destinations.delete_destination(ctx, caller, destination_id)


@get(
    "/destination-presets",
    tags=["Destinations"],
    sync_to_thread=False,
    summary="List destination presets",
)
def list_destination_presets(caller: CurrentCaller) -> Envelope[list[DestinationPreset]]:
    """The destination presets: kinds of delivery target with a URL hint and usual auth."""
    # ``caller`` is unused but requested: presets are behind authentication like all of /v1.
    return Envelope(list(destination_presets()))


# -- routes ------------------------------------------------------------------------------------


@post("/routes", tags=["Routes"], status_code=201, summary="Create a route")
async def create_route(
    ctx: Ctx, caller: CurrentCaller, data: JSONBody[CreateRoute]
) -> Envelope[Route]:
    """Create a route; both ids must be the caller's. No ``source_id``: it routes outbound
    events. Omitted retry_policy fields take the defaults."""
    route = await routes.create_route(
        ctx,
        caller,
        destination_id=data.destination_id,
        source_id=data.source_id,
        event_type_pattern=data.event_type_pattern,
        retry_policy=data.retry_policy,
        ordering=data.ordering,
    )
    return enveloped(present_route(route), Route)


@get("/routes", tags=["Routes"], summary="List routes")
async def list_routes(ctx: Ctx, caller: CurrentCaller) -> Envelope[list[Route]]:
    """The caller's routes."""
    found = await routes.list_routes(ctx, caller)
    return enveloped([present_route(route) for route in found], list[Route])


@delete("/routes/{route_id:str}", tags=["Routes"], status_code=204, summary="Delete a route")
async def delete_route(ctx: Ctx, caller: CurrentCaller, route_id: FromPath[str]) -> None:
    """Delete a route."""
    await routes.delete_route(ctx, caller, route_id)


resource_router = Router(
    "/v1",
    route_handlers=[
        create_source,
        list_sources,
        get_source,
        update_source,
        delete_source,
        list_provider_presets,
        create_destination,
        list_destinations,
        get_destination,
        update_destination,
        rotate_destination_secret,
        delete_destination,
        list_destination_presets,
        create_route,
        list_routes,
        delete_route,
    ],
    dependencies=AUTHENTICATED,
    guards=AUTH_GUARDS,
)
