"""The example projects' own test suites pass, run as the project's CI runs them: the toy app's
webhook tests use the installed package's pytest plugin against a real `gethook sink`."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
PLUGIN = "gethook_lite.testing.plugin"


def plugin_arguments() -> list[str]:
    """No arguments when the package's pytest11 entry point is installed (as for any project
    that installs gethook-lite); else load the plugin by name, and say so."""
    if any(point.value == PLUGIN for point in entry_points(group="pytest11")):
        return []
    print(f"the pytest11 entry point is not installed here: loading {PLUGIN} with -p")
    return ["-p", PLUGIN]


@pytest.mark.slow
def test_the_toy_app_suite_passes():
    command = [
        sys.executable, "-m", "pytest", "examples/toy-app", "-q", "-p", "no:cacheprovider",
        *plugin_arguments(),
    ]  # fmt: skip
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, f"{' '.join(command)}\n{run.stdout}\n{run.stderr}"
    assert " passed" in run.stdout and "failed" not in run.stdout, run.stdout
