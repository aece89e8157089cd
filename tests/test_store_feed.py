"""The live tail at the store level: every committed event once, from every writer.

Each test of the live part starts tailing, waits until a probe written after
the start comes through (the feed is listening from then on), then writes and
collects. A resumed tail (`after`) replays stored events, then goes live.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from graph.store import Event, EventFilter, FellBehind, NewEvent, Store, feed
from graph.store.events import decode_position, event_cursor

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


def insert_elsewhere(db: psycopg.Connection, event_ids: list[str], minutes_ago: int = 30) -> None:
    """Plain INSERTs as the Go service writes them: one statement, no API involved."""
    moment = NOW - timedelta(minutes=minutes_ago)
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO audit_logs (id, timestamp, tool_name, success, created_date) "
            "VALUES (%s, %s, 'go', true, %s)",
            [(event_id, moment, moment.date()) for event_id in event_ids],
        )


def copy_elsewhere(db: psycopg.Connection, event_ids: list[str]) -> None:
    moment = NOW - timedelta(minutes=20)
    columns = "id, timestamp, tool_name, success, created_date"
    with db.cursor() as cur, cur.copy(f"COPY audit_logs ({columns}) FROM STDIN") as copy:
        for event_id in event_ids:
            copy.write_row((event_id, moment, "copied", True, moment.date()))


async def test_rows_of_every_writer_reach_the_tail(store: Store, db: psycopg.Connection) -> None:
    async with tailing(store) as events:
        await asyncio.to_thread(insert_elsewhere, db, ["go-1"])
        await asyncio.to_thread(insert_elsewhere, db, ["go-2", "go-3"])
        await asyncio.to_thread(copy_elsewhere, db, ["copy-1", "copy-2"])
        seen = await take(events, 5)
        await asyncio.sleep(0.5)
        assert events.empty()
    assert sorted(event.id for event in seen) == ["copy-1", "copy-2", "go-1", "go-2", "go-3"]
    assert {event.tool_name for event in seen} == {"go", "copied"}


async def collect(iterator: AsyncIterator[Event], count: int) -> list[Event]:
    return [await asyncio.wait_for(anext(iterator), WAIT) for _ in range(count)]


async def test_a_resumed_tail_replays_then_goes_live_without_gap_or_repeat(store: Store) -> None:
    """Stored events after the cursor in (timestamp, id) order, then live ones, each once.

    Writes go on while the replay reads: every one of them must come exactly
    once, whether the replay's snapshot saw it or the feed announced it.
    """
    stored = [ev(f"stored-{n:03d}", minutes_ago=300 - n) for n in range(300)]
    await store.log_many(stored)
    cursor = event_cursor((await store.query(EventFilter(id="stored-099")))[0])
    expected = [event.id for event in stored[100:]]
    tail = aiter(store.tail(EventFilter(), after=cursor))
    first = await collect(tail, 1)
    assert first[0].id == "stored-100"

    async def write_meanwhile() -> list[str]:
        written = []
        for n in range(40):
            # Timestamps after the cursor: the replay may find them, the feed announces them.
            await store.log(ev(f"live-{n:03d}", minutes_ago=0))
            written.append(f"live-{n:03d}")
            await asyncio.sleep(0.005)
        return written

    writer = asyncio.create_task(write_meanwhile())
    rest = await collect(tail, len(expected) - 1)
    written = await writer
    live = await collect(tail, len(written))
    await tail.aclose()
    ids = [event.id for event in first + rest + live]
    replayed = [event_id for event_id in ids if event_id.startswith("stored-")]
    assert replayed == expected, "stored events come first, in (timestamp, id) order"
    assert sorted(ids) == sorted(expected + written), "each event exactly once"


async def test_a_tail_after_the_newest_event_waits_for_live_ones(store: Store) -> None:
    await store.log_many([ev("a", minutes_ago=10), ev("b", minutes_ago=5)])
    newest = (await store.page()).end_cursor
    assert newest is not None
    page = await store.page(limit=1)
    tail = aiter(store.tail(EventFilter(tool_name="wanted"), after=page.end_cursor))
    waiting = asyncio.ensure_future(anext(tail))
    await asyncio.sleep(0.3)
    assert not waiting.done()
    await store.log(ev("ignored", minutes_ago=1))
    await store.log(ev("c", tool_name="wanted", minutes_ago=1))
    event = await asyncio.wait_for(waiting, WAIT)
    await tail.aclose()
    assert event.id == "c"


async def test_a_subscriber_that_falls_behind_gets_a_cursor_to_resume_from(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Announcements are not dropped silently: the tail ends, and resuming loses nothing."""
    monkeypatch.setattr(feed, "SUBSCRIBER_BACKLOG", 3)
    await store.log_many([ev("first", minutes_ago=101), ev("second", minutes_ago=100)])
    start = event_cursor((await store.query(EventFilter(id="first")))[0])
    tail = aiter(store.tail(EventFilter(), after=start))
    # Subscribed, and now as slow as a subscriber gets: it reads nothing while ten arrive.
    assert [event.id for event in await collect(tail, 1)] == ["second"]
    written = [f"w-{n}" for n in range(10)]
    for n, event_id in enumerate(written):
        await store.log(ev(event_id, minutes_ago=90 - n))
    received: list[str] = []
    with pytest.raises(FellBehind) as fell:
        async for event in tail:
            received.append(event.id)
    assert fell.value.cursor is not None
    resumed = aiter(store.tail(EventFilter(), after=fell.value.cursor))
    received += [event.id for event in await collect(resumed, len(written) - len(received))]
    await resumed.aclose()
    assert received == written


async def test_a_bulk_insert_too_big_to_announce_ends_the_tail_with_a_cursor(
    store: Store, db: psycopg.Connection
) -> None:
    """A statement of more rows than are announced by key: the subscriber resumes instead."""
    await store.log(ev("start", minutes_ago=100))
    start = event_cursor((await store.query())[0])
    await store.log(ev("next", minutes_ago=99))
    tail = aiter(store.tail(EventFilter(), after=start))
    assert [event.id for event in await collect(tail, 1)] == ["next"]
    bulk = [f"bulk-{n:05d}" for n in range(feed.ANNOUNCED_KEYS + 1)]
    await asyncio.to_thread(copy_elsewhere, db, bulk)
    with pytest.raises(FellBehind) as fell:
        await asyncio.wait_for(anext(tail), WAIT)
    resumed = aiter(store.tail(EventFilter(), after=fell.value.cursor))
    received = [event.id for event in await collect(resumed, len(bulk))]
    await resumed.aclose()
    assert received == bulk


def test_snapshot_sees_what_postgresql_says_it_sees(
    db: psycopg.Connection, schema_url: str
) -> None:
    """The switch from replay to live rests on this: checked against pg_visible_in_snapshot."""

    def transaction_id(conn: psycopg.Connection) -> int:
        row = conn.execute("SELECT pg_current_xact_id()::text").fetchone()
        assert row is not None
        return int(row[0])

    with psycopg.connect(schema_url) as before, psycopg.connect(schema_url) as running:
        committed_before = transaction_id(before)
        before.commit()
        in_progress = transaction_id(running)
        row = db.execute("SELECT pg_current_snapshot()::text").fetchone()
        assert row is not None
        text = row[0]
        running.commit()
        with psycopg.connect(schema_url) as after:
            committed_after = transaction_id(after)
            after.commit()
    snapshot = feed.Snapshot.parse(text)
    for tx in (committed_before, in_progress, committed_after):
        row = db.execute(
            "SELECT pg_visible_in_snapshot(%s::text::xid8, %s::pg_snapshot)", (str(tx), text)
        ).fetchone()
        assert row is not None
        assert snapshot.sees(tx) is row[0], tx
    assert snapshot.sees(committed_before)
    assert not snapshot.sees(in_progress)
    assert not snapshot.sees(committed_after)


async def test_a_waiting_tail_is_told_when_the_feed_loses_its_connection(
    store: Store, db: psycopg.Connection
) -> None:
    """Announcements made while LISTEN is down are lost: the tail ends with a cursor."""
    tail = aiter(store.tail(EventFilter()))
    waiting = asyncio.ensure_future(anext(tail))
    deadline = asyncio.get_running_loop().time() + WAIT
    while True:
        row = db.execute(
            "SELECT pid FROM pg_stat_activity WHERE query = %s", (f"LISTEN {feed.CHANNEL}",)
        ).fetchone()
        if row is not None or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.05)
    assert row is not None, "the feed listens"
    assert not waiting.done()
    db.execute("SELECT pg_terminate_backend(%s)", (row[0],))
    with pytest.raises(FellBehind) as fell:
        await asyncio.wait_for(waiting, WAIT)
    assert fell.value.cursor is not None
    await tail.aclose()


def terminate_listener(db: psycopg.Connection) -> None:
    row = db.execute(
        "SELECT pid FROM pg_stat_activity WHERE query = %s", (f"LISTEN {feed.CHANNEL}",)
    ).fetchone()
    assert row is not None, "the feed listens"
    db.execute("SELECT pg_terminate_backend(%s)", (row[0],))


async def test_the_resume_cursor_is_the_furthest_event_delivered(
    store: Store, db: psycopg.Connection
) -> None:
    """Live events come in commit order: resuming from the last one would repeat the other."""
    await store.log(ev("old", minutes_ago=100))
    tail = aiter(store.tail(EventFilter(), after=event_cursor((await store.query())[0])))
    waiting = asyncio.ensure_future(anext(tail))
    await asyncio.sleep(0.3)
    await store.log(ev("later", minutes_ago=1))
    await store.log(ev("earlier", minutes_ago=2))  # committed second, stamped first
    assert (await asyncio.wait_for(waiting, WAIT)).id == "later"
    assert [event.id for event in await collect(tail, 1)] == ["earlier"]
    waiting = asyncio.ensure_future(anext(tail))
    await asyncio.sleep(0.1)
    terminate_listener(db)
    with pytest.raises(FellBehind) as fell:
        await asyncio.wait_for(waiting, WAIT)
    later = (await store.query(EventFilter(id="later")))[0]
    assert decode_position(fell.value.cursor or "") == (later.timestamp, "later")
