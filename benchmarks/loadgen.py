"""An aiohttp load client, run in its own process (never in the server's).

Closed loop (default): ``--connections`` workers each POST back to back until ``--duration``
or ``--count`` is reached. Open loop (``--rate R``): request i is due at start + i/R and its
latency is counted from that due time, so a slow server cannot hide its queueing
(no coordinated omission); if every worker is busy the achieved rate falls below R, which the
report shows. SIGTERM ends the run early (requests in flight finish) and still prints the
report: a phase that does not know in advance how long its load must last stops it so.
``--deliver`` sends what the gateway's dispatcher sends (Standard Webhooks
headers, one pooled session with its connector limits): the delivery ceiling.

Prints one JSON object: counts per status, rps, latency percentiles in ms.

    python benchmarks/loadgen.py URL --duration 10 --connections 64 [--rate 2000]
        [--count N] [--record ids.txt] [--deliver] [--body-size 1024] [--start-at UNIX_TIME]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import signal
import sys
import time
from pathlib import Path

import aiohttp

_EVENT_TYPES = ("charge.succeeded", "invoice.paid", "customer.created", "order.shipped")


def make_body(size: int, seq: int = 0) -> bytes:
    """A JSON object of exactly ``size`` bytes, shaped like a provider's event."""
    head = {
        "type": _EVENT_TYPES[seq % len(_EVENT_TYPES)],
        "created": 1764201600,
        "data": {"object": {"amount": 4200, "currency": "eur", "customer": "cus_N2x8"}},
        "padding": "",
    }
    base = len(json.dumps(head, separators=(",", ":")).encode())
    head["padding"] = "x" * max(0, size - base)
    return json.dumps(head, separators=(",", ":")).encode()


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


class Load:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.body = make_body(args.body_size)
        self.statuses: dict[str, int] = {}
        self.errors: dict[str, int] = {}
        self.latencies: list[float] = []  # seconds, from due (open loop) or send time
        self.service: list[float] = []  # seconds, from send time
        self.ids: list[str] = []
        self.tickets = itertools.count()
        self.secret = b"benchmark-secret-key-32-bytes!!!"
        self.stopped = False  # SIGTERM: no new request is sent
        self.stopped_at = 0.0

    def stop(self) -> None:
        if not self.stopped:
            self.stopped, self.stopped_at = True, time.perf_counter()

    def headers(self, seq: int) -> dict[str, str]:
        headers = {"content-type": "application/json"}
        if self.args.deliver:
            # What the dispatcher computes per attempt: an HMAC over id.timestamp.body.
            webhook_id = f"evt_ceiling{seq:020d}"
            timestamp = str(int(time.time()))
            signed = f"{webhook_id}.{timestamp}.".encode() + self.body
            digest = hmac.new(self.secret, signed, hashlib.sha256).digest()
            headers.update(
                {
                    "user-agent": "gethook-lite/bench",
                    "webhook-id": webhook_id,
                    "webhook-timestamp": timestamp,
                    "webhook-signature": "v1," + base64.b64encode(digest).decode(),
                    "x-gethook-attempt": "1",
                    "x-gethook-event-type": "charge.succeeded",
                }
            )
        return headers

    async def worker(self, session: aiohttp.ClientSession, start: float, deadline: float):
        args = self.args
        while True:
            seq = next(self.tickets)
            if args.count is not None and seq >= args.count:
                return
            now = time.perf_counter()
            due = start + seq / args.rate if args.rate else now
            if due >= deadline or now >= deadline or self.stopped:
                return  # open loop: requests not sent by the deadline count as not achieved
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
                if self.stopped:
                    return
            sent = time.perf_counter()
            try:
                async with session.post(
                    args.url, data=self.body, headers=self.headers(seq)
                ) as response:
                    payload = await response.read()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                name = type(exc).__name__
                self.errors[name] = self.errors.get(name, 0) + 1
                continue
            done = time.perf_counter()
            self.statuses[str(status)] = self.statuses.get(str(status), 0) + 1
            self.latencies.append(done - due)
            self.service.append(done - sent)
            if args.record and 200 <= status < 300:
                self.ids.append(json.loads(payload)["data"]["id"])

    async def run(self) -> dict:
        args = self.args
        connector = aiohttp.TCPConnector(
            limit=max(args.connections, 256) if args.deliver else args.connections,
            limit_per_host=args.connections,
        )
        timeout = aiohttp.ClientTimeout(total=args.timeout)
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, self.stop)
        async with aiohttp.ClientSession(
            connector=connector, timeout=timeout, skip_auto_headers=("User-Agent",)
        ) as session:
            if args.start_at:
                # A phase lines the load up with something else it does at that second.
                await asyncio.sleep(max(0.0, args.start_at - time.time()))
            start = time.perf_counter()
            deadline = start + args.duration
            workers = [
                asyncio.create_task(self.worker(session, start, deadline))
                for _ in range(args.connections)
            ]
            # Workers stop by themselves at the deadline; the wait adds the requests' timeout.
            _, pending = await asyncio.wait(workers, timeout=args.duration + args.timeout + 5)
            for task in pending:
                task.cancel()
            elapsed = (self.stopped_at or time.perf_counter()) - start
        latencies = sorted(self.latencies)
        service = sorted(self.service)
        done = len(latencies)
        ok = sum(n for status, n in self.statuses.items() if status.startswith("2"))

        def ms(value: float | None) -> float | None:
            return None if value is None else round(value * 1000, 3)

        return {
            "requests": done,
            "ok": ok,
            "statuses": self.statuses,
            "errors": self.errors,
            "elapsed_s": round(elapsed, 3),
            "rps": round(done / elapsed, 1) if elapsed else 0.0,
            "ok_rps": round(ok / elapsed, 1) if elapsed else 0.0,
            "target_rate": args.rate,
            "p50_ms": ms(percentile(latencies, 0.50)),
            "p90_ms": ms(percentile(latencies, 0.90)),
            "p99_ms": ms(percentile(latencies, 0.99)),
            "max_ms": ms(latencies[-1] if latencies else None),
            "service_p50_ms": ms(percentile(service, 0.50)),
            "service_p99_ms": ms(percentile(service, 0.99)),
            "cancelled_workers": len(pending),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds at most")
    parser.add_argument("--count", type=int, default=None, help="requests at most")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rate", type=float, default=None, help="open loop: requests/s")
    parser.add_argument("--body-size", type=int, default=1024)
    parser.add_argument("--timeout", type=float, default=30.0, help="per request, seconds")
    parser.add_argument("--record", default=None, help="write the id of every 2xx here")
    parser.add_argument("--deliver", action="store_true", help="send webhook-* headers")
    parser.add_argument("--start-at", type=float, default=None, help="unix time to begin at")
    args = parser.parse_args()
    load = Load(args)
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(load.run())
    else:
        result = uvloop.run(load.run())
    if args.record:
        Path(args.record).write_text("".join(f"{event_id}\n" for event_id in load.ids))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
