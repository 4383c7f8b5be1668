"""Custom domains: an account's own hostname for its ingest URLs, proven by a DNS TXT record.

Lifecycle: registered (``pending_verification``, ``tls_status: "pending"``) → verified once the
TXT record ``_gethook-challenge.<domain>`` holds the domain's ``verification_token``
(``verified``, ``tls_status: "ready"``). A registration is a claim until verified: several
accounts may claim one name, so that one who never verifies cannot keep the real owner out;
the first to verify owns the name, and a claim still pending after
``accounts.pending_domain_claim_days`` expires (checked at verify and re-registration, and
removed by the retention task). "ready" means the reverse proxy's on-demand TLS check
(``GET /tls/ask``) now approves the name, so the proxy obtains a certificate on the first HTTPS
request; GetHook Lite does not terminate TLS itself, so it never claims a certificate is issued.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from typing import Protocol
from urllib.parse import urlsplit

from gethook_lite.clock import format_time
from gethook_lite.context import Context
from gethook_lite.db import branding as store
from gethook_lite.domain import sources as source_domain
from gethook_lite.domain.accounts import Caller
from gethook_lite.errors import BadRequest, Conflict, NotFound
from gethook_lite.ids import new_id

__all__ = [
    "CHALLENGE_PREFIX",
    "DOMAIN_TYPES",
    "MAX_DOMAIN_LENGTH",
    "DnsLookupFailed",
    "DnsTxtResolver",
    "TxtResolver",
    "attachable_domain",
    "canonical_name",
    "challenge_record_name",
    "create_custom_domain",
    "delete_custom_domain",
    "delete_expired_claims",
    "get_custom_domain",
    "host_of",
    "ingest_host_allowed",
    "list_custom_domains",
    "normalise_domain",
    "present_custom_domain",
    "tls_allowed",
    "verify_custom_domain",
]

CHALLENGE_PREFIX = "_gethook-challenge"
DOMAIN_TYPES = ("ingest",)
TLS_PENDING = "pending"
TLS_READY = "ready"
# 128 random bits: nobody can guess the value before the account shows it.
TOKEN_BYTES = 16
TOKEN_PREFIX = "gethook-verify-"
MAX_DOMAIN_LENGTH = 253
# A lookup is made while the verify request waits; a dead resolver must not hang it.
DNS_LOOKUP_TIMEOUT_SECONDS = 5.0
# How much of what DNS answered goes into an error message.
MAX_REPORTED_RECORDS = 10
MAX_REPORTED_LENGTH = 100
SECONDS_PER_DAY = 86_400

_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
# The one key of ctx.custom_domain_names: the set of every verified name.
_VERIFIED = "verified"


# -- DNS -------------------------------------------------------------------------------------


class DnsLookupFailed(Exception):
    """DNS could not answer (timeout, no reachable server): neither yes nor no."""


class TxtResolver(Protocol):
    """Looks up TXT records: ``ctx.txt_resolver``, given to ``create_app`` (tests pass a fake)."""

    async def txt(self, name: str) -> list[str]:
        """The TXT values at ``name`` (each record's strings joined); [] when there are none."""
        ...


class DnsTxtResolver:
    """The real resolver: dnspython's asyncio resolver with the system's name servers."""

    def __init__(self, timeout_seconds: float = DNS_LOOKUP_TIMEOUT_SECONDS) -> None:
        self._timeout = timeout_seconds

    async def txt(self, name: str) -> list[str]:
        # Imported here, not at the top: dnspython costs ~50 ms of every start-up (issue 13)
        # and is needed only when a custom domain is verified.
        import dns.asyncresolver
        import dns.exception
        import dns.resolver

        try:
            resolver = dns.asyncresolver.Resolver()
            answer = await resolver.resolve(name, "TXT", lifetime=self._timeout)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except dns.exception.DNSException as exc:
            raise DnsLookupFailed(str(exc) or type(exc).__name__) from None
        return [b"".join(record.strings).decode("utf-8", "replace") for record in answer]


def challenge_record_name(domain: str) -> str:
    return f"{CHALLENGE_PREFIX}.{domain}"


# -- names -----------------------------------------------------------------------------------


def host_of(url: str) -> str:
    """The lower-cased host name of a URL, without port."""
    return (urlsplit(url).hostname or "").rstrip(".")


def normalise_domain(raw: str, own_host: str) -> str:
    """A hostname an account may register, lower-cased without trailing dot; 400 otherwise."""
    name = raw.strip().lower()
    name = name.removesuffix(".")
    if not name:
        raise BadRequest("domain: must not be empty")
    if "/" in name or ":" in name or "@" in name:
        raise BadRequest("domain: must be a bare hostname such as hooks.example.com")
    if not name.isascii():
        raise BadRequest("domain: write an internationalised name in its xn-- (punycode) form")
    if len(name) > MAX_DOMAIN_LENGTH:
        raise BadRequest(f"domain: must be at most {MAX_DOMAIN_LENGTH} characters")
    if _is_ip_address(name):
        raise BadRequest("domain: must be a hostname, not an IP address")
    labels = name.split(".")
    if len(labels) < 2:
        raise BadRequest("domain: must have at least two labels, such as example.com")
    for label in labels:
        if not _LABEL.match(label):
            raise BadRequest(
                f"domain: label {label!r} must be 1 to 63 letters, digits or inner hyphens"
            )
    if labels[-1].isdigit():
        raise BadRequest("domain: the top-level label must not be all digits")
    if name == own_host:
        raise BadRequest("domain: this is the instance's own host name")
    return name


def _is_ip_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def canonical_name(raw: str) -> str:
    """A host name as stored: lower-cased, no trailing dot (no validation: for look-ups)."""
    return raw.strip().lower().removesuffix(".")


# -- registrations ---------------------------------------------------------------------------


def _claim_cutoff(ctx: Context) -> float:
    """Pending claims registered before this moment have expired."""
    return ctx.clock.now() - ctx.settings.accounts.pending_domain_claim_days * SECONDS_PER_DAY


def _is_expired_claim(row: dict, cutoff: float) -> bool:
    return row["status"] != "verified" and row["created_at"] < cutoff


def _insert_claim(conn, row: dict, cutoff: float) -> dict:
    # Checked inside the write transaction, so two concurrent claims cannot both pass.
    owner = store.find_verified_domain(conn, row["domain"])
    if owner is not None and owner["account_id"] != row["account_id"]:
        # A verified name is public anyway (/tls/ask approves it); a pending claim of another
        # account is never revealed, and never blocks this one.
        raise Conflict(f"domain: {row['domain']} is already verified by another account")
    mine = store.find_account_claim(conn, row["account_id"], row["domain"])
    if mine is not None and not _is_expired_claim(mine, cutoff):
        raise Conflict(f"domain: {row['domain']} is already registered by this account")
    if mine is not None:
        store.delete_custom_domain(conn, row["account_id"], mine["id"])  # expired: start over
    return store.insert_custom_domain(conn, row)


async def create_custom_domain(
    ctx: Context, caller: Caller, *, domain: str, domain_type: str | None
) -> dict:
    """Register a hostname for the account, pending verification of its TXT record."""
    domain_type = domain_type or "ingest"
    if domain_type not in DOMAIN_TYPES:
        raise BadRequest(f"type: must be one of {', '.join(DOMAIN_TYPES)}")
    name = normalise_domain(domain, host_of(ctx.settings.server.base_url()))
    row = {
        "id": new_id("dom"),
        "account_id": caller.account_id,
        "domain": name,
        "type": domain_type,
        "status": "pending_verification",
        "tls_status": TLS_PENDING,
        "verification_token": TOKEN_PREFIX + secrets.token_hex(TOKEN_BYTES),
        "created_at": ctx.clock.now(),
        "verified_at": None,
    }
    await ctx.db.write(_insert_claim, row, _claim_cutoff(ctx))
    return row


async def list_custom_domains(ctx: Context, caller: Caller) -> list[dict]:
    return await ctx.db.read(store.list_custom_domains, caller.account_id)


async def get_custom_domain(ctx: Context, caller: Caller, domain_id: str) -> dict:
    row = await ctx.db.read(store.get_custom_domain, caller.account_id, domain_id)
    if row is None:
        raise NotFound("custom domain not found")
    return row


async def verify_custom_domain(ctx: Context, caller: Caller, domain_id: str) -> dict:
    """Check the domain's TXT record; the verified domain, or 400 saying what DNS holds."""
    row = await get_custom_domain(ctx, caller, domain_id)
    if row["status"] == "verified":
        return row  # ownership was proven once; a later change of the record does not undo it
    if _is_expired_claim(row, _claim_cutoff(ctx)):
        await ctx.db.write(store.delete_custom_domain, caller.account_id, domain_id)
        raise BadRequest(
            f"this registration of {row['domain']} expired after"
            f" {ctx.settings.accounts.pending_domain_claim_days} days without verification"
            " and was removed; register the domain again"
        )
    record = challenge_record_name(row["domain"])
    try:
        values = await ctx.txt_resolver.txt(record)
    except DnsLookupFailed as exc:
        raise BadRequest(
            f"could not look up the TXT record {record}: {exc}; try again shortly"
        ) from None
    token = row["verification_token"]
    if token not in {_unquoted(value) for value in values}:
        raise BadRequest(_mismatch_message(record, token, values))
    verified = await ctx.db.write(
        _mark_verified_unless_owned, row["domain"], caller.account_id, domain_id, ctx.clock.now()
    )
    if verified is None:
        raise NotFound("custom domain not found")  # deleted while DNS was asked
    _domain_changed(ctx)
    return verified


def _mark_verified_unless_owned(
    conn, name: str, account_id: str, domain_id: str, now: float
) -> dict | None:
    # In the write transaction: of two accounts verifying at once, exactly one owns the name.
    owner = store.find_verified_domain(conn, name)
    if owner is not None and owner["id"] != domain_id:
        raise Conflict(
            f"domain: {name} was verified by another account first; this registration"
            " cannot be verified, delete it"
        )
    return store.mark_custom_domain_verified(conn, account_id, domain_id, TLS_READY, now)


def _unquoted(value: str) -> str:
    # DNS consoles that add their own quotes around a value pasted with quotes store '"x"'.
    return value.strip().strip('"').strip()


def _mismatch_message(record: str, token: str, values: list[str]) -> str:
    if not values:
        return f"no TXT record {record} found; add one containing {token}"
    shown = [value[:MAX_REPORTED_LENGTH] for value in values[:MAX_REPORTED_RECORDS]]
    more = f" and {len(values) - len(shown)} more" if len(values) > len(shown) else ""
    return f"expected TXT record {record} to contain {token}; found: {shown}{more}"


async def delete_custom_domain(ctx: Context, caller: Caller, domain_id: str) -> None:
    """Remove a registration; sources attached to it go back to the base URL."""
    deleted = await ctx.db.write(store.delete_custom_domain, caller.account_id, domain_id)
    if not deleted:
        raise NotFound("custom domain not found")
    _domain_changed(ctx)


async def delete_expired_claims(ctx: Context, batch: int) -> int:
    """Remove pending claims older than ``accounts.pending_domain_claim_days``; the count."""
    cutoff = _claim_cutoff(ctx)
    deleted = 0
    while True:
        # One write per batch, like the rest of retention: ingest waits one small batch at most.
        count = await ctx.db.write(store.delete_expired_claims, cutoff, batch)
        deleted += count
        if count < batch:
            return deleted


async def attachable_domain(ctx: Context, caller: Caller, domain_id: str) -> dict:
    """The caller's verified domain ``domain_id``, for a source to use (404 / 400 otherwise)."""
    row = await ctx.db.read(store.get_custom_domain, caller.account_id, domain_id)
    if row is None:
        raise NotFound("custom_domain_id: custom domain not found")
    if row["status"] != "verified":
        raise BadRequest(f"custom_domain_id: {row['domain']} is not verified yet; verify it first")
    return row


def _domain_changed(ctx: Context) -> None:
    # Sources cache their ingest host: a verified or removed domain changes their ingest URL.
    source_domain.forget_cached_sources(ctx)
    _forget_domain_names(ctx)


# -- what the edge asks ----------------------------------------------------------------------


async def tls_allowed(ctx: Context, domain: str) -> bool:
    """May the reverse proxy obtain a certificate for ``domain``? Only for verified ones."""
    return await ctx.db.read(store.find_verified_domain, canonical_name(domain)) is not None


async def ingest_host_allowed(
    ctx: Context, source_domain_name: str | None, host: str | None
) -> bool:
    """May a request for a source arrive on ``host`` (the Host header)?

    A verified custom domain serves only the sources attached to it, so that one account's
    domain cannot be used to reach another account's ingest URLs. Every other host (the base
    URL's, an IP address, a proxy's internal name, a name only claimed) is allowed: the path
    token is the credential.
    """
    name = _host_without_port(host or "")
    if not name or name == source_domain_name:
        return True
    return name not in await _domain_names(ctx)


def _host_without_port(host: str) -> str:
    host = host.strip()
    if host.startswith("["):  # [IPv6]:port
        return host[1:].partition("]")[0].lower()
    return canonical_name(host.partition(":")[0])


async def _domain_names(ctx: Context) -> frozenset[str]:
    cached = ctx.custom_domain_names.get(_VERIFIED)
    if cached is not None:
        return cached
    generation = ctx.custom_domain_names.generation
    names = frozenset(await ctx.db.read(store.list_custom_domain_names))
    # A registration that changed while this read ran must not be hidden by a stale set.
    ctx.custom_domain_names.put(_VERIFIED, names, generation)
    return names


def _forget_domain_names(ctx: Context) -> None:
    ctx.custom_domain_names.forget()


# -- API shape -------------------------------------------------------------------------------


def present_custom_domain(row: dict) -> dict:
    """The API shape of a custom domain, with the DNS record to create spelled out."""
    return {
        "id": row["id"],
        "account_id": row["account_id"],
        "domain": row["domain"],
        "type": row["type"],
        "status": row["status"],
        "tls_status": row["tls_status"],
        "verification_token": row["verification_token"],
        "verification_record": {
            "type": "TXT",
            "name": challenge_record_name(row["domain"]),
            "value": row["verification_token"],
        },
        "created_at": format_time(row["created_at"]),
        "verified_at": format_time(row["verified_at"]),
    }
