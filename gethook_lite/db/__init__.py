"""Storage: the only package with SQL in it."""

from gethook_lite.db.database import Database, StorageError

__all__ = ["Database", "StorageError"]
