"""Developer commands: ``gethook listen``, ``gethook tail`` and ``gethook trigger``.

They are clients of a running server (local or remote) and use only its public API. Without
``--api-key`` (or ``GETHOOK_API_KEY``) they use the key kept in the CLI's state file
(``~/.gethook/cli.json``, or ``$GETHOOK_STATE_DIR``) for that server, and on a server with open
sign-up create a local development account the first time.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Coroutine
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import click

from gethook_lite.delivery.signing import generate_signing_secret
from gethook_lite.dev.client import DEFAULT_API_URL, ApiClient, ApiError, CliState, SseMessage
from gethook_lite.dev.listen import Forwarder, Printer, follow

__all__ = ["listen", "tail", "trigger"]

PROVIDERS = ("none", "stripe", "github", "shopify", "slack", "standard_webhooks")
DEV_ACCOUNT_NAME = "local-dev"
# Upper bound of the waits between two tries to reach the local app or the server.
DEFAULT_RETRY_MAX_SECONDS = 5.0
# How long the local app may take to answer one event (a debugger stop is often longer).
FORWARD_TIMEOUT_SECONDS = 60.0


def _api_options(command):
    command = click.option(
        "--api-key", envvar="GETHOOK_API_KEY", default=None,
        help="API key (hk_…). Default: GETHOOK_API_KEY, else the one kept for this server.",
    )(command)  # fmt: skip
    return click.option(
        "--api-url", envvar="GETHOOK_API_URL", default=DEFAULT_API_URL, show_default=True,
        help="The server (also GETHOOK_API_URL).",
    )(command)  # fmt: skip


def _local_url(ctx: click.Context, param: click.Parameter, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise click.BadParameter("must be an absolute http(s) URL such as http://localhost:3000/")
    return value


def _run(coroutine: Coroutine[Any, Any, Any]) -> None:
    try:
        asyncio.run(coroutine)
    except KeyboardInterrupt:
        click.echo("Stopped.", err=True)
    except ApiError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot reach the server: {exc}") from None


async def _authenticated(api: ApiClient, state: CliState, explicit: bool) -> None:
    """Use the given key, else the one kept for this server, else create a dev account."""
    if api.key:
        return
    kept = state.get(f"key:{api.base_url}")
    if kept:
        api.key = kept
        return
    if explicit:
        return
    created = await api.call("POST", "/v1/accounts", {"name": DEV_ACCOUNT_NAME})
    api.key = created["api_key"]["key"]
    state.set(f"key:{api.base_url}", api.key)
    click.echo(
        f"Created account {created['account']['id']} for local development; its API key is"
        f" kept in {state.path}.",
        err=True,
    )


def _provider_secret(provider: str) -> str:
    if provider in ("stripe", "standard_webhooks"):
        return generate_signing_secret()
    return secrets.token_hex(24)


async def _source(
    api: ApiClient, state: CliState, source_id: str | None, name: str | None, provider: str
) -> dict:
    """The source named by id, else the account's source of that name, created if needed."""
    if source_id:
        return await api.call("GET", f"/v1/sources/{source_id}")
    name = name or (f"{provider}-dev" if provider != "none" else "local-dev")
    for source in await api.call("GET", "/v1/sources"):
        if source["name"] == name:
            return source
    fields: dict[str, Any] = {"name": name}
    if provider != "none":
        secret = _provider_secret(provider)
        fields |= {"provider": provider, "verification_config": {"secret": secret}}
    source = await api.call("POST", "/v1/sources", fields)
    if provider != "none":
        state.set(f"provider_secret:{api.base_url}:{source['id']}", secret)
    return source


@click.command()
@click.option(
    "--forward-to", required=True, callback=_local_url, help="Local URL each event is sent to."
)
@click.option("--source", "source_id", default=None, help="Source id (src_…) to listen to.")
@click.option("--name", default=None, help="Or a source name: reused, or created. [<provider>-dev]")
@click.option("--provider", type=click.Choice(PROVIDERS), default="none", show_default=True,
              help="Provider of a source created by name (a secret is generated).")  # fmt: skip
@click.option("--events", "event_glob", default=None, help="Only these event types (glob).")
@click.option("--original-headers", is_flag=True, help="Also send the provider's headers.")
@click.option("--json", "json_lines", is_flag=True, help="JSON lines instead of text.")
@click.option("--retry-max-seconds", type=float, default=DEFAULT_RETRY_MAX_SECONDS, hidden=True)
@_api_options
def listen(
    forward_to: str,
    source_id: str | None,
    name: str | None,
    provider: str,
    event_glob: str | None,
    original_headers: bool,
    json_lines: bool,
    retry_max_seconds: float,
    api_url: str,
    api_key: str | None,
) -> None:
    """Relay a source's events to a local app, signed; hold them while it is down."""

    async def run() -> None:
        state = CliState(CliState.default_folder())
        printer = Printer(json_lines, click.echo)
        async with ApiClient(api_url, api_key) as api:
            await _authenticated(api, state, explicit=False)
            source = await _source(api, state, source_id, name, provider)
            secret_key = f"forward_secret:{api.base_url}:{source['id']}"
            secret = state.get(secret_key) or generate_signing_secret()
            state.set(secret_key, secret)
            _announce(printer, state, api, source, forward_to, secret)
            # One connection per event: a local app restarts often, and a kept-alive connection
            # to its previous process would only fail later.
            local = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(force_close=True),
                timeout=aiohttp.ClientTimeout(total=FORWARD_TIMEOUT_SECONDS),
            )
            forwarder = Forwarder(
                local, forward_to, secret, original_headers, printer, retry_max_seconds
            )

            async def handle(message: SseMessage) -> None:
                data = json.loads(message.data)
                if message.event == "event.received":
                    outcome = await forwarder.send(data)
                    printer.line(_record(message, data) | outcome)
                elif message.event == "request.rejected":
                    printer.line(_record(message, data))

            async with local:
                await follow(
                    api,
                    state,
                    f"cursor:{api.base_url}:{source['id']}",
                    {"source_id": source["id"], "event_type": event_glob},
                    handle,
                    printer,
                    retry_max_seconds,
                    on_live=_once(lambda: printer.note("Ready: listening for events.")),
                )

    _run(run())


def _announce(
    printer: Printer, state: CliState, api: ApiClient, source: dict, url: str, secret: str
) -> None:
    provider_secret = state.get(f"provider_secret:{api.base_url}:{source['id']}")
    if printer.json_lines:
        printer.echo(json.dumps({"kind": "listening", "source_id": source["id"],
                                 "ingest_url": source["ingest_url"], "forward_to": url,
                                 "signing_secret": secret}))  # fmt: skip
        return
    printer.echo(f"Source {source['id']} ({source['name']}, {source['auth_mode']})")
    printer.echo(f"  Ingest URL (give it to the provider): {source['ingest_url']}")
    if provider_secret:
        printer.echo(f"  Provider signing secret (generated): {provider_secret}")
    printer.echo(f"Forwarding to {url}")
    printer.echo(f"  Signed (Standard Webhooks, webhook-signature) with: {secret}")


def _record(message: SseMessage, data: dict) -> dict[str, Any]:
    record = {"kind": message.event, "cursor": int(message.id) if message.id else None}
    if message.event == "request.rejected":
        return record | {"id": data["id"], "source_id": data["source_id"],
                         "reason": data["reason"]}  # fmt: skip
    if message.event == "event.updated":
        return record | {"id": data["event_id"], "status": data["status"],
                         "event_type": data["event_type"], "attempt": data["attempt"]}  # fmt: skip
    return record | {"id": data["id"], "event_type": data["event_type"], "status": data["status"]}


def _once(action):
    done = False

    def run_once() -> None:
        nonlocal done
        if not done:
            done = True
            action()

    return run_once


@click.command()
@click.option("--source", "source_id", default=None, help="Only this source (src_…).")
@click.option("--events", "event_glob", default=None, help="Only these event types (glob).")
@click.option("--json", "json_lines", is_flag=True, help="JSON lines instead of text.")
@_api_options
def tail(
    source_id: str | None,
    event_glob: str | None,
    json_lines: bool,
    api_url: str,
    api_key: str | None,
) -> None:
    """Print the account's live stream: events received, status changes, rejections."""

    async def run() -> None:
        state = CliState(CliState.default_folder())
        printer = Printer(json_lines, click.echo)
        async with ApiClient(api_url, api_key) as api:
            await _authenticated(api, state, explicit=True)

            async def handle(message: SseMessage) -> None:
                if message.event in ("event.received", "event.updated", "request.rejected"):
                    printer.line(_record(message, json.loads(message.data)))

            # tail shows what happens from now on: its cursor lives only for this run.
            await follow(
                api,
                _Memory(),
                "cursor",
                {"source_id": source_id, "event_type": event_glob},
                handle,
                printer,
                DEFAULT_RETRY_MAX_SECONDS,
                on_live=_once(lambda: printer.note("Ready: following the account's events.")),
            )

    _run(run())


class _Memory(CliState):
    """A state kept in memory only (tail resumes within one run, not across runs)."""

    def __init__(self) -> None:
        self._data = {}

    def set(self, key: str, value: Any) -> None:
        self._data[key] = value


@click.command()
@click.argument("provider", type=click.Choice(PROVIDERS))
@click.argument("event_type", required=False)
@click.option(
    "--source", "source_id", default=None,
    help="Source id (src_…). Default: the <provider>-dev source, created if needed.",
)  # fmt: skip
@_api_options
def trigger(
    provider: str, event_type: str | None, source_id: str | None, api_url: str, api_key: str | None
) -> None:
    """Send a realistic sample event, signed as PROVIDER signs it, through a source."""

    async def run() -> None:
        state = CliState(CliState.default_folder())
        async with ApiClient(api_url, api_key) as api:
            await _authenticated(api, state, explicit=False)
            source = await _source(api, state, source_id, None, provider)
            body = {"event_type": event_type} if event_type else {}
            sent = await api.call("POST", f"/v1/sources/{source['id']}/test-events", body)
            event = sent["event"]
            click.echo(
                f"Sent {event['event_type']} as {event['id']} through {source['id']}"
                f" ({source['name']}): {event['status']}"
            )

    _run(run())
