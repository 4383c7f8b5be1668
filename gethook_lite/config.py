"""Settings: defaults < gethook.toml < GETHOOK_<SECTION>_<KEY> environment < command-line flags.

Every setting is read and validated once at start-up; bad configuration stops start-up with one
message naming the key (``ConfigError``).
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec

from gethook_lite.constants import SQLITE_BUSY_TIMEOUT_MS

__all__ = [
    "AccountsSettings",
    "BackupSettings",
    "BulkRetrySettings",
    "ConfigError",
    "DeliverySettings",
    "ExportSettings",
    "LiveSettings",
    "MetricsSettings",
    "RetentionSettings",
    "RoutesSettings",
    "ServerSettings",
    "Settings",
    "StorageSettings",
    "is_loopback_host",
    "load_settings",
]

ENV_PREFIX = "GETHOOK_"


class ConfigError(Exception):
    """Configuration that cannot be used; the message names the key."""


class ServerSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: int = 8080
    # The address providers use to reach us; ingest URLs are built from it.
    public_base_url: str = ""
    log_level: str = "info"
    log_format: str = "text"
    # One line per HTTP request (method, path with ingest tokens shortened, status, time).
    # Off by default: at thousands of webhooks per second the line costs a quarter of the
    # ingest rate (benchmarks/); /metrics counts every request either way.
    access_log: bool = False
    max_body_bytes: int = 1_048_576
    platform_stats: bool = True
    # When set, GET /v1/platform-stats needs "Authorization: Bearer <token>".
    platform_stats_token: str = ""
    # Bounds on what a client may make us hold before it is authenticated (gethook_lite/server.py):
    # the request line and headers (bytes and count), the time to send them and the body, and
    # open connections (more get 503 at once instead of running the process out of descriptors).
    max_header_bytes: int = 65_536
    max_headers: int = 100
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 30.0
    max_connections: int = 1000

    def validate(self) -> None:
        _require(1 <= self.port <= 65535, "server.port", "must be between 1 and 65535")
        levels = ("debug", "info", "warning", "error")
        _require(self.log_level in levels, "server.log_level", f"must be one of {levels}")
        _require(self.log_format in ("text", "json"), "server.log_format", "must be text or json")
        _require(
            1024 <= self.max_body_bytes <= 100 * 1024 * 1024,
            "server.max_body_bytes",
            "must be between 1024 and 104857600",
        )
        _require(
            1024 <= self.max_header_bytes <= 1_048_576,
            "server.max_header_bytes",
            "must be between 1024 and 1048576",
        )
        _require(10 <= self.max_headers <= 1000, "server.max_headers", "must be 10..1000")
        for key in ("header_timeout_seconds", "body_timeout_seconds"):
            _require(
                0.1 <= getattr(self, key) <= 3600, f"server.{key}", "must be between 0.1 and 3600"
            )
        _require(
            1 <= self.max_connections <= 1_000_000,
            "server.max_connections",
            "must be between 1 and 1000000",
        )
        if self.public_base_url:
            parts = urlsplit(self.public_base_url)
            _require(
                parts.scheme in ("http", "https") and bool(parts.netloc),
                "server.public_base_url",
                "must be an absolute http(s) URL such as https://hooks.example.com",
            )

    def base_url(self) -> str:
        """The public base URL without a trailing slash, derived from host/port when unset."""
        if self.public_base_url:
            return self.public_base_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"


class StorageSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    data_dir: str = "./gethook-data"
    # Fernet key (urlsafe base64 of 32 bytes). Empty: generated once into <data_dir>/secret.key.
    encryption_key: str = ""
    # SQLite's synchronous pragma: "full" makes every commit durable across a power loss;
    # "normal" only across a process crash (faster on slow disks).
    synchronous: str = "full"
    # How long a write waits for another process's lock on the database file before giving up
    # (ingest then answers 503).
    busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS
    # Empty: SQLite in data_dir. A postgresql:// URL: that PostgreSQL database (issue 19).
    url: str = ""

    def validate(self) -> None:
        _require(
            not self.url or self.url.startswith(("postgresql://", "postgres://")),
            "storage.url",
            "must be empty (SQLite in storage.data_dir) or a postgresql:// URL",
        )
        _require(
            self.synchronous in ("full", "normal"), "storage.synchronous", "must be full or normal"
        )
        _require(
            0 <= self.busy_timeout_ms <= 600_000,
            "storage.busy_timeout_ms",
            "must be between 0 and 600000",
        )


class AccountsSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # open: anyone may create an account; token: only with signup_token; closed: CLI only;
    # auto: open when listening on loopback only, closed otherwise (Settings.signup_policy).
    signup: str = "auto"
    signup_token: str = ""
    default_retention_days: int = 30
    # A custom domain not verified within this many days is removed (several accounts may
    # claim one name until someone proves it in DNS; old claims should not pile up).
    pending_domain_claim_days: int = 7

    # Accounts one client address may create per hour (POST /v1/accounts, /v1/auth/register);
    # 0: no limit.
    signups_per_client: int = 10

    def validate(self) -> None:
        policies = ("auto", "open", "closed", "token")
        _require(self.signup in policies, "accounts.signup", f"must be one of {policies}")
        _require(
            self.signup != "token" or len(self.signup_token) >= 16,
            "accounts.signup_token",
            "must be at least 16 characters when accounts.signup is 'token'",
        )
        _require(
            1 <= self.default_retention_days <= 3650,
            "accounts.default_retention_days",
            "must be between 1 and 3650",
        )
        _require(
            1 <= self.pending_domain_claim_days <= 365,
            "accounts.pending_domain_claim_days",
            "must be between 1 and 365",
        )
        _require(
            0 <= self.signups_per_client <= 100_000,
            "accounts.signups_per_client",
            "must be between 0 (no limit) and 100000",
        )


class CircuitBreakerSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``[delivery.circuit_breaker]``: when a destination's circuit opens and how it recovers
    (delivery/breaker.py is the state machine; README "Circuit breaker" draws it)."""

    # false: circuits never open (attempts go on until each delivery's retries run out).
    enabled: bool = True
    # Open when at least this share of the attempts in the last window_seconds failed ...
    failure_ratio: float = 0.5
    window_seconds: float = 60
    # ... once the window holds at least min_attempts attempts (a couple of failures alone
    # never open it) ...
    min_attempts: int = 10
    # ... or after this many failures in a row, however few attempts there were.
    consecutive_failures: int = 5
    # Open: no attempts for cooldown_seconds, then one probe (half-open). A failed probe
    # opens it again for twice as long, up to max_cooldown_seconds.
    cooldown_seconds: float = 30
    max_cooldown_seconds: float = 3600
    # Open this long (default 3 days): the destination is paused (paused_reason
    # "circuit_open_too_long") until someone resumes it. 0: never.
    auto_pause_after_seconds: float = 259_200

    def validate(self) -> None:
        key = "delivery.circuit_breaker"
        _require(0 < self.failure_ratio <= 1, f"{key}.failure_ratio", "must be in (0, 1]")
        _require(1 <= self.window_seconds <= 86_400, f"{key}.window_seconds", "must be 1..86400")
        _require(1 <= self.min_attempts <= 100_000, f"{key}.min_attempts", "must be 1..100000")
        _require(
            1 <= self.consecutive_failures <= 100_000,
            f"{key}.consecutive_failures",
            "must be 1..100000",
        )
        _require(
            0 < self.cooldown_seconds <= self.max_cooldown_seconds <= 30 * 86_400,
            f"{key}.cooldown_seconds",
            "must be above 0 and at most max_cooldown_seconds (at most 2592000)",
        )
        _require(
            0 <= self.auto_pause_after_seconds <= 365 * 86_400,
            f"{key}.auto_pause_after_seconds",
            "must be between 0 (never) and 31536000",
        )


class DeliverySettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # Attempts in flight at once, in all, per account and per destination. The per-account
    # cap keeps one account whose receivers hang from holding every slot (db/claim_order.py).
    concurrency: int = 256
    per_account_concurrency: int = 64
    per_destination_concurrency: int = 32
    max_response_body_bytes: int = 4096
    # Loopback and private ranges are allowed by default so local development works.
    allow_private_networks: bool = True
    allow_cidrs: list[str] = msgspec.field(default_factory=list)
    deny_cidrs: list[str] = msgspec.field(default_factory=list)
    secret_rotation_grace_seconds: int = 86_400
    retry_after_max_seconds: int = 3600
    circuit_breaker: CircuitBreakerSettings = msgspec.field(default_factory=CircuitBreakerSettings)

    def validate(self) -> None:
        self.circuit_breaker.validate()
        _require(1 <= self.concurrency <= 10_000, "delivery.concurrency", "must be 1..10000")
        _require(
            1 <= self.per_destination_concurrency <= 10_000,
            "delivery.per_destination_concurrency",
            "must be 1..10000",
        )
        _require(
            1 <= self.per_account_concurrency <= 10_000,
            "delivery.per_account_concurrency",
            "must be 1..10000",
        )
        _require(
            256 <= self.max_response_body_bytes <= 1_048_576,
            "delivery.max_response_body_bytes",
            "must be between 256 and 1048576",
        )
        _require(
            0 <= self.secret_rotation_grace_seconds <= 30 * 86_400,
            "delivery.secret_rotation_grace_seconds",
            "must be between 0 and 2592000",
        )
        _require(
            0 <= self.retry_after_max_seconds <= 86_400,
            "delivery.retry_after_max_seconds",
            "must be between 0 and 86400",
        )
        for key in ("allow_cidrs", "deny_cidrs"):
            for cidr in getattr(self, key):
                try:
                    ipaddress.ip_network(cidr, strict=False)
                except ValueError:
                    raise ConfigError(f"delivery.{key}: {cidr!r} is not a CIDR") from None


class RoutesSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # Every ingest matches its event against all routes of its source: these bound that work.
    max_pattern_length: int = 255
    max_per_source: int = 100
    max_per_account: int = 1000

    def validate(self) -> None:
        _require(1 <= self.max_pattern_length <= 255, "routes.max_pattern_length", "must be 1..255")
        _require(1 <= self.max_per_source <= 10_000, "routes.max_per_source", "must be 1..10000")
        _require(
            self.max_per_source <= self.max_per_account <= 100_000,
            "routes.max_per_account",
            "must be between routes.max_per_source and 100000",
        )


class ExportSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # Finished export files are deleted this many hours after completion.
    ttl_hours: int = 24
    # Jobs of one account queued or running at once; more are refused (409) until one ends.
    max_active_per_account: int = 2
    # Finished files one account keeps at once, in number and in bytes; a new export is
    # refused (409) while either is reached, and a job that grows past the bytes fails.
    max_stored_per_account: int = 10
    max_stored_bytes_per_account: int = 2 * 1024**3
    # Jobs the worker writes at once, each of a different account, page by page in turn.
    worker_concurrency: int = 2
    # Free space the data directory's disk keeps: below it new exports are refused (503) and
    # running ones fail, so exports never fill the disk the database needs.
    min_free_disk_bytes: int = 1024**3

    def validate(self) -> None:
        _require(1 <= self.ttl_hours <= 24 * 90, "exports.ttl_hours", "must be 1..2160")
        for key in ("max_active_per_account", "max_stored_per_account", "worker_concurrency"):
            _require(1 <= getattr(self, key) <= 1000, f"exports.{key}", "must be 1..1000")
        _require(
            self.max_stored_bytes_per_account >= 1024,
            "exports.max_stored_bytes_per_account",
            "must be at least 1024",
        )
        _require(self.min_free_disk_bytes >= 0, "exports.min_free_disk_bytes", "must be >= 0")


class BulkRetrySettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # Bulk retry jobs (POST /v1/bulk-retries) of one account queued or running at once; one
    # more is refused (409) until one ends.
    max_active_per_account: int = 3
    # Events one job may retry; a filter matching more is refused (400): narrow its time range.
    max_events: int = 100_000
    # Events replayed per page; the worker records its progress after each page and pauses
    # page_pause_seconds before the next one of the same job.
    page_size: int = 100
    page_pause_seconds: float = 1.0
    # Replays of one job still on their way (queued, retrying, held) at most: the job waits
    # for the destination to take them before making more, so it never floods the queue ahead
    # of the scheduler. The destination's own limits then pace the actual sends.
    max_outstanding: int = 300

    def validate(self) -> None:
        _require(
            1 <= self.max_active_per_account <= 100,
            "bulk_retries.max_active_per_account",
            "must be 1..100",
        )
        _require(1 <= self.max_events <= 1_000_000, "bulk_retries.max_events", "must be 1..1000000")
        _require(1 <= self.page_size <= 1000, "bulk_retries.page_size", "must be 1..1000")
        _require(
            0 <= self.page_pause_seconds <= 3600,
            "bulk_retries.page_pause_seconds",
            "must be 0..3600",
        )
        _require(
            1 <= self.max_outstanding <= 100_000,
            "bulk_retries.max_outstanding",
            "must be 1..100000",
        )


class RetentionSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # How often the retention task looks for expired events, and how many it deletes per
    # transaction (small batches never hold the write lock long enough to slow ingest).
    interval_seconds: int = 300
    batch_size: int = 500

    def validate(self) -> None:
        _require(
            10 <= self.interval_seconds <= 86_400,
            "retention.interval_seconds",
            "must be 10..86400",
        )
        _require(1 <= self.batch_size <= 10_000, "retention.batch_size", "must be 1..10000")


class LiveSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # The live view of traffic: GET /v1/events/stream and the rejected requests it shows.
    # A comment line this often keeps proxies from closing a quiet stream.
    heartbeat_seconds: float = 15.0
    # Messages one stream subscriber may have waiting; a reader further behind is
    # disconnected (it resumes by cursor) so that it never holds memory or slows ingest.
    subscriber_buffer: int = 1000
    # Live readers (streams and GET /v1/events/wait long polls) one account may have open at
    # once; one more is refused (429), so no account can hold every connection and buffer.
    max_subscribers_per_account: int = 50
    # The feed reads new changes when a write wakes it, and at least this often.
    poll_seconds: float = 1.0
    # Requests refused by verification kept per source (the most recent), and the bytes of
    # each one's body kept.
    rejected_per_source: int = 100
    rejected_body_bytes: int = 65_536

    def validate(self) -> None:
        _require(
            0.05 <= self.heartbeat_seconds <= 3600, "live.heartbeat_seconds", "must be 0.05..3600"
        )
        _require(
            1 <= self.subscriber_buffer <= 1_000_000, "live.subscriber_buffer", "must be 1..1000000"
        )
        _require(
            1 <= self.max_subscribers_per_account <= 100_000,
            "live.max_subscribers_per_account",
            "must be 1..100000",
        )
        _require(0.01 <= self.poll_seconds <= 60, "live.poll_seconds", "must be 0.01..60")
        _require(
            0 <= self.rejected_per_source <= 10_000, "live.rejected_per_source", "must be 0..10000"
        )
        _require(
            0 <= self.rejected_body_bytes <= 1_048_576,
            "live.rejected_body_bytes",
            "must be 0..1048576",
        )


class MetricsSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # GET /metrics in Prometheus text format; with a token, scrapers send Bearer <token>.
    enabled: bool = True
    token: str = ""


class BackupSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # Scheduled backups by the server itself (0 = off): every this many hours a verified
    # archive is written into `directory` (empty: <data_dir>/backups) and all but the newest
    # `keep` are deleted. Hours may be fractional.
    every_hours: float = 0.0
    directory: str = ""
    keep: int = 7

    def validate(self) -> None:
        _require(
            self.every_hours == 0 or 0.0001 <= self.every_hours <= 24 * 31,
            "backup.every_hours",
            "must be 0 (off) or between 0.0001 and 744",
        )
        _require(1 <= self.keep <= 1000, "backup.keep", "must be 1..1000")

    def folder(self, data_dir: Path) -> Path:
        """Where scheduled backups go."""
        if not self.directory:
            return data_dir / "backups"
        return Path(self.directory).expanduser().resolve()


class Settings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    server: ServerSettings = msgspec.field(default_factory=ServerSettings)
    storage: StorageSettings = msgspec.field(default_factory=StorageSettings)
    accounts: AccountsSettings = msgspec.field(default_factory=AccountsSettings)
    delivery: DeliverySettings = msgspec.field(default_factory=DeliverySettings)
    routes: RoutesSettings = msgspec.field(default_factory=RoutesSettings)
    exports: ExportSettings = msgspec.field(default_factory=ExportSettings)
    bulk_retries: BulkRetrySettings = msgspec.field(default_factory=BulkRetrySettings)
    retention: RetentionSettings = msgspec.field(default_factory=RetentionSettings)
    metrics: MetricsSettings = msgspec.field(default_factory=MetricsSettings)
    live: LiveSettings = msgspec.field(default_factory=LiveSettings)
    backup: BackupSettings = msgspec.field(default_factory=BackupSettings)

    @property
    def signup_policy(self) -> str:
        """The sign-up policy in force: ``auto`` resolved by where the server listens."""
        if self.accounts.signup != "auto":
            return self.accounts.signup
        return "open" if is_loopback_host(self.server.host) else "closed"

    @property
    def data_dir(self) -> Path:
        return Path(self.storage.data_dir).expanduser().resolve()

    def validate(self) -> Settings:
        for section in (
            self.server,
            self.storage,
            self.accounts,
            self.delivery,
            self.routes,
            self.exports,
            self.bulk_retries,
            self.retention,
            self.live,
            self.backup,
        ):
            section.validate()
        return self


def is_loopback_host(host: str) -> bool:
    """Whether listening on ``host`` reaches this machine only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name or "0.0.0.0"-like wildcard: assume it is reachable from outside


def _require(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"{key}: {message}")


def load_settings(
    config_file: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    default_file: str | os.PathLike[str] | None = None,
) -> Settings:
    """Build validated settings from a TOML file, the environment and flag overrides.

    The file is ``config_file`` (the flag), else ``$GETHOOK_CONFIG``; a file named either way
    must exist. Only when neither names one is ``default_file`` (the CLI passes
    ``./gethook.toml``) read, and only if it exists. ``overrides`` maps ``"section.key"`` to a
    value (None means "flag not given").
    """
    env = os.environ if env is None else env
    raw: dict[str, dict[str, Any]] = {}
    path = _config_path(config_file, env, default_file)
    if path is not None:
        raw = _read_toml(path)
    fields_by_section = _section_fields()
    for name, value in env.items():
        section, key = _env_setting(name, fields_by_section)
        if section is not None:
            _place(raw, section, key, _from_env(value, fields_by_section[section][key]))
    for dotted, value in (overrides or {}).items():
        if value is not None:
            section, key = dotted.split(".", 1)
            _place(raw, section, key.replace(".", "_"), value)
    return _convert(raw).validate()


def _place(raw: dict[str, Any], section: str, key: str, value: Any) -> None:
    """Set ``section.key`` in the raw settings; a key of a sub-table (``circuit_breaker_enabled``
    from GETHOOK_DELIVERY_CIRCUIT_BREAKER_ENABLED) goes into that table."""
    target = raw.setdefault(section, {})
    for table in _SUB_TABLES.get(section, ()):
        if key.startswith(f"{table}_"):
            target.setdefault(table, {})[key[len(table) + 1 :]] = value
            return
    target[key] = value


def _config_path(
    config_file: str | os.PathLike[str] | None,
    env: Mapping[str, str],
    default_file: str | os.PathLike[str] | None,
) -> Path | None:
    # An explicitly named file always wins over the working directory's gethook.toml, and
    # naming one that does not exist is an error (read_toml says so), never silently skipped.
    named = config_file or env.get(f"{ENV_PREFIX}CONFIG")
    if named:
        return Path(named)
    if default_file is not None and Path(default_file).is_file():
        return Path(default_file)
    return None


def _env_setting(
    name: str, fields_by_section: Mapping[str, Mapping[str, Any]]
) -> tuple[str | None, str]:
    """The (section, key) a GETHOOK_<SECTION>_<KEY> variable sets; (None, "") when the
    variable is not the server's (GETHOOK_CONFIG, a client's GETHOOK_API_KEY, ...).

    A variable of one of our sections with an unknown key is refused, as a TOML typo is: a
    misspelt GETHOOK_SERVER_PROT must not silently leave the port at its default.
    """
    if not name.startswith(ENV_PREFIX):
        return None, ""
    rest = name[len(ENV_PREFIX) :]
    # The longest matching section wins, should one section's name ever prefix another's.
    for section in sorted(fields_by_section, key=len, reverse=True):
        if rest.startswith(f"{section.upper()}_"):
            key = rest[len(section) + 1 :].lower()
            if key in fields_by_section[section]:
                return section, key
            known = list(fields_by_section[section])
            close = difflib.get_close_matches(key, known, n=1)
            hint = (
                f"did you mean {ENV_PREFIX}{section.upper()}_{close[0].upper()}?"
                if close
                else f"valid keys: {', '.join(known)}"
            )
            raise ConfigError(f"{name}: {section} has no setting {key!r}; {hint}")
    return None, ""


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def _section_fields() -> dict[str, dict[str, Any]]:
    sections = {}
    for section in msgspec.structs.fields(Settings):
        keys: dict[str, Any] = {}
        for field in msgspec.structs.fields(section.type):
            if field.name in _SUB_TABLES.get(section.name, ()):
                # [delivery.circuit_breaker] enabled: GETHOOK_DELIVERY_CIRCUIT_BREAKER_ENABLED
                for sub in msgspec.structs.fields(field.type):
                    keys[f"{field.name}_{sub.name}"] = sub.type
            else:
                keys[field.name] = field.type
        sections[section.name] = keys
    return sections


# Tables inside a section ([delivery.circuit_breaker]), by section.
_SUB_TABLES = {"delivery": ("circuit_breaker",)}


def _from_env(value: str, field_type: Any) -> Any:
    # Lists come from the environment as comma-separated values.
    if getattr(field_type, "__origin__", None) is list:
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def _convert(raw: dict[str, Any]) -> Settings:
    try:
        # strict=False lets "8080" and "true" from the environment become int and bool.
        return msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as exc:
        message = str(exc)
        # msgspec says "... - at `$.server.port`"; turn that into "server.port: ...".
        if " - at `$." in message:
            text, _, where = message.rpartition(" - at `$.")
            raise ConfigError(f"{where.rstrip('`')}: {text}") from None
        raise ConfigError(message) from None
