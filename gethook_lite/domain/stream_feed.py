"""The one in-process feed of new changes, fanned out to every live stream reader.

One task per process, however many readers: after a write commits, its author pokes the feed
(``domain.stream.notify_change``); the feed reads the new rows of the change log once, builds
each message once, and offers it to the readers whose account and filters it matches. A slow
poll covers writes nobody poked for (cancellations, lease releases, retention). With several
processes on PostgreSQL every commit of change rows pokes every process's feed (NOTIFY
gethook_changes, tasks/cluster.py), and a read that finds committed rows waiting behind an
older transaction (db/changes.py) looks again soon.

Each reader has a bounded buffer. A reader that does not keep up is dropped with a last
comment rather than let its backlog grow or slow the feed; it resumes from its cursor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from gethook_lite.config import LiveSettings
from gethook_lite.constants import STREAM_FEED_COALESCE_SECONDS, STREAM_PAGE
from gethook_lite.db import Database, StorageError
from gethook_lite.db import changes as store
from gethook_lite.db.changes import ChangeCursor
from gethook_lite.domain.stream import Change, StreamFilters, StreamMessage, build_messages
from gethook_lite.errors import TooManyRequests

__all__ = ["ChangeFeed", "Subscription"]

log = logging.getLogger(__name__)

# A refused reader is asked to wait this long (readers come and go in seconds).
_ROOM_RETRY_SECONDS = 5
TOO_SLOW = "disconnected: this reader fell too far behind; reconnect with Last-Event-ID"
STOPPING = "disconnected: the server is stopping; reconnect with Last-Event-ID"
# Looking again for changes held back by a running transaction: first after this, doubling
# up to a second (or live.poll_seconds if shorter). Doubling up to the poll interval, a change
# committed behind a long transaction waited up to that long (live.poll_seconds may be set
# to minutes) to be streamed once the transaction ended; a look a second is one cheap read.
_HELD_BACK_FIRST_SECONDS = 0.02
_HELD_BACK_MAX_SECONDS = 1.0


class Subscription:
    """One live reader: its account, filters and bounded buffer of messages."""

    def __init__(
        self, account_id: str, filters: StreamFilters, buffer: int, joined_at: ChangeCursor
    ):
        self.account_id = account_id
        self.filters = filters
        # Every change after this cursor reaches the buffer (none at or before it).
        self.joined_at = joined_at
        self._limit = buffer
        # One slot more than the limit, kept for the closing reason.
        self._queue: asyncio.Queue[StreamMessage | str] = asyncio.Queue(buffer + 1)
        self.closed = False

    def offer(self, message: StreamMessage) -> bool:
        """Queue a message; False (and closed) when the reader is too far behind."""
        if self.closed:
            return False
        if self._queue.qsize() >= self._limit:
            self.close(TOO_SLOW)
            return False
        self._queue.put_nowait(message)
        return True

    def close(self, reason: str) -> None:
        if not self.closed:
            self.closed = True
            self._queue.put_nowait(reason)

    async def next(self) -> StreamMessage | str:
        """The next message, or the reason the stream ends."""
        return await self._queue.get()

    def ready(self) -> list[StreamMessage | str]:
        """Every message already waiting (without waiting for more)."""
        items = []
        while not self._queue.empty():
            items.append(self._queue.get_nowait())
        return items


class ChangeFeed:
    """Reads the change log after each commit and fans messages out to subscriptions."""

    def __init__(self, db: Database, settings: LiveSettings) -> None:
        self._db = db
        self._settings = settings
        self._by_account: dict[str, set[Subscription]] = {}
        # The cursor last offered to subscriptions; None while nobody listens (re-read on join).
        self._position: ChangeCursor | None = None
        # Joining and publishing exclude each other, so a joiner's joined_at is exactly where
        # the next publication starts.
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None

    @property
    def subscribers(self) -> int:
        return sum(len(subs) for subs in self._by_account.values())

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="gethook-change-feed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        for subscriptions in self._by_account.values():
            for subscription in subscriptions:
                subscription.close(STOPPING)
        self._by_account.clear()

    def poke(self) -> None:
        """New changes may be committed: read them soon (cheap; many pokes make one read)."""
        self._wake.set()

    def check_room(self, account_id: str) -> None:
        """Refuse (429) a new reader of an account that has ``live.max_subscribers_per_account``
        open: every reader holds a connection and a buffer."""
        cap = self._settings.max_subscribers_per_account
        if len(self._by_account.get(account_id, ())) >= cap:
            raise TooManyRequests(
                f"this account already has {cap} live readers open (event streams and waits);"
                " close one or try again shortly",
                _ROOM_RETRY_SECONDS,
            )

    async def subscribe(self, account_id: str, filters: StreamFilters) -> Subscription:
        self.check_room(account_id)
        async with self._lock:
            if self._position is None:
                self._position = await self._db.read(store.latest_cursor)
            subscription = Subscription(
                account_id, filters, self._settings.subscriber_buffer, self._position
            )
            self._by_account.setdefault(account_id, set()).add(subscription)
            return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subscriptions = self._by_account.get(subscription.account_id)
        if subscriptions is not None:
            subscriptions.discard(subscription)
            if not subscriptions:
                del self._by_account[subscription.account_id]

    async def _run(self) -> None:
        held_back_wait = _HELD_BACK_FIRST_SECONDS
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._settings.poll_seconds):
                    await self._wake.wait()
            self._wake.clear()
            held_back = False
            try:
                async with self._lock:
                    if not self._by_account:
                        self._position = None  # nobody listens: nothing to read
                        continue
                    held_back = await self._publish_new()
            except StorageError as exc:
                log.error("the change feed cannot read the change log: %s", exc)
            # Let more commits land so that one read serves many of them.
            await asyncio.sleep(STREAM_FEED_COALESCE_SECONDS)
            if held_back:
                # Committed rows wait behind an older transaction (PostgreSQL), whose end may
                # notify nobody: look again soon, less often while it lasts.
                await asyncio.sleep(held_back_wait)
                held_back_wait = min(
                    held_back_wait * 2, _HELD_BACK_MAX_SECONDS, self._settings.poll_seconds
                )
                self._wake.set()
            else:
                held_back_wait = _HELD_BACK_FIRST_SECONDS

    async def _publish_new(self) -> bool:
        """Offer every change after the position; whether some wait behind a transaction."""
        while True:
            assert self._position is not None  # set by the first subscribe
            messages, last, read, held_back = await self._db.read(
                _new_messages, self._position, set(self._by_account)
            )
            self._position = last
            for message in messages:
                self._offer(message)
            if read < STREAM_PAGE:
                return held_back

    def _offer(self, message: StreamMessage) -> None:
        subscriptions = self._by_account.get(message.change.account_id, ())
        dropped = [
            subscription
            for subscription in subscriptions
            if subscription.filters.admits(message) and not subscription.offer(message)
        ]
        for subscription in dropped:
            log.info("dropped a stream reader of %s that fell behind", subscription.account_id)
            self.unsubscribe(subscription)


def _new_messages(
    conn, after: ChangeCursor, accounts: set[str]
) -> tuple[list[StreamMessage], ChangeCursor, int, bool]:
    """Messages for the changes after ``after`` of accounts someone listens to, the cursor
    read up to, how many rows were read, and whether more wait behind a transaction."""
    rows = store.changes_after(conn, after, STREAM_PAGE)
    changes = [Change(*row) for row in rows]
    wanted = [change for change in changes if change.account_id in accounts]
    last = changes[-1].cursor if changes else after
    held_back = len(changes) < STREAM_PAGE and store.changes_held_back(conn, last)
    return build_messages(conn, wanted), last, len(changes), held_back
