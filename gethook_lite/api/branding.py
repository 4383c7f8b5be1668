"""Brand settings and custom domains, and the reverse proxy's on-demand TLS check."""

from __future__ import annotations

import msgspec
from litestar import Request, Router, delete, get, post
from litestar.params import FromPath

from gethook_lite.api.common import AUTHENTICATED, Ctx, CurrentCaller, data, decode_body, query_str
from gethook_lite.domain import branding, domains
from gethook_lite.errors import BadRequest, NotFound

__all__ = ["branding_router", "public_branding_router"]


class UpsertBrandSettings(msgspec.Struct, kw_only=True):
    # UNSET tells "not given" (left as it is) from null (cleared).
    company_name: str | None | msgspec.UnsetType = msgspec.UNSET
    logo_url: str | None | msgspec.UnsetType = msgspec.UNSET
    primary_color: str | None | msgspec.UnsetType = msgspec.UNSET
    support_email: str | None | msgspec.UnsetType = msgspec.UNSET
    docs_title: str | None | msgspec.UnsetType = msgspec.UNSET


class CreateCustomDomain(msgspec.Struct, kw_only=True):
    domain: str
    type: str | None = None


# -- brand settings --------------------------------------------------------------------------


@post("/brand-settings", status_code=200)
async def upsert_brand_settings(request: Request, ctx: Ctx, caller: CurrentCaller) -> dict:
    body = decode_body(await request.body(), UpsertBrandSettings)
    given = {
        field: value
        for field in body.__struct_fields__
        if (value := getattr(body, field)) is not msgspec.UNSET
    }
    settings = await branding.upsert_brand_settings(ctx, caller, given)
    return data(branding.present_brand_settings(settings))


@get("/brand-settings")
async def get_brand_settings(ctx: Ctx, caller: CurrentCaller) -> dict:
    settings = await branding.get_brand_settings(ctx, caller)
    return data(branding.present_brand_settings(settings))


# -- custom domains --------------------------------------------------------------------------


@post("/custom-domains", status_code=201)
async def create_custom_domain(request: Request, ctx: Ctx, caller: CurrentCaller) -> dict:
    body = decode_body(await request.body(), CreateCustomDomain)
    row = await domains.create_custom_domain(ctx, caller, domain=body.domain, domain_type=body.type)
    return data(domains.present_custom_domain(row))


@get("/custom-domains")
async def list_custom_domains(ctx: Ctx, caller: CurrentCaller) -> dict:
    rows = await domains.list_custom_domains(ctx, caller)
    return data([domains.present_custom_domain(row) for row in rows])


@get("/custom-domains/{domain_id:str}")
async def get_custom_domain(ctx: Ctx, caller: CurrentCaller, domain_id: FromPath[str]) -> dict:
    row = await domains.get_custom_domain(ctx, caller, domain_id)
    return data(domains.present_custom_domain(row))


@post("/custom-domains/{domain_id:str}/verify", status_code=200)
async def verify_custom_domain(ctx: Ctx, caller: CurrentCaller, domain_id: FromPath[str]) -> dict:
    row = await domains.verify_custom_domain(ctx, caller, domain_id)
    return data(domains.present_custom_domain(row))


@delete("/custom-domains/{domain_id:str}", status_code=204)
async def delete_custom_domain(ctx: Ctx, caller: CurrentCaller, domain_id: FromPath[str]) -> None:
    await domains.delete_custom_domain(ctx, caller, domain_id)


# -- on-demand TLS ---------------------------------------------------------------------------


@get("/tls/ask")
async def tls_ask(request: Request, ctx: Ctx) -> dict:
    """Caddy's ``on_demand_tls`` ``ask`` contract: 200 lets it get a certificate, else not."""
    name = query_str(request, "domain", max_length=domains.MAX_DOMAIN_LENGTH + 1)
    if name is None:
        raise BadRequest("domain: is required")
    if not await domains.tls_allowed(ctx, name):
        raise NotFound("not a verified custom domain")
    return data({"domain": domains.canonical_name(name), "allowed": True})


branding_router = Router(
    "/v1",
    route_handlers=[
        upsert_brand_settings,
        get_brand_settings,
        create_custom_domain,
        list_custom_domains,
        get_custom_domain,
        verify_custom_domain,
        delete_custom_domain,
    ],
    dependencies=AUTHENTICATED,
)
# Endpoints without API-key auth (the reverse proxy's on-demand TLS "ask" endpoint).
public_branding_router = Router("/", route_handlers=[tls_ask])
