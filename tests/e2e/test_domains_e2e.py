"""Custom domains, brand settings and the TLS ``ask`` endpoint over the wire, against a real
``gethook serve`` (which also runs the retention task from start to a clean stop)."""

from __future__ import annotations

# `.invalid` is reserved (RFC 2606): no TXT record can exist under it, whatever DNS answers.
DOMAIN = "gethook-e2e.invalid"


def test_domain_lifecycle_and_tls_ask(server, account_key):
    with server.client(account_key) as client, server.client() as proxy:
        created = client.post("/v1/custom-domains", json={"domain": DOMAIN.upper()})
        assert created.status_code == 201, created.text
        domain = created.json()["data"]
        assert domain["domain"] == DOMAIN and domain["status"] == "pending_verification"
        listed = client.get("/v1/custom-domains").json()["data"]
        assert [row["id"] for row in listed] == [domain["id"]]

        # The reverse proxy asks without an API key; a pending domain gets no certificate.
        assert proxy.get("/tls/ask", params={"domain": DOMAIN}).status_code == 404

        # Real DNS: either no record (NXDOMAIN) or a failed look-up; never verified.
        verify = client.post(f"/v1/custom-domains/{domain['id']}/verify")
        assert verify.status_code == 400, verify.text
        message = verify.json()["error"]
        assert f"_gethook-challenge.{DOMAIN}" in message
        assert client.get(f"/v1/custom-domains/{domain['id']}").json()["data"]["status"] == (
            "pending_verification"
        )

        assert client.delete(f"/v1/custom-domains/{domain['id']}").status_code == 204
        assert client.get("/v1/custom-domains").json()["data"] == []
        assert proxy.get("/tls/ask", params={"domain": DOMAIN}).status_code == 404


def test_brand_settings_over_the_wire(server, account_key):
    with server.client(account_key) as client:
        assert client.get("/v1/brand-settings").status_code == 404
        first = client.post(
            "/v1/brand-settings", json={"company_name": "Acme", "primary_color": "#123456"}
        )
        assert first.status_code == 200, first.text
        second = client.post("/v1/brand-settings", json={"primary_color": None}).json()["data"]
        assert second["company_name"] == "Acme" and second["primary_color"] is None
        assert client.get("/v1/brand-settings").json() == {"data": second}


def test_an_unverified_claim_does_not_keep_the_real_owner_out(server, account_key):
    with server.client() as anonymous:
        owner = anonymous.post("/v1/accounts", json={"name": "bigcustomer"})
        owner_key = owner.json()["data"]["api_key"]["key"]
    with server.client(account_key) as squatter, server.client(owner_key) as client:
        assert squatter.post("/v1/custom-domains", json={"domain": DOMAIN}).status_code == 201
        mine = client.post("/v1/custom-domains", json={"domain": DOMAIN})
        assert mine.status_code == 201, mine.text  # was 409, naming "another account"
        assert "another account" not in mine.text
        listed = client.get("/v1/custom-domains").json()["data"]
        assert [row["id"] for row in listed] == [mine.json()["data"]["id"]]
