"""The application factory: routes, error handlers and the lifespan that owns resources."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp.abc import AbstractResolver
from litestar import Litestar
from litestar.openapi import OpenAPIConfig
from litestar.types import Receive, Scope, Send

from gethook_lite import __version__
from gethook_lite.api.access_log import access_log_middleware
from gethook_lite.api.accounts import api_key_router, public_account_router
from gethook_lite.api.branding import branding_router, public_branding_router
from gethook_lite.api.bulk_retries import bulk_retry_router
from gethook_lite.api.common import PUBLIC, ApiRequest, blank_query_values_middleware
from gethook_lite.api.destination_control import destination_control_router
from gethook_lite.api.errors import EXCEPTION_HANDLERS
from gethook_lite.api.events import event_router
from gethook_lite.api.health import healthz, readyz
from gethook_lite.api.ingest_front import INGEST_PREFIX, IngestFront
from gethook_lite.api.ingest_route import ingest_route
from gethook_lite.api.insights import insights_router, public_insights_router
from gethook_lite.api.metrics import metrics
from gethook_lite.api.openapi import openapi_json
from gethook_lite.api.portal_sessions import portal_session_router
from gethook_lite.api.reference import DocumentPlugin, ReferencePlugin
from gethook_lite.api.resources import resource_router
from gethook_lite.api.sink import sink_router
from gethook_lite.api.stream import stream_router
from gethook_lite.api.test_events import test_event_router
from gethook_lite.clock import Clock, SystemClock
from gethook_lite.config import Settings
from gethook_lite.context import Context
from gethook_lite.data_dir import (
    DATABASE_FILE,
    LOCK_FILE,
    DataDirLocked,
    StartupError,
)
from gethook_lite.data_dir import data_dir_lock as _data_dir_lock
from gethook_lite.data_dir import unwritable as _unwritable
from gethook_lite.db import Database, StorageError
from gethook_lite.db.database import SchemaTooNew
from gethook_lite.db.deliveries import Claim
from gethook_lite.db.instance_meta import KEY_CHECK, get_meta, key_sample, set_meta_once
from gethook_lite.delivery.dispatch import AttemptResult, Dispatcher
from gethook_lite.delivery.network_policy import NetworkPolicy
from gethook_lite.delivery.scheduler import Scheduler
from gethook_lite.domain.destination_control import controller
from gethook_lite.domain.domains import DnsTxtResolver, TxtResolver
from gethook_lite.domain.throttle import LoginThrottle
from gethook_lite.metrics import Metrics
from gethook_lite.private_files import create_private_file, make_private_dir, tighten
from gethook_lite.secrets_box import (
    KEY_CHECK_PLAINTEXT,
    KEY_FILE,
    EncryptionKeyError,
    PasswordHashing,
    SecretBox,
    check_key_format,
    load_or_create_key,
)
from gethook_lite.tasks import start_background_tasks
from gethook_lite.web import portal_router, web_router

__all__ = [
    "DATABASE_FILE",
    "DataDirLocked",
    "Instance",
    "StartupError",
    "check_startup",
    "create_app",
    "open_context",
    "serve_instance",
]

log = logging.getLogger(__name__)


def _make_data_dir_private(data_dir: Path) -> None:
    """The directory 0700 and the database files 0600, created so or tightened (see
    private_files); SQLite gives the -wal and -shm it creates the database file's mode."""
    make_private_dir(data_dir)
    database = data_dir / DATABASE_FILE
    create_private_file(database)
    for name in (f"{DATABASE_FILE}-wal", f"{DATABASE_FILE}-shm", LOCK_FILE, "secret.key"):
        tighten(data_dir / name)


async def _open_database(settings: Settings) -> Database:
    data_dir = settings.data_dir
    try:
        _make_data_dir_private(data_dir)
    except OSError as exc:
        raise _unwritable(data_dir, exc) from None
    db = Database(
        data_dir / DATABASE_FILE,
        synchronous=settings.storage.synchronous.upper(),
        busy_timeout_ms=settings.storage.busy_timeout_ms,
        url=settings.storage.url,
    )
    try:
        await db.open()
    except SchemaTooNew as exc:
        # Nothing was changed: the check runs before any migration.
        raise StartupError(f"{db.where}: {exc}") from None
    except StorageError as exc:
        if db.url:
            raise StartupError(
                f"storage.url: cannot open {db.where} ({exc.__cause__ or exc}); check that the"
                " server is up and the database exists"
            ) from None
        raise StartupError(
            f"storage.data_dir: cannot open {db.path} ({exc.__cause__ or exc}); check that the"
            " directory and the file are writable by this user"
        ) from None
    return db


async def _secret_box(settings: Settings, db: Database) -> SecretBox:
    """The key that opens this database's secrets, checked against the stored key check.

    On PostgreSQL several processes share the database (issue 19 §3): each must hold the same
    key, so a key kept in one data directory is not enough; the messages say so."""
    sample = await db.read(key_sample)
    try:
        key = load_or_create_key(
            settings.storage.encryption_key, settings.data_dir, create=sample is None
        )
    except EncryptionKeyError as exc:
        if db.url and not settings.storage.encryption_key:
            raise StartupError(
                f"storage.encryption_key is empty and {settings.data_dir / KEY_FILE} is"
                f" missing, but {db.where} holds secrets encrypted with a key;"
                f" {_SHARED_KEY_HINT}"
            ) from None
        raise StartupError(str(exc)) from None
    except OSError as exc:
        raise _unwritable(settings.data_dir, exc) from None
    box = SecretBox(key)
    if sample is None:
        await db.write(set_meta_once, KEY_CHECK, box.encrypt(KEY_CHECK_PLAINTEXT))
        # Another process may have started on the same new database with its own key at the
        # same moment: the key check stored first wins, and this key must be that one.
        sample = await db.read(key_sample)
        if db.url and not settings.storage.encryption_key:
            log.warning(
                "generated the encryption key in %s; every other process using %s needs it as"
                " storage.encryption_key (or GETHOOK_STORAGE_ENCRYPTION_KEY)",
                settings.data_dir / KEY_FILE,
                db.where,
            )
    if sample is not None and not box.opens(sample):
        raise StartupError(_key_mismatch(settings, db))
    if await db.read(get_meta, KEY_CHECK) is None:
        await db.write(set_meta_once, KEY_CHECK, box.encrypt(KEY_CHECK_PLAINTEXT))
    return box


# Said when a process sharing a PostgreSQL database has no key of its own to offer.
_SHARED_KEY_HINT = (
    "every process sharing a PostgreSQL database needs the same key: set"
    " storage.encryption_key (the same in every process) to the key of the process that"
    " first started on this database (its data_dir/secret.key) or the one backed up with it"
)


def _key_mismatch(settings: Settings, db: Database) -> str:
    where = (
        "storage.encryption_key"
        if settings.storage.encryption_key
        else str(settings.data_dir / KEY_FILE)
    )
    if db.url:
        return f"{where}: this key does not open the secrets in {db.where}; {_SHARED_KEY_HINT}"
    return (
        f"{where}: this key does not open the secrets in {db.where}; use the secret.key"
        " (or storage.encryption_key) that was backed up with this database"
    )


@contextlib.asynccontextmanager
async def open_context(
    settings: Settings,
    clock: Clock | None = None,
    *,
    passwords: PasswordHashing | None = None,
    txt_resolver: TxtResolver | None = None,
) -> AsyncIterator[Context]:
    """Open the database and build the instance's Context (also used by CLI commands).

    Raises StartupError (one line) when the data directory or the key cannot be used.
    """
    clock = clock or SystemClock()
    if settings.storage.encryption_key:
        # Before the database is created or migrated: a typo in the key changes nothing.
        try:
            check_key_format(settings.storage.encryption_key.encode())
        except EncryptionKeyError as exc:
            raise StartupError(str(exc)) from None
    db = await _open_database(settings)
    try:
        secrets = await _secret_box(settings, db)
        yield Context(
            settings=settings,
            db=db,
            clock=clock,
            secrets=secrets,
            passwords=passwords or PasswordHashing(),
            login_throttle=LoginThrottle(clock),
            network_policy=NetworkPolicy(
                allow_private=settings.delivery.allow_private_networks,
                allow_cidrs=settings.delivery.allow_cidrs,
                deny_cidrs=settings.delivery.deny_cidrs,
            ),
            metrics=Metrics(),
            txt_resolver=txt_resolver or DnsTxtResolver(),
        )
    finally:
        await db.close()


async def check_startup(settings: Settings) -> None:
    """Everything the server's start-up could refuse, done before uvicorn runs, so that a
    refusal is one line from the CLI rather than a traceback from the ASGI lifespan."""
    with _data_dir_lock(settings.data_dir):
        async with open_context(settings):
            pass


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
        ctx.db,
        dispatcher,
        ctx.clock,
        ctx.settings.delivery,
        on_attempt=_observer(ctx),
        control=controller(ctx),
        owner=ctx.lease_owner,
    )
    ctx.scheduler = scheduler
    ctx.dispatcher = dispatcher
    if enabled:
        await scheduler.start()
    try:
        yield
    finally:
        await scheduler.stop()
        ctx.dispatcher = None
        await dispatcher.close()


def _observer(ctx: Context) -> Callable[[Claim, AttemptResult, str], None]:
    """What the scheduler reports after each recorded attempt: metrics and one log line."""
    attempt_log = logging.getLogger("gethook_lite.delivery")

    def observe(claim: Claim, result: AttemptResult, next_status: str) -> None:
        ctx.metrics.record_attempt(result.outcome, result.latency_ms / 1000, next_status)
        ctx.changes_committed()  # the event's new status, for live stream readers
        attempt_log.info(
            "delivery attempt %s: %s -> %s",
            result.outcome,
            claim.event_id,
            next_status,
            extra={
                "fields": {
                    "event_id": claim.event_id,
                    "destination_id": claim.destination_id,
                    "attempt": claim.attempts_count + 1,
                    "outcome": result.outcome,
                    "response_status": result.response_status,
                    "latency_ms": result.latency_ms,
                    "next_status": next_status,
                }
            },
        )

    return observe


def _log_automatic_signup(settings: Settings) -> None:
    # Not set explicitly and reachable from outside: closed, and the operator is told why.
    if settings.accounts.signup == "auto" and settings.signup_policy == "closed":
        log.warning(
            "sign-up is closed: listening on %s and accounts.signup is not set; set it to"
            " open or token to let people sign up (gethook accounts create works meanwhile)",
            settings.server.host,
        )


@dataclass(frozen=True, kw_only=True)
class Instance:
    """What one run of the app (one lifespan) opens and serves."""

    settings: Settings
    clock: Clock | None = None
    passwords: PasswordHashing | None = None
    start_scheduler: bool = True
    resolver: AbstractResolver | None = None
    txt_resolver: TxtResolver | None = None


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    passwords: PasswordHashing | None = None,
    start_scheduler: bool = True,
    resolver: AbstractResolver | None = None,
    txt_resolver: TxtResolver | None = None,
) -> Litestar:
    """Build the Litestar app; resources are opened by its lifespan, not here.

    ``resolver`` resolves destination host names for delivery and ``txt_resolver`` looks up
    custom domains' TXT records; both default to the system's DNS (tests pass fakes).
    """
    app = _build_app(settings)
    serve_instance(
        app,
        Instance(
            settings=settings,
            clock=clock,
            passwords=passwords,
            start_scheduler=start_scheduler,
            resolver=resolver,
            txt_resolver=txt_resolver,
        ),
    )
    return app


def serve_instance(app: Litestar, instance: Instance) -> None:
    """Set what the app's next lifespan opens. The route table depends only on the settings
    that ``_build_app`` reads (body limit, access log), and building it is most of what an app
    costs (~0.1 s), so the tests run many instances, one after another, on one built app."""
    app.state.instance = instance


@contextlib.asynccontextmanager
async def _lifespan(app: Litestar) -> AsyncIterator[None]:
    instance: Instance = app.state.instance
    settings = instance.settings
    with _data_dir_lock(settings.data_dir):
        async with open_context(
            settings,
            instance.clock,
            passwords=instance.passwords,
            txt_resolver=instance.txt_resolver,
        ) as ctx:
            app.state.ctx = ctx
            async with _delivery_engine(
                ctx, enabled=instance.start_scheduler, resolver=instance.resolver
            ):
                tasks = await start_background_tasks(ctx)
                log.info("gethook-lite %s serving %s", __version__, settings.data_dir)
                _log_automatic_signup(settings)
                try:
                    yield
                finally:
                    for task in reversed(tasks):
                        await task.stop()


class GatewayApp(Litestar):
    """The Litestar app, with /ingest/... answered by its IngestFront before Litestar's own
    machinery (api/ingest_front.py says what that saves and what it keeps). Everything else,
    lifespan included, is Litestar's."""

    ingest_front: IngestFront | None = None  # None: Litestar routes /ingest too (tests compare)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # type: ignore[override]
        if (
            scope["type"] == "http"
            and scope["path"].startswith(INGEST_PREFIX)
            and self.ingest_front is not None
            and not scope.get("root_path")  # under a root path, Litestar strips it first
        ):
            await self.ingest_front(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def _build_app(settings: Settings) -> Litestar:
    app = _routed_app(settings)
    app.ingest_front = IngestFront(app)
    return app


def _routed_app(settings: Settings) -> GatewayApp:
    return GatewayApp(
        route_handlers=[
            healthz,
            readyz,
            metrics,
            openapi_json,
            ingest_route,
            public_account_router,
            api_key_router,
            resource_router,
            destination_control_router,
            portal_session_router,
            test_event_router,
            stream_router,
            sink_router,
            event_router,
            bulk_retry_router,
            insights_router,
            public_insights_router,
            branding_router,
            public_branding_router,
            # The dashboard's HTML pages at / (its own session guard, CSP and error pages).
            portal_router,
            web_router,
        ],
        dependencies=PUBLIC,
        exception_handlers=EXCEPTION_HANDLERS,
        request_class=ApiRequest,
        lifespan=[_lifespan],
        request_max_body_size=settings.server.max_body_bytes,
        # /docs: our HTML reference and the document, no UI fetched from a CDN.
        openapi_config=OpenAPIConfig(
            title="GetHook Lite",
            version=__version__,
            path="/docs",
            render_plugins=[ReferencePlugin(), DocumentPlugin()],
            use_handler_docstrings=True,
        ),
        debug=False,
        logging_config=None,
        # The ingest front repeats these for /ingest/... (and refuses to start with any other).
        middleware=[
            *([access_log_middleware] if settings.server.access_log else []),
            blank_query_values_middleware,
        ],
    )
