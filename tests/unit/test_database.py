"""The writer: group commit, batched writes where one bad item fails alone, ephemeral writes."""

from __future__ import annotations

import asyncio

import pytest

from gethook_lite.db import Database, StorageError


def insert_names(conn, names: list[str]) -> list[int]:
    rows = []
    for name in names:
        if name == "bad":
            raise ValueError("bad item")
        rows.append(conn.execute("INSERT INTO counters VALUES (?, 1)", (name,)).lastrowid)
    return rows


def count_names(conn) -> int:
    return conn.execute("SELECT count(*) FROM counters WHERE name LIKE 'n%'").fetchone()[0]


def test_batched_writes_commit_together_and_a_bad_item_fails_alone(tmp_path):
    async def scenario():
        db = Database(tmp_path / "x.db")
        await db.open()
        try:
            names = ["n1", "n2", "bad", "n3", "n1"]  # the second n1 breaks the unique key
            results = await asyncio.gather(
                *(db.write_many(insert_names, name) for name in names), return_exceptions=True
            )
            assert isinstance(results[2], ValueError)
            assert isinstance(results[4], StorageError)
            assert all(isinstance(r, int) for r in (results[0], results[1], results[3]))
            assert await db.read(count_names) == 3
            await db.write_ephemeral(insert_names, ["n9"])
            assert await db.read(count_names) == 4
        finally:
            await db.close()

    asyncio.run(scenario())


def test_closed_database_refuses_writes(tmp_path):
    async def scenario():
        db = Database(tmp_path / "x.db")
        await db.open()
        await db.close()
        with pytest.raises(StorageError):
            await db.write(count_names)

    asyncio.run(scenario())
