"""The live tail: PostgreSQL LISTEN/NOTIFY fanned out to in-process subscribers.

Every write notifies the channel with the keys it committed, as JSON
`[[id, "YYYY-MM-DD"], ...]` (events.insert_statement; delivered only on
commit, so subscribers never see a rolled-back event). Each process keeps one
listening connection while it has subscribers; a subscriber gets batches of
keys and reads the rows itself, through its own filter. Writes from every
replica reach every replica's subscribers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from datetime import date

import psycopg
from psycopg import AsyncConnection

log = logging.getLogger(__name__)

CHANNEL = "audit_graph_events"
SUBSCRIBER_BACKLOG = 1000
RECONNECT_DELAY = 1.0

Key = tuple[str, date]


def parse_payload(payload: str) -> list[Key]:
    try:
        return [(id_, date.fromisoformat(day)) for id_, day in json.loads(payload)]
    except (ValueError, TypeError):
        log.warning("ignoring a malformed notification on %s", CHANNEL)
        return []


class EventFeed:
    """One LISTEN connection per process, started with the first subscriber."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self._subscribers: set[asyncio.Queue[list[Key]]] = set()
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[list[Key]]]:
        """A queue of key batches committed after the subscription is listening."""
        queue: asyncio.Queue[list[Key]] = asyncio.Queue(SUBSCRIBER_BACKLOG)
        self._subscribers.add(queue)
        if self._listener is None or self._listener.done():
            self._listening.clear()
            self._listener = asyncio.create_task(self._listen(), name="audit-graph-feed")
        try:
            await self._listening.wait()
            yield queue
        finally:
            self._subscribers.discard(queue)
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
                log.warning("live tail connection lost (%s); reconnecting", exc)
                await asyncio.sleep(RECONNECT_DELAY)

    def _publish(self, keys: list[Key]) -> None:
        if not keys:
            return
        for queue in self._subscribers:
            try:
                queue.put_nowait(keys)
            except asyncio.QueueFull:
                log.warning("a live tail subscriber is too slow; dropping %d events", len(keys))
