"""A cheap webhook receiver for the benchmark, run in its own process.

A raw asyncio protocol (uvloop when installed) that answers every POST with ``200 ok`` at once
and records, for each request, its ``webhook-id``, the wall-clock time it was complete and its
path. Paths under ``/_control/`` steer it: ``hold`` (accept requests but answer none until
``release``; ``hold?path=/hook/3`` holds only that path, the others are answered),
``release``, ``fail`` (answer ``503`` to every request, unrecorded, until ``recover``),
``recover``, ``stats`` (JSON counts), ``dump?path=FILE`` (write the records as
``id<TAB>time<TAB>path`` lines, then forget them) and ``reset``.

    python benchmarks/receiver.py [--port 0]     # prints "PORT <n>" once listening
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from urllib.parse import parse_qs, urlsplit

_OK = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok"
# A receiver that is down: no Retry-After, so the gateway follows the route's retry policy.
_UNAVAILABLE = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n"
_MAX_HEAD = 64 * 1024


class State:
    """Everything the connections share: the records and the hold switch."""

    def __init__(self) -> None:
        self.records: list[tuple[bytes, float, str]] = []
        self.count = 0
        self.first = 0.0
        self.last = 0.0
        self.holding = False
        self.hold_paths: set[str] = set()  # held one by one; the other paths are answered
        self.held: list[asyncio.Transport] = []
        self.failing = False
        self.failed = 0

    def record(self, webhook_id: bytes, at: float, path: str) -> None:
        if not self.count:
            self.first = at
        self.count += 1
        self.last = at
        self.records.append((webhook_id, at, path))

    def stats(self) -> dict:
        return {
            "count": self.count,
            "first": self.first,
            "last": self.last,
            "holding": self.holding,
            "hold_paths": sorted(self.hold_paths),
            "held": len(self.held),
            "failing": self.failing,
            "failed": self.failed,
        }

    def release(self) -> int:
        released = 0
        self.holding = False
        self.hold_paths.clear()
        for transport in self.held:
            if not transport.is_closing():
                transport.write(_OK)
                released += 1
        self.held = []
        return released

    def dump(self, path: str) -> int:
        with open(path, "w") as out:
            for webhook_id, at, path in self.records:
                out.write(f"{webhook_id.decode('latin-1')}\t{at:.6f}\t{path}\n")
        written = len(self.records)
        self.reset()
        return written

    def reset(self) -> None:
        self.records = []
        self.count = 0
        self.first = self.last = 0.0
        self.failed = 0


class Receiver(asyncio.Protocol):
    """HTTP/1.1 keep-alive, Content-Length bodies only (what aiohttp sends)."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        now = time.time()
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > _MAX_HEAD:
                    self.transport.close()
                return
            lines = bytes(self.buffer[:end]).split(b"\r\n")
            length, webhook_id = 0, b""
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"webhook-id":
                    webhook_id = value.strip()
                elif name == b"transfer-encoding":
                    self.transport.close()  # not needed by the benchmark's clients
                    return
            total = end + 4 + length
            if len(self.buffer) < total:
                return
            del self.buffer[:total]
            self.handle(lines[0], webhook_id, now)

    def handle(self, request_line: bytes, webhook_id: bytes, now: float) -> None:
        parts = request_line.split(b" ")
        target = parts[1].decode("latin-1") if len(parts) > 1 else "/"
        if target.startswith("/_control/"):
            self.control(target)
            return
        state = self.state
        if state.failing:
            state.failed += 1
            self.transport.write(_UNAVAILABLE)
            return
        state.record(webhook_id, now, target)
        if state.holding or target in state.hold_paths:
            state.held.append(self.transport)
        else:
            self.transport.write(_OK)

    def control(self, target: str) -> None:
        url = urlsplit(target)
        command = url.path.removeprefix("/_control/")
        state = self.state
        if command == "hold":
            paths = parse_qs(url.query).get("path")
            if paths:
                state.hold_paths.update(paths)
            else:
                state.holding = True
            answer = state.stats()
        elif command == "fail":
            state.failing = True
            answer = state.stats()
        elif command == "recover":
            state.failing = False
            answer = state.stats()
        elif command == "release":
            answer = {"released": state.release(), **state.stats()}
        elif command == "stats":
            answer = state.stats()
        elif command == "dump":
            answer = {"written": state.dump(parse_qs(url.query)["path"][0])}
        elif command == "reset":
            state.reset()
            answer = state.stats()
        else:
            answer = {"error": f"unknown command {command}"}
        body = json.dumps(answer).encode()
        self.transport.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            + f"content-length: {len(body)}\r\n\r\n".encode()
            + body
        )


async def serve(port: int) -> None:
    state = State()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Receiver(state), "127.0.0.1", port, backlog=1024)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(args.port))
    else:
        uvloop.run(serve(args.port))
    sys.exit(0)


if __name__ == "__main__":
    main()
