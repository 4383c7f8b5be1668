"""``gethook migrate-to postgresql://…``: copy a stopped instance's SQLite database into an
empty PostgreSQL database (docs/design/postgresql.md §8).

The copy is one PostgreSQL transaction: the target holds everything or nothing. Tallies,
counters and the change log are copied as they are, not recomputed (the tables' triggers are
off while rows arrive), and the row counts and the encryption key are checked before the
commit. The SQLite file is only read (migrated first if this build is newer, as a start of
the server would): going back is unsetting ``storage.url``.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gethook_lite.db.connection import SqliteConnection, connect_sqlite
from gethook_lite.db.database import (
    Database,
    SchemaTooNew,
    StorageError,
    apply_postgres_migrations,
    pending_migrations,
)
from gethook_lite.db.instance_meta import key_sample
from gethook_lite.db.postgres import PgConnection, connect_postgres, is_postgres_url, redact_url
from gethook_lite.secrets_box import SecretBox

__all__ = ["CopiedTable", "MigrateToError", "MigrationResult", "migrate_to_postgres"]

# Rows per COPY chunk read from SQLite: bounded memory whatever the table's size.
_CHUNK_ROWS = 10_000
# Bookkeeping of each database's own, never copied.
_NOT_COPIED = frozenset({"schema_migrations"})
# Columns PostgreSQL has and SQLite lacks, with the value every copied row gets: sharded
# tallies go into shard 0; copied changes are all below any reader's horizon (txid 0), so an
# old integer SSE cursor N reads as (0, N) and resumes exactly.
_FILLED_COLUMNS = {
    ("counters", "shard"): 0,
    ("event_tallies", "shard"): 0,
    ("changes", "txid"): "0",
}
# Event bodies compared byte for byte after the copy (beyond the row counts).
_SAMPLED_BODIES = 100
_CONNECT_TIMEOUT_SECONDS = 10


class MigrateToError(Exception):
    """The migration was refused or failed; the message is one line saying why and what to do."""


@dataclass(frozen=True, slots=True)
class CopiedTable:
    name: str
    rows: int


@dataclass(frozen=True, slots=True)
class MigrationResult:
    tables: list[CopiedTable]
    schema_version: int
    # The SQLite file's schema before this command migrated it (None: it was up to date).
    sqlite_migrated_from: int | None
    seconds: float

    @property
    def rows(self) -> int:
        return sum(table.rows for table in self.tables)


def migrate_to_postgres(
    database: Path, url: str, key: bytes, *, progress: Callable[[str], None] = lambda _: None
) -> MigrationResult:
    """Copy the SQLite ``database`` into the empty PostgreSQL database at ``url``.

    The caller holds the data directory's lock (the server is stopped). ``key`` is the
    instance's encryption key: the copy is refused unless it opens the stored secrets.
    """
    started = time.monotonic()
    if not is_postgres_url(url):
        raise MigrateToError(f"{url!r} is not a PostgreSQL URL (postgresql://user@host/database)")
    if not database.exists():
        raise MigrateToError(f"no database at {database}: nothing to migrate")
    migrated_from = _bring_sqlite_up_to_date(database, progress)
    source = connect_sqlite(f"{database.as_uri()}?mode=ro", uri=True)
    try:
        _require_key_opens(key, key_sample(source), f"the SQLite database {database}")
        target = _connect(url)
        try:
            version = _prepare_target(target, _schema_version(source), url)
            try:
                tables = _copy_all(source, target, key, progress)
            except _driver_errors() as exc:
                raise MigrateToError(f"the copy failed, nothing was committed: {exc}") from None
        finally:
            target.close()
    finally:
        source.close()
    return MigrationResult(tables, version, migrated_from, time.monotonic() - started)


def _bring_sqlite_up_to_date(database: Path, progress: Callable[[str], None]) -> int | None:
    """Apply this build's pending SQLite migrations, as a server start would; the version the
    file had before (None if nothing was pending)."""
    conn = connect_sqlite(f"{database.as_uri()}?mode=ro", uri=True)
    try:
        pending = pending_migrations(conn)
        before = _schema_version(conn)
    except SchemaTooNew as exc:
        raise MigrateToError(str(exc)) from None
    except sqlite3.Error as exc:
        raise MigrateToError(f"cannot read {database}: {exc}") from None
    finally:
        conn.close()
    if not pending:
        return None
    progress(f"migrating {database} from schema {before} first (as the server would)")

    async def open_and_close() -> None:
        db = Database(database)
        await db.open()  # applies the pending migrations
        await db.close()

    try:
        asyncio.run(open_and_close())
    except (StorageError, sqlite3.Error) as exc:
        raise MigrateToError(f"cannot migrate {database}: {exc}") from None
    return before


def _driver_errors() -> tuple[type[Exception], ...]:
    import psycopg

    return (psycopg.Error, sqlite3.Error)


def _schema_version(conn: Any) -> int:
    row = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
    return int(row[0] or 0)


def _connect(url: str) -> PgConnection:
    try:
        import psycopg
    except ImportError:
        raise MigrateToError(
            "PostgreSQL support is not installed: pip install 'gethook-lite[postgresql]'"
        ) from None
    try:
        return connect_postgres(
            url, application_name="gethook migrate-to", connect_timeout=_CONNECT_TIMEOUT_SECONDS
        )
    except psycopg.Error as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        reason = " ".join(lines) or type(exc).__name__
        raise MigrateToError(f"cannot connect to {redact_url(url)}: {reason}") from None


def _prepare_target(target: PgConnection, source_version: int, url: str) -> int:
    """Refuse a target that holds data; migrate it to the source's schema version."""
    _require_empty(target, url)
    try:
        apply_postgres_migrations(target)
    except StorageError as exc:  # SchemaTooNew, the collation, a failing migration
        raise MigrateToError(f"{redact_url(url)}: {exc}") from None
    version = _schema_version(target)
    if version != source_version:
        raise MigrateToError(
            f"the SQLite database is at schema {source_version} and {redact_url(url)} at"
            f" {version}: run the same GetHook Lite version on both"
        )
    return version


def _require_empty(target: PgConnection, url: str) -> None:
    tables = _public_tables(target)
    if not tables:
        return
    if "schema_migrations" not in tables:
        shown = ", ".join(sorted(tables)[:5])
        raise MigrateToError(
            f"{redact_url(url)} already holds tables that are not GetHook Lite's ({shown}):"
            " migrate into a new, empty database (CREATE DATABASE … LC_COLLATE 'C' TEMPLATE"
            " template0)"
        )
    holding = [table for table in sorted(tables - _NOT_COPIED) if _holds_data(target, table)]
    if holding:
        raise MigrateToError(
            f"{redact_url(url)} already holds GetHook Lite data (in {', '.join(holding[:5])}):"
            " migrate into a new, empty database; nothing was changed"
        )


def _holds_data(target: PgConnection, table: str) -> bool:
    # The migrations seed the counters at zero: those rows are not data.
    where = " WHERE value <> 0" if table == "counters" else ""
    return target.execute(f'SELECT 1 FROM "{table}"{where} LIMIT 1').fetchone() is not None


def _public_tables(conn: PgConnection) -> set[str]:
    rows = conn.execute(
        "SELECT table_name FROM information_schema.tables"
        " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
    )
    return {row[0] for row in rows}


def _copy_all(
    source: SqliteConnection, target: PgConnection, key: bytes, progress: Callable[[str], None]
) -> list[CopiedTable]:
    """Every table in one transaction, checked before the commit; the tables copied."""
    order = _tables_in_copy_order(source, target)
    target.execute("BEGIN")
    try:
        copied = []
        for table in order:
            target.execute(f'ALTER TABLE "{table}" DISABLE TRIGGER USER')
        target.execute("DELETE FROM counters")  # the migrations' zero seeds; ours replace them
        for table in order:
            rows = _copy_table(source, target, table)
            copied.append(CopiedTable(table, rows))
            progress(f"  {table}: {rows} row(s)")
        # The deferred foreign keys are checked now: a table with checks pending cannot be
        # altered (and a broken reference fails here, before anything is committed).
        target.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for table in order:
            target.execute(f'ALTER TABLE "{table}" ENABLE TRIGGER USER')
        _reset_identity_sequences(target)
        _verify(source, target, copied, key)
        target.execute("COMMIT")
    except BaseException:
        if target.in_transaction:
            target.execute("ROLLBACK")
        raise
    return copied


def _tables_in_copy_order(source: SqliteConnection, target: PgConnection) -> list[str]:
    """The tables to copy, each after the tables its foreign keys point to."""
    in_sqlite = {
        row[0]
        for row in source.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    } - _NOT_COPIED
    in_target = _public_tables(target) - _NOT_COPIED
    missing = in_sqlite - in_target
    if missing:
        raise MigrateToError(
            f"the PostgreSQL schema lacks {', '.join(sorted(missing))}: run the same GetHook"
            " Lite version on both"
        )
    references: dict[str, set[str]] = {table: set() for table in in_sqlite}
    for child, parent in target.execute(
        "SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint"
        " WHERE contype = 'f' AND connamespace = current_schema()::regnamespace"
    ):
        if child in references and parent in references and parent != child:
            references[child].add(parent)
    return _topological(references)


def _topological(references: dict[str, set[str]]) -> list[str]:
    order: list[str] = []
    placed: set[str] = set()
    remaining = dict(references)
    while remaining:
        ready = sorted(table for table, parents in remaining.items() if parents <= placed)
        if not ready:  # a cycle: its foreign keys are deferred to the commit (0001's rule)
            ready = sorted(remaining)
        for table in ready:
            order.append(table)
            placed.add(table)
            del remaining[table]
    return order


def _copy_table(source: SqliteConnection, target: PgConnection, table: str) -> int:
    source_columns = [row[1] for row in source.execute(f'PRAGMA table_info("{table}")')]
    target_types = dict(
        target.execute(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = ?",
            (table,),
        ).fetchall()
    )
    filled = {column: value for (name, column), value in _FILLED_COLUMNS.items() if name == table}
    columns = [column for column in source_columns if column in target_types]
    dropped = set(source_columns) - set(target_types)
    if dropped:
        raise MigrateToError(
            f"{table} has column(s) {', '.join(sorted(dropped))} in SQLite only: run the same"
            " GetHook Lite version on both"
        )
    # SQLite keeps what it was given: a body written as text goes into bytea as its bytes.
    blobs = [index for index, column in enumerate(columns) if target_types[column] == "bytea"]
    names = ", ".join(f'"{column}"' for column in [*columns, *filled])
    extra = tuple(filled.values())
    count = 0
    with target.raw.cursor().copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
        for chunk in _chunks(source, table, columns):
            for row in chunk:
                if blobs:
                    row = _as_bytes(row, blobs)
                copy.write_row(row + extra if extra else row)
            count += len(chunk)
    return count


def _chunks(source: SqliteConnection, table: str, columns: list[str]) -> Iterator[list[Any]]:
    names = ", ".join(f'"{column}"' for column in columns)
    cursor = source.cursor()
    cursor.row_factory = None  # plain tuples
    cursor.execute(f'SELECT {names} FROM "{table}"')
    while chunk := cursor.fetchmany(_CHUNK_ROWS):
        yield chunk


def _as_bytes(row: tuple[Any, ...], blobs: list[int]) -> tuple[Any, ...]:
    if not any(isinstance(row[index], str) for index in blobs):
        return row
    values = list(row)
    for index in blobs:
        if isinstance(values[index], str):
            values[index] = values[index].encode()
    return tuple(values)


def _reset_identity_sequences(target: PgConnection) -> None:
    """The next generated id follows the copied ones (deliveries, changes, notices)."""
    identities = target.execute(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND is_identity = 'YES'"
    ).fetchall()
    for table, column in identities:
        target.execute(
            f"SELECT setval(pg_get_serial_sequence('\"{table}\"', '{column}'),"
            f' coalesce(max("{column}"), 0) + 1, false) FROM "{table}"'
        )


def _verify(
    source: SqliteConnection, target: PgConnection, copied: list[CopiedTable], key: bytes
) -> None:
    """Row counts per table, a sample of event bodies, and the key (before the commit)."""
    for table in copied:
        found = target.execute(f'SELECT count(*) FROM "{table.name}"').fetchone()[0]
        if found != table.rows:
            raise MigrateToError(
                f"{table.name}: {table.rows} row(s) read, {found} in PostgreSQL; nothing was"
                " committed"
            )
    sample = f"SELECT id, body FROM events ORDER BY id LIMIT {_SAMPLED_BODIES}"
    before = [_as_bytes(tuple(row), [1]) for row in source.execute(sample)]
    after = [(row[0], bytes(row[1])) for row in target.execute(sample)]
    if before != after:
        raise MigrateToError("event bodies differ after the copy; nothing was committed")
    _require_key_opens(key, key_sample(target), "the copied database")


def _require_key_opens(key: bytes, sample: str | None, where: str) -> None:
    if sample is not None and not SecretBox(key).opens(sample):
        raise MigrateToError(
            f"the encryption key does not open the secrets of {where}: set"
            " storage.encryption_key to the key this database was written with"
        )
