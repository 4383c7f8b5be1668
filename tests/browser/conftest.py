"""Browser tests: a real ``gethook serve``, real receivers and Debian's headless Chromium
driven by Playwright (never ``playwright install``: .ci/run installs the system browser)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.receiver import Receiver, Reply
from tests.support.server import GethookServer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Set to a folder to save screenshots of the main pages there (docs/screenshots is committed).
SCREENSHOTS_ENV = "GETHOOK_SCREENSHOTS_DIR"
EMAIL, PASSWORD = "ops@example.com", "correct horse battery"


@dataclass
class Dashboard:
    """The running instance the browser tests look at."""

    server: GethookServer
    key: str
    source: dict
    good: dict
    failing: dict
    viewer_key: str

    @property
    def url(self) -> str:
        return self.server.url

    def ingest(self, body: bytes, **headers: str) -> str:
        with self.server.client() as client:
            answer = client.post(
                f"/ingest/{self.source['path_token']}",
                content=body,
                headers={"content-type": "application/json", **headers},
            )
        assert answer.status_code == 202, answer.text
        return answer.json()["data"]["id"]


# Module scope, not session: while Playwright's sync API is open, its event loop runs in the
# main thread and later tests that call asyncio.run() would fail. One module, one browser.
@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run installs it")
        pytest.skip("no system chromium (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory) -> Iterator[Dashboard]:
    """One server for the module: an account with email and password, a source routed to a
    receiver that answers 200 and to one that answers 500 (dead-lettered after 2 attempts)."""
    with Receiver() as good, Receiver(lambda n: Reply(500, b"upstream down")) as bad:
        # No circuit breaker: "crm" fails on purpose in test after test, and its deliveries
        # must become dead letters, not be held behind an open circuit.
        server = GethookServer(
            tmp_path_factory.mktemp("dashboard") / "data",
            env={"GETHOOK_DELIVERY_CIRCUIT_BREAKER_ENABLED": "false"},
        ).start()
        try:
            with server.client() as client:
                registered = client.post(
                    "/v1/auth/register", json={"name": "Acme", "email": EMAIL, "password": PASSWORD}
                ).json()["data"]
                key = registered["api_key"]["key"]
                client.headers["Authorization"] = f"Bearer {key}"
                source = client.post(
                    "/v1/sources",
                    json={
                        "name": "stripe-live",
                        "provider": "stripe",
                        "verification_config": {"secret": "whsec_test"},
                    },
                ).json()["data"]
                plain = client.post("/v1/sources", json={"name": "shop"}).json()["data"]
                ok = client.post(
                    "/v1/destinations", json={"name": "billing", "url": good.url}
                ).json()["data"]
                failing = client.post(
                    "/v1/destinations", json={"name": "crm", "url": bad.url}
                ).json()["data"]
                for dest in (ok, failing):
                    client.post(
                        "/v1/routes",
                        json={
                            "source_id": plain["id"],
                            "destination_id": dest["id"],
                            "retry_policy": {"max_attempts": 2, "initial_interval_seconds": 1},
                        },
                    )
                client.post(
                    "/v1/routes", json={"source_id": source["id"], "destination_id": ok["id"]}
                )
                viewer = client.post("/v1/api-keys", json={"name": "grafana", "role": "viewer"})
            yield Dashboard(server, key, plain, ok, failing, viewer.json()["data"]["key"])
        finally:
            server.stop()


class Console:
    """Errors the page logged (a CSP violation shows up here)."""

    def __init__(self) -> None:
        self.errors: list[str] = []


@pytest.fixture
def page_factory(browser, dashboard):
    """New browser contexts (separate cookie jars); each page's console errors are checked."""
    contexts, consoles = [], []

    def make():
        context = browser.new_context(
            base_url=dashboard.url, viewport={"width": 1360, "height": 900}
        )
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        console = Console()
        page.on("console", lambda msg: msg.type == "error" and console.errors.append(msg.text))
        page.on("pageerror", lambda exc: console.errors.append(str(exc)))
        page.on("dialog", lambda dialog: dialog.accept())
        consoles.append(console)
        return page

    yield make
    for context in contexts:
        context.close()
    errors = [error for console in consoles for error in console.errors]
    # The forbidden POSTs the tests make on purpose log their 403s, an ended portal link its
    # 410; nothing else may.
    assert all("403" in error or "410 (Gone)" in error for error in errors), errors


@pytest.fixture
def snap():
    """Save a screenshot when GETHOOK_SCREENSHOTS_DIR is set (to refresh docs/screenshots)."""
    folder = os.environ.get(SCREENSHOTS_ENV)

    def take(page, name: str) -> None:
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)

    return take


def sign_in_with_password(page) -> None:
    page.goto("/login")
    page.get_by_label("Email", exact=True).fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url("**/")


def sign_in_with_key(page, key: str) -> None:
    page.goto("/login")
    page.get_by_label("API key", exact=True).fill(key)
    page.get_by_role("button", name="Sign in with key").click()
    page.wait_for_url("**/")
