"""A real ``gethook serve`` in a subprocess on a free 127.0.0.1 port, for end-to-end tests."""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

__all__ = ["GethookServer", "free_port", "wait_ready"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class GethookServer:
    """Starts, stops and kills a server process on one data directory.

    ``storage_url``: a postgresql:// URL puts its data in that database (storage.url) instead
    of the data directory's SQLite file. Without it the process inherits the environment's
    GETHOOK_STORAGE_URL, which tests/e2e/conftest.py ``backend`` sets for [postgresql] tests.
    """

    def __init__(
        self,
        data_dir: Path,
        env: dict[str, str] | None = None,
        open_files: int | None = None,
        host: str = "127.0.0.1",
        storage_url: str | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.storage_url = storage_url
        # Where it listens (--host); clients always connect through 127.0.0.1.
        self.host = host
        # The process's open-file limit (soft and hard), to test running out of descriptors.
        self.open_files = open_files
        self.port = free_port()
        self.env = env or {}
        self.process: subprocess.Popen | None = None
        self.log_path = data_dir.parent / f"server-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> GethookServer:
        # No sign-up throttle unless a test sets one: suites make many accounts from 127.0.0.1.
        env = {
            **os.environ,
            "GETHOOK_SERVER_LOG_LEVEL": "info",
            "GETHOOK_ACCOUNTS_SIGNUPS_PER_CLIENT": "0",
            **({"GETHOOK_STORAGE_URL": self.storage_url} if self.storage_url else {}),
            **self.env,
        }
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gethook_lite",
                "serve",
                "--host",
                self.host,
                "--port",
                str(self.port),
                "--data-dir",
                str(self.data_dir),
            ],
            env=env,
            preexec_fn=self._limit_open_files if self.open_files else None,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        try:
            wait_ready(self.process, self.url, self.log_path, timeout)
        except BaseException:
            # A server that did not become ready in time must not outlive the test: on a busy
            # machine leftover servers pile up and make every later start slower still.
            self.kill()
            raise
        return self

    def _limit_open_files(self) -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.open_files, self.open_files))

    def stop(self) -> None:
        """Graceful stop (SIGTERM), as an operator or a process manager would."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """SIGKILL: the process dies at once, mid-work, as in a crash."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)


def wait_ready(process: subprocess.Popen, url: str, log: Path, timeout: float = 15.0) -> None:
    """Wait until a server process (ours under any wrapper, or the built executable) answers
    /readyz; fail with its log if it exits or takes longer than ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited early:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/readyz", timeout=0.5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"the server did not become ready:\n{log.read_text()}")
