"""What the CLI imports before a command runs (start-up time, issue 13)."""

from __future__ import annotations

import importlib
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from gethook_lite.cli import _LAZY_COMMANDS, main


@pytest.mark.parametrize("name", sorted(_LAZY_COMMANDS))
def test_a_lazy_command_is_listed_as_its_own_help_says(name):
    module, line = _LAZY_COMMANDS[name]
    command = getattr(importlib.import_module(module), name)
    stand_in = click.Command(name, help=line)
    # `gethook --help` shortens each line to fit the terminal: the same at every width.
    for limit in range(10, 200):
        assert stand_in.get_short_help_str(limit) == command.get_short_help_str(limit), limit


def test_help_lists_every_command_without_importing_the_http_client():
    script = (
        "import sys\n"
        "from gethook_lite.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('imported:', sorted(m for m in ('aiohttp', 'litestar', 'uvicorn') if m in"
        " sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert "imported: []" in done.stdout
    for name in ("serve", "migrate", "backup", "doctor", *_LAZY_COMMANDS):
        assert f"\n  {name} " in done.stdout, name


def test_a_lazy_command_runs_and_shows_its_help():
    result = CliRunner().invoke(main, ["wait", "--help"])
    assert result.exit_code == 0, result.output
    assert "--event-type" in result.output
    result = CliRunner().invoke(main, ["nope"])
    assert result.exit_code == 2 and "No such command 'nope'" in result.output
