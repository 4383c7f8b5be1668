"""The two migration folders stay in step: the same NNNN_name.sql files, numbered 0001, 0002,
... with no gap, so that a schema version means the same change on SQLite and PostgreSQL
(a change one dialect does not need is a stub file there)."""

from __future__ import annotations

import re
from importlib import resources

from gethook_lite.db.database import known_migrations

NAME = re.compile(r"(\d{4})_[a-z0-9_]+\.sql")


def migration_names(dialect: str) -> list[str]:
    folder = resources.files("gethook_lite.db") / "migrations" / dialect
    return sorted(entry.name for entry in folder.iterdir() if entry.name.endswith(".sql"))


def test_both_folders_hold_the_same_files():
    sqlite, postgresql = migration_names("sqlite"), migration_names("postgresql")
    assert sqlite, "SQLite has migrations"
    assert sqlite == postgresql


def test_the_files_are_named_nnnn_name_and_numbered_from_0001_without_a_gap():
    names = migration_names("sqlite")
    for name in names:
        assert NAME.fullmatch(name), f"{name}: not NNNN_lowercase_name.sql"
    numbers = [int(name[:4]) for name in names]
    assert numbers == list(range(1, len(names) + 1))
    assert known_migrations("sqlite") == known_migrations("postgresql") == numbers
