"""`gethook sink` and `gethook wait` as a CI job runs them: real processes, real sockets."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.cli import gethook

REPO = Path(__file__).resolve().parents[2]
SINK_JOB = REPO / "examples" / "ci" / "sink-job.sh"
GETHOOK = f"{sys.executable} -m gethook_lite"


class Sink:
    """A running `gethook sink` and the JSON line it printed."""

    def __init__(self, process: subprocess.Popen, info: dict, started: float) -> None:
        self.process = process
        self.info = info
        self.ready_seconds = started

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.info['api_key']}"}

    def stop(self, signum: int = signal.SIGTERM) -> tuple[int, str, str]:
        self.process.send_signal(signum)
        out, err = self.process.communicate(timeout=15)
        return self.process.returncode, out, err


def start_sink(tmp_path: Path, *args: str) -> Sink:
    env = {**os.environ, "TMPDIR": str(_temp_root(tmp_path))}
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "gethook_lite", "sink", "--port", "0", "--json", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    line = process.stdout.readline()  # type: ignore[union-attr]
    if not line:
        process.kill()
        raise AssertionError(f"the sink printed nothing: {process.communicate()[1]}")
    return Sink(process, json.loads(line), time.perf_counter() - started)


def _temp_root(tmp_path: Path) -> Path:
    root = tmp_path / "tmp"
    root.mkdir(exist_ok=True)
    return root


@pytest.fixture
def sink(tmp_path) -> Iterator[Sink]:
    running = start_sink(tmp_path)
    yield running
    if running.process.poll() is None:
        running.stop()


def wait_cli(sink: Sink, *args: str) -> subprocess.CompletedProcess:
    return gethook(
        "wait", "--api-url", sink.info["base_url"], "--api-key", sink.info["api_key"], *args
    )


@pytest.mark.skipif(shutil.which("jq") is None, reason="the example job reads JSON with jq")
def test_the_example_ci_job_runs(tmp_path):
    env = {**os.environ, "GETHOOK": GETHOOK, "TMPDIR": str(_temp_root(tmp_path))}
    env.pop("GETHOOK_API_URL", None)
    env.pop("GETHOOK_API_KEY", None)
    done = subprocess.run(
        ["bash", str(SINK_JOB)], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[1] for line in lines[:2]] == ["invoice.paid", "invoice.voided"]
    assert lines[-1] == "both webhooks arrived"
    assert list(_temp_root(tmp_path).iterdir()) == []  # the sink removed its data


def test_the_sink_prints_one_json_line_and_cleans_up_on_sigterm(tmp_path, sink):
    info = sink.info
    assert set(info) == {"base_url", "ingest_url", "api_key", "source_id"}
    assert info["base_url"].startswith("http://127.0.0.1:")
    assert info["ingest_url"].startswith(info["base_url"] + "/ingest/")
    assert httpx.get(info["base_url"] + "/readyz").status_code == 200
    (data_dir,) = _temp_root(tmp_path).iterdir()
    assert data_dir.name.startswith("gethook-sink-")
    code, out, err = sink.stop()
    assert code == 0, err
    assert out == ""  # nothing after the JSON line: logs go to stderr
    assert list(_temp_root(tmp_path).iterdir()) == []


def test_sigint_stops_it_cleanly_too(tmp_path):
    running = start_sink(tmp_path)
    code, _, err = running.stop(signal.SIGINT)
    assert code == 0, err
    assert list(_temp_root(tmp_path).iterdir()) == []


def test_a_given_data_dir_and_api_key_are_kept(tmp_path):
    key = "hk_" + "a1" * 12
    running = start_sink(tmp_path, "--data-dir", str(tmp_path / "kept"), "--api-key", key)
    assert running.info["api_key"] == key
    answer = httpx.get(running.info["base_url"] + "/v1/sources", headers=running.auth)
    assert [s["id"] for s in answer.json()["data"]] == [running.info["source_id"]]
    assert answer.json()["data"][0]["sink"] is True
    assert running.stop()[0] == 0
    assert (tmp_path / "kept" / "gethook.db").exists()


def test_capture_is_raw_and_wait_exits_0_1_2(sink):
    url = sink.info["ingest_url"]
    for _ in range(2):  # the same delivery twice: both kept
        sent = httpx.put(
            url + "/orders/7?retry=1",
            content=b'{"type":"invoice.paid","id":"evt_same"}',
            headers={"content-type": "application/json"},
        )
        assert sent.status_code == 202, sent.text
    met = wait_cli(sink, "--count", "2", "--event-type", "invoice.*", "--json")
    assert met.returncode == 0, met.stderr
    events = [json.loads(line) for line in met.stdout.splitlines()]
    assert len({e["id"] for e in events}) == 2
    assert {(e["request_method"], e["request_path"], e["request_query"]) for e in events} == {
        ("PUT", "/orders/7", "retry=1")
    }
    missed = wait_cli(sink, "--count", "3", "--event-type", "invoice.*", "--timeout", "0.5")
    assert missed.returncode == 1
    assert "2 of 3 matching events arrived" in missed.stderr
    assert "2 x invoice.paid" in missed.stderr
    unreachable = gethook(
        "wait", "--api-url", "http://127.0.0.1:9", "--api-key", sink.info["api_key"]
    )
    assert unreachable.returncode == 2
    assert "cannot reach the server" in unreachable.stderr
    assert wait_cli(sink, "--count", "0").returncode == 2  # usage


def test_wait_returns_on_the_commit_not_the_timeout(sink):
    waiter = subprocess.Popen(
        [sys.executable, "-m", "gethook_lite", "wait", "--count", "1", "--timeout", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={
            **os.environ,
            "GETHOOK_API_URL": sink.info["base_url"],
            "GETHOOK_API_KEY": sink.info["api_key"],
        },
    )
    time.sleep(1.5)  # the CLI starts and parks on the long poll
    assert waiter.poll() is None
    sent_at = time.monotonic()
    httpx.post(sink.info["ingest_url"], content=b'{"type":"a.b"}')
    out, err = waiter.communicate(timeout=30)
    assert waiter.returncode == 0, err
    assert out.split()[1] == "a.b"
    assert time.monotonic() - sent_at < 10  # far below the 60 s timeout


def test_respond_scripts_the_answers(tmp_path):
    running = start_sink(tmp_path, "--respond", "500,503,200")
    try:
        url = running.info["ingest_url"]
        statuses = [httpx.post(url, content=b"{}").status_code for _ in range(4)]
        assert statuses == [500, 503, 200, 200]
        plan = httpx.get(
            f"{running.info['base_url']}/v1/sources/{running.info['source_id']}/response-plan",
            headers=running.auth,
        ).json()["data"]
        assert (plan["statuses"], plan["position"]) == ([500, 503, 200], 4)
    finally:
        running.stop()


def test_verify_checks_signatures_and_records_rejections(tmp_path):
    running = start_sink(tmp_path, "--verify", "github", "--secret", "s3cret")
    try:
        refused = httpx.post(
            running.info["ingest_url"],
            content=b"{}",
            headers={"x-hub-signature-256": "sha256=" + "0" * 64, "x-github-event": "push"},
        )
        assert refused.status_code == 401
        rejected = httpx.get(
            f"{running.info['base_url']}/v1/sources/{running.info['source_id']}/rejected-requests",
            headers=running.auth,
        ).json()["data"]["items"]
        assert len(rejected) == 1 and "signature" in rejected[0]["reason"]
    finally:
        running.stop()


def test_bad_options_are_usage_errors(tmp_path):
    assert gethook("sink", "--respond", "500,abc").returncode == 2
    assert gethook("sink", "--verify", "stripe").returncode == 2
    assert gethook("sink", "--verify", "nope", "--secret", "x").returncode == 2
