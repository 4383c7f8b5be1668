"""The customer portal in a real headless Chromium: only its destinations, the account's
colour and logo, a granted replay that works, an ungranted action absent and refused, and an
expired link that shows no data."""

from __future__ import annotations

import re
import sqlite3
import struct
import time
import zlib

from playwright.sync_api import expect

from gethook_lite.data_dir import DATABASE_FILE

LOGO_URL = "https://cdn.acme.example/logo.png"
TEAL = "#0F766E"


def _png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A solid-colour PNG: the logo the browser is given instead of fetching one."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def _portal(dashboard, **body) -> dict:
    with dashboard.server.client() as client:
        client.headers["Authorization"] = f"Bearer {dashboard.key}"
        client.post(
            "/v1/brand-settings",
            json={
                "company_name": "Acme Payments",
                "logo_url": LOGO_URL,
                "primary_color": TEAL,
                "support_email": "help@acme.example",
                "docs_title": "Acme webhooks",
            },
        ).raise_for_status()
        answer = client.post("/v1/portal-sessions", json=body)
        assert answer.status_code == 201, answer.text
        return answer.json()["data"]


def _branded_page(page_factory):
    page = page_factory()
    # The logo's host is not on this machine: the browser is handed the image instead.
    page.route(
        LOGO_URL,
        lambda route: route.fulfill(content_type="image/png", body=_png(96, 32, (15, 118, 110))),
    )
    return page


def test_the_portal_shows_only_its_destinations_branded_and_a_granted_replay_works(
    page_factory, dashboard, snap
):
    event_id = dashboard.ingest(b'{"type": "invoice.paid", "amount": 990}')
    session = _portal(dashboard, destination_ids=[dashboard.good["id"]], capabilities=["replay"])
    page = _branded_page(page_factory)
    page.goto(session["url"].replace(session["url"].split("/portal/")[0], dashboard.url))

    destinations = page.locator("#portal-destinations")
    expect(destinations.get_by_role("cell", name="billing", exact=True)).to_be_visible()
    expect(page.get_by_text("crm")).to_have_count(0)
    deliveries = page.locator("#portal-deliveries")
    # Its own delivery succeeded: the customer does not see the event retrying at "crm".
    row = deliveries.get_by_role("row", name=re.compile(event_id))
    deadline = time.monotonic() + 10
    while "delivered" not in row.inner_text() and time.monotonic() < deadline:
        time.sleep(0.3)
        page.reload()
    expect(row).to_contain_text("delivered")
    expect(page.get_by_text("Acme Payments").first).to_be_visible()
    expect(page.get_by_role("link", name="help@acme.example")).to_be_visible()
    border = page.locator(".portal-head").evaluate("e => getComputedStyle(e).borderBottomColor")
    assert border == "rgb(15, 118, 110)"
    logo = page.get_by_role("img", name="Acme Payments")
    expect(logo).to_have_attribute("src", LOGO_URL)
    page.wait_for_function("() => document.querySelector('.portal-logo').naturalWidth > 0")
    # Granted: replay; not granted: rotating the secret or editing the URL.
    expect(page.get_by_role("button", name="Rotate secret")).to_have_count(0)
    expect(page.get_by_role("button", name="Save URL")).to_have_count(0)
    snap(page, "portal")

    page.get_by_role("link", name=event_id).click()
    expect(page.get_by_role("heading", name=f"Event {event_id}")).to_be_visible()
    expect(page.locator("main")).not_to_contain_text("crm")
    page.get_by_role("button", name="Replay").click()
    page.wait_for_url(re.compile(r"/portal/[^/]+/events/evt_"))
    assert event_id not in page.url
    expect(page.get_by_text("This event is a replay")).to_be_visible()

    # The ungranted action is refused even with the portal's own CSRF token.
    token = page.locator('input[name="csrf_token"]').first.input_value()
    base = page.url.split("/events/")[0]
    refused = page.request.post(
        f"{base}/destinations/{dashboard.good['id']}/rotate-secret", form={"csrf_token": token}
    )
    assert refused.status == 404
    # Another destination of the account is not this portal's either.
    other = page.request.get(f"{base}/events/{event_id}".replace(event_id, "evt_nope"))
    assert other.status == 404


def test_an_expired_portal_link_shows_no_data(page_factory, dashboard):
    session = _portal(dashboard, destination_ids=[dashboard.good["id"]])
    # The server runs on the real clock: move this session's expiry into the past instead of
    # waiting (the API tests expire one on the fake clock).
    with sqlite3.connect(dashboard.server.data_dir / DATABASE_FILE, timeout=10) as conn:
        conn.execute(
            "UPDATE portal_sessions SET expires_at = created_at - 1 WHERE id = ?",
            (session["id"],),
        )
    page = _branded_page(page_factory)
    answer = page.goto(session["url"].replace(session["url"].split("/portal/")[0], dashboard.url))
    assert answer is not None and answer.status == 410
    expect(page.get_by_role("heading", name="This link has ended")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("expired")
    expect(page.get_by_text("billing")).to_have_count(0)
    expect(page.get_by_text("Acme Payments")).to_have_count(0)
