"""What FIFO ordering costs: deliveries per second to one destination, ordering "none" vs "fifo".

Run by hand: ``python benchmarks/fifo_cost.py [events] [rounds]`` (defaults 400 and 2). A real
gateway and the cheap local receiver (benchmarks/receiver.py, answers 200 at once). Each round
builds a backlog for a new destination while it is held back by a rate limit of one a minute,
then lifts the limit and times the drain at the receiver: the figure is the delivery rate
alone, not ingest's. Modes alternate to spread the shared machine's noise.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from statistics import median

from harness import Gateway, Procs, ReceiverProcess, create_account, wait_until

EVENTS = int(sys.argv[1]) if len(sys.argv) > 1 else 400
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 2
HOLD = {"per_minute": 1}


def drain_rate(gateway: Gateway, receiver: ReceiverProcess, ordering: str) -> float:
    api = create_account(gateway.url)
    source = api.ok("POST", "/v1/sources", {"name": ordering})
    destination = api.ok(
        "POST",
        "/v1/destinations",
        {"name": ordering, "url": receiver.url, "rate_limit": HOLD, "ordering": ordering},
    )
    api.ok("POST", "/v1/routes", {"source_id": source["id"], "destination_id": destination["id"]})
    for n in range(EVENTS):
        api.ok("POST", f"/ingest/{source['path_token']}", {"n": n})
    # The bucket's one token went to the first event; the rest wait for the limit to lift.
    if not wait_until(lambda: receiver.control("stats")["count"] >= 1, timeout=10):
        raise RuntimeError("the first delivery never arrived")
    receiver.control("reset")
    started = time.monotonic()
    api.ok("PATCH", f"/v1/destinations/{destination['id']}", {"rate_limit": None})
    if not wait_until(
        lambda: receiver.control("stats")["count"] >= EVENTS - 1, timeout=120, interval=0.02
    ):
        raise RuntimeError(f"drain incomplete: {receiver.control('stats')}")
    elapsed = time.monotonic() - started
    receiver.control("reset")
    return (EVENTS - 1) / elapsed


def main() -> None:
    procs = Procs()
    try:
        with tempfile.TemporaryDirectory(prefix="gethook-fifo-") as folder:
            work = Path(folder)
            gateway = Gateway(procs, work / "data", work, "gateway").start()
            receiver = ReceiverProcess(procs, work)
            rates: dict[str, list[float]] = {"none": [], "fifo": []}
            for _ in range(ROUNDS):
                for ordering in rates:
                    rates[ordering].append(drain_rate(gateway, receiver, ordering))
                    print(f"{ordering:>5}: {rates[ordering][-1]:7.1f} deliveries/s", flush=True)
            none, fifo = median(rates["none"]), median(rates["fifo"])
            print(
                f"median over {ROUNDS} rounds of {EVENTS} events: none {none:.1f}/s,"
                f" fifo {fifo:.1f}/s ({fifo / none:.0%} of unordered)"
            )
    finally:
        procs.stop_all()


if __name__ == "__main__":
    main()
