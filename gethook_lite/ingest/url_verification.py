"""Slack's URL check: before it sends events to a URL, Slack proves the URL answers for the app.

Slack posts ``{"type": "url_verification", "challenge": "…", "token": "…"}`` (signed like any
event) and expects the challenge back in a 200. It is a handshake, not an event: it is answered
and neither stored nor routed.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from gethook_lite.errors import BadRequest

__all__ = ["SlackChallenge", "slack_challenge"]


@dataclass(frozen=True, slots=True)
class SlackChallenge:
    """A verified Slack URL check; ingest answers ``{"challenge": value}`` with 200."""

    value: str


class _UrlCheck(msgspec.Struct):
    # Only the type is read first: an event of another type may carry any other fields.
    type: str | None = None


class _UrlVerification(msgspec.Struct):
    challenge: str


def slack_challenge(body: bytes) -> SlackChallenge | None:
    """The challenge of a Slack ``url_verification`` body; None for any other body.

    A url_verification without a string challenge is a 400: it is not an event either.
    """
    if not body.lstrip().startswith(b"{"):
        return None  # slash commands and interactivity are form-encoded
    try:
        check = msgspec.json.decode(body, type=_UrlCheck)
    except msgspec.DecodeError:
        return None
    if check.type != "url_verification":
        return None
    try:
        return SlackChallenge(msgspec.json.decode(body, type=_UrlVerification).challenge)
    except msgspec.DecodeError:
        raise BadRequest("challenge: a url_verification must carry a string challenge") from None
