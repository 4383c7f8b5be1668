"""What idle readers of GET /v1/events/stream cost a real ``gethook serve``.

Run by hand: ``python benchmarks/idle_subscribers.py [--readers 100]``. Starts a server on a
temporary data directory, measures its RSS and CPU with no reader, then with N open streams
that receive nothing (one account, heartbeats at the default 15 s), then the latency of one
event to every reader and the ingest rate with and without the readers. 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.server import GethookServer

IDLE_SECONDS = 10.0
INGESTS = 500


def _proc_stats(pid: int) -> tuple[float, float]:
    """(RSS in MB, CPU seconds used so far) of a process, from /proc."""
    rss_pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime + stime
    return rss_pages * os.sysconf("SC_PAGE_SIZE") / 1e6, ticks / os.sysconf("SC_CLK_TCK")


async def _idle_cpu(pid: int) -> float:
    """CPU share (% of one core) over IDLE_SECONDS of doing nothing."""
    _, before = _proc_stats(pid)
    await asyncio.sleep(IDLE_SECONDS)
    _, after = _proc_stats(pid)
    return 100 * (after - before) / IDLE_SECONDS


async def _reader(session, url, key, ready: asyncio.Event, got: list, want: str) -> None:
    async with session.get(
        f"{url}/v1/events/stream", headers={"Authorization": f"Bearer {key}"}
    ) as response:
        async for line in response.content:
            if line.startswith(b": live"):
                ready.set()
            if want and want.encode() in line:
                got.append(time.perf_counter())
                return


async def _ingest_rate(session, ingest_url: str) -> float:
    started = time.perf_counter()

    async def one(n: int) -> None:
        async with session.post(ingest_url, data=f'{{"n": {n}}}') as response:
            assert response.status == 202

    for start in range(0, INGESTS, 32):
        await asyncio.gather(*(one(n) for n in range(start, min(start + 32, INGESTS))))
    return INGESTS / (time.perf_counter() - started)


async def main(readers: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        server = GethookServer(Path(folder) / "data").start()
        pid = server.process.pid
        try:
            async with aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0),
                timeout=aiohttp.ClientTimeout(total=None),
            ) as s:
                async with s.post(f"{server.url}/v1/accounts", json={"name": "b"}) as answer:
                    key = (await answer.json())["data"]["api_key"]["key"]
                auth = {"Authorization": f"Bearer {key}"}
                async with s.post(
                    f"{server.url}/v1/sources", json={"name": "s"}, headers=auth
                ) as a:
                    ingest_url = (await a.json())["data"]["ingest_url"]
                rate_without = await _ingest_rate(s, ingest_url)
                await asyncio.sleep(1)
                rss0, _ = _proc_stats(pid)
                cpu0 = await _idle_cpu(pid)
                marker = "bench-marker"
                got: list[float] = []
                events = [asyncio.Event() for _ in range(readers)]
                tasks = [
                    asyncio.create_task(_reader(s, server.url, key, events[i], got, marker))
                    for i in range(readers)
                ]
                await asyncio.wait_for(asyncio.gather(*(e.wait() for e in events)), 60)
                rss1, _ = _proc_stats(pid)
                cpu1 = await _idle_cpu(pid)
                sent = time.perf_counter()
                async with s.post(ingest_url, data=f'{{"type": "{marker}"}}') as answer:
                    assert answer.status == 202
                await asyncio.wait_for(asyncio.gather(*tasks), 30)
                fan_out = [1000 * (at - sent) for at in got]
                tasks = [
                    asyncio.create_task(_reader(s, server.url, key, asyncio.Event(), [], ""))
                    for _ in range(readers)
                ]
                await asyncio.sleep(2)
                rate_with = await _ingest_rate(s, ingest_url)
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            server.stop()
    print(f"server RSS: {rss0:.1f} MB idle, {rss1:.1f} MB with {readers} idle readers "
          f"(+{1000 * (rss1 - rss0) / readers:.0f} KB each)")  # fmt: skip
    print(f"server CPU while idle: {cpu0:.2f} % of a core, {cpu1:.2f} % with {readers} readers")
    print(f"one event to all {readers} readers: p50 {statistics.median(fan_out):.1f} ms, "
          f"max {max(fan_out):.1f} ms (received by {len(fan_out)})")  # fmt: skip
    print(f"ingest ({INGESTS} events, 32 at a time): {rate_without:.0f}/s without readers, "
          f"{rate_with:.0f}/s while {readers} readers receive every event")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--readers", type=int, default=100)
    asyncio.run(main(parser.parse_args().readers))
