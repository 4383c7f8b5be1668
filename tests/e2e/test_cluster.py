"""Three ``gethook serve`` processes on one PostgreSQL database share the work (issue 19).

Ingest is spread round-robin over the three; one of them is SIGKILLed while deliveries are in
flight. Then, measured at a real receiver and compared with the attempts the API recorded:
every accepted event is delivered, none is delivered again after its success was recorded,
and the destination's ``max_concurrency`` holds across the three processes (not per process).
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from cryptography.fernet import Fernet

from gethook_lite.clock import parse_time
from gethook_lite.constants import LEASE_MARGIN_SECONDS, LEASE_RECLAIM_INTERVAL_SECONDS
from tests.support.receiver import Received, Receiver, Reply
from tests.support.server import GethookServer

pytestmark = pytest.mark.slow

PROCESSES = 3
EVENTS = 240
# Below what one process alone would allow itself, so per-process caps would show at the
# receiver as up to PROCESSES x CAP requests at once.
CAP = 4
# Seconds each server may take to answer /readyz (three start on a shared 2-core machine).
START_TIMEOUT = 60.0
# How long the first third of the events may take to reach the receiver.
START_SECONDS = 20
# Each answer waits this long: long against a claim, so that every process would fill its
# slots if the cap were counted per process, and the deliveries outlast the ingest (the kill
# lands mid-delivery).
RECEIVER_DELAY = 0.15
# The shortest allowed: the killed process's leases expire after this + LEASE_MARGIN_SECONDS.
TIMEOUT_SECONDS = 1
# Retries (a slow moment on a loaded machine may time an attempt out) must not dead-letter.
RETRY_POLICY = {"max_attempts": 10, "backoff": "fixed", "initial_interval_seconds": 0.2}
# From the kill until every accepted event is delivered: a lease left by the dead process
# expires, is reclaimed at the next sweep, and the delivery is made again; plus slack.
SETTLE_SECONDS = TIMEOUT_SECONDS + LEASE_MARGIN_SECONDS + LEASE_RECLAIM_INTERVAL_SECONDS + 30


@contextmanager
def cluster(tmp_path: Path, storage_url: str) -> Iterator[list[GethookServer]]:
    """PROCESSES servers, each with its own data directory and port, on one database and one
    encryption key (a cluster's processes must share it)."""
    env = {
        "GETHOOK_STORAGE_URL": storage_url,
        "GETHOOK_STORAGE_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    }
    servers: list[GethookServer] = []
    try:
        for n in range(PROCESSES):
            home = tmp_path / f"process-{n}"
            home.mkdir()
            servers.append(GethookServer(home / "data", env=env).start(timeout=START_TIMEOUT))
        yield servers
    finally:
        for server in servers:
            server.stop()


def set_up_account(server: GethookServer, receiver_url: str) -> tuple[str, str]:
    """An account with one source routed to one capped destination: (api key, ingest path)."""
    with server.client() as client:
        answer = client.post("/v1/accounts", json={"name": "cluster"})
        assert answer.status_code == 201, answer.text
        key = answer.json()["data"]["api_key"]["key"]
    with server.client(key) as api:
        source = api.post("/v1/sources", json={"name": "src"})
        assert source.status_code == 201, source.text
        destination = api.post(
            "/v1/destinations",
            json={
                "name": "capped",
                "url": receiver_url,
                "timeout_seconds": TIMEOUT_SECONDS,
                "max_concurrency": CAP,
            },
        )
        assert destination.status_code == 201, destination.text
        route = api.post(
            "/v1/routes",
            json={
                "source_id": source.json()["data"]["id"],
                "destination_id": destination.json()["data"]["id"],
                "retry_policy": RETRY_POLICY,
            },
        )
        assert route.status_code == 201, route.text
    return key, urlsplit(source.json()["data"]["ingest_url"]).path


def ingest_round_robin(
    servers: list[GethookServer], path: str, accepted: list[tuple[int, str]]
) -> None:
    """POST EVENTS events, the n-th to server n % PROCESSES, one client thread per server (so
    that the queue builds up faster than the capped destination drains it); (server, event id)
    of each 202 is appended to ``accepted`` (a request to the killed process fails and is not
    counted)."""
    threads = [
        threading.Thread(target=ingest_share, args=(server, index, path, accepted))
        for index, server in enumerate(servers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def ingest_share(
    server: GethookServer, index: int, path: str, accepted: list[tuple[int, str]]
) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        for n in range(index, EVENTS, PROCESSES):
            try:
                answer = client.post(path, json={"n": n})
            except httpx.TransportError:
                continue
            if answer.status_code == 202:
                accepted.append((index, answer.json()["data"]["id"]))


def error_lines(servers: list[GethookServer], limit: int = 5) -> list[str]:
    """The servers' distinct ERROR messages, first seen first (to tell why a run failed)."""
    messages = [
        line.split(" ERROR ", 1)[1].strip()
        for server in servers
        for line in server.log().splitlines()
        if " ERROR " in line
    ]
    return list(dict.fromkeys(messages))[:limit]


def wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def all_delivered(api: httpx.Client, receiver: Receiver, accepted: set[str]) -> bool:
    """Every accepted event reached the receiver, and every event that did (one committed
    without its 202 read, too) is delivered by the API's account."""
    arrived = {request.headers["webhook-id"] for request in list(receiver.requests)}
    return accepted <= arrived and delivered_total(api) >= len(accepted | arrived)


def delivered_total(api: httpx.Client) -> int:
    answer = api.get("/v1/events", params={"status": "delivered", "limit": 1})
    return answer.json()["data"]["total"] if answer.status_code == 200 else -1


def attempts_by_event(api: httpx.Client, event_ids: set[str]) -> dict[str, list[dict]]:
    """Each event's recorded attempts, read through the API of a live process."""
    found = {}
    for event_id in event_ids:
        answer = api.get(f"/v1/events/{event_id}")
        assert answer.status_code == 200, answer.text
        found[event_id] = answer.json()["data"]["attempts"]
    return found


def arrivals_by_event(requests: list[Received]) -> dict[str, list[Received]]:
    found: dict[str, list[Received]] = defaultdict(list)
    for request in requests:
        found[request.headers["webhook-id"]].append(request)
    return found


def late_arrivals(arrivals: list[Received], attempts: list[dict]) -> int:
    """Requests that reached the receiver after the event's success was recorded."""
    successes = [parse_time(a["finished_at"]) for a in attempts if a["outcome"] == "success"]
    if not successes:
        return 0
    return sum(1 for request in arrivals if request.at > min(successes))


@dataclass
class Observed:
    """What one run of the scenario saw, at the receiver and through the API."""

    accepted_by: list[tuple[int, str]]  # (process, event id) of every 202
    in_flight_at_kill: int  # requests at the receiver just before the SIGKILL
    arrived_at_kill: int
    settled: bool  # every accepted event delivered within SETTLE_SECONDS
    arrivals: dict[str, list[Received]]  # by event id
    attempts: dict[str, list[dict]]  # recorded, by event id
    after_quiet: int  # arrivals in the second after everything was delivered
    peak_in_flight: int
    errors: list[str]

    @property
    def accepted(self) -> set[str]:
        return {event_id for _, event_id in self.accepted_by}


def run_scenario(tmp_path: Path, storage_url: str) -> Observed:
    accepted_by: list[tuple[int, str]] = []
    with (
        Receiver(lambda n: Reply(200, delay=RECEIVER_DELAY)) as receiver,
        cluster(tmp_path, storage_url) as servers,
    ):
        key, ingest_path = set_up_account(servers[0], receiver.url)
        ingest = threading.Thread(
            target=ingest_round_robin, args=(servers, ingest_path, accepted_by)
        )
        ingest.start()
        # Mid-delivery: a third of the events have reached the receiver, the rest are queued
        # or in flight in the three processes.
        if not wait_until(lambda: len(receiver.requests) >= EVENTS // 3, START_SECONDS):
            ingest.join(timeout=60)
            pytest.fail(
                f"deliveries never got going: {len(receiver.requests)} arrivals, "
                f"{len(accepted_by)} accepted; {error_lines(servers)}"
            )
        victim = servers[1]
        in_flight_at_kill = receiver.in_flight
        victim.kill()
        arrived_at_kill = len(receiver.requests)
        ingest.join(timeout=60)
        accepted = {event_id for _, event_id in accepted_by}
        survivor = servers[0]
        with survivor.client(key) as api:
            settled = wait_until(lambda: all_delivered(api, receiver, accepted), SETTLE_SECONDS)
            quiet_at = len(receiver.requests)
            time.sleep(1.0)
            arrivals = arrivals_by_event(receiver.requests)
            return Observed(
                accepted_by=accepted_by,
                in_flight_at_kill=in_flight_at_kill,
                arrived_at_kill=arrived_at_kill,
                settled=settled,
                arrivals=arrivals,
                attempts=attempts_by_event(api, accepted | set(arrivals)),
                after_quiet=len(receiver.requests) - quiet_at,
                peak_in_flight=receiver.peak_in_flight,
                errors=error_lines(servers),
            )


def successes(attempts: list[dict]) -> int:
    return sum(1 for attempt in attempts if attempt["outcome"] == "success")


# Start-up of three servers, ingest, the settling after the kill, reading every event back.
@pytest.mark.timeout(PROCESSES * START_TIMEOUT + START_SECONDS + SETTLE_SECONDS + 60)
def test_three_processes_share_the_work_and_survive_a_sigkill(tmp_path, pg_url):
    seen = run_scenario(tmp_path, pg_url)
    accepted, arrivals, attempts = seen.accepted, seen.arrivals, seen.attempts
    per_process = Counter(process for process, _ in seen.accepted_by)
    not_delivered = sorted(e for e in accepted if not successes(attempts[e]))
    never_arrived = sorted(accepted - set(arrivals))
    success_counts = Counter(successes(event_attempts) for event_attempts in attempts.values())
    late = {e: n for e in attempts if (n := late_arrivals(arrivals.get(e, []), attempts[e]))}
    # Arrivals with no recorded attempt: the killed process's attempts whose outcome it did not
    # live to write. Each is sent again once its lease expires (at-least-once); it held at most
    # CAP leases at the capped destination, so there can be no more of them.
    unrecorded = sum(max(0, len(arrivals.get(e, [])) - len(attempts[e])) for e in attempts)
    print(
        f"\ncluster test: accepted={len(accepted)} per_process={dict(per_process)} "
        f"arrivals={sum(len(a) for a in arrivals.values())} "
        f"arrived_at_kill={seen.arrived_at_kill} in_flight_at_kill={seen.in_flight_at_kill} "
        f"not_delivered={len(not_delivered)} never_arrived={len(never_arrived)} "
        f"successes_per_event={dict(success_counts)} "
        f"late_arrivals={sum(late.values())} unrecorded_arrivals={unrecorded} "
        f"arrivals_after_quiet={seen.after_quiet} peak_in_flight={seen.peak_in_flight} "
        f"cap={CAP} first_errors={seen.errors}"
    )
    # The scenario happened: every process ingested, the kill landed mid-delivery.
    assert len(per_process) == PROCESSES, f"not every process ingested: {per_process}"
    assert len(accepted) >= EVENTS * (PROCESSES - 1) // PROCESSES
    assert seen.in_flight_at_kill > 0, "nothing was in flight at the kill"
    assert seen.arrived_at_kill < len(accepted), "everything had arrived before the kill"
    # At-least-once across the death of a process, within a bounded time.
    assert seen.settled, f"not every accepted event was delivered in {SETTLE_SECONDS} s"
    assert not not_delivered, f"accepted, no success recorded: {not_delivered[:5]}"
    assert not never_arrived, f"accepted, never reached the receiver: {never_arrived[:5]}"
    # Never twice after a recorded success; repeats only of what the dead process had leased.
    assert set(success_counts) == {1}, f"successes recorded per event: {success_counts}"
    assert not late, f"delivered again after a recorded success: {late}"
    assert unrecorded <= CAP, f"{unrecorded} arrivals without a recorded attempt"
    assert seen.after_quiet == 0, "deliveries went on after every event was delivered"
    # The destination's cap held across the three processes.
    assert seen.peak_in_flight <= CAP, f"{seen.peak_in_flight} at once, capped at {CAP}"
