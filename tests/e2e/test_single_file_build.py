"""The single-file executable (`./dev build`, deploy/gethook.spec): built with PyInstaller, then
run with nothing of the source tree: `version`, `init`, `serve`, ingest, delivery, SIGTERM.

Building takes minutes, so the test runs only with GETHOOK_TEST_BUILD=1 (and is `slow`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.delivery import wait_for_event, wire
from tests.support.receiver import Receiver
from tests.support.server import free_port, wait_ready

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("GETHOOK_TEST_BUILD") != "1",
        reason="builds the executable (minutes): set GETHOOK_TEST_BUILD=1",
    ),
]

REPO = Path(__file__).resolve().parents[2]
BUILD_SECONDS = 1200  # a loaded 2-core machine; about 3 minutes usually


@pytest.fixture(scope="module")
def executable(tmp_path_factory) -> Path:
    """dist/gethook as `./dev build` makes it (same spec, same options), in a scratch folder."""
    pytest.importorskip("PyInstaller", reason="pip install -e '.[build]'")
    scratch = tmp_path_factory.mktemp("build")
    started = time.monotonic()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "PyInstaller",
            "--noconfirm",
            "--clean",
            "--distpath",
            str(scratch / "dist"),
            "--workpath",
            str(scratch / "work"),
            "deploy/gethook.spec",
        ],
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=BUILD_SECONDS,
    )
    print(f"single-file build took {time.monotonic() - started:.0f} s")
    return scratch / "dist" / "gethook"


def _outside_the_source_tree() -> dict[str, str]:
    """An environment in which only the executable can provide gethook_lite."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "GETHOOK_"))}
    return {**env, "GETHOOK_ACCOUNTS_SIGNUPS_PER_CLIENT": "0"}


def _run(executable: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(executable), *args],
        cwd=cwd,
        env=_outside_the_source_tree(),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.timeout(BUILD_SECONDS + 120)
def test_executable_serves_ingests_and_delivers(executable, tmp_path):
    version = _run(executable, "version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("gethook-lite "), version
    # The toml template and the migrations are packaged data.
    assert _run(executable, "init", "--path", "gethook.toml", cwd=tmp_path).returncode == 0
    assert "[server]" in (tmp_path / "gethook.toml").read_text()
    (tmp_path / "gethook.toml").unlink()

    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(
        [str(executable), "serve", "--port", str(port), "--data-dir", str(tmp_path / "data")],
        cwd=tmp_path,
        env=_outside_the_source_tree(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(server, url, tmp_path / "serve.log", timeout=60)
        with httpx.Client(base_url=url, timeout=10) as client:
            created = client.post("/v1/accounts", json={"name": "one-file"})
            assert created.status_code == 201, created.text
            key = created.json()["data"]["api_key"]["key"]
        with (
            Receiver() as receiver,
            httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=10
            ) as api,
        ):
            source, _ = wire(api, receiver.url + "/hook")
            accepted = httpx.post(source["ingest_url"], json={"n": 1}, timeout=10)
            assert accepted.status_code == 202, accepted.text
            wait_for_event(api, accepted.json()["data"]["id"], {"delivered"}, timeout=30)
            assert [r.body for r in receiver.requests] == [b'{"n":1}']
        server.send_signal(signal.SIGTERM)
        # uvicorn re-raises the signal once drained; systemd counts that as a clean stop.
        assert server.wait(timeout=30) in (0, -signal.SIGTERM)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert "migration 0008" in (tmp_path / "serve.log").read_text()
