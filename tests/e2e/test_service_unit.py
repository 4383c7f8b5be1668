"""deploy/gethook.service: systemd accepts every line of it, and the server works under the
kernel rule its MemoryDenyWriteExecute=yes applies (no memory both writable and executable)."""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.delivery import wait_for_event, wire
from tests.support.receiver import Receiver
from tests.support.server import free_port, wait_ready

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "gethook.service"
INSTALLED_AT = "/usr/local/bin/gethook"

# prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN): the per-process form (Linux 6.3+) of what
# systemd's MemoryDenyWriteExecute enforces with seccomp.
PR_SET_MDWE = 65
PR_MDWE_REFUSE_EXEC_GAIN = 1


def _directives() -> list[tuple[str, str]]:
    pairs = []
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            pairs.append((key, value))
    return pairs


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_unit_passes_systemd_analyze_verify(tmp_path):
    # verify also checks that ExecStart's program exists: point it at one that does.
    unit = tmp_path / "gethook.service"
    program = shutil.which("gethook") or sys.executable
    unit.write_text(UNIT.read_text().replace(INSTALLED_AT, program))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    # An unknown or misspelt directive is only a warning (exit 0): any output is a failure.
    assert result.returncode == 0 and result.stderr == "" and result.stdout == "", result


def test_unit_runs_the_server_as_a_dedicated_hardened_user():
    directives = _directives()
    found = dict(directives)
    assert found["User"] == "gethook" and found["StateDirectory"] == "gethook"
    assert found["ExecStart"].startswith(f"{INSTALLED_AT} serve ")
    assert "--data-dir /var/lib/gethook" in found["ExecStart"]
    assert found["Restart"] == "on-failure" and found["KillSignal"] == "SIGTERM"
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "CapabilityBoundingSet": "",
        "MemoryDenyWriteExecute": "yes",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    }.items():
        assert found[key] == value, key
    assert ("SystemCallFilter", "@system-service") in directives


def _mdwe_supported() -> bool:
    probe = subprocess.run(
        [sys.executable, "-c", _MDWE_PRELUDE + "print('ok')"], capture_output=True, text=True
    )
    return probe.returncode == 0


_MDWE_PRELUDE = f"""
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl({PR_SET_MDWE}, {PR_MDWE_REFUSE_EXEC_GAIN}, 0, 0, 0) != 0:
    sys.exit("prctl(PR_SET_MDWE) failed: errno %d" % ctypes.get_errno())
"""


def test_server_delivers_and_drains_under_memory_deny_write_execute(tmp_path):
    if not _mdwe_supported():
        pytest.skip("this kernel has no PR_SET_MDWE (Linux 6.3+)")
    assert ctypes  # the prelude runs in the child; the import documents the mechanism
    port = free_port()
    wrapper = _MDWE_PRELUDE + (
        "import runpy\n"
        "sys.argv = ['gethook'] + sys.argv[1:]\n"
        "runpy.run_module('gethook_lite', run_name='__main__')\n"
    )
    log_path = tmp_path / "serve.log"
    log = log_path.open("wb")
    env = {**os.environ, "GETHOOK_ACCOUNTS_SIGNUPS_PER_CLIENT": "0"}
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            wrapper,
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path / "data"),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(server, url, log_path)
        with httpx.Client(base_url=url, timeout=10) as client:
            key = client.post("/v1/accounts", json={"name": "mdwe"}).json()["data"]["api_key"]
        with (
            Receiver() as receiver,
            httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {key['key']}"}, timeout=10
            ) as api,
        ):
            source, _ = wire(api, receiver.url + "/hook")
            accepted = httpx.post(source["ingest_url"], json={"n": 1}, timeout=10)
            assert accepted.status_code == 202, accepted.text
            wait_for_event(api, accepted.json()["data"]["id"], {"delivered"})
        server.send_signal(signal.SIGTERM)
        # uvicorn re-raises the signal once drained; systemd counts that as a clean stop.
        assert server.wait(timeout=30) in (0, -signal.SIGTERM)
        assert "Application shutdown complete" in log_path.read_text()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
