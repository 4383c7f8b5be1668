"""The application factory: routes, error handlers and the lifespan that owns resources."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp.abc import AbstractResolver
from litestar import Litestar
from litestar.openapi import OpenAPIConfig

from gethook_lite import __version__
from gethook_lite.api.access_log import access_log_middleware
from gethook_lite.api.accounts import api_key_router, public_account_router
from gethook_lite.api.branding import branding_router, public_branding_router
from gethook_lite.api.common import PUBLIC
from gethook_lite.api.errors import EXCEPTION_HANDLERS
from gethook_lite.api.events import event_router
from gethook_lite.api.health import healthz, readyz
from gethook_lite.api.ingest_route import ingest_route
from gethook_lite.api.insights import insights_router, public_insights_router
from gethook_lite.api.metrics import metrics
from gethook_lite.api.openapi import openapi_json
from gethook_lite.api.resources import resource_router
from gethook_lite.api.test_events import test_event_router
from gethook_lite.clock import Clock, SystemClock
from gethook_lite.config import Settings
from gethook_lite.context import Context
from gethook_lite.db import Database
from gethook_lite.delivery.dispatch import Dispatcher
from gethook_lite.delivery.network_policy import NetworkPolicy
from gethook_lite.delivery.scheduler import Scheduler
from gethook_lite.domain.throttle import LoginThrottle
from gethook_lite.metrics import Metrics
from gethook_lite.secrets_box import PasswordHashing, SecretBox, load_or_create_key
from gethook_lite.tasks import start_background_tasks
from gethook_lite.web import web_router

__all__ = ["DATABASE_FILE", "DataDirLocked", "create_app", "open_context"]

log = logging.getLogger(__name__)

DATABASE_FILE = "gethook.db"
LOCK_FILE = "gethook.lock"


class DataDirLocked(RuntimeError):
    """Another gethook process already serves this data directory."""


@contextlib.contextmanager
def _data_dir_lock(data_dir: Path):
    # SQLite mode is one process per data dir: the scheduler assumes it owns every lease.
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DataDirLocked(
                f"another gethook process is using the data directory {data_dir}"
            ) from None
        yield
    finally:
        os.close(fd)


@contextlib.asynccontextmanager
async def open_context(
    settings: Settings, clock: Clock | None = None, *, passwords: PasswordHashing | None = None
) -> AsyncIterator[Context]:
    """Open the database and build the instance's Context (also used by CLI commands)."""
    data_dir = settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    clock = clock or SystemClock()
    db = Database(data_dir / DATABASE_FILE, synchronous=settings.storage.synchronous.upper())
    await db.open()
    try:
        key = load_or_create_key(settings.storage.encryption_key, data_dir)
        yield Context(
            settings=settings,
            db=db,
            clock=clock,
            secrets=SecretBox(key),
            passwords=passwords or PasswordHashing(),
            login_throttle=LoginThrottle(clock),
            network_policy=NetworkPolicy(
                allow_private=settings.delivery.allow_private_networks,
                allow_cidrs=settings.delivery.allow_cidrs,
                deny_cidrs=settings.delivery.deny_cidrs,
            ),
            metrics=Metrics(),
        )
    finally:
        await db.close()


@contextlib.asynccontextmanager
async def _delivery_engine(
    ctx: Context, *, enabled: bool, resolver: AbstractResolver | None = None
) -> AsyncIterator[None]:
    """Start the dispatcher and scheduler for the app's lifetime (or not, in some tests)."""
    dispatcher = Dispatcher(
        ctx.settings.delivery, ctx.secrets, ctx.network_policy, ctx.clock, resolver=resolver
    )
    await dispatcher.start()
    scheduler = Scheduler(
        ctx.db, dispatcher, ctx.clock, ctx.settings.delivery, on_attempt=_observer(ctx)
    )
    ctx.scheduler = scheduler
    if enabled:
        await scheduler.start()
    try:
        yield
    finally:
        await scheduler.stop()
        await dispatcher.close()


def _observer(ctx: Context):
    """What the scheduler reports after each recorded attempt: metrics and one log line."""
    attempt_log = logging.getLogger("gethook_lite.delivery")

    def observe(job: dict, result, next_status: str) -> None:
        ctx.metrics.record_attempt(result.outcome, result.latency_ms / 1000, next_status)
        attempt_log.info(
            "delivery attempt %s: %s -> %s",
            result.outcome,
            job["event_id"],
            next_status,
            extra={
                "fields": {
                    "event_id": job["event_id"],
                    "destination_id": job["destination_id"],
                    "attempt": job["attempts_count"] + 1,
                    "outcome": result.outcome,
                    "response_status": result.response_status,
                    "latency_ms": result.latency_ms,
                    "next_status": next_status,
                }
            },
        )

    return observe


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    passwords: PasswordHashing | None = None,
    start_scheduler: bool = True,
    resolver: AbstractResolver | None = None,
) -> Litestar:
    """Build the Litestar app; resources are opened by its lifespan, not here."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        with _data_dir_lock(settings.data_dir):
            async with open_context(settings, clock, passwords=passwords) as ctx:
                app.state.ctx = ctx
                async with _delivery_engine(ctx, enabled=start_scheduler, resolver=resolver):
                    tasks = await start_background_tasks(ctx)
                    log.info("gethook-lite %s serving %s", __version__, settings.data_dir)
                    try:
                        yield
                    finally:
                        for task in reversed(tasks):
                            await task.stop()

    return Litestar(
        route_handlers=[
            healthz,
            readyz,
            metrics,
            openapi_json,
            ingest_route,
            public_account_router,
            api_key_router,
            resource_router,
            test_event_router,
            event_router,
            insights_router,
            public_insights_router,
            branding_router,
            public_branding_router,
            # The dashboard's HTML pages at / (its own session guard, CSP and error pages).
            web_router,
        ],
        dependencies=PUBLIC,
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=[lifespan],
        request_max_body_size=settings.server.max_body_bytes,
        openapi_config=OpenAPIConfig(title="GetHook Lite", version=__version__, path="/openapi"),
        debug=False,
        logging_config=None,
        middleware=[access_log_middleware] if settings.server.access_log else [],
    )
