"""When the next scheduled backup is due, and which archives pruning keeps."""

from __future__ import annotations

import pytest

from gethook_lite.config import ConfigError, load_settings
from gethook_lite.constants import BACKUP_FIRST_DELAY_SECONDS
from gethook_lite.ops.backup import backup_file_name, list_backups, prune_backups
from gethook_lite.tasks.backups import next_backup_in

HOUR = 3600.0


@pytest.mark.parametrize(
    ("newest", "now", "interval", "expected"),
    [
        (None, 1000.0, 24 * HOUR, BACKUP_FIRST_DELAY_SECONDS),  # none yet: soon after start
        (None, 1000.0, 2.0, 2.0),  # ...or after one interval when that is shorter
        (1000.0, 1000.0 + HOUR, 24 * HOUR, 23 * HOUR),  # a restart does not reset the schedule
        (1000.0, 1000.0 + 25 * HOUR, 24 * HOUR, 0.0),  # overdue: at once
    ],
)
def test_next_backup_counts_from_the_newest_archive(newest, now, interval, expected):
    assert next_backup_in(newest, now, interval) == expected


def test_pruning_keeps_the_newest_and_only_touches_our_archives(tmp_path):
    names = [backup_file_name(1_700_000_000 + day * 86_400) for day in range(5)]
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / (names[0] + ".part")).write_bytes(b"")
    removed = prune_backups(tmp_path, keep=2)
    assert [p.name for p in removed] == names[:3]
    assert [p.name for p in list_backups(tmp_path)] == names[3:]
    assert (tmp_path / "notes.txt").exists()


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"GETHOOK_BACKUP_EVERY_HOURS": "-1"}, "backup.every_hours"),
        ({"GETHOOK_BACKUP_EVERY_HOURS": "10000"}, "backup.every_hours"),
        ({"GETHOOK_BACKUP_KEEP": "0"}, "backup.keep"),
        ({"GETHOOK_ACCOUNTS_SIGNUPS_PER_CLIENT": "-1"}, "accounts.signups_per_client"),
        ({"GETHOOK_ACCOUNTS_SIGNUP": "sometimes"}, "accounts.signup"),
    ],
)
def test_bad_backup_and_signup_settings_name_the_key(env, key):
    with pytest.raises(ConfigError, match=key):
        load_settings(env=env)


def test_scheduled_backups_default_to_off_and_into_the_data_dir(tmp_path):
    settings = load_settings(env={}, overrides={"storage.data_dir": str(tmp_path)})
    assert settings.backup.every_hours == 0
    assert settings.backup.folder(settings.data_dir) == tmp_path.resolve() / "backups"
