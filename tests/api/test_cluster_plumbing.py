"""Two app instances on one PostgreSQL database, as two `gethook serve` processes would be:
what one commits reaches the other's caches, scheduler and live feed through LISTEN/NOTIFY,
and exactly one of them leads (tasks/cluster.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
import pytest
from cryptography.fernet import Fernet
from litestar.testing import TestClient

from gethook_lite.app import create_app
from gethook_lite.clock import FakeClock
from gethook_lite.domain import destination_control
from gethook_lite.domain.routing import matching_routes
from gethook_lite.domain.sources import live_source_for_token
from gethook_lite.domain.stream import ChangeCursor, StreamFilters, stream_messages
from gethook_lite.tasks import cluster
from tests.conftest import FAST_PASSWORDS, bearer, make_settings, new_account
from tests.support.api import make_route, make_source
from tests.support.dns import FakeResolver

# Takeover and checks in tenths of a second rather than seconds.
RETRY_SECONDS = 0.3


def wait_until(condition: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.fixture(autouse=True)
def _once(backend: str) -> None:
    """Every test here opens its instances on PostgreSQL by URL, whatever the module's backend:
    the [sqlite] run of the module would only repeat them."""
    if backend == "sqlite":
        pytest.skip("runs once, as [postgresql]: the instances always use PostgreSQL")


@pytest.fixture
def open_instance(pg_url, tmp_path, monkeypatch) -> Callable:
    """Open an app instance (a 'process') on the test's database, listening once it returns."""
    monkeypatch.setattr(cluster, "LEADER_RETRY_SECONDS", RETRY_SECONDS)
    # One key for the whole cluster, as the operator would configure it.
    key = Fernet.generate_key().decode()

    @contextmanager
    def instance(name: str, **overrides) -> Iterator[TestClient]:
        settings = make_settings(
            tmp_path / name,
            **{
                "storage.url": pg_url,
                "storage.encryption_key": key,
                # Only a NOTIFY can explain a live message that comes sooner than this.
                "live.poll_seconds": 60,
                **overrides,
            },
        )
        app = create_app(
            settings,
            clock=FakeClock(),
            passwords=FAST_PASSWORDS,
            start_scheduler=False,
            txt_resolver=FakeResolver(),
        )
        with TestClient(app) as client:
            wait_until(lambda: client.app.state.ctx.cluster.listening.is_set())
            yield client

    return instance


def settle(client: TestClient, url: str) -> None:
    """Wait until ``client`` heard every notification committed so far: they arrive in commit
    order, so once it heard one sent now (its custom-domain cache forgotten), it heard the rest."""
    cache = ctx_of(client).custom_domain_names
    before = cache.generation
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_notify('gethook_cache', 'custom_domains')")
    wait_until(lambda: cache.generation > before, timeout=5)


def ctx_of(client: TestClient):
    return client.app.state.ctx


def call(client: TestClient, fn, *args):
    """Run a coroutine function in the instance's event loop."""
    return client.blocking_portal.call(fn, *args)


def test_a_source_deleted_through_one_process_is_refused_by_the_other_at_once(
    open_instance, pg_url
) -> None:
    with open_instance("a") as a, open_instance("b") as b:
        _, key = new_account(a)
        source = make_source(a, bearer(key))
        token = source["path_token"]
        settle(b, pg_url)  # the creation's own notification, which B heard, is behind us
        # What B's ingest reads first (and caches): the source behind the token.
        assert call(b, live_source_for_token, ctx_of(b), token) is not None
        assert token in ctx_of(b).sources_by_token
        assert a.delete(f"/v1/sources/{source['id']}", headers=bearer(key)).status_code == 204
        wait_until(lambda: token not in ctx_of(b).sources_by_token, timeout=5)
        assert b.post(f"/ingest/{token}", content=b"{}").status_code == 404


def test_a_route_added_through_one_process_routes_the_other_ones_next_event(
    open_instance, pg_url
) -> None:
    with open_instance("a") as a, open_instance("b") as b:
        account_id, key = new_account(a)
        source = make_source(a, bearer(key))
        settle(b, pg_url)
        routes = (ctx_of(b), account_id, source["id"], "charge.succeeded")
        assert call(b, matching_routes, *routes) == []  # cached by B
        make_route(a, bearer(key), "http://127.0.0.1:9/x", source_id=source["id"])
        wait_until(lambda: len(ctx_of(b).routing_tables) == 0, timeout=5)
        assert len(call(b, matching_routes, *routes)) == 1


def test_a_notification_wakes_the_other_processes_scheduler_and_feed(open_instance, pg_url) -> None:
    with open_instance("a") as a, open_instance("b") as b:
        woken: list[str] = []
        for client in (a, b):
            ctx_of(client).scheduler.wake = lambda: woken.append("scheduler")
            ctx_of(client).change_feed.poke = lambda: woken.append("feed")
        # What the schema's statement triggers send at commit (deliveries, changes inserted).
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("SELECT pg_notify('gethook_work', ''), pg_notify('gethook_changes', '')")
        wait_until(lambda: len(woken) == 4, timeout=5)
        assert sorted(woken) == ["feed", "feed", "scheduler", "scheduler"]


def test_a_change_committed_through_one_process_reaches_the_others_live_reader(
    open_instance,
) -> None:
    with open_instance("a") as a, open_instance("b") as b:
        account_id, key = new_account(a)
        source = make_source(
            a, bearer(key), provider="stripe", verification_config={"secret": "whsec_x"}
        )

        async def read_live_then_replay() -> tuple[list, list]:
            stream = stream_messages(ctx_of(b), account_id, StreamFilters(), None)
            # B's reader joined its feed: the live mark (the empty log's cursor) says so.
            assert await anext(stream) == 0
            refused = await asyncio.to_thread(
                a.post, f"/ingest/{source['path_token']}", content=b"{}"
            )
            assert refused.status_code == 401
            # B's feed polls every 60 s: its own NOTIFY (or a read held back by some
            # transaction elsewhere on the server, then read again) brings the message.
            async with asyncio.timeout(10):
                live = await anext(stream)
            await stream.aclose()
            # A reader resuming from just before it replays it, with the same cursor.
            before = ChangeCursor(live[0].cursor.txid, live[0].cursor.seq - 1)
            again = stream_messages(ctx_of(b), account_id, StreamFilters(), before)
            replayed = [await anext(again)]  # replayed messages come one by one
            await again.aclose()
            return live, replayed

        live, replayed = call(b, read_live_then_replay)
        assert [m.kind for m in live] == ["request.rejected"]
        assert live[0].sse.startswith(f"id: {live[0].cursor.txid}.{live[0].cursor.seq}\n".encode())
        assert replayed[0].sse == live[0].sse


def test_a_change_held_back_by_a_long_transaction_streams_within_a_second_of_its_end(
    open_instance, pg_url
) -> None:
    """A change committed while an older transaction runs waits behind it (the log is read
    below the oldest running transaction); when that transaction ends nobody is notified, so
    the feed looks again: soon, and at least once a second, however long it lasted (it used
    to double its wait up to live.poll_seconds: 60 s here)."""
    with open_instance("a") as a, open_instance("b") as b:
        account_id, key = new_account(a)
        source = make_source(
            a, bearer(key), provider="stripe", verification_config={"secret": "whsec_x"}
        )

        async def held_back_then_streamed() -> float:
            stream = stream_messages(ctx_of(b), account_id, StreamFilters(), None)
            assert await anext(stream) == 0
            with psycopg.connect(pg_url, autocommit=True) as holder:
                holder.execute("BEGIN")
                holder.execute("SELECT txid_current()")  # now the oldest running transaction
                refused = await asyncio.to_thread(
                    a.post, f"/ingest/{source['path_token']}", content=b"{}"
                )
                assert refused.status_code == 401
                pending = asyncio.ensure_future(anext(stream))
                await asyncio.sleep(5.5)
                assert not pending.done()  # held back all along
                holder.execute("COMMIT")
                ended = time.monotonic()
            async with asyncio.timeout(10):
                live = await pending
            await stream.aclose()
            assert [m.kind for m in live] == ["request.rejected"]
            return time.monotonic() - ended

        # Doubling waits would have looked next about 4.7 s after the end.
        assert call(b, held_back_then_streamed) < 2.5


def test_exactly_one_process_leads_and_the_lead_moves_when_its_session_ends(
    open_instance, pg_url
) -> None:
    with open_instance("a") as a:
        wait_until(lambda: ctx_of(a).bulk_retry_worker is not None)  # the leader's tasks run
        assert ctx_of(a).is_leader
        with open_instance("b") as b:
            time.sleep(3 * RETRY_SECONDS)  # B tried the lock and more than once
            assert not ctx_of(b).is_leader and ctx_of(b).bulk_retry_worker is None
            _terminate_leader_session(pg_url)
            wait_until(lambda: not ctx_of(a).is_leader, timeout=5)
            assert ctx_of(a).bulk_retry_worker is None  # stopped before reconnecting
            wait_until(lambda: ctx_of(b).is_leader, timeout=5)
            wait_until(lambda: ctx_of(b).bulk_retry_worker is not None, timeout=5)
            time.sleep(3 * RETRY_SECONDS)  # A is back (it listens again), and follows
            assert not ctx_of(a).is_leader
            assert ctx_of(a).cluster.listening.is_set()


def test_delivery_control_ticks_only_on_the_leader(open_instance, monkeypatch) -> None:
    ticked: list[object] = []

    async def recording_tick(ctx, now: float) -> float:
        ticked.append(ctx)
        return now + 1

    monkeypatch.setattr(destination_control, "tick", recording_tick)
    with open_instance("a") as a, open_instance("b") as b:
        wait_until(lambda: ctx_of(a).is_leader)
        for client in (a, b):
            control = ctx_of(client).scheduler._control
            client.blocking_portal.call(control, 100.0)
        assert ticked == [ctx_of(a)]


def test_a_bulk_retry_job_created_by_another_process_wakes_the_leaders_worker(
    open_instance, pg_url
) -> None:
    with open_instance("a") as a:
        wait_until(lambda: ctx_of(a).bulk_retry_worker is not None)
        account_id, _ = new_account(a)
        woken: list[float] = []
        ctx_of(a).bulk_retry_worker.wake = lambda: woken.append(time.monotonic())
        # What POST /v1/bulk-retries writes in another process (migration 0019's trigger
        # notifies at its commit).
        with psycopg.connect(pg_url, autocommit=True) as other:
            other.execute(
                "INSERT INTO bulk_retries (id, account_id, status, filter, matched, upto,"
                " created_at) VALUES ('blk_1', %s, 'queued', '{}', 0, '', 1.0)",
                (account_id,),
            )
        wait_until(lambda: woken, timeout=5)


def _terminate_leader_session(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND ((classid::bigint << 32) | objid::bigint) = %s",
            (cluster.LEADER_LOCK_KEY,),
        ).fetchone()
        assert row is not None, "nobody holds the leader lock"
        conn.execute("SELECT pg_terminate_backend(%s)", (row[0],))
