"""The long-lived objects one running instance owns, handed to handlers and tasks.

There is no global state: everything a request or a background task needs hangs off this
object, which the app's lifespan builds and tears down.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any

from gethook_lite.cache import GenerationCache
from gethook_lite.clock import Clock
from gethook_lite.config import Settings
from gethook_lite.data_dir import member_id
from gethook_lite.db import Database
from gethook_lite.db.connection import SQLITE
from gethook_lite.delivery.network_policy import NetworkPolicy
from gethook_lite.metrics import Metrics
from gethook_lite.secrets_box import PasswordHashing, SecretBox

if TYPE_CHECKING:
    from gethook_lite.delivery.dispatch import Dispatcher
    from gethook_lite.domain.domains import TxtResolver
    from gethook_lite.domain.routing import RoutingTable
    from gethook_lite.domain.sources import LiveSource
    from gethook_lite.domain.stream_feed import ChangeFeed
    from gethook_lite.domain.throttle import LoginThrottle, SlidingWindowLimit
    from gethook_lite.tasks.bulk_retries import BulkRetryWorker
    from gethook_lite.tasks.cluster import ClusterMember, SingleProcess
    from gethook_lite.tasks.exports import ExportWorker

__all__ = ["Context"]

# The caches (Context attributes) read from each table that the PostgreSQL schema notifies
# about on channel gethook_cache: a routing table joins routes and their destinations; a
# source carries its custom domain's name.
_CACHES_BY_TABLE: dict[str, tuple[str, ...]] = {
    "sources": ("sources_by_token",),
    "routes": ("routing_tables",),
    "destinations": ("routing_tables",),
    "custom_domains": ("custom_domain_names", "sources_by_token"),
}
_ALL_CACHES = ("sources_by_token", "routing_tables", "custom_domain_names")


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
        txt_resolver: TxtResolver,
    ) -> None:
        self.settings = settings
        self.db = db
        self.clock = clock
        self.secrets = secrets
        self.passwords = passwords
        self.login_throttle = login_throttle
        self.network_policy = network_policy
        self.metrics = metrics
        # Looks up the TXT record that proves a custom domain (tests pass a fake one).
        self.txt_resolver = txt_resolver
        # The delivery scheduler once started (gethook_lite.delivery.scheduler).
        self.scheduler: Any = None
        # The dispatcher the scheduler sends with, once started; a destination test uses it too.
        self.dispatcher: Dispatcher | None = None
        # The live stream's feed once started (gethook_lite.domain.stream_feed).
        self.change_feed: ChangeFeed | None = None
        self.destination_tests_in_flight = set()
        # The running export worker, which a new job wakes (gethook_lite.tasks.exports).
        self.export_worker: ExportWorker | None = None
        # The running bulk retry worker, which a new job wakes (gethook_lite.tasks.bulk_retries).
        self.bulk_retry_worker: BulkRetryWorker | None = None
        # What ingest reads on every request, kept in memory and dropped on every change.
        self.sources_by_token: GenerationCache[str, LiveSource] = GenerationCache()
        self.routing_tables: GenerationCache[tuple[str, str | None], RoutingTable] = (
            GenerationCache()
        )
        self.custom_domain_names: GenerationCache[str, frozenset[str]] = GenerationCache()
        # Sign-ups per client address (gethook_lite.domain.signup), made on first use.
        self.signup_limit: SlidingWindowLimit | None = None
        # Verified against when an email is unknown, so a login takes as long either way.
        self.dummy_password_hash: str | None = None
        # Whether this process runs the once-per-cluster work (retention, header sealing, bulk
        # retries, delivery control's tick, backups): always on SQLite (one process); on
        # PostgreSQL only while it holds the leader lock (tasks/cluster.py sets it).
        self.is_leader = db.dialect == SQLITE
        # The name on this process's delivery and export leases on PostgreSQL: the data
        # directory's member id (data_dir.member_id), so that a process restarted on the same
        # directory takes back at once what its killed predecessor held. None on SQLite (a
        # start takes back every lease there).
        self.lease_owner: str | None = (
            None
            if db.dialect == SQLITE
            else f"{socket.gethostname()}:{member_id(settings.data_dir)}"
        )
        # This process's place among the others, once started (gethook_lite.tasks.cluster).
        self.cluster: ClusterMember | SingleProcess | None = None

    # Destinations with a test send in flight (domain.destination_test): one at a time each.
    destination_tests_in_flight: set[str]

    def forget_cached(self, table: str | None = None) -> None:
        """Drop what the caches read from ``table`` (every cache when None): it changed, maybe
        in another process (tasks/cluster.py hears of it)."""
        for cache in self._caches_reading(table):
            cache.forget()

    def _caches_reading(self, table: str | None) -> list[GenerationCache]:
        names = _CACHES_BY_TABLE.get(table, ()) if table is not None else _ALL_CACHES
        return [getattr(self, name) for name in names]

    def changes_committed(self) -> None:
        """A write that may have added change-log rows committed: live stream readers see them
        now rather than at the feed's fallback poll (domain.stream_feed)."""
        if self.change_feed is not None:
            self.change_feed.poke()
