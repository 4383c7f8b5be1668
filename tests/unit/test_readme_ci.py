"""The README's "CI" examples are copies of files that tests run: the pytest example of the toy
app's suite (run by tests/e2e/test_examples.py) and the shell CI job (examples/ci/)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[2]
README = ROOT / "README.md"
PYTEST_EXAMPLE = ROOT / "examples" / "toy-app" / "tests" / "test_webhooks.py"
CI_JOB = ROOT / "examples" / "ci" / "sink-job.sh"
_REGION = re.compile(r"^# readme:start\n(.*?)^# readme:end$", re.S | re.M)


def readme_block(name: str, language: str) -> str:
    pattern = rf"<!-- {name}:start -->\n```{language}\n(.*?)```\n<!-- {name}:end -->"
    match = re.search(pattern, README.read_text(), re.S)
    assert match, f"README.md lost its {name} block (or its markers)"
    return match.group(1).strip()


def quoted_part(path: Path) -> str:
    """The file's ``# readme:start`` … ``# readme:end`` region, or the whole file."""
    text = path.read_text()
    match = _REGION.search(text)
    return (match.group(1) if match else text).strip()


def test_the_readme_pytest_example_is_the_toy_app_test():
    assert readme_block("ci-pytest", "python") == quoted_part(PYTEST_EXAMPLE)


def test_the_readme_ci_job_is_the_example_script():
    block = readme_block("ci-job", "sh")
    if not CI_JOB.exists():
        # Until the script exists the README says so plainly, never a made-up example.
        assert block.startswith("# PLACEHOLDER"), block
        return
    assert block == quoted_part(CI_JOB)
