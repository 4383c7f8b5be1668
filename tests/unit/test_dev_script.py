"""./dev: the README's two commands set up .venv the first time and skip the install later.

pip and pytest are stood in for by a logging fake (tests run offline); the script's own logic,
the interpreter check and the pyproject.toml stamp run for real. CI exercises the real install.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]

_FAKE_VENV_PYTHON = """#!/bin/sh
case "$1 $2" in
"-m pip"|"-m pytest"|"-m PyInstaller") echo "$*" >> "{log}"; exit 0;;
esac
exec "{real}" "$@"
"""
_FAKE_PYTHON = """#!/bin/sh
if [ "$1 $2" = "-m venv" ]; then
    mkdir -p "$3/bin"
    cat > "$3/bin/python" <<'SCRIPT'
{venv_python}SCRIPT
    printf '#!/bin/sh\\necho "gethook $*" >> "{log}"\\n' > "$3/bin/gethook"
    chmod +x "$3/bin/python" "$3/bin/gethook"
    echo "venv $3" >> "{log}"
    exit 0
fi
exec "{real}" "$@"
"""


@pytest.fixture
def checkout(tmp_path):
    work = tmp_path / "checkout"
    work.mkdir()
    shutil.copy(ROOT / "dev", work / "dev")
    shutil.copy(ROOT / "pyproject.toml", work / "pyproject.toml")
    log = tmp_path / "log"
    log.write_text("")
    venv_python = _FAKE_VENV_PYTHON.format(log=log, real=sys.executable)
    fake = tmp_path / "python3"
    fake.write_text(_FAKE_PYTHON.format(venv_python=venv_python, log=log, real=sys.executable))
    fake.chmod(0o755)
    return work, fake, log


def _dev(checkout, *args: str, ci: bool = False) -> list[str]:
    work, fake, log = checkout
    before = len(log.read_text().splitlines())
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "GETHOOK_VENV")}
    env["PYTHON"] = str(fake)
    if ci:
        env["CI"] = "true"
    run = subprocess.run(
        ["sh", str(work / "dev"), *args], env=env, capture_output=True, text=True, timeout=30
    )
    assert run.returncode == 0, run.stderr
    return log.read_text().splitlines()[before:]


# ./dev test runs the suite in two worker processes, a module per worker.
PYTEST = "-m pytest -n 2 --dist loadfile"


def test_first_run_sets_up_then_later_runs_skip_the_install(checkout):
    first = _dev(checkout, "test", "-x")
    assert first[0].startswith("venv ")
    assert "-m pip install --quiet -e .[dev]" in first
    assert first[-1] == f"{PYTEST} -x"
    assert _dev(checkout, "test", "-q") == [f"{PYTEST} -q"]
    # The server's command is satisfied by the test environment.
    assert _dev(checkout, "serve", "--port", "9000") == ["gethook serve --port 9000"]
    # A changed pyproject.toml installs again, once.
    pyproject = checkout[0] / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "\n# changed\n")
    assert "-m pip install --quiet -e .[dev]" in _dev(checkout, "test")
    assert _dev(checkout, "test") == [PYTEST]


def test_serve_alone_installs_only_the_server(checkout):
    lines = _dev(checkout, "serve")
    assert "-m pip install --quiet -e ." in lines and lines[-1] == "gethook serve"
    assert not any(".[dev]" in line for line in lines)
    assert _dev(checkout, "serve") == ["gethook serve"]


def test_ci_setup_installs_every_time(checkout):
    _dev(checkout, "setup")
    assert "-m pip install --quiet -e .[dev]" in _dev(checkout, "setup", ci=True)
    assert _dev(checkout, "setup") == []


def test_build_installs_the_build_extra_and_runs_the_spec(checkout):
    lines = _dev(checkout, "build")
    assert "-m pip install --quiet -e .[build]" in lines
    assert not any(".[dev]" in line for line in lines)
    assert lines[-1] == (
        "-m PyInstaller --noconfirm --clean --distpath dist --workpath build/pyinstaller"
        " deploy/gethook.spec"
    )
    assert _dev(checkout, "build") == [lines[-1]]


def test_plain_install_does_not_pull_test_tools():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {
        dep.split(">")[0].split("<")[0].split("[")[0].split("=")[0].strip().lower()
        for dep in project["dependencies"]
    }
    assert not names & {"pytest", "pytest-timeout", "httpx", "ruff", "schemathesis", "pyinstaller"}
    assert "pytest" in " ".join(project["optional-dependencies"]["dev"])
