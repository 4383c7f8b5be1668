"""The delivery scheduler: claims due deliveries from the database and runs their attempts.

Work lives in the database, not in memory: a delivery is pending until an attempt's outcome
is committed, and is leased while in flight, so a crash loses nothing (the lease is released
at the next start on SQLite, or reclaimed when it expires, and the attempt made again:
at-least-once). Ingest wakes the scheduler when it commits new work; otherwise it sleeps until
the next retry falls due.

Several processes may share one PostgreSQL database: a lease names its holder
(``deliveries.lease_owner``), only the holder of that very lease records its outcome, and one
process claims at a time (the claim lock), counting what is in flight from the table, so the
concurrency caps hold for the whole cluster.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable

import msgspec

from gethook_lite.clock import Clock
from gethook_lite.config import DeliverySettings
from gethook_lite.constants import (
    CLAIM_BATCH,
    CLAIM_COALESCE_SECONDS,
    CLOCK_STEP_THRESHOLD_SECONDS,
    GONE_STATUS,
    LEASE_MARGIN_SECONDS,
    LEASE_RECLAIM_INTERVAL_SECONDS,
    SCHEDULER_IDLE_POLL_SECONDS,
    SHUTDOWN_GRACE_SECONDS,
)
from gethook_lite.db import Database, StorageError
from gethook_lite.db import deliveries as store
from gethook_lite.db.claim_order import ClaimLimits
from gethook_lite.db.connection import Connection
from gethook_lite.db.deliveries import Claim, Outcome
from gethook_lite.db.pacing import load_pacing, load_pacing_state, next_due_after, save_buckets
from gethook_lite.delivery.circuit import record_outcomes
from gethook_lite.delivery.dispatch import AttemptResult, Dispatcher
from gethook_lite.delivery.pacing import Pacer, claim_limits, rate_of
from gethook_lite.delivery.retry import RetryPolicy, retry_after_delay, retry_delay

__all__ = ["Scheduler", "next_step"]

log = logging.getLogger(__name__)

# Another process is claiming (PostgreSQL): try again this much later, give or take half. A
# claim holds the lock for milliseconds; sleeping until the next due time instead would
# leave the work that process could not take (its caps, its capacity) waiting.
_BUSY_RETRY_SECONDS = 0.004


def next_step(
    policy: RetryPolicy,
    result: AttemptResult,
    attempts_made: int,
    now: float,
    retry_after_max: float,
    rand: Callable[[], float] = random.random,
) -> tuple[str, float | None]:
    """The delivery's next status and due time after an attempt (pure: table-tested)."""
    if result.outcome == "success":
        return "succeeded", None
    if result.response_status == GONE_STATUS:
        return "dead_letter", None
    delay = retry_delay(policy, attempts_made, rand)
    if delay is None:
        return "dead_letter", None
    if result.response_status in (429, 503):
        asked = retry_after_delay(result.retry_after, now, floor=delay, ceiling=retry_after_max)
        if asked is not None:
            delay = max(delay, asked)
    return "pending", now + delay


class Scheduler:
    """Claims, delivers and records; owns its tasks. Driven by start/wake/stop."""

    def __init__(
        self,
        db: Database,
        dispatcher: Dispatcher,
        clock: Clock,
        settings: DeliverySettings,
        on_attempt: Callable[[Claim, AttemptResult, str], None] | None = None,
        control: Callable[[float], Awaitable[float]] | None = None,
        owner: str | None = None,
    ) -> None:
        self._db = db
        # The name on this scheduler's leases (tests give several schedulers their own).
        self._owner = owner or store.lease_owner()
        self._dispatcher = dispatcher
        self._clock = clock
        self._settings = settings
        self._on_attempt = on_attempt
        # Delivery control (domain/destination_control.py): moves circuits on with time,
        # releases probes, publishes notices; returns when it next wants to run.
        self._control = control
        self._control_at = 0.0
        self._control_due = False
        self._wake = asyncio.Event()
        self._slot_free = asyncio.Event()
        # Every attempt's task, from send to its recorded outcome.
        self._in_flight: set[asyncio.Task] = set()
        # Requests on the wire, in all and per destination: what the concurrency limits bound.
        # A slot frees when the answer arrives, not when the outcome is committed.
        self._sending = 0
        # Claimed ahead, on SQLite: a destination whose slots are all in use may lease as many
        # deliveries again, which wait here and go out as its answers free the slots, so its
        # next requests never wait for a claim to be written (one process owns a SQLite
        # database; in a cluster another process could send them, past the destination's
        # cap). Counted in the destination's busy count like those on the wire; an account's
        # count is of requests on the wire only, so that what one destination has waiting
        # never takes its account's slots from the others.
        self._claim_ahead = not db.url
        # (claim, clock steps seen when it was claimed: its lease moves with later ones)
        self._waiting: dict[str, deque[tuple[Claim, int]]] = {}
        self._on_wire: dict[str, int] = {}
        # Failed attempts per destination whose outcome is not written yet: until it is (it
        # may open the circuit), the destination gets no new request, as without claiming
        # ahead, where the next claim queued behind that write.
        self._failing: dict[str, int] = {}
        # Destinations whose last answer was a failure: no claiming ahead for them.
        self._failed_last: set[str] = set()
        # Outcomes answered in the current loop tick, and the future their commit resolves.
        self._record_batch: tuple[list[tuple[Outcome, int]], asyncio.Future] | None = None
        self._flushes: set[asyncio.Task] = set()
        self._busy_destinations: dict[str, int] = {}
        self._busy_accounts: dict[str, int] = {}
        # Rate limits, Retry-After windows and FIFO queues as the last claim found them (the
        # state is stored: every process claiming from the database shares it).
        self._pacer = Pacer()
        # Retry-After windows asked for since the last outcome write, which stores them.
        self._slow_downs: dict[str, float] = {}
        # The due time up to which the last claim looked at every pending delivery.
        self._claimed_up_to = 0.0
        self._loop_task: asyncio.Task | None = None
        self._stopping = False
        self._last_reclaim = 0.0
        self._started = False
        self._clock_offset = clock.now() - clock.monotonic()
        # Wall-clock steps the schedule (leases included) was shifted by, oldest first: an
        # outcome names its lease as it is now, a claim's lease plus the steps since.
        self._clock_steps: list[float] = []
        # Clear while a shift is being written: outcomes wait, so that each names its lease
        # as it is when the outcome is written.
        self._schedule_steady = asyncio.Event()
        self._schedule_steady.set()

    @property
    def running(self) -> bool:
        return self._loop_task is not None and not self._loop_task.done()

    @property
    def healthy(self) -> bool:
        """Running, or deliberately never started (an embedded test app drives it by hand)."""
        return self.running or not self._started

    async def start(self) -> None:
        # SQLite: every lease (one process owns the file). PostgreSQL: this process's name's
        # only, left by a predecessor killed on the same data directory (the others' are live).
        released = await self._db.write(store.release_all_leases) or await self._db.write(
            store.release_leases_of, self._owner
        )
        if released:
            log.info("re-queued %d deliveries left in flight by the previous run", released)
        self._stopping = False
        self._started = True
        self._loop_task = asyncio.create_task(self._run(), name="gethook-scheduler")

    def wake(self) -> None:
        """New work was committed: look at the database now rather than at the next poll."""
        self._wake.set()

    async def stop(self, grace_seconds: float = SHUTDOWN_GRACE_SECONDS) -> None:
        """Stop claiming; let attempts in flight finish, release the leases of the rest."""
        self._stopping = True
        self._wake.set()
        if self._loop_task is not None:
            await asyncio.gather(self._loop_task, return_exceptions=True)
            self._loop_task = None
        waited = self._drop_waiting()
        if self._in_flight:
            await asyncio.wait(list(self._in_flight), timeout=grace_seconds)
        leftover = list(self._in_flight)
        for task in leftover:
            task.cancel()
        await asyncio.gather(*leftover, return_exceptions=True)
        if leftover or waited:
            # Their attempts did not finish: make them due again (ours only: other processes
            # sharing the database hold theirs).
            await self._db.write(store.release_leases_of, self._owner)

    async def drain(self) -> int:
        """Deliver everything due now and wait for it (tests and the CLI); returns attempts."""
        made = 0
        await self._follow_clock_steps()
        while True:
            await self._run_control(force=True)
            claims = await self._claim()
            if not claims and not self._in_flight and not self._waiting:
                return made
            made += len(claims)
            for claim in claims:
                self._launch(claim)
            if self._in_flight:
                await asyncio.wait(list(self._in_flight), return_when=asyncio.ALL_COMPLETED)

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                await self._follow_clock_steps()
                await self._reclaim_expired_leases()
                await self._run_control()
                claims = await self._claim()
            except StorageError as exc:
                log.error("scheduler cannot read the queue: %s", exc)
                await self._sleep(SCHEDULER_IDLE_POLL_SECONDS)
                continue
            for claim in claims:
                self._launch(claim)
            if self._capacity() == 0:
                self._slot_free.clear()
                await self._wait_for(self._slot_free, SCHEDULER_IDLE_POLL_SECONDS)
            elif not claims:
                await self._sleep(await self._idle_seconds())
            # Let a few more attempts finish (and new work arrive) so that one claim leases
            # many deliveries rather than one transaction per freed slot.
            await asyncio.sleep(CLAIM_COALESCE_SECONDS)

    def _capacity(self) -> int:
        # Attempts waiting for their outcome to commit are bounded too (twice the limit), so
        # a slow disk slows claiming instead of piling up answered attempts in memory.
        limit = self._settings.concurrency
        waiting = sum(len(queue) for queue in self._waiting.values())  # a few destinations
        held = self._sending + waiting
        return max(0, min(limit - held, 2 * limit - len(self._in_flight) - waiting))

    async def _claim(self) -> list[Claim]:
        """Claim what is due; while another process is claiming, try again a moment later."""
        while True:
            claims = await self._claim_once()
            if not isinstance(claims, store.Busy):
                return claims
            if self._stopping:
                return []
            await asyncio.sleep(_BUSY_RETRY_SECONDS * (0.5 + random.random()))

    async def _claim_once(self) -> list[Claim] | store.Busy:
        capacity = min(self._capacity(), CLAIM_BATCH)
        if capacity == 0:
            return []
        total = self._settings.concurrency
        # A cap above the global one means "no cap of its own": lowering only
        # delivery.concurrency (say, to 8) must not make the defaults invalid.
        per_destination = min(self._settings.per_destination_concurrency, total)
        limits = ClaimLimits(
            # Claiming ahead: as many again may wait for the slots (``_launch``).
            per_destination=per_destination * (2 if self._claim_ahead else 1),
            per_account=min(self._settings.per_account_concurrency, total),
            busy_destinations=self._busy_for_claim(per_destination),
            busy_accounts=dict(self._busy_accounts),
        )
        now = self._clock.now()
        # A lease need not survive a crash: it is released at the next start (SQLite) or
        # expires (a lost one leaves its delivery pending: its outcome is then refused).
        claimed = await self._db.write_ephemeral(
            _claim_paced,
            now,
            capacity,
            limits,
            LEASE_MARGIN_SECONDS,
            self._owner,
            # A claim made ahead may wait for an attempt's time before it is sent.
            2 if self._claim_ahead else 1,
        )
        if isinstance(claimed, store.Busy):
            return claimed
        claims, self._pacer = claimed
        self._claimed_up_to = now
        return claims

    def _busy_for_claim(self, per_destination: int) -> dict[str, int]:
        """What each destination holds (on the wire and waiting), a destination whose last
        answer failed counted as full of waiting claims: none is claimed ahead for it."""
        busy = dict(self._busy_destinations)
        if self._claim_ahead:
            for destination_id in self._failed_last:
                busy[destination_id] = busy.get(destination_id, 0) + per_destination
        return busy

    def _launch(self, claim: Claim) -> None:
        _count(self._busy_destinations, claim.destination_id, +1)
        cap = min(self._settings.per_destination_concurrency, self._settings.concurrency)
        steps_seen = len(self._clock_steps)
        destination = claim.destination_id
        if self._on_wire.get(destination, 0) >= cap or destination in self._failing:
            self._waiting.setdefault(claim.destination_id, deque()).append((claim, steps_seen))
            return
        self._send(claim, steps_seen)

    def _send(self, claim: Claim, steps_seen: int) -> None:
        _count(self._on_wire, claim.destination_id, +1)
        _count(self._busy_accounts, claim.account_id, +1)
        self._sending += 1
        task = asyncio.create_task(self._deliver(claim, steps_seen))
        self._in_flight.add(task)
        task.add_done_callback(self._finished)

    def _send_waiting(self, destination_id: str) -> bool:
        """A slot of the destination is free: the oldest claim waiting for one goes out
        (True), unless its account would then hold all its slots. Then what waits for the
        destination goes back to the queue, and the next claim gives the slot to whichever
        of the account's destinations holds fewest: claiming ahead must not let one
        destination keep an account's every slot, nor a claim wait for one indefinitely."""
        waiting = self._waiting.get(destination_id)
        if not waiting or self._stopping or destination_id in self._failing:
            return False
        claim, steps_seen = waiting[0]
        per_account = min(self._settings.per_account_concurrency, self._settings.concurrency)
        if self._busy_accounts.get(claim.account_id, 0) + 1 >= per_account:
            task = asyncio.create_task(self._release_waiting(destination_id))
            self._flushes.add(task)
            task.add_done_callback(self._flushes.discard)
            return False
        waiting.popleft()
        if not waiting:
            del self._waiting[destination_id]
        self._send(claim, steps_seen)
        return True

    def _refill_slots(self) -> None:
        """Every free slot takes a claim waiting for its destination (a task that died gave
        its slot back without an answer)."""
        cap = min(self._settings.per_destination_concurrency, self._settings.concurrency)
        for destination_id in list(self._waiting):
            while self._on_wire.get(destination_id, 0) < cap and self._send_waiting(destination_id):
                pass

    def _drop_waiting(self, destination_id: str | None = None) -> list[tuple[Claim, int]]:
        """Take the claims waiting for a slot (of one destination, or all) off the queue,
        uncounted (their leases are then released)."""
        if destination_id is None:
            dropped = [entry for queue in self._waiting.values() for entry in queue]
            self._waiting.clear()
        else:
            dropped = list(self._waiting.pop(destination_id, ()))
        for claim, _ in dropped:
            _count(self._busy_destinations, claim.destination_id, -1)
        return dropped

    def _answered(self, claim: Claim, result: AttemptResult | None) -> None:
        """The request is done: free its concurrency slot (its outcome may still be committing).

        A success lets the destination's next waiting claim out at once. After a failure
        they wait for its outcome to be written, which may open the destination's circuit:
        a failing destination gets no more requests than it did without claiming ahead."""
        self._sending -= 1
        _count(self._on_wire, claim.destination_id, -1)
        _count(self._busy_destinations, claim.destination_id, -1)
        _count(self._busy_accounts, claim.account_id, -1)
        if result is not None and result.outcome == "success":
            self._failed_last.discard(claim.destination_id)
            self._send_waiting(claim.destination_id)
        elif result is not None:
            self._failed_last.add(claim.destination_id)
            _count(self._failing, claim.destination_id, +1)
        self._slot_free.set()
        # A destination or account that was saturated may have more due work now.
        self._wake.set()

    def _finished(self, task: asyncio.Task) -> None:
        self._in_flight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("delivery task failed", exc_info=task.exception())
            self._refill_slots()  # its slot is free and no outcome will say so
        self._slot_free.set()

    async def _deliver(self, claim: Claim, steps_seen: int) -> None:
        # The delivery stays leased (in_flight in the database) until its outcome commits, so
        # no claim can pick it again in between.
        try:
            result = await self._dispatcher.send(claim)
        except BaseException:
            self._answered(claim, None)
            raise
        self._answered(claim, result)
        if result.outcome == "success":
            await self._record_result(claim, result, steps_seen)
            return
        try:
            await self._record_result(claim, result, steps_seen)
        finally:
            # The failure's outcome is written (or could not be): what waits for the
            # destination goes back to the queue, to be claimed again under the state that
            # outcome left (an open circuit, a Retry-After, a retry).
            _count(self._failing, claim.destination_id, -1)
            if claim.destination_id not in self._failing:
                await self._release_waiting(claim.destination_id)

    async def _record_result(self, claim: Claim, result: AttemptResult, steps_seen: int) -> None:
        attempts_made = claim.attempts_count + 1
        self._slow_down(claim, result)
        status, due = next_step(
            claim.retry_policy,
            result,
            attempts_made,
            self._clock.now(),
            self._settings.retry_after_max_seconds,
        )
        attempt = {
            "event_id": claim.event_id,
            "delivery_id": claim.delivery_id,
            "destination_id": claim.destination_id,
            "attempt_number": attempts_made,
            "started_at": result.started_at,
            "finished_at": result.finished_at,
            "response_status": result.response_status,
            "response_body": result.response_body,
            "error_message": result.error_message,
            "latency_ms": result.latency_ms,
            "outcome": result.outcome,
        }
        try:
            await self._record((claim, attempt, status, due), steps_seen)
        except StorageError as exc:
            # The lease stays; it is released at the next start or reclaimed when it expires,
            # and the attempt is made again (at-least-once).
            log.error("cannot record attempt of delivery %s: %s", claim.delivery_id, exc)
            return
        if self._pacer.ordered(claim.destination_id, claim.route_id):
            # The next delivery of its FIFO queue may go now that this outcome is committed.
            self._wake.set()
        if self._on_attempt is not None:
            self._on_attempt(claim, result, status)

    def _slow_down(self, claim: Claim, result: AttemptResult) -> None:
        """A 429 or 503 with Retry-After holds back the whole destination for the time asked
        (capped), not only this delivery, whose own retry is scheduled by ``next_step``."""
        if result.response_status not in (429, 503):
            return
        asked = retry_after_delay(
            result.retry_after,
            self._clock.now(),
            floor=0.0,
            ceiling=self._settings.retry_after_max_seconds,
        )
        if asked:
            # Stored with this outcome: every process holds back from the destination.
            until = self._clock.now() + asked
            destination = claim.destination_id
            self._slow_downs[destination] = max(until, self._slow_downs.get(destination, until))
            log.info("destination %s asked to wait %.1f s", claim.destination_id, asked)

    async def _record(self, outcome: Outcome, steps_seen: int) -> None:
        """Commit an attempt's outcome together with the others answered in the same tick.

        One write for many attempts instead of one each: under load the writer's per-write
        overhead, not SQLite, is what limits deliveries per second.
        """
        if self._record_batch is None:
            self._record_batch = ([], asyncio.get_running_loop().create_future())
            asyncio.get_running_loop().call_soon(self._flush_records)
        outcomes, committed = self._record_batch
        outcomes.append((outcome, steps_seen))
        await committed

    def _flush_records(self) -> None:
        assert self._record_batch is not None, "scheduled only by _record, which sets it"
        outcomes, committed = self._record_batch
        self._record_batch = None
        task = asyncio.create_task(self._write_records(outcomes, committed))
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

    async def _write_records(
        self, outcomes: list[tuple[Outcome, int]], committed: asyncio.Future
    ) -> None:
        try:
            await self._schedule_steady.wait()
            current = [self._as_leased_now(outcome, seen) for outcome, seen in outcomes]
            windows, self._slow_downs = self._slow_downs, {}
            # Circuit breakers move in the same write that records the outcomes.
            changed = await self._db.write(
                record_outcomes,
                current,
                self._settings.circuit_breaker,
                self._clock.now(),
                slowed=windows,
            )
        except Exception as exc:
            committed.set_exception(exc)
        else:
            committed.set_result(None)
            if changed:
                self._control_due = True
                self._wake.set()

    def withdraw_waiting(self, destination_id: str) -> list[tuple[int, str, float]]:
        """Take the destination's claims waiting for a slot off the queue, as (delivery id,
        lease holder, lease expiry) for the caller's write to release with
        ``deliveries.release_claims``: a pause, a change or a delete of the destination must
        not let claims made before it out after it."""
        return [
            (claim.delivery_id, claim.leased_by, self._lease_now(claim, seen))
            for claim, seen in self._drop_waiting(destination_id)
        ]

    async def _release_waiting(self, destination_id: str | None = None) -> None:
        """Claims waiting for a slot (of one destination, or all) become due again."""
        dropped = self._drop_waiting(destination_id)
        if dropped:
            await self._schedule_steady.wait()
            leases = [(claim.delivery_id, claim.leased_by, self._lease_now(claim, seen))
                      for claim, seen in dropped]  # fmt: skip
            try:
                await self._db.write(store.release_claims, leases)
            except StorageError as exc:
                # Their leases expire and the reclaim makes them due again (at-least-once).
                log.error("cannot release %d claims made ahead: %s", len(leases), exc)

    def _lease_now(self, claim: Claim, steps_seen: int) -> float:
        """The claim's lease expiry as stored now: moved by the clock steps since its claim,
        exactly as ``shift_schedule`` moved it (the same additions, in order)."""
        lease = claim.lease_expires_at
        for step in self._clock_steps[steps_seen:]:
            lease += step
        return lease

    def _as_leased_now(self, outcome: Outcome, steps_seen: int) -> Outcome:
        """The outcome naming its lease as stored now (``_lease_now``)."""
        claim = outcome[0]
        lease = self._lease_now(claim, steps_seen)
        if lease == claim.lease_expires_at:
            return outcome
        return (msgspec.structs.replace(claim, lease_expires_at=lease), *outcome[1:])

    async def _run_control(self, *, force: bool = False) -> None:
        """Let delivery control act when it asked to (or a circuit just moved)."""
        if self._control is None:
            return
        now = self._clock.now()
        if not (force or self._control_due or now >= self._control_at):
            return
        self._control_due = False
        try:
            self._control_at = await self._control(now)
        except StorageError:
            raise
        except Exception:
            # Delivery control failing must not stop delivery: log it and try again soon.
            log.exception("delivery control failed")
            self._control_at = now + SCHEDULER_IDLE_POLL_SECONDS

    async def _follow_clock_steps(self) -> None:
        """Shift the schedule when the wall clock jumps (detected against the monotonic one)."""
        offset = self._clock.now() - self._clock.monotonic()
        step = offset - self._clock_offset
        if abs(step) < CLOCK_STEP_THRESHOLD_SECONDS:
            return
        self._schedule_steady.clear()
        try:
            moved = await self._db.write(store.shift_schedule, step)
            if moved is not None:
                self._clock_steps.append(step)
        finally:
            self._schedule_steady.set()
        self._clock_offset = offset
        # Wall times kept here moved with the schedule: set back an hour, delivery control
        # (an open circuit's cool-down, notices) would otherwise not run for an hour.
        self._control_at += step
        self._claimed_up_to += step
        self._last_reclaim = self._clock.now()
        if moved is None:
            log.warning("wall clock stepped by %+.0f s (the schedule keeps the database's)", step)
            return
        log.warning("wall clock stepped by %+.0f s; moved %d pending retries with it", step, moved)

    async def _reclaim_expired_leases(self) -> None:
        now = self._clock.now()
        if abs(now - self._last_reclaim) < LEASE_RECLAIM_INTERVAL_SECONDS:
            return
        self._last_reclaim = now
        # Leases held by this process's own attempts are never expired: each outlasts its
        # attempt's timeout. Only leases of a worker that died are reclaimed here.
        reclaimed = await self._db.write(store.reclaim_expired_leases, now)
        if reclaimed:
            log.warning("reclaimed %d deliveries whose lease expired", reclaimed)

    async def _idle_seconds(self) -> float:
        """How long to sleep when a claim found nothing: until a delivery the claim did not
        see falls due, or a paced destination may send again. Due work the claim saw and left
        is waiting for a token, a Retry-After window, a FIFO queue or a busy slot (an answer or
        a committed outcome wakes us): no busy loop on it, and it hides no later retry."""
        wait = SCHEDULER_IDLE_POLL_SECONDS
        due = await self._db.read(next_due_after, self._claimed_up_to)
        if due is not None:
            wait = min(wait, max(due - self._clock.now(), 0.0))
        release = self._pacer.next_release(self._clock.now())
        if release is not None:
            wait = min(wait, max(release, 0.0))
        control_in = self._control_at - self._clock.now()
        if self._control is not None and control_in > 0:
            # Delivery control (a circuit's cool-down ending) said when it next wants to run.
            wait = min(wait, control_in)
        return wait

    async def _sleep(self, seconds: float) -> None:
        await self._wait_for(self._wake, seconds)

    @staticmethod
    async def _wait_for(event: asyncio.Event, seconds: float) -> None:
        try:
            async with asyncio.timeout(seconds):
                await event.wait()
        except TimeoutError:
            pass


def _claim_paced(
    conn: Connection,
    now: float,
    capacity: int,
    limits: ClaimLimits,
    lease_margin_seconds: float,
    owner: str,
    lease_timeouts: int = 1,
) -> tuple[list[Claim], Pacer] | store.Busy:
    """Claim with the pacing rules and state read in the same transaction (a change applies
    at once), and the tokens spent stored in it.

    On PostgreSQL one process claims at a time (BUSY when another is), with what is in
    flight counted from the table: the caps, the buckets and the Retry-After windows hold for
    the whole cluster."""
    if not store.try_claim_lock(conn):
        return store.BUSY
    limits = store.count_leased(conn, limits)
    paced = load_pacing(conn)
    rate_limited = [pacing.destination_id for pacing in paced if rate_of(pacing) is not None]
    pacer = Pacer.restored(load_pacing_state(conn, now, rate_limited), paced, now)
    snapshot = pacer.snapshot(now)
    if paced or snapshot.slowed:
        limits = claim_limits(limits, paced, snapshot)
    claims = store.claim_due(
        conn,
        now,
        capacity,
        limits,
        lease_margin_seconds,
        owner=owner,
        lease_timeouts=lease_timeouts,
    )
    sent = [claim.destination_id for claim in claims]
    pacer.claimed(now, paced, sent)
    save_buckets(conn, pacer.buckets_of(sent))
    return claims, pacer


def _count(busy: dict[str, int], key: str, change: int) -> None:
    """Add ``change`` to a key's attempts in flight; a key with none is dropped."""
    remaining = busy.get(key, 0) + change
    if remaining > 0:
        busy[key] = remaining
    else:
        busy.pop(key, None)
