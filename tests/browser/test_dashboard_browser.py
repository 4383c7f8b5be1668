"""The dashboard in a real headless Chromium against a real server and real receivers."""

from __future__ import annotations

import json
import re
import time

from playwright.sync_api import expect

from tests.browser.conftest import sign_in_with_key, sign_in_with_password

# The events page follows the event stream; generous for a busy machine.
LIVE_TIMEOUT_MS = 12_000


def test_an_event_arrives_live_then_open_it_and_replay_it(page_factory, dashboard, snap):
    page = page_factory()
    sign_in_with_password(page)
    requests: list[tuple[str, str]] = []
    page.on("request", lambda request: requests.append((request.resource_type, request.url)))
    with page.expect_response(lambda answer: "/events/live" in answer.url) as stream:
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Events").click()
    assert stream.value.status == 200
    assert stream.value.headers["content-type"].startswith("text/event-stream")
    expect(page.get_by_role("heading", name="Events")).to_be_visible()
    page.evaluate("window.__notReloaded = true")

    event_id = dashboard.ingest(b'{"type": "invoice.paid", "amount": 4200}')
    row_link = page.get_by_role("link", name=event_id)
    expect(row_link).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    assert page.evaluate("window.__notReloaded") is True  # arrived without a reload
    # Pushed, not polled: one EventSource, and the rows were re-read only after a message
    # (the old poll fetched them every 3 s from the start).
    streams = [url for kind, url in requests if "/events/live" in url]
    assert streams and all(kind == "eventsource" for kind, url in requests if url in streams)
    rows = [url for _, url in requests if "/events/rows" in url]
    assert 1 <= len(rows) <= 3, rows

    row_link.click()
    expect(page.get_by_role("heading", name=f"Event {event_id}")).to_be_visible()
    expect(page.locator("#event-body")).to_contain_text('"amount": 4200')
    # One destination answers 200, the other 500 twice (dead letter): wait for both outcomes.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        text = page.locator("main").inner_text()
        if "success" in text and "upstream down" in page.content() and "dead letter" in text:
            break
        time.sleep(0.5)
        page.reload()
    expect(page.get_by_text("dead letter").first).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile("^billing"))).to_be_visible()
    snap(page, "event-detail")

    page.get_by_role("button", name="Replay").click()
    page.wait_for_url(re.compile(r"/events/evt_"))
    assert event_id not in page.url
    replay_id = page.url.rsplit("/", 1)[1]
    expect(page.get_by_text("This event is a replay of")).to_be_visible()
    expect(page.locator("main").get_by_role("link", name=event_id)).to_be_visible()

    page.goto("/events")
    snap(page, "events")
    # The replay fails at "crm" too: the "failed" quick view picks it up live.
    page.goto("/events?view=failed")
    expect(page.get_by_role("link", name=replay_id)).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    page.goto("/")
    expect(page.get_by_role("heading", name="Events per day")).to_be_visible()
    snap(page, "overview")


def test_a_script_in_a_body_renders_as_text_and_does_not_run(page_factory, dashboard):
    page = page_factory()
    sign_in_with_password(page)
    payload = '<script>window.__owned = 1</script><img src=x onerror="window.__owned = 2">'
    body = {"type": "<script>window.__owned=3</script>", "note": payload}
    event_id = dashboard.ingest(
        json.dumps(body).encode(),
        **{"x-note": "<script>window.__owned=4</script>"},
    )
    page.goto("/events")
    expect(page.get_by_role("cell", name="<script>window.__owned=3</script>")).to_be_visible()
    page.goto(f"/events/{event_id}")
    expect(page.locator("#event-body")).to_contain_text("<script>window.__owned = 1</script>")
    expect(page.get_by_role("cell", name="<script>window.__owned=4</script>")).to_be_visible()
    assert page.evaluate("window.__owned") is None


def test_rotate_a_secret_shown_once_and_send_a_test_event(page_factory, dashboard, snap):
    page = page_factory()
    sign_in_with_password(page)
    dashboard.ingest(b'{"type": "health.check"}')
    page.goto("/destinations")
    # Health at a glance: "crm" answers 500, "billing" 200.
    crm = page.get_by_role("row", name=re.compile("crm"))
    deadline = time.monotonic() + 10
    while "HTTP 500" not in crm.inner_text() and time.monotonic() < deadline:
        time.sleep(0.3)
        page.reload()
    expect(crm).to_contain_text("HTTP 500")
    expect(crm).to_contain_text("0.0 %")
    expect(page.get_by_role("row", name=re.compile("billing"))).to_contain_text("100.0 %")
    row = page.get_by_role("row", name=re.compile("billing"))
    row.get_by_role("button", name="Rotate secret").click()
    secret = page.get_by_label("New signing secret", exact=True)
    expect(secret).to_have_value(re.compile(r"^whsec_"))
    snap(page, "destinations")
    page.goto("/destinations")
    expect(page.get_by_label("New signing secret", exact=True)).to_have_count(0)

    page.goto("/sources")
    expect(page.get_by_label("Ingest URL").first).to_have_value(re.compile(r"/ingest/"))
    snap(page, "sources")
    card = page.get_by_role("article").filter(has_text="stripe-live")
    card.get_by_role("button", name="Send test event").click()
    page.wait_for_url(re.compile(r"/events/evt_"))
    expect(page.get_by_text("x-gethook-test-event")).to_be_visible()


def test_viewer_cannot_act_and_a_post_without_csrf_is_refused(page_factory, dashboard):
    viewer = page_factory()
    sign_in_with_key(viewer, dashboard.viewer_key)
    viewer.goto("/destinations")
    expect(viewer.get_by_role("cell", name="billing")).to_be_visible()
    expect(viewer.get_by_role("button", name="Rotate secret")).to_have_count(0)
    expect(viewer.get_by_role("button", name="Deactivate")).to_have_count(0)
    token = viewer.locator('input[name="csrf_token"]').first.input_value()
    answer = viewer.request.post(
        f"/destinations/{dashboard.good['id']}/active",
        form={"csrf_token": token, "active": "false"},
    )
    assert answer.status == 403

    admin = page_factory()
    sign_in_with_key(admin, dashboard.key)
    answer = admin.request.post(
        f"/destinations/{dashboard.good['id']}/active", form={"active": "false"}
    )
    assert answer.status == 403
    admin.goto("/destinations")
    expect(
        admin.get_by_role("row", name=re.compile("billing")).get_by_text("active")
    ).to_be_visible()


def test_keyboard_reaches_the_navigation_and_forms(page_factory, dashboard, snap):
    page = page_factory()
    page.goto("/login")
    snap(page, "sign-in")
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("Skip to content")
    sign_in_with_password(page)
    page.goto("/api-keys")
    snap(page, "api-keys")
    page.goto("/routes")
    snap(page, "routes")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_attribute("href", "/")


def test_bulk_replay_of_dead_letters_with_the_count_first(page_factory, dashboard):
    page = page_factory()
    sign_in_with_password(page)
    first = dashboard.ingest(b'{"type": "bulk.one"}')
    second = dashboard.ingest(b'{"type": "bulk.two"}')
    page.goto(f"/events?view=dead_letter&destination_id={dashboard.failing['id']}")
    # "crm" answers 500 twice: both become dead letters, and the list shows them live.
    expect(page.get_by_role("link", name=first)).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    expect(page.get_by_role("link", name=second)).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    page.reload()  # the button's count is rendered with the page
    button = page.get_by_role("button", name=re.compile(r"^Replay all \d+ matching$"))
    count = int(re.search(r"\d+", button.inner_text()).group())
    assert count >= 2
    messages = []
    page.once("dialog", lambda dialog: messages.append(dialog.message))
    button.click()
    expect(page.get_by_role("status")).to_contain_text(f"Replayed {count} events")
    assert messages and f"Replay {count} events" in messages[0]


def test_filtering_by_source_shows_how_many_events_match(page_factory, dashboard, snap):
    page = page_factory()
    sign_in_with_password(page)
    dashboard.ingest(b'{"type": "count.me"}')
    page.goto("/events")
    form = page.get_by_role("form", name="Filter events")
    form.get_by_label("Source").select_option(label="shop")
    form.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r"source_id="))
    # Counted from the per-source tallies, so the page can afford to say it; it is exactly
    # the number of the source's events (the rows of one page show at most a page of them).
    summary = page.locator("#events-summary")
    expect(summary).to_contain_text(re.compile(r"^\d+ matching events?"))
    shown = int(re.match(r"\d+", summary.inner_text()).group())
    with dashboard.server.client() as client:
        client.headers["Authorization"] = f"Bearer {dashboard.key}"
        # A time filter makes the API count the matching rows instead.
        counted = client.get(
            "/v1/events",
            params={"source_id": dashboard.source["id"], "since": "2000-01-01T00:00:00Z"},
        )
    assert shown == counted.json()["data"]["total"] >= 1
    snap(page, "events-by-source")


def test_an_export_shows_its_progress_then_its_file(page_factory, dashboard, snap):
    page = page_factory()
    sign_in_with_password(page)
    page.goto("/exports")
    page.get_by_text("New export").click()
    page.get_by_label("Format", exact=True).select_option("csv")
    page.get_by_label("Include attempts").check()
    page.get_by_role("button", name="Start export").click()
    # The job's row refreshes itself until the file is ready.
    expect(page.get_by_role("link", name=re.compile("^Download"))).to_be_visible(timeout=15_000)
    with page.expect_download() as download:
        page.get_by_role("link", name=re.compile("^Download")).first.click()
    assert download.value.suggested_filename.endswith(".csv")
    snap(page, "exports")
    page.goto("/domains")
    page.get_by_label("Domain", exact=True).fill("hooks.acme.example")
    page.get_by_role("button", name="Add domain").click()
    expect(page.get_by_label("TXT value")).to_have_value(re.compile(r"\S+"))
    snap(page, "domains")
    page.goto("/brand")
    page.get_by_label("Company name", exact=True).fill("Acme Payments")
    page.get_by_label("Primary colour").fill("#0F766E")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Brand settings saved.")
    snap(page, "brand")
