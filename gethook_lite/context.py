"""The long-lived objects one running instance owns, handed to handlers and tasks.

There is no global state: everything a request or a background task needs hangs off this
object, which the app's lifespan builds and tears down.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gethook_lite.clock import Clock
from gethook_lite.config import Settings
from gethook_lite.db import Database
from gethook_lite.delivery.network_policy import NetworkPolicy
from gethook_lite.metrics import Metrics
from gethook_lite.secrets_box import PasswordHashing, SecretBox

if TYPE_CHECKING:
    from gethook_lite.domain.throttle import LoginThrottle

__all__ = ["Context"]


class Context:
    # A plain class, not a dataclass: Litestar would otherwise try to convert it field by
    # field every time it injects it into a handler.

    def __init__(
        self,
        *,
        settings: Settings,
        db: Database,
        clock: Clock,
        secrets: SecretBox,
        passwords: PasswordHashing,
        login_throttle: LoginThrottle,
        network_policy: NetworkPolicy,
        metrics: Metrics,
    ) -> None:
        self.settings = settings
        self.db = db
        self.clock = clock
        self.secrets = secrets
        self.passwords = passwords
        self.login_throttle = login_throttle
        self.network_policy = network_policy
        self.metrics = metrics
        # The delivery scheduler once started (gethook_lite.delivery.scheduler).
        self.scheduler: Any = None
        # The live stream's feed once started (gethook_lite.domain.stream_feed).
        self.change_feed: Any = None
        # Per-instance caches that domain modules keep (e.g. sources by path token).
        self.caches: dict[str, Any] = {}
