"""GitHub sample events: the event name travels in X-GitHub-Event, the action in the body.

The gateway records ``{event}.{action}`` (``issues.opened``), so a requested type may name the
action (``pull_request.closed``) or not (``pull_request``, which takes a usual action).
Payloads are ours, shaped like GitHub's, with made-up values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gethook_lite.samples.model import Sample, SampleIds, compact_json, iso_time

__all__ = ["GITHUB_EVENT_TYPES", "github_sample"]

_ORG = "acme-webhooks"
_REPO = "storefront"
_DEFAULT_ACTIONS = {"pull_request": "opened", "issues": "opened"}

_Payload = Callable[[str | None, float, SampleIds], dict[str, Any]]


def _user(login: str, ids: SampleIds, kind: str = "User") -> dict[str, Any]:
    return {
        "login": login,
        "id": ids.number(8),
        "type": kind,
        "html_url": f"https://github.com/{login}",
    }


def _repository(ids: SampleIds) -> dict[str, Any]:
    return {
        "id": ids.number(9),
        "name": _REPO,
        "full_name": f"{_ORG}/{_REPO}",
        "private": False,
        "owner": _user(_ORG, ids, "Organization"),
        "html_url": f"https://github.com/{_ORG}/{_REPO}",
        "default_branch": "main",
    }


def _push(action: str | None, now: float, ids: SampleIds) -> dict[str, Any]:
    commit: dict[str, Any] = {
        "id": ids.hex(40),
        "message": "Retry webhook deliveries with exponential backoff",
        "timestamp": iso_time(now - 30),
        "author": {"name": "Dana Okafor", "email": "dana@example.com", "username": "dana-ok"},
        "added": [],
        "removed": [],
        "modified": ["app/webhooks.py", "tests/test_webhooks.py"],
    }
    before = ids.hex(40)
    return {
        "ref": "refs/heads/main",
        "before": before,
        "after": commit["id"],
        "created": False,
        "deleted": False,
        "forced": False,
        "compare": f"https://github.com/{_ORG}/{_REPO}/compare/{before[:12]}...{commit['id'][:12]}",
        "commits": [commit],
        "head_commit": commit,
        "pusher": {"name": "dana-ok", "email": "dana@example.com"},
    }


def _pull_request(action: str | None, now: float, ids: SampleIds) -> dict[str, Any]:
    closed = action == "closed"
    return {
        "number": 57,
        "pull_request": {
            "id": ids.number(10),
            "number": 57,
            "state": "closed" if closed else "open",
            "title": "Verify Stripe signatures before parsing the body",
            "body": "Moves signature checks ahead of JSON parsing so bad requests cost less.",
            "user": _user("dana-ok", ids),
            "draft": False,
            "merged": closed,
            "head": {"ref": "verify-first", "sha": ids.hex(40)},
            "base": {"ref": "main", "sha": ids.hex(40)},
            "html_url": f"https://github.com/{_ORG}/{_REPO}/pull/57",
            "created_at": iso_time(now - 7200),
            "updated_at": iso_time(now),
            "closed_at": iso_time(now) if closed else None,
        },
    }


def _issues(action: str | None, now: float, ids: SampleIds) -> dict[str, Any]:
    return {
        "issue": {
            "id": ids.number(10),
            "number": 18,
            "title": "Refund webhooks arrive twice after a deploy",
            "body": "Seen on 3 orders today; the second copy has the same event id.",
            "state": "closed" if action == "closed" else "open",
            "user": _user("lee-support", ids),
            "labels": [{"name": "bug", "color": "d73a4a"}],
            "html_url": f"https://github.com/{_ORG}/{_REPO}/issues/18",
            "created_at": iso_time(now),
            "updated_at": iso_time(now),
        }
    }


def _ping(action: str | None, now: float, ids: SampleIds) -> dict[str, Any]:
    hook_id = ids.number(9)
    return {
        "zen": "Small steps, signed payloads.",
        "hook_id": hook_id,
        "hook": {
            "type": "Repository",
            "id": hook_id,
            "active": True,
            "events": ["push", "pull_request", "issues"],
            "config": {"content_type": "json", "insecure_ssl": "0"},
            "created_at": iso_time(now),
        },
    }


_PAYLOADS: dict[str, _Payload] = {
    "push": _push,
    "pull_request": _pull_request,
    "issues": _issues,
    "ping": _ping,
}
GITHUB_EVENT_TYPES: tuple[str, ...] = (
    "push",
    "pull_request.opened",
    "pull_request.closed",
    "issues.opened",
    "ping",
)


def github_sample(event_type: str, now: float, ids: SampleIds) -> Sample:
    """A GitHub delivery of ``event_type`` (``event`` or ``event.action``); unknown events get
    the fields every event has (repository, sender) and their action."""
    event, _, action = event_type.partition(".")
    action = action or _DEFAULT_ACTIONS.get(event, "")
    build = _PAYLOADS.get(event)
    payload = build(action or None, now, ids) if build else {}
    if action:
        payload = {"action": action, **payload}
    payload["repository"] = _repository(ids)
    payload["sender"] = _user("dana-ok", ids)
    delivery = ids.uuid()
    return Sample(
        provider="github",
        event_type=f"{event}.{action}" if action else event,
        event_id=delivery,
        body=compact_json(payload),
        content_type="application/json",
        headers={
            "User-Agent": f"GitHub-Hookshot/{ids.hex(7)}",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery,
            "X-GitHub-Hook-ID": str(ids.number(9)),
            "X-GitHub-Hook-Installation-Target-Type": "repository",
            "X-GitHub-Hook-Installation-Target-ID": str(ids.number(9)),
        },
    )
