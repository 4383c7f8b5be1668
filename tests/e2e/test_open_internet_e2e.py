"""A server listening beyond loopback without accounts.signup set starts with sign-up closed
and says so in its log; the operator still makes accounts with the command line."""

from __future__ import annotations

from tests.support.cli import gethook
from tests.support.server import GethookServer


def test_listening_on_all_interfaces_closes_signup_unless_set(tmp_path):
    public = GethookServer(tmp_path / "data", host="0.0.0.0").start()
    try:
        with public.client() as client:
            refused = client.post("/v1/accounts", json={"name": "walk-in"})
            assert refused.status_code == 403, refused.text
        made = gethook("accounts", "create", "invited", "--data-dir", str(public.data_dir))
        assert made.returncode == 0, made.stderr
        key = made.stdout.split("api key: ")[1].strip()
        with public.client(key) as api:
            assert api.get("/v1/sources").status_code == 200
    finally:
        public.stop()
    lines = [line for line in public.log().splitlines() if "sign-up is closed" in line]
    assert len(lines) == 1 and "0.0.0.0" in lines[0] and "accounts.signup" in lines[0]

    chosen = GethookServer(
        tmp_path / "data2",
        host="0.0.0.0",
        env={"GETHOOK_ACCOUNTS_SIGNUP": "open", "GETHOOK_ACCOUNTS_SIGNUPS_PER_CLIENT": "2"},
    ).start()
    try:
        with chosen.client() as client:
            for _ in range(2):
                assert client.post("/v1/accounts", json={"name": "walk-in"}).status_code == 201
            throttled = client.post("/v1/accounts", json={"name": "walk-in"})
            assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) > 0
    finally:
        chosen.stop()
    assert "sign-up is closed" not in chosen.log()
