"""`gethook doctor` through the real command line on real data directories: a fresh box is
all OK; each risky setting, a wrong or missing key, a newer schema, an old backup and a huge
WAL is one line saying what to change; errors make the exit code 1."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from cryptography.fernet import Fernet

from gethook_lite.config import load_settings
from gethook_lite.constants import DOCTOR_LARGE_WAL_BYTES
from gethook_lite.ops.doctor import ERROR, OK, WARNING, diagnose


def gethook(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GETHOOK_")}
    return subprocess.run(
        [sys.executable, "-m", "gethook_lite", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=cwd,
    )


def lines_of(result: subprocess.CompletedProcess) -> dict[str, str]:
    """check name -> its line."""
    found = {}
    for line in result.stdout.splitlines()[:-1]:
        found[line.split()[1]] = line
    return found


def test_fresh_box_is_all_ok_and_says_so(tmp_path):
    result = gethook("doctor", "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 0, result
    found = lines_of(result)
    assert set(found) == {
        "signup",
        "tls",
        "metrics",
        "stats",
        "schema",
        "key",
        "disk",
        "wal",
        "backup",
    }
    assert all(line.startswith("OK ") for line in found.values()), result.stdout
    assert result.stdout.splitlines()[-1].startswith("0 error(s), 0 warning(s)")
    assert not (tmp_path / "data").exists()  # doctor changes nothing, creates nothing


def test_public_instance_with_open_doors_is_told_what_to_change(tmp_path):
    data_dir = tmp_path / "data"
    assert gethook("migrate", "--data-dir", str(data_dir)).returncode == 0
    config = tmp_path / "gethook.toml"
    config.write_text(
        '[server]\nhost = "0.0.0.0"\npublic_base_url = "http://hooks.example.com"\n'
        '[accounts]\nsignup = "open"\n'
    )
    result = gethook("doctor", "--config", str(config), "--data-dir", str(data_dir))
    assert result.returncode == 1, result
    found = lines_of(result)
    assert found["signup"].startswith("ERROR") and 'accounts.signup = "closed"' in found["signup"]
    assert found["tls"].startswith("ERROR") and "https" in found["tls"]
    assert found["metrics"].startswith("WARNING") and "metrics.token" in found["metrics"]
    assert found["stats"].startswith("WARNING") and "platform_stats_token" in found["stats"]
    assert found["backup"].startswith("WARNING") and "backup.every_hours" in found["backup"]
    assert found["key"].startswith("OK") and found["schema"].startswith("OK")
    assert "2 error(s), 3 warning(s)" in result.stdout

    # The same instance done right: behind Caddy, closed sign-up, tokens, backups.
    config.write_text(
        '[server]\npublic_base_url = "https://hooks.example.com"\n'
        'platform_stats_token = "s3cret-stats-token"\n'
        '[accounts]\nsignup = "closed"\n[metrics]\ntoken = "s3cret-metrics-token"\n'
        "[backup]\nevery_hours = 24\n"
    )
    (data_dir / "backups").mkdir()
    backup = gethook("backup", str(data_dir / "backups"), "--data-dir", str(data_dir))
    assert backup.returncode == 0, backup.stderr
    result = gethook("doctor", "--config", str(config), "--data-dir", str(data_dir))
    assert result.returncode == 0, result
    assert all(line.startswith("OK ") for line in lines_of(result).values()), result.stdout

    # An old backup is a warning: --strict makes it fail.
    archive = next((data_dir / "backups").iterdir())
    three_days_ago = time.time() - 3 * 86400
    os.utime(archive, (three_days_ago, three_days_ago))
    result = gethook("doctor", "--strict", "--config", str(config), "--data-dir", str(data_dir))
    assert result.returncode == 1, result
    assert lines_of(result)["backup"].startswith("WARNING")
    assert "72.0 hours old" in lines_of(result)["backup"]


def test_open_signup_behind_a_proxy_is_an_error(tmp_path):
    # Listening on loopback, sign-up "auto" is open; published by a proxy, that is the world.
    config = tmp_path / "gethook.toml"
    config.write_text('[server]\npublic_base_url = "https://hooks.example.com"\n')
    result = gethook("doctor", "--config", str(config), "--data-dir", str(tmp_path / "d"))
    assert result.returncode == 1
    assert lines_of(result)["signup"].startswith("ERROR"), result.stdout
    # Listening publicly as well as behind the proxy: the proxy can be skipped.
    result = gethook(
        "doctor", "--host", "0.0.0.0", "--config", str(config), "--data-dir", str(tmp_path / "d")
    )
    assert lines_of(result)["tls"].startswith("WARNING"), result.stdout
    assert "server.host = 127.0.0.1" in lines_of(result)["tls"]


def test_wrong_or_missing_key_and_newer_schema_are_errors(tmp_path):
    data_dir = tmp_path / "data"
    assert gethook("migrate", "--data-dir", str(data_dir)).returncode == 0
    key = data_dir / "secret.key"
    key.write_bytes(Fernet.generate_key())
    result = gethook("doctor", "--data-dir", str(data_dir))
    assert result.returncode == 1
    assert "does not open" in lines_of(result)["key"] and "ERROR" in lines_of(result)["key"]
    key.unlink()
    result = gethook("doctor", "--data-dir", str(data_dir))
    assert result.returncode == 1 and "secret.key is missing" in lines_of(result)["key"]

    with sqlite3.connect(data_dir / "gethook.db") as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (9999, 0)")
    conn.close()
    result = gethook("doctor", "--data-dir", str(data_dir))
    assert result.returncode == 1
    assert lines_of(result)["schema"].startswith("ERROR")
    assert "newer GetHook Lite" in lines_of(result)["schema"]


def test_large_wal_is_a_warning(tmp_path):
    settings = load_settings(None, overrides={"storage.data_dir": str(tmp_path)})
    with open(tmp_path / "gethook.db-wal", "wb") as wal:  # sparse: takes no disk
        wal.truncate(DOCTOR_LARGE_WAL_BYTES + 1)
    found = {f.check: f for f in diagnose(settings, time.time())}
    assert found["wal"].severity == WARNING and "checkpointing" in found["wal"].message
    assert found["disk"].severity == OK
    assert ERROR not in {f.severity for f in found.values()}
