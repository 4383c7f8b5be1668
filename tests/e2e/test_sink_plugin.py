"""The pytest plugin's sink process: one per session, started only when a fixture asks for it,
gone when the session ends however it ends, and a start failure that says why."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from gethook_lite.testing.sink import SinkServer, SinkStartError

PLUGIN = "gethook_lite.testing.plugin"


def run_pytest(folder: Path, source: str, *options: str) -> subprocess.CompletedProcess[str]:
    """Run a one-file test suite in its own pytest process, with the plugin loaded."""
    (folder / "test_inner.py").write_text(textwrap.dedent(source))
    (folder / "pytest.ini").write_text("[pytest]\n")
    registered = any(point.value == PLUGIN for point in entry_points(group="pytest11"))
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        *options,
        str(folder),
    ]
    if not registered:
        command += ["-p", PLUGIN]
    return subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=120)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead too; only its parent (gone) could reap it.
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "zombie" in status.read_text())


def pids(folder: Path) -> list[int]:
    return [int(line) for line in (folder / "pids").read_text().split()]


RECORD_PID = """
    from pathlib import Path

    def record(server):
        with Path(__file__).with_name("pids").open("a") as f:
            f.write(f"{server.pid}\\n")
"""


def test_one_sink_serves_the_session_and_is_gone_after_a_failing_run(tmp_path):
    run = run_pytest(
        tmp_path,
        RECORD_PID
        + """
    def test_one(webhook_sink, webhook_sink_server):
        record(webhook_sink_server)
        assert webhook_sink.url.startswith("http://127.0.0.1:")

    def test_two(webhook_sink, webhook_sink_server):
        record(webhook_sink_server)
        assert False, "a failing test"

    def test_no_fixture():
        pass
    """,
    )
    assert run.returncode == 1 and "1 failed, 2 passed" in run.stdout, run.stdout + run.stderr
    first, second = pids(tmp_path)
    assert first == second  # one process for the session
    assert not alive(first)


def test_an_interrupted_session_still_stops_its_sink(tmp_path):
    run = run_pytest(
        tmp_path,
        RECORD_PID
        + """
    import pytest

    def test_interrupted(webhook_sink, webhook_sink_server):
        record(webhook_sink_server)
        pytest.exit("stopping the session here", returncode=3)
    """,
    )
    assert run.returncode == 3, run.stdout + run.stderr
    [pid] = pids(tmp_path)
    assert not alive(pid)


def test_no_sink_is_started_when_no_test_asks_for_one(tmp_path):
    run = run_pytest(
        tmp_path,
        """
    import sys

    def test_plain():
        assert "gethook_lite.testing.sink" not in sys.modules
    """,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_a_sink_that_cannot_start_says_why():
    server = SinkServer(["--no-such-option"], startup_timeout=30)
    # The sink's own complaint, quoted from its log.
    with pytest.raises(SinkStartError, match=r"(?s)its log:.*No such option.*--no-such-option"):
        server.start()
    assert not server.running


def test_under_xdist_each_worker_has_its_own_sink(tmp_path):
    pytest.importorskip("xdist")
    tests = "".join(
        f"""
    def test_{n}(webhook_sink, webhook_sink_server, worker_id):
        record(webhook_sink_server, worker_id)
        assert webhook_sink.url
    """
        for n in range(6)
    )
    source = """
    from pathlib import Path

    def record(server, worker):
        with Path(__file__).with_name("pids").open("a") as f:
            f.write(f"{worker}:{server.pid}\\n")
    """
    run = run_pytest(tmp_path, source + tests, "-n", "2")
    assert run.returncode == 0, run.stdout + run.stderr
    by_worker: dict[str, set[str]] = {}
    for line in (tmp_path / "pids").read_text().split():
        worker, pid = line.split(":")
        by_worker.setdefault(worker, set()).add(pid)
    assert all(len(found) == 1 for found in by_worker.values()), by_worker
    every = [pid for found in by_worker.values() for pid in found]
    assert len(set(every)) == len(by_worker)  # no two workers share one
    assert not any(alive(int(pid)) for pid in every)
