"""`gethook backup` on a running server under write load, `gethook restore` into a new data
directory, and a server started on it: every event accepted before the backup began is there
and is delivered. All through the real command line on real data directories."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tarfile
import threading
import time

import httpx

from tests.support.cli import gethook
from tests.support.delivery import wire
from tests.support.receiver import Receiver, Reply
from tests.support.server import GethookServer

# The receiver is down until the restored server runs: no circuit breaker, so the deliveries
# stay plain pending retries (an open circuit would hold them for its cool-down).
NO_BREAKER = {"GETHOOK_DELIVERY_CIRCUIT_BREAKER_ENABLED": "false"}
# Retries every 0.3 s for long enough that nothing dead-letters while the first server runs.
PATIENT_RETRIES = {"max_attempts": 30, "backoff": "fixed", "initial_interval_seconds": 0.3}


class IngestLoop:
    """Ingests numbered events in a thread; remembers when each one's 202 arrived."""

    def __init__(self, ingest_url: str) -> None:
        self.url = ingest_url
        self.accepted: list[tuple[float, int, str]] = []  # (monotonic time of 202, n, event id)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> IngestLoop:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        with httpx.Client(timeout=10) as client:
            n = 0
            while not self._stop.is_set():
                n += 1
                answer = client.post(self.url, json={"n": n})
                if answer.status_code == 202:
                    self.accepted.append((time.monotonic(), n, answer.json()["data"]["id"]))

    def wait_for(self, count: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.accepted) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(self.accepted) >= count


def test_backup_under_load_restores_every_accepted_event_and_delivers_it(tmp_path):
    receiver_up = threading.Event()  # until set, the receiver answers 503: events stay pending

    def script(_n: int) -> Reply:
        return Reply(200) if receiver_up.is_set() else Reply(503)

    archive = tmp_path / "nightly.tar.gz"
    with Receiver(script) as receiver:
        first = GethookServer(tmp_path / "data", env=NO_BREAKER).start()
        try:
            with first.client() as client:
                key = client.post("/v1/accounts", json={"name": "ops"}).json()["data"]
            with first.client(key["api_key"]["key"]) as api:
                source, _ = wire(api, receiver.url, retry_policy=PATIENT_RETRIES)
            with IngestLoop(source["ingest_url"]) as load:
                load.wait_for(50)
                backup_started = time.monotonic()
                made = gethook("backup", str(archive), "--data-dir", str(first.data_dir))
                load.wait_for(len(load.accepted) + 20)  # writes went on during the backup
        finally:
            first.stop()
        assert made.returncode == 0, made.stderr
        assert "verified: integrity ok" in made.stdout
        assert "key opens the stored secrets" in made.stdout
        before = {n: event_id for at, n, event_id in load.accepted if at < backup_started}
        assert len(before) >= 50

        assert stat.S_IMODE(archive.stat().st_mode) == 0o600
        with tarfile.open(archive) as tar:
            assert sorted(tar.getnames()) == ["gethook.db", "manifest.json", "secret.key"]
            manifest = json.load(tar.extractfile("manifest.json"))
        assert manifest["events"] >= len(before)

        restored_dir = tmp_path / "restored"
        done = gethook("restore", str(archive), "--data-dir", str(restored_dir))
        assert done.returncode == 0, done.stderr
        assert (restored_dir / "secret.key").read_bytes() == (
            tmp_path / "data" / "secret.key"
        ).read_bytes()

        receiver_up.set()
        second = GethookServer(restored_dir, env=NO_BREAKER).start()
        try:
            with second.client(key["api_key"]["key"]) as api:
                for event_id in before.values():
                    assert api.get(f"/v1/events/{event_id}").status_code == 200, event_id
            wanted = set(before)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                delivered = {json.loads(r.body)["n"] for r in list(receiver.requests)}
                if wanted <= delivered:
                    break
                time.sleep(0.1)
            assert wanted <= delivered, sorted(wanted - delivered)[:10]
        finally:
            second.stop()


def test_restore_refuses_a_running_server_and_an_existing_database_without_force(tmp_path):
    server = GethookServer(tmp_path / "data").start()
    try:
        with server.client() as client:
            assert client.post("/v1/accounts", json={"name": "a"}).status_code == 201
        archive = tmp_path / "backups"
        archive.mkdir()
        made = gethook("backup", str(archive), "--data-dir", str(server.data_dir))
        assert made.returncode == 0, made.stderr
        (written,) = archive.iterdir()
        assert written.name.startswith("gethook-backup-") and written.name.endswith(".tar.gz")

        running = gethook("restore", str(written), "--data-dir", str(server.data_dir), "--force")
        assert running.returncode == 1
        assert "running" in running.stderr and "stop it" in running.stderr
    finally:
        server.stop()

    refused = gethook("restore", str(written), "--data-dir", str(server.data_dir))
    assert refused.returncode == 1
    assert "--force" in refused.stderr

    forced = gethook("restore", str(written), "--data-dir", str(server.data_dir), "--force")
    assert forced.returncode == 0, forced.stderr
    (aside,) = (tmp_path / "data").glob("before-restore-*")
    assert (aside / "gethook.db").exists()
    assert not (aside / "secret.key").exists()  # the same key as the backup's stays in place
    listed = gethook("accounts", "list", "--data-dir", str(server.data_dir))
    assert listed.returncode == 0 and "\ta\t" in listed.stdout


def test_backup_refuses_a_key_that_does_not_open_the_database(tmp_path):
    server = GethookServer(tmp_path / "data").start()
    try:
        with server.client() as client:
            key = client.post("/v1/accounts", json={"name": "a"}).json()["data"]["api_key"]["key"]
        with Receiver() as receiver, server.client(key) as api:
            wire(api, receiver.url)
    finally:
        server.stop()
    wrong = "x" * 43 + "="  # a valid Fernet key, not this database's
    env_made = subprocess.run(
        [sys.executable, "-m", "gethook_lite", "backup", str(tmp_path / "c.tar.gz")],
        capture_output=True,
        text=True,
        timeout=30,
        env={
            **os.environ,
            "GETHOOK_STORAGE_DATA_DIR": str(server.data_dir),
            "GETHOOK_STORAGE_ENCRYPTION_KEY": wrong,
        },
    )
    assert env_made.returncode == 1
    assert "encryption key does not open" in env_made.stderr
    assert not (tmp_path / "c.tar.gz").exists()
    assert not list(tmp_path.glob("c.tar.gz*"))


def test_corrupt_archive_is_refused_and_nothing_is_put_in_place(tmp_path):
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"not an archive")
    refused = gethook("restore", str(bad), "--data-dir", str(tmp_path / "fresh"))
    assert refused.returncode == 1
    assert "cannot read the backup" in refused.stderr
    assert not (tmp_path / "fresh" / "gethook.db").exists()
    assert not (tmp_path / "fresh" / "secret.key").exists()


def test_restore_treats_a_stray_wal_as_a_database_and_keeps_a_different_key(tmp_path):
    made = gethook("accounts", "create", "a", "--data-dir", str(tmp_path / "data"))
    assert made.returncode == 0, made.stderr
    archive = tmp_path / "b.tar.gz"
    assert gethook("backup", str(archive), "--data-dir", str(tmp_path / "data")).returncode == 0

    stray = tmp_path / "stray"
    stray.mkdir()
    (stray / "gethook.db-wal").write_bytes(b"frames of another database")
    refused = gethook("restore", str(archive), "--data-dir", str(stray))
    assert refused.returncode == 1 and "gethook.db-wal exists" in refused.stderr

    keyed = tmp_path / "keyed"
    keyed.mkdir()
    (keyed / "secret.key").write_bytes(b"an-older-key")
    done = gethook("restore", str(archive), "--data-dir", str(keyed))
    assert done.returncode == 0, done.stderr
    (aside,) = keyed.glob("before-restore-*")
    assert (aside / "secret.key").read_bytes() == b"an-older-key"
    assert (keyed / "secret.key").read_bytes() == (tmp_path / "data" / "secret.key").read_bytes()


def test_backup_into_a_folder_named_with_a_slash_creates_it(tmp_path):
    made = gethook("accounts", "create", "a", "--data-dir", str(tmp_path / "data"))
    assert made.returncode == 0, made.stderr
    folder = tmp_path / "backups" / "nightly"
    written = gethook("backup", f"{folder}/", "--data-dir", str(tmp_path / "data"))
    assert written.returncode == 0, written.stderr
    [archive] = folder.iterdir()
    assert archive.name.startswith("gethook-backup-") and archive.name.endswith(".tar.gz")
    assert f"wrote {archive}" in written.stdout
