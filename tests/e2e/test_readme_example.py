"""The README's worked curl example, run as written (pasted into bash) against a real server."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

README = Path(__file__).parents[2] / "README.md"
_SNIPPET = re.compile(
    r"<!-- worked-example:start -->\s*```sh\n(.*?)```\s*<!-- worked-example:end -->", re.S
)
_BASE_LINE = "BASE=http://127.0.0.1:8080\n"


def readme_snippet() -> str:
    match = _SNIPPET.search(README.read_text())
    assert match, "README.md lost its worked-example markers"
    return match.group(1)


@pytest.mark.skipif(shutil.which("curl") is None, reason="the example uses curl")
def test_worked_example_runs_as_written_and_delivers(server):
    snippet = readme_snippet()
    assert snippet.startswith(_BASE_LINE)
    # Only the address differs from a pasted run: the test server listens on a free port.
    script = f"BASE={server.url}\n" + snippet[len(_BASE_LINE) :]
    script += '\necho "RESULT $KEY $INBOX_ID $EVENT_ID $STATUS"\n'
    # -e: a failing step fails the test; a paste would carry on and hide it.
    run = subprocess.run(["bash", "-e", "-c", script], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Traceback" not in run.stderr, run.stderr
    result = run.stdout.strip().splitlines()[-1].split()
    assert result[0] == "RESULT" and len(result) == 5, run.stdout
    _, key, inbox_id, event_id, status = result
    assert status == "delivered", run.stdout
    with server.client(key) as client:
        event = client.get(f"/v1/events/{event_id}").json()["data"]["event"]
        assert event["attempts_count"] >= 1
        # The inbox received the Stripe event, its replay and the outbound event.
        for _ in range(50):
            inbox = client.get("/v1/events", params={"source_id": inbox_id}).json()["data"]["items"]
            if len(inbox) >= 3:
                break
            time.sleep(0.1)
        assert len(inbox) >= 3, inbox
        types = sorted(item["event_type"] or "" for item in inbox)
        assert types.count("charge.succeeded") == 2, types
