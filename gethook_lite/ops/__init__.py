"""Operators' work outside the request path: backup, restore, and commands beside a server."""

from gethook_lite.ops.admin import OperatorError
from gethook_lite.ops.backup import BackupError, BackupSummary, create_backup, verify_archive
from gethook_lite.ops.restore import RestoreResult, restore_backup

__all__ = [
    "BackupError",
    "BackupSummary",
    "OperatorError",
    "RestoreResult",
    "create_backup",
    "restore_backup",
    "verify_archive",
]
