"""The live tail at the store level: every committed event is announced once, any id fits.

Each test starts tailing, waits until a probe written after the start comes
through (the feed is listening from then on), then writes and collects.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from graph.store import Event, EventFilter, NewEvent, Store
from graph.store.events import notify_messages

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)  # the `clock` fixture's "now"
WAIT = 20.0


def ev(event_id: str, tool_name: str = "tool", minutes_ago: int = 60) -> NewEvent:
    return NewEvent(
        id=event_id,
        tool_name=tool_name,
        success=True,
        timestamp=NOW - timedelta(minutes=minutes_ago),
    )


@contextlib.asynccontextmanager
async def tailing(store: Store) -> AsyncIterator[asyncio.Queue[Event]]:
    """A queue of the events the tail yields from a moment after entering, probes left out."""
    events: asyncio.Queue[Event] = asyncio.Queue()
    probed = asyncio.Event()

    async def consume() -> None:
        async for event in store.tail(EventFilter()):
            if event.tool_name == "probe":
                probed.set()
            else:
                events.put_nowait(event)

    consumer = asyncio.create_task(consume())
    try:
        for attempt in range(int(WAIT / 0.1)):
            await store.log(ev(f"probe-{attempt}", tool_name="probe"))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(probed.wait(), 0.1)
                break
        assert probed.is_set(), "the tail never started"
        yield events
    finally:
        consumer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await consumer


async def take(events: asyncio.Queue[Event], count: int) -> list[Event]:
    return [await asyncio.wait_for(events.get(), WAIT) for _ in range(count)]


async def test_each_committed_event_is_announced_once(store: Store) -> None:
    await store.log(ev("old"))
    async with tailing(store) as events:
        await store.log(ev("one"))
        await asyncio.gather(store.log(ev("two")), store.log(ev("two")), store.log(ev("old")))
        # In one batch, the tail yields events oldest first.
        await store.log_many(
            [
                ev("three", minutes_ago=50),
                ev("old"),
                ev("three", minutes_ago=50),
                ev("four", minutes_ago=55),
            ]
        )
        await store.log(ev("last"))
        seen = await take(events, 5)
        assert [event.id for event in seen] == ["one", "two", "four", "three", "last"]
        await asyncio.sleep(0.5)
        assert events.empty()


@pytest.mark.parametrize("character", ["\U0001f600", "\x01", '"', "é"])
async def test_a_full_batch_of_the_longest_ids_is_announced(store: Store, character: str) -> None:
    """Ids of 32 characters that JSON spells long; NOTIFY takes at most 8000 bytes a message."""
    ids = [character * 28 + f"{n:04d}" for n in range(1000)]
    async with tailing(store) as events:
        await store.log_many([ev(event_id) for event_id in ids])
        seen = await take(events, len(ids))
    assert sorted(event.id for event in seen) == sorted(ids)


@pytest.mark.parametrize("character", ["a", "\x01", '"', "\U0001f600"])
def test_notify_messages_hold_every_key_in_order_under_the_payload_limit(character: str) -> None:
    keys = [(f"{n:04d}" + character * 28, "2026-03-15") for n in range(1000)]
    messages = notify_messages(keys)
    assert all(len(message.encode()) < 8000 for message in messages)
    assert [tuple(key) for message in messages for key in json.loads(message)] == keys
