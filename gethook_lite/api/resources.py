"""Sources, destinations, routes and their presets."""

from __future__ import annotations

import json
from typing import Any

import msgspec
from litestar import Request, Router, delete, get, patch, post
from litestar.params import FromPath

from gethook_lite.api import openapi
from gethook_lite.api.common import AUTHENTICATED, Ctx, CurrentCaller, data, decode_body
from gethook_lite.clock import format_time
from gethook_lite.context import Context
from gethook_lite.domain import destinations, domains, routes, sources
from gethook_lite.presets import destination_presets, provider_presets

__all__ = ["resource_router"]


class CreateSource(msgspec.Struct, kw_only=True):
    """POST /v1/sources; ``provider`` may stand in for ``auth_mode``."""

    name: str
    auth_mode: str | None = None
    provider: str | None = None
    verification_config: dict[str, Any] | None = None
    custom_domain_id: str | None = None


class UpdateSource(msgspec.Struct, kw_only=True):
    """PATCH /v1/sources/{id}: rename, attach to a verified custom domain (null detaches), or
    change verification (``verification_config`` is merged into the current one)."""

    name: str | msgspec.UnsetType = msgspec.UNSET
    custom_domain_id: str | msgspec.UnsetType | None = msgspec.UNSET
    auth_mode: str | msgspec.UnsetType = msgspec.UNSET
    provider: str | None | msgspec.UnsetType = msgspec.UNSET
    verification_config: dict[str, Any] | None | msgspec.UnsetType = msgspec.UNSET


class CreateDestination(msgspec.Struct, kw_only=True):
    """POST /v1/destinations."""

    name: str
    url: str
    signing_secret: str | None = None
    timeout_seconds: int | None = None
    auth_config: dict[str, Any] | None = None
    custom_headers: dict[str, str] | None = None
    preset: str | None = None


class UpdateDestination(msgspec.Struct, kw_only=True):
    """PATCH /v1/destinations/{id}: null clears auth_config and custom_headers only."""

    # UNSET tells "not given" from null: only the fields present in the PATCH change.
    name: str | msgspec.UnsetType = msgspec.UNSET
    url: str | msgspec.UnsetType = msgspec.UNSET
    timeout_seconds: int | msgspec.UnsetType = msgspec.UNSET
    auth_config: dict[str, Any] | None | msgspec.UnsetType = msgspec.UNSET
    custom_headers: dict[str, str] | None | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET


class CreateRoute(msgspec.Struct, kw_only=True):
    """POST /v1/routes; omitted retry_policy fields take the defaults."""

    destination_id: str
    source_id: str | None = None
    event_type_pattern: str | None = None
    retry_policy: dict[str, Any] | None = None


# -- presenters ----------------------------------------------------------------------------


def present_destination(ctx: Context, destination: dict) -> dict:
    """The API shape of a destination: auth secrets masked, the signing secret only when the
    caller just created or rotated it (the row then carries it in clear)."""
    shaped = {
        "id": destination["id"],
        "account_id": destination["account_id"],
        "name": destination["name"],
        "url": destination["url"],
        "active": bool(destination["active"]),
        "timeout_seconds": destination["timeout_seconds"],
        "auth_config": destinations.masked_auth_config(ctx, destination),
        "custom_headers": destinations.decode_custom_headers(ctx, destination),
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


@post("/sources", status_code=201, opt=openapi.body(CreateSource))
async def create_source(request: Request, ctx: Ctx, caller: CurrentCaller) -> dict:
    """Create a source; 201 with its ingest URL."""
    body = decode_body(await request.body(), CreateSource)
    source = await sources.create_source(
        ctx,
        caller,
        name=body.name,
        auth_mode=body.auth_mode,
        provider=body.provider,
        verification_config=body.verification_config,
        custom_domain=await _domain_or_none(ctx, caller, body.custom_domain_id),
    )
    return data(sources.present_source(ctx, source))


async def _domain_or_none(ctx: Context, caller, domain_id: str | None) -> dict | None:
    return await domains.attachable_domain(ctx, caller, domain_id) if domain_id else None


@patch("/sources/{source_id:str}", opt=openapi.body(UpdateSource))
async def update_source(
    request: Request, ctx: Ctx, caller: CurrentCaller, source_id: FromPath[str]
) -> dict:
    """Rename a source, attach it to a verified custom domain (null detaches), or change how
    its requests are verified (secrets settable, never returned)."""
    patch_body = decode_body(await request.body(), UpdateSource)
    changes: dict[str, Any] = {}
    for field in ("name", "auth_mode", "provider", "verification_config"):
        if getattr(patch_body, field) is not msgspec.UNSET:
            changes[field] = getattr(patch_body, field)
    if patch_body.custom_domain_id is not msgspec.UNSET:
        changes["custom_domain"] = await _domain_or_none(ctx, caller, patch_body.custom_domain_id)
    source = await sources.update_source(ctx, caller, source_id, changes)
    return data(sources.present_source(ctx, source))


@get("/sources")
async def list_sources(ctx: Ctx, caller: CurrentCaller) -> dict:
    """The caller's sources."""
    found = await sources.list_sources(ctx, caller)
    return data([sources.present_source(ctx, source) for source in found])


@get("/sources/{source_id:str}")
async def get_source(ctx: Ctx, caller: CurrentCaller, source_id: FromPath[str]) -> dict:
    """One source; 404 for another account's id."""
    return data(sources.present_source(ctx, await sources.get_source(ctx, caller, source_id)))


@delete("/sources/{source_id:str}", status_code=204)
async def delete_source(ctx: Ctx, caller: CurrentCaller, source_id: FromPath[str]) -> None:
    """Delete a source: its ingest URL answers 404 at once, its events stay."""
    await sources.delete_source(ctx, caller, source_id)


@get("/provider-presets", sync_to_thread=False)
def list_provider_presets(caller: CurrentCaller) -> dict:
    """The provider presets a source can verify."""
    # ``caller`` is unused but requested: presets are behind authentication like all of /v1.
    return data([msgspec.structs.asdict(preset) for preset in provider_presets()])


# -- destinations ------------------------------------------------------------------------------


@post("/destinations", status_code=201, opt=openapi.body(CreateDestination))
async def create_destination(request: Request, ctx: Ctx, caller: CurrentCaller) -> dict:
    """Create a destination; the answer is the only one with its signing secret."""
    body = decode_body(await request.body(), CreateDestination)
    destination = await destinations.create_destination(
        ctx,
        caller,
        name=body.name,
        url=body.url,
        signing_secret=body.signing_secret,
        timeout_seconds=body.timeout_seconds,
        auth_config=body.auth_config,
        custom_headers=body.custom_headers,
        preset=body.preset,
    )
    return data(present_destination(ctx, destination))


@get("/destinations")
async def list_destinations(ctx: Ctx, caller: CurrentCaller) -> dict:
    """The caller's destinations (secrets masked)."""
    found = await destinations.list_destinations(ctx, caller)
    return data([present_destination(ctx, destination) for destination in found])


@get("/destinations/{destination_id:str}")
async def get_destination(ctx: Ctx, caller: CurrentCaller, destination_id: FromPath[str]) -> dict:
    """One destination (secrets masked); 404 for another account's id."""
    destination = await destinations.get_destination(ctx, caller, destination_id)
    return data(present_destination(ctx, destination))


@patch("/destinations/{destination_id:str}", opt=openapi.body(UpdateDestination))
async def update_destination(
    request: Request, ctx: Ctx, caller: CurrentCaller, destination_id: FromPath[str]
) -> dict:
    """Change only the fields present in the body."""
    body = decode_body(await request.body(), UpdateDestination)
    given = {
        field: value
        for field in body.__struct_fields__
        if (value := getattr(body, field)) is not msgspec.UNSET
    }
    destination = await destinations.update_destination(ctx, caller, destination_id, given)
    return data(present_destination(ctx, destination))


@post("/destinations/{destination_id:str}/rotate-secret", status_code=200)
async def rotate_destination_secret(
    ctx: Ctx, caller: CurrentCaller, destination_id: FromPath[str]
) -> dict:
    """A new signing secret, shown once; the old one signs on for the grace period."""
    destination = await destinations.rotate_secret(ctx, caller, destination_id)
    return data(present_destination(ctx, destination))


@delete("/destinations/{destination_id:str}", status_code=204)
async def delete_destination(
    ctx: Ctx, caller: CurrentCaller, destination_id: FromPath[str]
) -> None:
    """Delete a destination, its routes and its queued deliveries."""
    await destinations.delete_destination(ctx, caller, destination_id)


@get("/destination-presets", sync_to_thread=False)
def list_destination_presets(caller: CurrentCaller) -> dict:
    """The destination presets."""
    # ``caller`` is unused but requested: presets are behind authentication like all of /v1.
    return data([msgspec.structs.asdict(preset) for preset in destination_presets()])


# -- routes ------------------------------------------------------------------------------------


@post("/routes", status_code=201, opt=openapi.body(CreateRoute))
async def create_route(request: Request, ctx: Ctx, caller: CurrentCaller) -> dict:
    """Create a route; both ids must be the caller's."""
    body = decode_body(await request.body(), CreateRoute)
    route = await routes.create_route(
        ctx,
        caller,
        destination_id=body.destination_id,
        source_id=body.source_id,
        event_type_pattern=body.event_type_pattern,
        retry_policy=body.retry_policy,
    )
    return data(present_route(route))


@get("/routes")
async def list_routes(ctx: Ctx, caller: CurrentCaller) -> dict:
    """The caller's routes."""
    return data([present_route(route) for route in await routes.list_routes(ctx, caller)])


@delete("/routes/{route_id:str}", status_code=204)
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
)
