"""Custom domains through the in-process app: registration, DNS verification with a replaced
resolver, tenant isolation, the on-demand TLS ``ask`` endpoint and ingest URLs."""

from __future__ import annotations

import re

import pytest
from litestar.testing import TestClient

from gethook_lite.app import create_app
from gethook_lite.domain import domains
from gethook_lite.domain.accounts import Caller
from gethook_lite.domain.domains import DnsLookupFailed
from gethook_lite.errors import BadRequest, NotFound
from tests.conftest import FAST_PASSWORDS, bearer, make_settings, new_account
from tests.support.api import register_domain as register
from tests.support.dns import FakeResolver, dns_answers

RFC3339_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


# -- helpers -----------------------------------------------------------------------------------


def ctx_of(client):
    return client.app.state.ctx


def run(client, fn, *args):
    return client.blocking_portal.call(fn, *args)


def error(answer, status: int) -> str:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"error"}
    return body["error"]


def verify(client, auth, domain: dict):
    return client.post(f"/v1/custom-domains/{domain['id']}/verify", headers=auth)


def verified(client, auth, domain: str = "hooks.example.com") -> dict:
    row = register(client, auth, domain)
    dns_answers(client, {f"_gethook-challenge.{domain}": [row["verification_token"]]})
    answer = verify(client, auth, row)
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


def make_source(client, auth) -> dict:
    answer = client.post("/v1/sources", json={"name": "in"}, headers=auth)
    assert answer.status_code == 201, answer.text
    return answer.json()["data"]


def attach(client, source_id: str, domain_id: str) -> None:
    """Attach a source to a domain in the database (the sources API does it once wired)."""

    def update(conn):
        conn.execute("UPDATE sources SET custom_domain_id = ? WHERE id = ?", (domain_id, source_id))

    run(client, ctx_of(client).db.write, update)


# -- registration ------------------------------------------------------------------------------


def test_register_answers_pending_domain_with_its_dns_record(client, auth, account):
    row = register(client, auth, "  Hooks.Example.COM.  ")
    assert row["id"].startswith("dom_") and row["account_id"] == account[0]
    assert row["domain"] == "hooks.example.com"
    assert row["type"] == "ingest"
    assert row["status"] == "pending_verification" and row["tls_status"] == "pending"
    assert re.fullmatch(r"gethook-verify-[0-9a-f]{32}", row["verification_token"])
    assert row["verification_record"] == {
        "type": "TXT",
        "name": "_gethook-challenge.hooks.example.com",
        "value": row["verification_token"],
    }
    assert RFC3339_Z.match(row["created_at"]) and row["verified_at"] is None
    other = register(client, auth, "in.example.org")
    assert other["verification_token"] != row["verification_token"]


def test_list_and_get_show_only_the_accounts_domains(client, auth):
    mine = register(client, auth, "a.example.com")
    _, other_key = new_account(client, "other")
    theirs = register(client, bearer(other_key), "b.example.com")
    listed = client.get("/v1/custom-domains", headers=auth).json()["data"]
    assert [row["id"] for row in listed] == [mine["id"]]
    assert client.get(f"/v1/custom-domains/{mine['id']}", headers=auth).json()["data"] == mine
    for path in (f"/v1/custom-domains/{theirs['id']}", "/v1/custom-domains/dom_nope"):
        assert error(client.get(path, headers=auth), 404) == "custom domain not found"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "must not be empty"),
        ("localhost", "at least two labels"),
        ("192.168.1.10", "not an IP address"),
        ("[::1]", "bare hostname"),
        ("https://hooks.example.com", "bare hostname"),
        ("hooks.example.com/in", "bare hostname"),
        ("hooks.example.com:8443", "bare hostname"),
        ("-bad.example.com", "label '-bad'"),
        ("bad-.example.com", "label 'bad-'"),
        ("a..example.com", "label ''"),
        ("*.example.com", "label '*'"),
        ("under_score.example.com", "label 'under_score'"),
        ("sp ace.example.com", "label 'sp ace'"),
        (f"{'x' * 64}.example.com", "1 to 63"),
        (".".join(["abcdefghi"] * 26) + ".com", "at most 253"),
        ("bücher.example", "xn--"),
        ("example.123", "all digits"),
    ],
)
def test_register_refuses_names_that_are_not_hostnames(client, auth, name, message):
    answer = client.post("/v1/custom-domains", json={"domain": name}, headers=auth)
    text = error(answer, 400)
    assert text.startswith("domain: ") and message in text


def test_register_accepts_punycode_and_long_valid_names(client, auth):
    assert register(client, auth, "xn--bcher-kva.example")["domain"] == "xn--bcher-kva.example"
    longest_label = f"{'a' * 63}.example.com"
    assert register(client, auth, longest_label)["domain"] == longest_label


def test_register_refuses_the_instances_own_host(tmp_path, clock):
    settings = make_settings(tmp_path, **{"server.public_base_url": "https://Hooks.Gethook.test/"})
    app = create_app(settings, clock=clock, passwords=FAST_PASSWORDS, start_scheduler=False)
    with TestClient(app) as client:
        auth = bearer(new_account(client)[1])
        answer = client.post(
            "/v1/custom-domains", json={"domain": "hooks.gethook.test"}, headers=auth
        )
        assert "own host name" in error(answer, 400)
        assert register(client, auth, "in.gethook.test")["domain"] == "in.gethook.test"


def test_register_checks_type_and_body(client, auth):
    assert register(client, auth, "t.example.com", type="ingest")["type"] == "ingest"
    bad_type = client.post(
        "/v1/custom-domains", json={"domain": "u.example.com", "type": "api"}, headers=auth
    )
    assert error(bad_type, 400) == "type: must be one of ingest"
    assert error(client.post("/v1/custom-domains", json={}, headers=auth), 400) == (
        "domain: is required"
    )
    wrong = client.post("/v1/custom-domains", json={"domain": 5}, headers=auth)
    assert error(wrong, 400).startswith("domain: expected str")


def test_an_account_registers_a_name_once(client, auth):
    register(client, auth, "hooks.example.com")
    again = client.post("/v1/custom-domains", json={"domain": "HOOKS.example.com."}, headers=auth)
    assert "already registered by this account" in error(again, 409)


def test_a_pending_claim_neither_blocks_nor_reveals_another_account(client, auth):
    squatter = register(client, auth, "hooks.bigcustomer.com")  # never verified
    _, owner_key = new_account(client, "bigcustomer")
    owner = register(client, bearer(owner_key), "hooks.bigcustomer.com")  # was 409
    assert owner["id"] != squatter["id"]
    assert owner["verification_token"] != squatter["verification_token"]
    listed = client.get("/v1/custom-domains", headers=bearer(owner_key)).json()["data"]
    assert [row["id"] for row in listed] == [owner["id"]]


def test_the_first_account_to_verify_owns_the_name(client, auth):
    squatter = register(client, auth, "hooks.bigcustomer.com")
    _, owner_key = new_account(client, "bigcustomer")
    owner = register(client, bearer(owner_key), "hooks.bigcustomer.com")
    # Only the real owner can publish its token in DNS.
    dns_answers(client, {"_gethook-challenge.hooks.bigcustomer.com": [owner["verification_token"]]})
    assert error(verify(client, auth, squatter), 400).startswith("expected TXT record")
    done = verify(client, bearer(owner_key), owner)
    assert done.status_code == 200 and done.json()["data"]["status"] == "verified"
    assert client.get("/tls/ask", params={"domain": "hooks.bigcustomer.com"}).status_code == 200

    # Now the name is owned: the other claim cannot be verified, even with its own token.
    dns_answers(
        client,
        {
            "_gethook-challenge.hooks.bigcustomer.com": [
                owner["verification_token"],
                squatter["verification_token"],
            ]
        },
    )
    refused = error(verify(client, auth, squatter), 409)
    assert "verified by another account first" in refused and "delete it" in refused
    mine = client.get(f"/v1/custom-domains/{squatter['id']}", headers=auth).json()["data"]
    assert mine["status"] == "pending_verification"
    # A verified name is public (the TLS ask approves it), so a new claim is told plainly.
    _, third_key = new_account(client, "third")
    late = client.post(
        "/v1/custom-domains", json={"domain": "hooks.bigcustomer.com"}, headers=bearer(third_key)
    )
    assert "already verified by another account" in error(late, 409)
    # The ingest guard routes the name to its owner's sources only.
    ctx = ctx_of(client)
    assert run(client, domains.ingest_host_allowed, ctx, "hooks.bigcustomer.com", owner["domain"])
    assert not run(client, domains.ingest_host_allowed, ctx, None, "hooks.bigcustomer.com")


def test_a_pending_claim_expires(client, auth, clock):
    stale = register(client, auth, "hooks.example.com")
    clock.advance(7 * 86_400 - 1)
    dns_answers(client)
    assert error(verify(client, auth, stale), 400).startswith("no TXT record")  # still alive
    clock.advance(2)
    expired = error(verify(client, auth, stale), 400)
    assert "expired after 7 days without verification" in expired
    gone = client.get(f"/v1/custom-domains/{stale['id']}", headers=auth)
    assert error(gone, 404) == "custom domain not found"


def test_an_expired_claim_can_be_registered_again(tmp_path, clock):
    settings = make_settings(tmp_path, **{"accounts.pending_domain_claim_days": 1})
    app = create_app(settings, clock=clock, passwords=FAST_PASSWORDS, start_scheduler=False)
    with TestClient(app) as client:
        _, key = new_account(client, "a")
        stale = register(client, bearer(key), "hooks.example.com")
        clock.advance(86_401)
        fresh = register(client, bearer(key), "hooks.example.com")  # no 409 for the stale one
        assert fresh["id"] != stale["id"]
        listed = client.get("/v1/custom-domains", headers=bearer(key)).json()["data"]
        assert [row["id"] for row in listed] == [fresh["id"]]


def test_viewer_keys_read_but_cannot_change_domains(client, auth):
    row = register(client, auth)
    created = client.post("/v1/api-keys", json={"name": "ro", "role": "viewer"}, headers=auth)
    viewer = bearer(created.json()["data"]["key"])
    assert client.get("/v1/custom-domains", headers=viewer).status_code == 200
    attempts = [
        client.post("/v1/custom-domains", json={"domain": "v.example.com"}, headers=viewer),
        client.post(f"/v1/custom-domains/{row['id']}/verify", headers=viewer),
        client.delete(f"/v1/custom-domains/{row['id']}", headers=viewer),
    ]
    assert [answer.status_code for answer in attempts] == [403, 403, 403]


def test_domains_need_an_api_key(client):
    assert client.get("/v1/custom-domains").status_code == 401
    assert client.post("/v1/custom-domains", json={"domain": "x.example.com"}).status_code == 401


# -- verification ------------------------------------------------------------------------------


def test_verify_without_a_txt_record_says_so(client, auth):
    row = register(client, auth)
    resolver = dns_answers(client)
    text = error(verify(client, auth, row), 400)
    assert text == (
        "no TXT record _gethook-challenge.hooks.example.com found;"
        f" add one containing {row['verification_token']}"
    )
    assert resolver.asked == ["_gethook-challenge.hooks.example.com"]
    listed = client.get("/v1/custom-domains", headers=auth).json()["data"]
    assert listed[0]["status"] == "pending_verification" and listed[0]["tls_status"] == "pending"


def test_verify_with_a_different_value_shows_what_was_found(client, auth):
    row = register(client, auth)
    name = "_gethook-challenge.hooks.example.com"
    dns_answers(client, {name: ["gethook-verify-old", "v=spf1 -all"]})
    text = error(verify(client, auth, row), 400)
    assert text == (
        f"expected TXT record {name} to contain {row['verification_token']};"
        " found: ['gethook-verify-old', 'v=spf1 -all']"
    )


def test_verify_reports_a_failed_lookup_without_changing_the_domain(client, auth):
    row = register(client, auth)
    dns_answers(client, error="The DNS operation timed out.")
    text = error(verify(client, auth, row), 400)
    assert text == (
        "could not look up the TXT record _gethook-challenge.hooks.example.com:"
        " The DNS operation timed out.; try again shortly"
    )
    assert client.get(f"/v1/custom-domains/{row['id']}", headers=auth).json()["data"] == row


def test_verify_with_the_token_marks_the_domain_verified(client, auth, clock):
    row = register(client, auth)
    clock.advance(60)
    name = "_gethook-challenge.hooks.example.com"
    # Among other records, and quoted twice by a DNS console: still the token.
    resolver = dns_answers(client, {name: ["other", f'"{row["verification_token"]}"']})
    answer = verify(client, auth, row)
    assert answer.status_code == 200, answer.text
    done = answer.json()["data"]
    assert done["status"] == "verified" and done["tls_status"] == "ready"
    assert done["verified_at"] > done["created_at"]
    assert {k: v for k, v in done.items() if k not in ("status", "tls_status", "verified_at")} == {
        k: v for k, v in row.items() if k not in ("status", "tls_status", "verified_at")
    }
    # Verified once is verified: DNS is not asked again.
    assert verify(client, auth, row).json()["data"] == done
    assert resolver.asked == [name]


def test_verify_and_delete_of_unknown_or_foreign_domains_are_404(client, auth):
    _, other_key = new_account(client, "other")
    theirs = register(client, bearer(other_key))
    dns_answers(client)
    for domain_id in (theirs["id"], "dom_nope"):
        assert error(verify(client, auth, {"id": domain_id}), 404) == "custom domain not found"
        gone = client.delete(f"/v1/custom-domains/{domain_id}", headers=auth)
        assert error(gone, 404) == "custom domain not found"
    assert len(client.get("/v1/custom-domains", headers=bearer(other_key)).json()["data"]) == 1


def test_delete_frees_the_name(client, auth):
    row = register(client, auth)
    assert client.delete(f"/v1/custom-domains/{row['id']}", headers=auth).status_code == 204
    assert client.get("/v1/custom-domains", headers=auth).json()["data"] == []
    _, other_key = new_account(client, "other")
    assert register(client, bearer(other_key))["domain"] == "hooks.example.com"


# -- sources and ingest URLs -------------------------------------------------------------------


def test_ingest_url_follows_verification_and_deletion_of_the_domain(client, auth):
    source = make_source(client, auth)
    base_url = source["ingest_url"]
    # Ingest once so the source sits in the ingest cache.
    assert client.post(f"/ingest/{source['path_token']}", content=b"{}").status_code == 202
    row = register(client, auth)
    attach(client, source["id"], row["id"])
    pending = client.get(f"/v1/sources/{source['id']}", headers=auth).json()["data"]
    assert pending["ingest_url"] == base_url and pending["custom_domain_id"] == row["id"]
    dns_answers(client, {"_gethook-challenge.hooks.example.com": [row["verification_token"]]})
    verified_domain = verify(client, auth, row).json()["data"]
    verified_row = client.get(f"/v1/sources/{source['id']}", headers=auth).json()["data"]
    assert verified_domain["status"] == "verified"
    assert verified_row["ingest_url"] == f"https://hooks.example.com/ingest/{source['path_token']}"
    assert len(ctx_of(client).sources_by_token) == 0
    assert client.delete(f"/v1/custom-domains/{row['id']}", headers=auth).status_code == 204
    after = client.get(f"/v1/sources/{source['id']}", headers=auth).json()["data"]
    assert after["ingest_url"] == base_url and after["custom_domain_id"] is None


def test_attachable_domain_is_only_the_callers_verified_domain(client, auth, account):
    caller = Caller(account_id=account[0], key_id="key_x", role="admin")
    pending = register(client, auth, "pending.example.com")
    done = verified(client, auth, "done.example.com")
    _, other_key = new_account(client, "other")
    theirs = verified(client, bearer(other_key), "theirs.example.com")
    ctx = ctx_of(client)
    assert run(client, domains.attachable_domain, ctx, caller, done["id"])["id"] == done["id"]
    with pytest.raises(BadRequest, match=re.escape("pending.example.com is not verified yet")):
        run(client, domains.attachable_domain, ctx, caller, pending["id"])
    for domain_id in (theirs["id"], "dom_nope"):
        with pytest.raises(NotFound, match="custom_domain_id: custom domain not found"):
            run(client, domains.attachable_domain, ctx, caller, domain_id)


def test_ingest_host_check_keeps_a_domain_to_its_own_sources(client, auth):
    register(client, auth, "pending.example.com")
    verified(client, auth, "mine.example.com")
    ctx = ctx_of(client)

    def allowed(source_domain, host):
        return run(client, domains.ingest_host_allowed, ctx, source_domain, host)

    assert allowed("mine.example.com", "MINE.example.com:443")
    assert allowed(None, "127.0.0.1:8080") and allowed(None, None) and allowed(None, "[::1]:80")
    assert allowed("mine.example.com", "gateway.internal")
    assert not allowed(None, "mine.example.com")
    # A pending name is nobody's yet: it changes no routing (a squatter's claim blocks nobody).
    assert allowed("mine.example.com", "pending.example.com")
    # A domain verified later is known at once (the cached set is dropped).
    assert allowed(None, "new.example.com.")
    verified(client, auth, "new.example.com")
    assert not allowed(None, "new.example.com.")


# -- on-demand TLS -----------------------------------------------------------------------------


def test_tls_ask_approves_only_verified_domains_without_an_api_key(client, auth):
    register(client, auth, "pending.example.com")
    verified(client, auth, "done.example.com")
    ok = client.get("/tls/ask", params={"domain": "Done.Example.com."})
    assert ok.status_code == 200, ok.text
    assert ok.json() == {"data": {"domain": "done.example.com", "allowed": True}}
    for name in ("pending.example.com", "unknown.example.com", "not a name", "127.0.0.1"):
        answer = client.get("/tls/ask", params={"domain": name})
        assert error(answer, 404) == "not a verified custom domain"
    assert error(client.get("/tls/ask"), 400) == "domain: is required"
    too_long = client.get("/tls/ask", params={"domain": "a" * 300})
    assert error(too_long, 400).startswith("domain: must be at most")


def test_tls_ask_forgets_a_deleted_domain(client, auth):
    row = verified(client, auth, "done.example.com")
    assert client.get("/tls/ask", params={"domain": "done.example.com"}).status_code == 200
    client.delete(f"/v1/custom-domains/{row['id']}", headers=auth)
    assert client.get("/tls/ask", params={"domain": "done.example.com"}).status_code == 404


# -- the real resolver's parsing -----------------------------------------------------------------


def test_the_default_resolver_is_the_real_one_and_a_given_one_is_used(tmp_path, clock):
    settings = make_settings(tmp_path)
    app = create_app(settings, clock=clock, passwords=FAST_PASSWORDS, start_scheduler=False)
    with TestClient(app) as client:
        first = ctx_of(client).txt_resolver
        assert isinstance(first, domains.DnsTxtResolver)
        assert ctx_of(client).txt_resolver is first  # one for the instance's lifetime
    given = FakeResolver()
    app = create_app(
        settings, clock=clock, passwords=FAST_PASSWORDS, start_scheduler=False, txt_resolver=given
    )
    with TestClient(app) as client:
        auth = bearer(new_account(client)[1])
        verify(client, auth, register(client, auth))
        assert given.asked == ["_gethook-challenge.hooks.example.com"]


class _FakeDnsResolver:
    """Stands in for dns.asyncresolver.Resolver: answers or raises what the test says."""

    outcome: object = None

    async def resolve(self, name, rdtype, lifetime):
        assert rdtype == "TXT" and lifetime == domains.DNS_LOOKUP_TIMEOUT_SECONDS
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome


@pytest.fixture
def fake_dns(monkeypatch):
    dns_resolver = pytest.importorskip("dns.asyncresolver")
    monkeypatch.setattr(dns_resolver, "Resolver", _FakeDnsResolver)
    return _FakeDnsResolver


def test_default_resolver_joins_strings_and_maps_dns_answers(fake_dns):
    import asyncio

    import dns.exception
    import dns.rdata
    import dns.rdataclass
    import dns.rdatatype
    import dns.resolver

    def txt(text):
        return dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TXT, text)

    resolver = domains.DnsTxtResolver()
    fake_dns.outcome = [txt('"gethook-" "verify-1"'), txt('"v=spf1 -all"')]
    assert asyncio.run(resolver.txt("x.example.com")) == ["gethook-verify-1", "v=spf1 -all"]
    for missing in (dns.resolver.NXDOMAIN(), dns.resolver.NoAnswer()):
        fake_dns.outcome = missing
        assert asyncio.run(resolver.txt("x.example.com")) == []
    fake_dns.outcome = dns.exception.Timeout()
    with pytest.raises(DnsLookupFailed, match="timed out"):
        asyncio.run(resolver.txt("x.example.com"))
