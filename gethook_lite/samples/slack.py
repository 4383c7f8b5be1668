"""Slack Events API samples: an ``event_callback`` envelope around the inner event.

The gateway records the inner ``event.type`` (``message``, ``app_mention``). Payloads are ours,
shaped like Slack's, with made-up ids.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gethook_lite.samples.model import Sample, SampleIds, compact_json

__all__ = ["SLACK_EVENT_TYPES", "slack_sample"]


class _Workspace:
    """The ids one sample shares between envelope and event."""

    def __init__(self, ids: SampleIds) -> None:
        self.team = ids.upper("T", 10)
        self.app = ids.upper("A", 10)
        self.bot_user = ids.upper("U", 10)
        self.user = ids.upper("U", 10)
        self.channel = ids.upper("C", 10)


def _ts(now: float, ids: SampleIds) -> str:
    # Slack's message ts: seconds and a 6-digit sequence, unique per channel.
    return f"{int(now)}.{ids.number(6)}"


def _message(ws: _Workspace, now: float, ids: SampleIds) -> dict[str, Any]:
    ts = _ts(now, ids)
    return {
        "type": "message",
        "channel": ws.channel,
        "channel_type": "channel",
        "user": ws.user,
        "text": "Deploy finished: 3 failed webhooks replayed, all delivered.",
        "ts": ts,
        "event_ts": ts,
    }


def _app_mention(ws: _Workspace, now: float, ids: SampleIds) -> dict[str, Any]:
    ts = _ts(now, ids)
    return {
        "type": "app_mention",
        "channel": ws.channel,
        "user": ws.user,
        "text": f"<@{ws.bot_user}> which deliveries failed in the last hour?",
        "ts": ts,
        "event_ts": ts,
    }


def _reaction_added(ws: _Workspace, now: float, ids: SampleIds) -> dict[str, Any]:
    return {
        "type": "reaction_added",
        "user": ws.user,
        "reaction": "white_check_mark",
        "item": {"type": "message", "channel": ws.channel, "ts": _ts(now - 60, ids)},
        "item_user": ws.bot_user,
        "event_ts": _ts(now, ids),
    }


_EVENTS: dict[str, Callable[[_Workspace, float, SampleIds], dict[str, Any]]] = {
    "message": _message,
    "app_mention": _app_mention,
    "reaction_added": _reaction_added,
}
SLACK_EVENT_TYPES: tuple[str, ...] = tuple(_EVENTS)


def slack_sample(event_type: str, now: float, ids: SampleIds) -> Sample:
    """An ``event_callback`` carrying an event of ``event_type``; unknown types get a minimal
    event (type, user, event_ts)."""
    ws = _Workspace(ids)
    build = _EVENTS.get(event_type)
    event = (
        build(ws, now, ids)
        if build
        else {"type": event_type, "user": ws.user, "event_ts": _ts(now, ids)}
    )
    event_id = ids.upper("Ev", 10)
    envelope = {
        "token": ids.token("", 24),
        "team_id": ws.team,
        "api_app_id": ws.app,
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(now),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": ws.team,
                "user_id": ws.bot_user,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
    }
    return Sample(
        provider="slack",
        event_type=event_type,
        event_id=event_id,
        body=compact_json(envelope),
        content_type="application/json",
        headers={"User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)"},
    )
