"""The bulk retry worker driven pass by pass with the fake clock: progress page by page, the
throttle on replays still on their way, and a restart in the middle of a page."""

from __future__ import annotations

from collections import Counter

from gethook_lite.db import bulk_retries as store
from gethook_lite.domain.accounts import Caller
from gethook_lite.domain.bulk_retry import job_plan
from gethook_lite.domain.events import replay_event
from tests.conftest import new_account
from tests.support.api import drain, make_route, make_source
from tests.support.bulk_retries import (
    NO_RETRIES,
    call,
    create_job,
    dead_letters,
    driven_worker,
    job,
    paused_worker,
    replays_of,
    run_to_end,
)
from tests.support.receiver import Receiver, Reply
from tests.support.retention import app_client

# No circuit breaker: the tests make many dead letters at a failing receiver (an open circuit
# would hold them instead).
PAGING = {
    "bulk_retries.page_size": 4,
    "bulk_retries.max_outstanding": 6,
    "delivery.circuit_breaker.enabled": False,
}


def bearer_of(client) -> dict[str, str]:
    return {"Authorization": f"Bearer {new_account(client)[1]}"}


def test_worker_replays_every_dead_letter_once_page_by_page_within_the_throttle(tmp_path, clock):
    down = {"now": True}
    with (
        Receiver(lambda n: Reply(503 if down["now"] else 200)) as receiver,
        app_client(tmp_path, clock, **PAGING) as client,
    ):
        paused_worker(client)
        auth = bearer_of(client)
        source = make_source(client, auth)
        make_route(client, auth, receiver.url, source["id"], retry_policy=NO_RETRIES)
        make_route(client, auth, receiver.url, source["id"], retry_policy=NO_RETRIES)
        originals = dead_letters(client, source, [b'{"n": %d}' % n for n in range(20)])
        created = create_job(client, auth, source_id=source["id"])
        assert created["matched"] == 20
        down["now"] = False
        worker = driven_worker(client)

        # Without the scheduler taking them, the job stops at max_outstanding replays.
        progress = []
        for _ in range(3):
            assert call(client, worker.run_once) == 1
            progress.append(job(client, auth, created["id"])["done"])
        assert progress == [4, 6, 6]
        assert job(client, auth, created["id"])["status"] == "running"

        drain(client)  # the destination takes them: room again
        run_to_end(client, worker)
        finished = job(client, auth, created["id"])
        assert (finished["status"], finished["done"], finished["failed"]) == ("completed", 20, 0)
        made = replays_of(client, created["id"])
        assert sorted(original for _, original in made) == originals
        # Each replay went to both destinations once, and nothing else was sent.
        sent = Counter(r.headers["webhook-id"] for r in receiver.requests[40:])
        assert sent == {replay: 2 for replay, _ in made}
        assert call(client, worker.run_once) == 0


def test_a_job_cut_short_mid_page_resumes_without_replaying_an_event_twice(tmp_path, clock):
    with Receiver(lambda n: Reply(503)) as receiver:
        with app_client(tmp_path, clock, **PAGING) as client:
            paused_worker(client)
            auth = bearer_of(client)
            source = make_source(client, auth)
            make_route(client, auth, receiver.url, source["id"], retry_policy=NO_RETRIES)
            originals = dead_letters(client, source, [b"{}"] * 10)
            created = create_job(client, auth, source_id=source["id"])
            worker = driven_worker(client)
            assert call(client, worker.run_once) == 1
            assert job(client, auth, created["id"])["done"] == 4
            # The next page starts: one replay commits, then the process dies before the page
            # is recorded (what work_page does, stopped between its two writes).
            ctx = client.app.state.ctx
            row = call(client, ctx.db.read, store.get_job, created["account_id"], created["id"])
            plan = job_plan(row)
            page = call(
                client,
                ctx.db.read,
                store.candidates,
                row["account_id"],
                plan.scope,
                row["cursor"],
                row["upto"],
                4,
            )
            caller = Caller(account_id=row["account_id"], key_id="test", role="admin")

            async def replay_first() -> None:
                await replay_event(
                    ctx,
                    caller,
                    page[0].direction,
                    page[0].event_id,
                    only_destinations=page[0].destination_ids,
                    bulk_retry_id=created["id"],
                )

            call(client, replay_first)
            assert job(client, auth, created["id"])["done"] == 4  # not recorded

        with app_client(tmp_path, clock, **PAGING) as client:
            # The start recounted the job's progress from the replays naming it. The app's own
            # worker may have run part of a page since, and paused_worker may have stopped it
            # between a replay and the page's record (as the dead process was): the count is
            # then behind by those, until the next recount (driven_worker's prepare).
            paused_worker(client)
            resumed = job(client, auth, created["id"])
            assert 5 <= resumed["done"] <= len(replays_of(client, created["id"]))
            worker = driven_worker(client)
            resumed = job(client, auth, created["id"])
            assert resumed["done"] == len(replays_of(client, created["id"])) >= 5
            run_to_end(client, worker)
            finished = job(client, auth, created["id"])
            assert (finished["status"], finished["done"], finished["failed"]) == (
                "completed",
                10,
                0,
            )
            made = replays_of(client, created["id"])
            assert sorted(original for _, original in made) == originals  # each exactly once
