"""The pytest plugin (entry point ``pytest11``: ``gethook``): webhook fixtures for any project.

- ``webhook_sink``: a fresh sink source per test on one ``gethook sink`` per session (per
  xdist worker), with ``.url``, ``.wait_for()``, ``.requests``, ``.respond_with()``,
  ``.assert_no_more()`` and ``.assert_signed()``.
- ``webhook_sender``: sends realistic, signed provider webhooks (``.send(provider, type, url,
  secret=…)``).
- ``webhook_sink_server``: the session's sink process itself (``.info``: base_url, api_key).

Loaded into every pytest run of a project that installs gethook-lite, so importing it costs
nothing: the helpers are imported, and the sink started, only when a test asks for a fixture.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from gethook_lite.testing.sender import WebhookSender
    from gethook_lite.testing.sink import SinkServer, WebhookSink

__all__ = ["webhook_sender", "webhook_sink", "webhook_sink_server"]

_STARTUP_TIMEOUT_INI = "gethook_sink_startup_timeout"
_ARGS_INI = "gethook_sink_args"
# A source name is at most 200 characters (domain/text.py, require_text).
_MAX_SOURCE_NAME = 200


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        _STARTUP_TIMEOUT_INI,
        "seconds to wait for `gethook sink` to be ready (default 30)",
        default="30",
    )
    parser.addini(
        _ARGS_INI,
        "extra arguments for `gethook sink`, e.g. --respond 500,200",
        type="args",
        default=[],
    )


def _worker_id(config: pytest.Config) -> str:
    """The pytest-xdist worker this process is ("gw0", …), or "main" without xdist."""
    workerinput = getattr(config, "workerinput", None)
    return workerinput.get("workerid", "main") if isinstance(workerinput, dict) else "main"


@pytest.fixture(scope="session")
def webhook_sink_server(request: pytest.FixtureRequest) -> Iterator[SinkServer]:
    """One ``gethook sink --port 0`` process for the session (each xdist worker its own)."""
    from gethook_lite.testing.sink import SinkServer

    config = request.config
    server = SinkServer(
        config.getini(_ARGS_INI),
        startup_timeout=float(config.getini(_STARTUP_TIMEOUT_INI)),
        label=f"gethook-sink-{_worker_id(config)}",
    )
    # A finalizer before the start, and the server's own atexit hook: never a leaked process.
    request.addfinalizer(server.stop)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def webhook_sink(webhook_sink_server: SinkServer, request: pytest.FixtureRequest) -> WebhookSink:
    """A fresh sink source for this test: give ``.url`` to the app, then ``.wait_for()``."""
    from gethook_lite.testing.sink import WebhookSink

    api = webhook_sink_server.api()
    name = f"pytest {request.node.nodeid}"[:_MAX_SOURCE_NAME]
    return WebhookSink(api, api.create_sink_source(name))


@pytest.fixture
def webhook_sender() -> WebhookSender:
    """Sends realistic provider webhooks signed as the provider signs them."""
    from gethook_lite.testing.sender import WebhookSender

    return WebhookSender()
