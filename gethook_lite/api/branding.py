"""Brand settings and custom domains, and the reverse proxy's on-demand TLS check."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Router, delete, get, post
from litestar.params import FromPath, JSONBody, Parameter

from gethook_lite.api.common import (
    AUTH_GUARDS,
    AUTHENTICATED,
    Ctx,
    CurrentCaller,
    Envelope,
    ReadModel,
    enveloped,
)
from gethook_lite.domain import branding, domains
from gethook_lite.errors import BadRequest, NotFound

__all__ = ["branding_router", "public_branding_router"]


class UpsertBrandSettings(msgspec.Struct, kw_only=True):
    """POST /v1/brand-settings: the fields given overwrite, null clears one."""

    # UNSET tells "not given" (left as it is) from null (cleared).
    company_name: str | None | msgspec.UnsetType = msgspec.UNSET
    logo_url: str | None | msgspec.UnsetType = msgspec.UNSET
    primary_color: str | None | msgspec.UnsetType = msgspec.UNSET
    support_email: str | None | msgspec.UnsetType = msgspec.UNSET
    docs_title: str | None | msgspec.UnsetType = msgspec.UNSET


class CreateCustomDomain(msgspec.Struct, kw_only=True):
    """POST /v1/custom-domains; ``type`` is ``ingest`` (the default)."""

    domain: str
    type: str | None = None


class BrandSettings(ReadModel):
    """An account's brand: what its customers see (portal, docs)."""

    id: str
    account_id: str
    company_name: str | None
    logo_url: str | None
    primary_color: str | None
    support_email: str | None
    docs_title: str | None
    created_at: str
    updated_at: str


class VerificationRecord(ReadModel):
    """The DNS record that proves control of a custom domain."""

    type: str
    name: str
    value: str


class CustomDomain(ReadModel):
    """A custom ingest domain and its verification and TLS state."""

    id: str
    account_id: str
    domain: str
    type: str
    status: str
    tls_status: str
    verification_token: str
    verification_record: VerificationRecord
    created_at: str
    verified_at: str | None


class TlsAllowed(ReadModel):
    """The on-demand TLS check's answer: this name may get a certificate."""

    domain: str
    allowed: bool


# -- brand settings --------------------------------------------------------------------------


@post("/brand-settings", tags=["Branding"], status_code=200, summary="Set brand settings")
async def upsert_brand_settings(
    ctx: Ctx, caller: CurrentCaller, data: JSONBody[UpsertBrandSettings]
) -> Envelope[BrandSettings]:
    """Upsert: the fields given overwrite (null clears one), the others stay."""
    given = {
        field: value
        for field in data.__struct_fields__
        if (value := getattr(data, field)) is not msgspec.UNSET
    }
    settings = await branding.upsert_brand_settings(ctx, caller, given)
    return enveloped(branding.present_brand_settings(settings), BrandSettings)


@get("/brand-settings", tags=["Branding"], summary="Get brand settings")
async def get_brand_settings(ctx: Ctx, caller: CurrentCaller) -> Envelope[BrandSettings]:
    """The account's brand settings; 404 if they were never set."""
    settings = await branding.get_brand_settings(ctx, caller)
    return enveloped(branding.present_brand_settings(settings), BrandSettings)


# -- custom domains --------------------------------------------------------------------------


@post("/custom-domains", tags=["Custom domains"], status_code=201, summary="Add a custom domain")
async def create_custom_domain(
    ctx: Ctx, caller: CurrentCaller, data: JSONBody[CreateCustomDomain]
) -> Envelope[CustomDomain]:
    """Add a domain for ingest; it serves once its TXT record is verified."""
    row = await domains.create_custom_domain(ctx, caller, domain=data.domain, domain_type=data.type)
    return enveloped(domains.present_custom_domain(row), CustomDomain)


@get("/custom-domains", tags=["Custom domains"], summary="List custom domains")
async def list_custom_domains(ctx: Ctx, caller: CurrentCaller) -> Envelope[list[CustomDomain]]:
    """The caller's custom domains."""
    rows = await domains.list_custom_domains(ctx, caller)
    return enveloped([domains.present_custom_domain(row) for row in rows], list[CustomDomain])


@get("/custom-domains/{domain_id:str}", tags=["Custom domains"], summary="Get a custom domain")
async def get_custom_domain(
    ctx: Ctx, caller: CurrentCaller, domain_id: FromPath[str]
) -> Envelope[CustomDomain]:
    """One custom domain; 404 for another account's id."""
    row = await domains.get_custom_domain(ctx, caller, domain_id)
    return enveloped(domains.present_custom_domain(row), CustomDomain)


@post(
    "/custom-domains/{domain_id:str}/verify",
    tags=["Custom domains"],
    status_code=200,
    summary="Verify a custom domain",
)
async def verify_custom_domain(
    ctx: Ctx, caller: CurrentCaller, domain_id: FromPath[str]
) -> Envelope[CustomDomain]:
    """Look up the domain's TXT record now; verified when it holds the token."""
    row = await domains.verify_custom_domain(ctx, caller, domain_id)
    return enveloped(domains.present_custom_domain(row), CustomDomain)


@delete(
    "/custom-domains/{domain_id:str}",
    tags=["Custom domains"],
    status_code=204,
    summary="Delete a custom domain",
)
async def delete_custom_domain(ctx: Ctx, caller: CurrentCaller, domain_id: FromPath[str]) -> None:
    """Delete a custom domain; sources on it fall back to the public base URL."""
    await domains.delete_custom_domain(ctx, caller, domain_id)


# -- on-demand TLS ---------------------------------------------------------------------------


@get("/tls/ask", tags=["Custom domains"], summary="May this domain get a TLS certificate?")
async def tls_ask(
    ctx: Ctx,
    domain: Annotated[
        str | None, Parameter(max_length=domains.MAX_DOMAIN_LENGTH + 1, description="host name")
    ] = None,
) -> Envelope[TlsAllowed]:
    """Caddy's ``on_demand_tls`` ``ask`` contract: 200 lets it get a certificate, 404 not."""
    if not domain:
        raise BadRequest("domain: is required")
    if not await domains.tls_allowed(ctx, domain):
        raise NotFound("not a verified custom domain")
    return Envelope(TlsAllowed(domain=domains.canonical_name(domain), allowed=True))


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
    guards=AUTH_GUARDS,
)
# Endpoints without API-key auth (the reverse proxy's on-demand TLS "ask" endpoint).
public_branding_router = Router("/", route_handlers=[tls_ask])
