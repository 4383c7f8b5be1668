"""Login throttling over real sockets from distinct client addresses (127.0.0.0/8 is loopback)."""

from __future__ import annotations

import httpx

OWNER = {"email": "owner@example.com", "password": "the right password"}
WRONG = {"email": "owner@example.com", "password": "a wrong guess"}


def _from(server, address: str) -> httpx.Client:
    """A client whose connections come from ``address`` (still to the server on 127.0.0.1)."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=server.url, transport=transport, timeout=10)


def test_wrong_passwords_from_other_addresses_do_not_lock_the_owner_out(server):
    with server.client() as owner:
        registered = owner.post("/v1/auth/register", json={"name": "Owner", **OWNER})
        assert registered.status_code == 201, registered.text

    # Five attackers, one wrong password each, then one attacker keeps going.
    for n in range(2, 7):
        with _from(server, f"127.0.0.{n}") as attacker:
            assert attacker.post("/v1/auth/login", json=WRONG).status_code == 401
    with _from(server, "127.0.0.9") as attacker:
        answers = [attacker.post("/v1/auth/login", json=WRONG) for _ in range(6)]
    # Ten failures stay under the email's ceiling of twenty, so this address gets five tries.
    assert [a.status_code for a in answers] == [401] * 5 + [429]
    assert int(answers[-1].headers["retry-after"]) > 0
    assert answers[-1].json()["error"].startswith("too many failed logins")

    with server.client() as owner:  # 127.0.0.1: has not failed
        answer = owner.post("/v1/auth/login", json=OWNER)
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["api_key"]["key"].startswith("hk_")
