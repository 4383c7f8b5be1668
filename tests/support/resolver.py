"""A DNS resolver for the dispatcher that answers from a dict the test changes."""

from __future__ import annotations

import socket

from aiohttp.abc import AbstractResolver

__all__ = ["MapResolver"]


class MapResolver(AbstractResolver):
    """Resolves names from a dict the test changes, like a DNS server under attacker control."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}

    async def resolve(self, host, port=0, family=socket.AF_INET):
        address = self.names[host]
        return [
            {"hostname": host, "host": address, "port": port, "family": family, "proto": 0,
             "flags": socket.AI_NUMERICHOST}
        ]  # fmt: skip

    async def close(self) -> None:
        pass
