"""Signing in to the dashboard from an in-process client, as a browser would."""

from __future__ import annotations

import re

from litestar.testing import TestClient

__all__ = ["csrf_of", "sign_in"]

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def sign_in(client: TestClient, *, key: str | None = None, email: str = "", password: str = ""):
    """Fill in the sign-in form; returns the answer to the POST (303 on success)."""
    form_page = client.get("/login")
    assert form_page.status_code == 200, form_page.text
    fields = {"csrf_token": csrf_of(form_page.text), "next": "/"}
    fields.update({"api_key": key} if key else {"email": email, "password": password})
    return client.post("/login", data=fields, follow_redirects=False)
