"""The ``gethook`` command: serve, init, migrate, accounts, keys, version."""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import Coroutine
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import click

from gethook_lite import __version__
from gethook_lite.config import ConfigError, Settings, load_settings

__all__ = ["main"]

T = TypeVar("T")

_config_option = click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Path to gethook.toml (default: $GETHOOK_CONFIG, or ./gethook.toml if it exists).",
)
_data_dir_option = click.option(
    "--data-dir", default=None, help="Directory for the database and files [./gethook-data]."
)


def _settings(config_file: str | None, **overrides) -> Settings:
    try:
        # A file named by --config or $GETHOOK_CONFIG wins over the working directory's.
        return load_settings(config_file, overrides=overrides, default_file="gethook.toml")
    except ConfigError as exc:
        raise click.ClickException(f"bad configuration: {exc}") from None


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a command's work; a refusal (bad key, locked or unwritable data directory, invalid
    input) is one line on stderr and exit code 1, never a traceback."""
    from gethook_lite.app import StartupError
    from gethook_lite.errors import DomainError

    try:
        return asyncio.run(coroutine)
    except StartupError as exc:
        raise click.ClickException(str(exc)) from None
    except DomainError as exc:
        raise click.ClickException(exc.message) from None


def configure_logging(settings: Settings) -> None:
    from gethook_lite.logs import configure

    configure(settings.server.log_level, settings.server.log_format)


# Commands whose modules import aiohttp (~0.15 s): imported only when run, so that every other
# command (--help, serve, migrate…) starts without them (issue 13). The line is the first
# sentence of the command's help, as `gethook --help` lists it (a unit test compares them).
_LAZY_COMMANDS = {
    # Developer commands: clients of a running server.
    "listen": ("gethook_lite.cli_dev", "Relay a source's events to a local app, signed; hold"
               " them while it is down."),
    "tail": ("gethook_lite.cli_dev", "Print the account's live stream: events received, status"
             " changes, rejections."),
    "trigger": ("gethook_lite.cli_dev", "Send a realistic sample event, signed as PROVIDER signs"
                " it, through a source."),
    # CI commands: a throwaway capturing server, and waiting for what it caught.
    "sink": ("gethook_lite.cli_sink", "Run a throwaway webhook sink for tests and CI: one"
             " account, one catch-all source that keeps every request raw."),
    "wait": ("gethook_lite.cli_sink", "Wait until COUNT inbound events matching the filters"
             " exist."),
}  # fmt: skip


class _Commands(click.Group):
    """The ``gethook`` group, with the commands of ``_LAZY_COMMANDS`` imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *_LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in _LAZY_COMMANDS and cmd_name not in self.commands:
            module = importlib.import_module(_LAZY_COMMANDS[cmd_name][0])
            self.add_command(getattr(module, cmd_name))
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # The listing shows a lazy command by its line, without importing it.
        stand_ins = {
            name: click.Command(name, help=line)
            for name, (_, line) in _LAZY_COMMANDS.items()
            if name not in self.commands
        }
        listing = click.Group(self.name, commands={**self.commands, **stand_ins})
        click.Group.format_commands(listing, ctx, formatter)


@click.group(cls=_Commands)
@click.version_option(__version__, prog_name="gethook")
def main() -> None:
    """GetHook Lite: a self-hosted webhook reliability gateway."""


@main.command()
@click.option("--host", default=None, help="Interface to listen on [127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port to listen on [8080].")
@_config_option
@_data_dir_option
def serve(
    host: str | None, port: int | None, config_file: str | None, data_dir: str | None
) -> None:
    """Run the HTTP API and the delivery engine in this process."""
    import uvicorn

    from gethook_lite.server import start_up_without_gc, uvicorn_config

    with start_up_without_gc():
        from gethook_lite.app import check_startup, create_app

        settings = _settings(
            config_file, **{"server.host": host, "server.port": port, "storage.data_dir": data_dir}
        )
        configure_logging(settings)
        _run(check_startup(settings))
        app = create_app(settings)
        config = uvicorn_config(settings, app)
    server = uvicorn.Server(config)
    server.run()
    if not server.started:
        sys.exit(1)


@main.command()
@click.option("--path", default="gethook.toml", show_default=True, help="Where to write it.")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(path: str, force: bool) -> None:
    """Write a commented gethook.toml with every setting and its default."""
    target = Path(path)
    if target.exists() and not force:
        raise click.ClickException(f"{target} exists; use --force to overwrite it")
    target.write_text(config_template())
    click.echo(f"wrote {target}")


def config_template() -> str:
    return (resources.files("gethook_lite") / "gethook.toml.template").read_text()


@main.command()
@click.option(
    "--check",
    is_flag=True,
    help="Only say which migrations would run; exit 0 if none, 1 if some would, 3 if refused.",
)
@_config_option
@_data_dir_option
def migrate(check: bool, config_file: str | None, data_dir: str | None) -> None:
    """Apply database migrations (also done at every start; the server must be stopped)."""
    from gethook_lite.app import open_context
    from gethook_lite.data_dir import data_dir_lock

    settings = _settings(config_file, **{"storage.data_dir": data_dir})
    if check:
        sys.exit(_migration_check(settings))

    async def run() -> None:
        # Opening applies every pending migration (logging each one) and checks the key. The
        # lock: a running server's code would not know the schema it is given.
        with data_dir_lock(settings.data_dir):
            async with open_context(settings):
                pass

    _run(run())
    click.echo(f"database in {settings.data_dir} is up to date")


# Exit codes of ``migrate --check`` (README, "Upgrading"): scripts tell "to do" from "refused".
_CHECK_UP_TO_DATE, _CHECK_PENDING, _CHECK_REFUSED = 0, 1, 3


def _migration_check(settings: Settings) -> int:
    from gethook_lite.data_dir import DATABASE_FILE
    from gethook_lite.db.postgres import redact_url
    from gethook_lite.ops.schema import migration_plan

    url = settings.storage.url
    plan = migration_plan(url or settings.data_dir / DATABASE_FILE)
    database = redact_url(url) if url else settings.data_dir / DATABASE_FILE
    if plan.refused:
        click.echo(f"Error: {database}: {plan.refused}", err=True)
        return _CHECK_REFUSED
    names = ", ".join(f"{version:04d}" for version in plan.pending)
    if not plan.database_exists:
        click.echo(f"no database at {database} yet: the first start creates it ({names})")
        return _CHECK_PENDING
    if not plan.pending:
        click.echo(f"{database} is up to date (schema {plan.newest_known})")
        return _CHECK_UP_TO_DATE
    click.echo(f"{database} would be migrated to schema {plan.newest_known}: {names}")
    return _CHECK_PENDING


@main.group()
def accounts() -> None:
    """Manage accounts (for operators who close public sign-up)."""


@accounts.command("create")
@click.argument("name")
@_config_option
@_data_dir_option
def accounts_create(name: str, config_file: str | None, data_dir: str | None) -> None:
    """Create an account and print its bootstrap API key."""
    from gethook_lite.app import open_context
    from gethook_lite.domain.accounts import create_account

    settings = _settings(config_file, **{"storage.data_dir": data_dir})

    async def run():
        async with open_context(settings) as ctx:
            return await create_account(ctx, name)

    account, key = _run(run())
    click.echo(f"account: {account['id']}")
    click.echo(f"api key: {key['key']}")
    click.echo("Keep the key safe: it is shown only once.", err=True)


@main.group()
def keys() -> None:
    """Manage API keys."""


@keys.command("create")
@click.option("--account", "account_id", required=True, help="The account id (acct_…).")
@click.option("--name", default="cli", show_default=True)
@click.option("--role", type=click.Choice(["admin", "viewer"]), default="admin", show_default=True)
@_config_option
@_data_dir_option
def keys_create(
    account_id: str, name: str, role: str, config_file: str | None, data_dir: str | None
) -> None:
    """Create an API key for an existing account and print it."""
    from gethook_lite.app import open_context
    from gethook_lite.domain.accounts import Caller, create_api_key, get_account

    settings = _settings(config_file, **{"storage.data_dir": data_dir})

    async def run():
        async with open_context(settings) as ctx:
            await get_account(ctx, account_id)
            caller = Caller(account_id=account_id, key_id="cli", role="admin")
            return await create_api_key(ctx, caller, name, role)

    key = _run(run())
    click.echo(f"api key: {key['key']}")


@main.command()
def version() -> None:
    """Print the version."""
    click.echo(f"gethook-lite {__version__}")


# Operators' commands (backup, restore, accounts list, keys list/revoke…) live in cli_ops.
from gethook_lite.cli_ops import add_operator_commands  # noqa: E402

add_operator_commands(main, accounts, keys, _config_option, _data_dir_option, _settings)

# gethook doctor lives with its checks in ops/doctor.
from gethook_lite.ops.doctor import add_doctor_command  # noqa: E402

add_doctor_command(main, _config_option, _data_dir_option, _settings)
