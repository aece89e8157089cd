"""SPEC 8: event, events and session read the primary; statistics read the read URL.

The "replica" here is a second, migrated schema that never receives the
writes: a replica as far behind as one can be. What a caller just wrote must
still come back from event/events/session, while a statistic answers from
the replica (and so sees nothing).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from graph.store import EventFilter, MetricsFilter, NewEvent, Store

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def lagging_url(database_url: str) -> Iterator[str]:
    schema = f"r_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = make_conninfo(database_url, options=f"-c search_path={schema}")
    Store(url).migrate()
    try:
        yield url
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
async def split(schema_url: str, lagging_url: str, clock: object) -> AsyncIterator[Store]:
    store = Store(schema_url, read_database_url=lagging_url, clock=clock, pool_max_size=4)  # type: ignore[arg-type]
    store.migrate()
    async with store:
        yield store


async def test_a_caller_reads_its_own_writes_and_statistics_read_the_replica(
    split: Store,
) -> None:
    event = NewEvent(id="mine", tool_name="t", success=True, session_id="s-1",
                     timestamp=NOW - timedelta(minutes=5))  # fmt: skip
    await split.log(event)
    assert (await split.get("mine")) is not None
    assert [e.id for e in (await split.page(EventFilter(session_id="s-1"))).items] == ["mine"]
    session = await split.session("s-1")
    assert session is not None and session.call_count == 1
    assert [e.id for e in (await split.timeline("s-1")).items] == ["mine"]
    assert (await split.overview(MetricsFilter())).total_calls == 0, "from the replica"
