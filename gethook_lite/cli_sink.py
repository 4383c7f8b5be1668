"""CI commands: ``gethook sink`` (a throwaway server that captures webhooks) and ``gethook
wait`` (block until some events arrived). docs/sink.md is their reference.

``gethook sink`` serves the ordinary app (app.create_app, server.uvicorn_config) on a socket it
binds itself, so ``--port 0`` gets a free port that is known before anything is printed. Once
/readyz answers 200 it prints exactly one JSON line on stdout (base_url, ingest_url, api_key,
source_id); everything else goes to stderr. SIGTERM or SIGINT stop it cleanly (exit 0) and
remove its temporary data directory.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import aiohttp
import click

from gethook_lite.config import ConfigError, Settings, load_settings
from gethook_lite.dev.client import DEFAULT_API_URL
from gethook_lite.errors import DomainError
from gethook_lite.presets import provider_presets

__all__ = ["sink", "wait"]

# Exit codes of ``gethook wait`` (docs/sink.md): met, timed out, usage or connection error.
WAIT_MET, WAIT_TIMED_OUT, WAIT_ERROR = 0, 1, 2
# The client waits this much longer than the server, whose 408 is the answer we want.
_CLIENT_GRACE_SECONDS = 10.0


class _Stop(Exception):
    """SIGTERM: leave the server's loop and clean up."""


@dataclass(frozen=True)
class SinkOptions:
    api_key: str | None
    statuses: list[int] | None
    verify: str | None
    secret: str | None


def _statuses(ctx: click.Context, param: click.Parameter, value: str | None) -> list[int] | None:
    if value is None:
        return None
    try:
        statuses = [int(part) for part in value.split(",")]
    except ValueError:
        raise click.BadParameter(
            "must be HTTP statuses separated by commas, e.g. 500,500,200"
        ) from None
    if not statuses or not all(100 <= status <= 599 for status in statuses):
        raise click.BadParameter("each status must be from 100 to 599")
    return statuses


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port to listen on; 0 picks a free one.")  # fmt: skip
@click.option("--data-dir", default=None,
              help="Keep the data here (kept on exit). Default: a temporary directory, removed"
              " on exit.")  # fmt: skip
@click.option("--api-key", default=None,
              help="The account's API key (hk_ + 16 to 100 letters and digits). Default:"
              " generated.")  # fmt: skip
@click.option("--respond", default=None, callback=_statuses,
              help="Answer the Nth request with the Nth status, then the last forever,"
              " e.g. 500,500,200. Default: 202.")  # fmt: skip
@click.option("--verify", type=click.Choice([p.id for p in provider_presets()]),
              help="Check signatures as this provider does (needs --secret).")  # fmt: skip
@click.option("--secret", default=None, help="The signing secret --verify checks with.")
@click.option("--json", "json_output", is_flag=True,
              help="Accepted for clarity: the one line on stdout is always JSON.")  # fmt: skip
@click.option("--log-level", default="warning", show_default=True, help="Logs (stderr).",
              type=click.Choice(["debug", "info", "warning", "error"]))  # fmt: skip
def sink(
    host: str,
    port: int,
    data_dir: str | None,
    api_key: str | None,
    respond: list[int] | None,
    verify: str | None,
    secret: str | None,
    json_output: bool,
    log_level: str,
) -> None:
    """Run a throwaway webhook sink for tests and CI: one account, one catch-all source that
    keeps every request raw. Prints one JSON line once ready; stop it with SIGTERM or Ctrl-C."""
    if (verify is None) != (secret is None):
        raise click.UsageError("--verify and --secret go together")
    options = SinkOptions(api_key=api_key, statuses=respond, verify=verify, secret=secret)
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listener = socket.create_server((host, port), family=family)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc}") from None
    folder = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="gethook-sink-"))
    code = 1
    previous = signal.signal(signal.SIGTERM, _raise_stop)
    try:
        settings = _sink_settings(folder, host, listener.getsockname()[1], log_level)
        code = asyncio.run(_serve(settings, listener, options))
    except (_Stop, KeyboardInterrupt):
        code = 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        listener.close()
        if data_dir is None:
            shutil.rmtree(folder, ignore_errors=True)
    sys.exit(code)


def _raise_stop(signum: int, frame: object) -> NoReturn:
    raise _Stop


def _sink_settings(folder: Path, host: str, port: int, log_level: str) -> Settings:
    """Settings of a throwaway instance: no config file or GETHOOK_* variables apply."""
    shown_host = f"[{host}]" if ":" in host else host
    overrides = {
        "storage.data_dir": str(folder),
        # A sink's data is thrown away: losing the last commits to a power cut costs nothing,
        # and not syncing every commit makes each capture cheaper.
        "storage.synchronous": "normal",
        "server.host": host,
        "server.port": port,
        "server.public_base_url": f"http://{shown_host}:{port}",
        "server.log_level": log_level,
        "accounts.signup": "closed",
    }
    try:
        return load_settings(env={}, overrides=overrides)
    except ConfigError as exc:
        raise click.ClickException(f"bad option: {exc}") from None


async def _serve(settings: Settings, listener: socket.socket, options: SinkOptions) -> int:
    import uvicorn

    from gethook_lite.server import start_up_without_gc, uvicorn_config

    with start_up_without_gc():
        from gethook_lite.app import create_app
        from gethook_lite.logs import configure

        started = time.perf_counter()
        configure(settings.server.log_level, settings.server.log_format)
        app = create_app(settings)
        server = uvicorn.Server(uvicorn_config(settings, app))
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    while not server.started:
        if serving.done():
            await serving
            return 1  # start-up failed; uvicorn logged why
        await asyncio.sleep(0.002)
    base_url = settings.server.base_url()
    try:
        info = await _provision(app.state.ctx, options, base_url)
    except DomainError as exc:  # a --api-key of the wrong shape: one line, and stop
        click.echo(f"Error: {exc.message}", err=True)
        server.should_exit = True
        await serving
        return 1
    await _until_ready(base_url)
    click.echo(
        f"gethook sink ready at {base_url} in {time.perf_counter() - started:.3f} s", err=True
    )
    sys.stdout.write(json.dumps(info) + "\n")
    sys.stdout.flush()
    await serving
    return 0


async def _provision(ctx: Any, options: SinkOptions, base_url: str) -> dict[str, str]:
    """The sink's one account, key and catch-all source (and its response plan)."""
    from gethook_lite.domain.accounts import Caller, create_account
    from gethook_lite.domain.sink import set_response_plan
    from gethook_lite.domain.sources import create_source

    account, key = await create_account(ctx, "sink", key_name="sink", api_key=options.api_key)
    caller = Caller(account_id=account["id"], key_id=key["id"], role="admin")
    source = await create_source(
        ctx,
        caller,
        name="sink",
        auth_mode=None,
        provider=options.verify,
        verification_config={"secret": options.secret} if options.verify else None,
        sink=True,
    )
    if options.statuses:
        await set_response_plan(ctx, caller, source["id"], options.statuses, 0, None)
    return {
        "base_url": base_url,
        "ingest_url": f"{base_url}/ingest/{source['path_token']}",
        "api_key": key["key"],
        "source_id": source["id"],
    }


async def _until_ready(base_url: str) -> None:
    """Return once /readyz answers 200 (what a script would check)."""
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(f"{base_url}/readyz") as answer:
                    if answer.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.01)


# -- gethook wait ----------------------------------------------------------------------------


@click.command()
@click.option("--count", type=click.IntRange(1, 1000), default=1, show_default=True,
              help="How many matching events to wait for.")  # fmt: skip
@click.option("--event-type", default=None, help="Only events of these types (glob: * and ?).")
@click.option("--source", "source_id", default=None, help="Only this source's (src_…).")
@click.option("--after", default=None, help="Only events after this one (evt_…).")
@click.option("--timeout", "timeout_seconds", type=click.FloatRange(0, 300), default=30.0,
              show_default=True, help="Seconds to wait at most.")  # fmt: skip
@click.option("--json", "json_lines", is_flag=True, help="Print each event as a JSON line.")
@click.option("--api-key", envvar="GETHOOK_API_KEY", default=None,
              help="API key (hk_…); also GETHOOK_API_KEY.")  # fmt: skip
@click.option("--api-url", envvar="GETHOOK_API_URL", default=DEFAULT_API_URL, show_default=True,
              help="The server (also GETHOOK_API_URL).")  # fmt: skip
def wait(
    count: int,
    event_type: str | None,
    source_id: str | None,
    after: str | None,
    timeout_seconds: float,
    json_lines: bool,
    api_key: str | None,
    api_url: str,
) -> None:
    """Wait until COUNT inbound events matching the filters exist. Exit 0 when they do
    (printing them), 1 on timeout (printing what did arrive), 2 on a usage or connection
    error."""
    if not api_key:
        _wait_error("an API key is needed: --api-key or GETHOOK_API_KEY")
    params = {"count": str(count), "timeout": f"{timeout_seconds:g}"}
    for name, value in (("event_type", event_type), ("source_id", source_id), ("after", after)):
        if value:
            params[name] = value
    try:
        status, answer = asyncio.run(_long_poll(api_url, api_key, params, timeout_seconds))
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        _wait_error(f"cannot reach the server at {api_url}: {exc or type(exc).__name__}")
    if status == 200 and isinstance(answer, dict):
        for event in answer.get("data", []):
            event_type = event["event_type"] or "-"
            click.echo(json.dumps(event) if json_lines else f"{event['id']} {event_type}")
        sys.exit(WAIT_MET)
    if status == 408 and isinstance(answer, dict):
        _print_timeout(answer, json_lines)
        sys.exit(WAIT_TIMED_OUT)
    message = answer.get("error") if isinstance(answer, dict) else None
    _wait_error(f"{status} {message or answer}")


async def _long_poll(
    api_url: str, api_key: str, params: dict[str, str], timeout_seconds: float
) -> tuple[int, Any]:
    timeout = aiohttp.ClientTimeout(total=timeout_seconds + _CLIENT_GRACE_SECONDS, connect=10)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.get(
            f"{api_url.rstrip('/')}/v1/events/wait",
            params=params,
            headers={"Authorization": f"Bearer {api_key}"},
        ) as response,
    ):
        text = await response.text()
        try:
            return response.status, json.loads(text)
        except ValueError:
            return response.status, text


def _print_timeout(answer: dict, json_lines: bool) -> None:
    if json_lines:
        click.echo(json.dumps(answer))
        return
    click.echo(answer.get("error", "timed out"), err=True)
    arrived = answer.get("arrived") or {}
    if not arrived:
        click.echo("nothing arrived", err=True)
    for event_type, number in sorted(arrived.items()):
        click.echo(f"arrived: {number} x {event_type}", err=True)


def _wait_error(message: str) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    sys.exit(WAIT_ERROR)
