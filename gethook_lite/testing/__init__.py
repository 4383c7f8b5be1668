"""Test helpers for projects that send or receive webhooks: a sink that captures what an app
sends, a sender of signed provider webhooks, and the pytest plugin that offers both as fixtures
(``gethook_lite.testing.plugin``, loaded through the ``pytest11`` entry point).

Names are imported on first use, so that loading the plugin into every pytest run stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gethook_lite.testing.capture import CapturedEvent, CapturedRequest
    from gethook_lite.testing.sender import SentWebhook, WebhookSender, build, send
    from gethook_lite.testing.signatures import assert_signed
    from gethook_lite.testing.sink import SinkServer, WebhookSink

__all__ = [
    "CapturedEvent",
    "CapturedRequest",
    "SentWebhook",
    "SinkServer",
    "WebhookSender",
    "WebhookSink",
    "assert_signed",
    "build",
    "send",
]

_HOMES = {
    "CapturedEvent": "capture",
    "CapturedRequest": "capture",
    "SentWebhook": "sender",
    "WebhookSender": "sender",
    "build": "sender",
    "send": "sender",
    "assert_signed": "signatures",
    "SinkServer": "sink",
    "WebhookSink": "sink",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
