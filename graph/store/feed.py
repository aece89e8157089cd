"""The live tail: a trigger announces every insert; LISTEN fans it out in process.

A statement-level AFTER INSERT trigger on audit_logs (`ANNOUNCE`, installed by
migration 9) notifies CHANNEL with the keys the statement inserted and the id
of the inserting transaction, as JSON
`{"tx": "<xid8>", "keys": [[id, "YYYY-MM-DD"], ...]}`. PostgreSQL delivers it
only when the transaction commits, so subscribers never see a rolled-back
event, and it fires for every writer of the table: this API, the Go service,
COPY, psql. Each process keeps one listening connection while it has
subscribers; a subscriber gets announcements and reads the rows itself,
through its own filter. Writes from every replica reach every replica.

The transaction id is what lets a resumed tail switch from stored rows to live
ones without a gap or a duplicate: `Snapshot.sees` tells whether the rows of
an announcement were already visible to the snapshot the stored rows were
read in (store.Store.tail).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date

import psycopg
from psycopg import AsyncConnection

log = logging.getLogger(__name__)

# Not the channel of versions that notified from their own INSERT statements:
# during a rolling upgrade those keep announcing their writes to their own
# subscribers, and nobody receives a write twice.
CHANNEL = "audit_graph_tail"
# Announcements a subscriber may have waiting before it is told it fell behind.
SUBSCRIBER_BACKLOG = 1000
RECONNECT_DELAY = 1.0
# A NOTIFY payload must stay under 8000 bytes: keys are cut into messages of
# this many bytes plus at most one key (~200 bytes of JSON for a 32-character
# id of escaped characters) and the transaction id.
MESSAGE_BYTES = 7000

# A statement inserting more rows than this (a bulk import) is announced by
# its row count alone: naming every key would hold them all in the writer's
# memory until it commits. A subscriber that has not already seen that
# transaction resumes from its cursor instead (store.Store.tail).
ANNOUNCED_KEYS = 10_000

ANNOUNCE = f"""
CREATE OR REPLACE FUNCTION audit_graph_announce() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    inserted_rows bigint := (SELECT count(*) FROM inserted);
BEGIN
    IF inserted_rows > {ANNOUNCED_KEYS} THEN
        PERFORM pg_notify('{CHANNEL}', json_build_object(
                    'tx', pg_current_xact_id()::text, 'rows', inserted_rows)::text);
        RETURN NULL;
    END IF;
    PERFORM pg_notify('{CHANNEL}', json_build_object(
                'tx', pg_current_xact_id()::text, 'keys', json_agg(key ORDER BY n))::text)
    FROM (
        SELECT key, n, sum(octet_length(key::text) + 2) OVER (ORDER BY n) / {MESSAGE_BYTES}
            AS message
        FROM (SELECT json_build_array(id, created_date) AS key, row_number() OVER () AS n
              FROM inserted) AS keys
    ) AS numbered
    GROUP BY message;
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS audit_graph_announce ON audit_logs;
CREATE TRIGGER audit_graph_announce AFTER INSERT ON audit_logs
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION audit_graph_announce();
"""


def install(conn: psycopg.Connection) -> None:
    """Migration 9: announce each statement's inserted rows, whoever wrote them."""
    conn.execute(ANNOUNCE)


Key = tuple[str, date]


@dataclass(frozen=True, slots=True)
class Announcement:
    """The keys one statement of transaction `tx` inserted (committed by now).

    keys is None when the statement inserted more than ANNOUNCED_KEYS rows.
    """

    tx: int
    keys: list[Key] | None


def parse_payload(payload: str) -> Announcement | None:
    try:
        message = json.loads(payload)
        if "keys" not in message:
            return Announcement(int(message["tx"]), None)
        keys = [(id_, date.fromisoformat(day)) for id_, day in message["keys"]]
        return Announcement(int(message["tx"]), keys)
    except (ValueError, TypeError, KeyError):
        log.warning("ignoring a malformed notification on %s", CHANNEL)
        return None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A PostgreSQL snapshot (`pg_current_snapshot()`): which transactions it sees."""

    xmin: int
    xmax: int
    running: frozenset[int]

    @classmethod
    def parse(cls, text: str) -> Snapshot:
        xmin, xmax, running = text.split(":")
        return cls(int(xmin), int(xmax), frozenset(int(tx) for tx in running.split(",") if tx))

    def sees(self, tx: int) -> bool:
        """Whether the work of committed transaction `tx` is visible in this snapshot."""
        return tx < self.xmin or (tx < self.xmax and tx not in self.running)


class Subscription:
    """One subscriber's announcements, and whether it fell behind them.

    The queue holds None once the subscriber fell behind, to wake a reader
    that waits on an empty queue.
    """

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Announcement | None] = asyncio.Queue(SUBSCRIBER_BACKLOG)
        self.fell_behind = False

    def fall_behind(self) -> None:
        self.fell_behind = True
        with contextlib.suppress(asyncio.QueueFull):  # a full queue's reader is not waiting
            self.queue.put_nowait(None)

    def offer(self, announcement: Announcement) -> None:
        """Queue an announcement; a full queue means the subscriber cannot keep up.

        Dropping it would leave a gap nobody sees, and waiting would slow
        every subscriber: the subscriber is marked, and its tail ends with a
        cursor to resume from (store.Store.tail).
        """
        if self.fell_behind:
            return
        try:
            self.queue.put_nowait(announcement)
        except asyncio.QueueFull:
            log.warning("a live tail subscriber fell %d announcements behind", SUBSCRIBER_BACKLOG)
            self.fall_behind()


class EventFeed:
    """One LISTEN connection per process, started with the first subscriber."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self._subscribers: set[Subscription] = set()
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Subscription]:
        """The announcements of transactions that commit after this returns."""
        subscription = Subscription()
        self._subscribers.add(subscription)
        if self._listener is None or self._listener.done():
            self._listening.clear()
            self._listener = asyncio.create_task(self._listen(), name="audit-graph-feed")
        try:
            await self._listening.wait()
            yield subscription
        finally:
            self._subscribers.discard(subscription)
            if not self._subscribers:
                await self.close()

    async def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    async def _listen(self) -> None:
        while self._subscribers:
            try:
                async with await AsyncConnection.connect(self.conninfo, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self._listening.set()
                    async for notification in conn.notifies():
                        self._publish(parse_payload(notification.payload))
            except psycopg.Error as exc:
                # What was announced meanwhile is lost to this connection: every
                # subscriber resumes from its cursor instead of silently missing it,
                # and a new one waits until LISTEN is back.
                self._listening.clear()
                log.warning("live tail connection lost (%s); reconnecting", exc)
                for subscription in self._subscribers:
                    subscription.fall_behind()
                await asyncio.sleep(RECONNECT_DELAY)

    def _publish(self, announcement: Announcement | None) -> None:
        if announcement is None:
            return
        for subscription in self._subscribers:
            subscription.offer(announcement)
