"""Statistics read from the rollups equal the plain-Python reference over the raw rows.

A random sequence of writes by every writer (logEvent, logEvents, another
writer's plain INSERT and COPY, late events days in the past), deletions by
retention, a partition dropped by maintenance, a TRUNCATE followed by
`rollups rebuild`, and compactions. After each step the rows are read back
with plain SQL and every statistic that reads the rollups (overview,
timeseries by hour, day and minute, breakdown by every dimension) is asked
for random windows (unaligned ends, across day and month boundaries) and
random filters, and compared with tests/reference.py over those rows.

A brownfield database (rows stored before the rollups existed) answers right
while the backfill fills it day by day, and the maintenance thread finishes
the backfill in the background without delaying start-up.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest
import reference
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from test_store_reference import as_dict, assert_matches

from graph.store import MetricsFilter, NewEvent, Store
from graph.store import rollups as ru
from graph.store.maintenance import Maintenance
from graph.store.migrations import migrate

NOW = datetime(2026, 3, 2, 12, 17, 31, 250000, tzinfo=UTC)
TOOLS = [
    ("search_datasets", "datahub"),
    ("get_schema", "datahub"),
    ("run_query", "trino"),
    ("invoke", "api"),
    ("get_object", "s3"),
]
USERS = [
    ("alice", "alice@example.com", "analyst"),
    ("bob", "bob@example.com", "engineer"),
    ("erin", "", "analyst"),  # some of erin's rows carry an email, some not
    ("svc", "", ""),
    ("", "", ""),
]
SOURCES = ["mcp", "portal", ""]
SESSIONS = ["", "s1", "s2", "s3", "s4", "s5", "s6"]
MODES = ["", "full", "summary", "reference", "none"]
EVENT_KINDS = ["tool_call", "prompt_serve"]
DIMENSIONS = sorted(reference.BREAKDOWN_DIMENSIONS)
TEXT = ("tool_name", "toolkit_kind", "connection", "source", "event_kind", "user_id",
        "user_email", "persona", "session_id", "enrichment_mode")  # fmt: skip


def random_event(rng: random.Random, moment: datetime) -> NewEvent:
    tool, kind = rng.choice(TOOLS)
    user, email, persona = rng.choice(USERS)
    if user == "erin" and rng.random() < 0.5:
        email = "erin@example.com"
    return NewEvent(
        timestamp=moment,
        tool_name=tool,
        toolkit_kind=kind,
        success=rng.random() < 0.85,
        duration_ms=int(rng.lognormvariate(5, 1.2)),
        user_id=user,
        user_email=email,
        persona=persona,
        connection=rng.choice(["prod", "dev", ""]),
        source=rng.choice(SOURCES),
        enrichment_applied=rng.random() < 0.3,
        event_kind=rng.choice(EVENT_KINDS),
        session_id=rng.choice(SESSIONS),
        enrichment_mode=rng.choice(MODES),
        enrichment_tokens_full=rng.choice([0, 0, rng.randint(1, 5000)]),
        enrichment_tokens_dedup=rng.choice([0, rng.randint(1, 900)]),
    )


def moments(rng: random.Random, count: int, days_back: float) -> list[datetime]:
    return [NOW - timedelta(seconds=rng.uniform(0, days_back * 86_400)) for _ in range(count)]


def other_rows(rng: random.Random, prefix: str, count: int, days_back: float) -> list[tuple]:
    """Rows as another writer (the Go service) sends them: its own ids, a local created_date."""
    rows = []
    for n, moment in enumerate(moments(rng, count, days_back)):
        event = random_event(rng, moment)
        # The Go service stores the date of its local time: up to a day off the UTC date.
        local = moment + timedelta(hours=rng.choice([-11, 0, 0, 13]))
        rows.append(
            (f"{prefix}{n}", moment, local.date(), event.tool_name, event.toolkit_kind,
             event.success, event.duration_ms, event.user_id, event.user_email or None,
             event.persona or None, event.connection, event.source, event.enrichment_applied,
             event.event_kind, Jsonb({}), event.session_id or None, event.enrichment_mode,
             event.enrichment_tokens_full, event.enrichment_tokens_dedup)
        )  # fmt: skip
    return rows


OTHER_COLUMNS = (
    "id, timestamp, created_date, tool_name, toolkit_kind, success, duration_ms, user_id, "
    "user_email, persona, connection, source, enrichment_applied, event_kind, parameters, "
    "session_id, enrichment_mode, enrichment_tokens_full, enrichment_tokens_dedup"
)


def plain_insert(db: psycopg.Connection, rows: list[tuple]) -> None:
    with db.cursor() as cur:
        cur.executemany(
            f"INSERT INTO audit_logs ({OTHER_COLUMNS}) VALUES ({', '.join(['%s'] * 19)})", rows
        )


def plain_copy(db: psycopg.Connection, rows: list[tuple]) -> None:
    with db.cursor() as cur, cur.copy(f"COPY audit_logs ({OTHER_COLUMNS}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def stored_events(db: psycopg.Connection) -> list[dict[str, Any]]:
    """The raw rows as the reference reads them (NULL text as '')."""
    with db.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT timestamp, success, duration_ms, enrichment_applied, "
            "enrichment_tokens_full, enrichment_tokens_dedup, "
            + ", ".join(TEXT)
            + " FROM audit_logs"
        ).fetchall()
    for row in rows:
        for name in TEXT:
            row[name] = row[name] or ""
    return rows


def random_window(rng: random.Random) -> tuple[datetime, datetime]:
    """Unaligned ends, often across midnight and the first of the month."""
    anchor = rng.choice([datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 2, 27, tzinfo=UTC), NOW])
    start = anchor - timedelta(seconds=rng.uniform(0, 5 * 86_400))
    end = start + timedelta(seconds=rng.choice([1_800, 7_200, 86_400, 3 * 86_400, 20 * 86_400]))
    end += timedelta(microseconds=rng.randint(0, 999_999))
    return start, min(end, NOW + timedelta(hours=3))


def random_filters(rng: random.Random) -> dict[str, str]:
    filters: dict[str, str] = {}
    if rng.random() < 0.25:
        filters["user_id"] = rng.choice(USERS)[0] or "alice"
    if rng.random() < 0.25:
        filters["event_kind"] = rng.choice(EVENT_KINDS)
    if rng.random() < 0.25:
        filters["source"] = rng.choice(SOURCES) or "mcp"
    return filters


async def check_statistics(
    store: Store, db: psycopg.Connection, rng: random.Random, windows: int = 4
) -> None:
    events = stored_events(db)
    for _ in range(windows):
        start, end = random_window(rng)
        filters = random_filters(rng)
        flt = MetricsFilter(start=start, end=end, **filters)
        args = {"now": NOW, "start": start, "end": end, **filters}
        context = f"window {start} .. {end}, filters {filters}"
        assert_matches(
            as_dict(await store.overview(flt)), reference.overview(events, **args), context
        )
        assert_matches(
            as_dict(await store.enrichment(flt)), reference.enrichment(events, **args), context
        )
        for resolution in ("hour", "day") + (
            ("minute",) if end - start <= timedelta(hours=2) else ()
        ):
            actual = await store.timeseries(resolution, flt)
            expected = reference.timeseries(events, resolution, **args)
            assert_matches([as_dict(b) for b in actual], expected, context)
        tool = rng.choice([None, rng.choice(TOOLS)[0]])
        for group_by in DIMENSIONS:
            limit = rng.choice([3, 10, 100])
            actual = await store.breakdown(group_by, limit, flt, tool_name=tool or "")
            expected = reference.breakdown(
                events, group_by, limit, **args, **({"tool_name": tool} if tool else {})
            )
            assert_matches([as_dict(e) for e in actual], expected, f"{context}, {group_by}, {tool}")


@pytest.fixture
def clock_at_now(clock: Any) -> Any:
    clock.set(NOW)
    return clock


async def test_statistics_equal_the_reference_through_every_writer_and_deletion(
    clock_at_now: Any, store: Store, db: psycopg.Connection
) -> None:
    rng = random.Random(20261201)
    await store.ensure_partitions_between(datetime(2026, 1, 1, tzinfo=UTC), NOW)
    other = 0

    async def log_events() -> None:
        await store.log_many([random_event(rng, m) for m in moments(rng, 600, 6)])

    async def log_event() -> None:
        await asyncio.gather(*(store.log(random_event(rng, m)) for m in moments(rng, 30, 1)))

    async def other_insert() -> None:
        nonlocal other
        other += 1
        plain_insert(db, other_rows(rng, f"i{other}-", 150, 6))

    async def other_copy() -> None:
        nonlocal other
        other += 1
        plain_copy(db, other_rows(rng, f"c{other}-", 300, 6))

    async def late_events() -> None:
        late = [NOW - timedelta(days=rng.uniform(20, 55)) for _ in range(120)]
        await store.log_many([random_event(rng, m) for m in late])

    async def retention_delete() -> None:
        db.execute(
            "DELETE FROM audit_logs WHERE timestamp < %s",
            (NOW - timedelta(days=rng.uniform(3, 6)),),
        )

    async def compact() -> None:
        ru.compact(db, rng.choice([None, NOW - timedelta(hours=rng.randint(0, 72))]))

    async def update_rows() -> None:
        db.execute(
            "UPDATE audit_logs SET success = NOT success, duration_ms = duration_ms + 7 "
            "WHERE user_id = %s AND timestamp > %s",
            (rng.choice(USERS)[0], NOW - timedelta(days=2)),
        )

    steps = [log_events, log_event, other_insert, other_copy, late_events, compact, update_rows,
             log_events, other_copy, retention_delete, log_events, compact]  # fmt: skip
    rng.shuffle(steps)
    for step in steps:
        await step()
        await check_statistics(store, db, rng)

    # The January partition ages out; its rollup rows go with it.
    await late_events()
    dropped = await store.drop_expired_partitions(29)
    assert "audit_logs_2026_01" in dropped
    await check_statistics(store, db, rng)

    db.execute("TRUNCATE audit_logs")
    await log_events()
    await check_statistics(store, db, rng)
    # Rows that reached the table without the triggers, then repaired by the operator.
    db.execute("ALTER TABLE audit_logs DISABLE TRIGGER audit_rollups_insert")
    await other_copy()
    db.execute("ALTER TABLE audit_logs ENABLE TRIGGER audit_rollups_insert")
    assert ru.verify(db) != []
    ru.rebuild(db)
    assert ru.verify(db) == []
    await check_statistics(store, db, rng, windows=8)
    assert db.execute("SELECT count(*) FROM audit_logs").fetchone()[0] == 900  # type: ignore[index]


async def test_the_statistics_read_the_rollups(
    clock_at_now: Any, store: Store, db: psycopg.Connection
) -> None:
    """A tampered rollup row shows in the answer: the whole hours do come from the rollups."""
    rng = random.Random(4)
    await store.log_many([random_event(rng, NOW - timedelta(hours=30)) for _ in range(10)])
    flt = MetricsFilter(start=NOW - timedelta(days=2), end=NOW)
    assert (await store.overview(flt)).total_calls == 10
    db.execute("UPDATE audit_rollup_tools SET calls = calls + 5")
    assert (await store.overview(flt)).total_calls > 10
    hourly = await store.timeseries("hour", flt)
    assert sum(bucket.count for bucket in hourly) > 10


def forget_rollups(db: psycopg.Connection) -> None:
    """Back to a database from before the rollups: no triggers, tables or coverage."""
    for name in ("insert", "delete", "update", "truncate"):
        db.execute(f"DROP FUNCTION audit_rollups_{name}() CASCADE")
    db.execute("DROP TABLE audit_rollup_coverage, " + ", ".join(r.table for r in ru.ROLLUPS))
    db.execute("DELETE FROM audit_graph_migrations WHERE version >= 7")


async def test_a_brownfield_database_answers_right_during_and_after_its_backfill(
    clock_at_now: Any, store: Store, db: psycopg.Connection, schema_url: str
) -> None:
    rng = random.Random(77)
    forget_rollups(db)
    plain_copy(db, other_rows(rng, "old-", 1500, 9))
    migrate(schema_url)
    assert ru.coverage(db).days_left >= 9
    assert [s.rows for s in ru.status(db)] == [0] * len(ru.ROLLUPS)
    await check_statistics(store, db, rng)
    steps = 0
    while (step := ru.backfill_step(db)) is not None and step.day is not None:
        steps += 1
        if steps % 3 == 0:
            # Writers go on meanwhile, also into the days not filled yet.
            plain_insert(db, other_rows(rng, f"new{steps}-", 40, 9))
            await store.log_many([random_event(rng, m) for m in moments(rng, 40, 9)])
        await check_statistics(store, db, rng, windows=2)
        assert ru.verify(db, step.day) == []
    assert ru.coverage(db).covered_from is None
    assert ru.verify(db) == []
    await check_statistics(store, db, rng, windows=6)


def run_maintenance_until(schema_url: str, done: Callable[[], bool], limit: float = 60) -> None:
    """A maintenance thread with a quick upkeep, until `done()` or `limit` seconds."""
    thread = Maintenance(
        lambda: psycopg.connect(schema_url, autocommit=True),
        lambda: NOW,
        3600,
        lock_key=random.getrandbits(62),
        retention_days=90,
        upkeep_interval=0.05,
    )
    thread.start()
    try:
        deadline = time.monotonic() + limit
        while not done() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        assert thread.close()


def test_the_maintenance_thread_backfills_in_the_background(
    schema_url: str, db: psycopg.Connection
) -> None:
    migrate(schema_url)
    forget_rollups(db)
    rng = random.Random(5)
    plain_copy(db, other_rows(rng, "old-", 600, 12))
    migrate(schema_url)
    left = ru.coverage(db).days_left
    assert left >= 12
    run_maintenance_until(schema_url, lambda: ru.coverage(db).covered_from is None)
    assert ru.coverage(db).covered_from is None
    assert ru.verify(db) == []


def test_rollups_status_shows_the_backfill_progress(
    schema_url: str, db: psycopg.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    from graph.cli import main

    migrate(schema_url)
    forget_rollups(db)
    plain_copy(db, other_rows(random.Random(6), "old-", 100, 5))
    migrate(schema_url)
    newest = db.execute("SELECT max(timestamp) FROM audit_logs").fetchone()[0]  # type: ignore[index]
    covered = newest.astimezone(UTC).date() + timedelta(days=2)
    assert main(["rollups", "status", "--database-url", schema_url]) == 0
    assert f"rows from {covered.isoformat()} on are counted; backfilling" in capsys.readouterr().out
    ru.backfill_step(db)
    assert main(["rollups", "status", "--database-url", schema_url]) == 0
    out = capsys.readouterr().out
    assert f"rows from {(covered - timedelta(days=1)).isoformat()} on are counted" in out
    while (step := ru.backfill_step(db)) is not None and step.day is not None:
        pass
    assert main(["rollups", "status", "--database-url", schema_url]) == 0
    assert "every stored row is counted" in capsys.readouterr().out
    assert isinstance(covered, date)


async def test_a_read_only_replica_serves_the_rollups(
    clock_at_now: Any, store: Store, db: psycopg.Connection, schema_url: str
) -> None:
    """The read pool may be a replica: the rollups are ordinary tables it reads like any other."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    rng = random.Random(8)
    await store.log_many([random_event(rng, m) for m in moments(rng, 300, 4)])
    options = conninfo_to_dict(schema_url).get("options", "")
    read_only = make_conninfo(
        schema_url, options=f"{options} -c default_transaction_read_only=on".strip()
    )
    async with Store(schema_url, clock=clock_at_now, read_database_url=read_only) as replica:
        await check_statistics(replica, db, rng)
        flt = MetricsFilter(start=NOW - timedelta(days=3), end=NOW)
        before = (await replica.overview(flt)).total_calls
        db.execute("UPDATE audit_rollup_tools SET calls = calls + 1")  # seen through the replica
        assert (await replica.overview(flt)).total_calls > before


async def test_windows_at_the_ends_of_time_read_rollups_and_raw_rows_alike(
    clock_at_now: Any, store: Store, db: psycopg.Connection
) -> None:
    rng = random.Random(12)
    await store.log_many([random_event(rng, m) for m in moments(rng, 200, 3)])
    events = stored_events(db)
    first, last = datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)
    windows = [
        (first, last),
        (first, NOW),
        (datetime(9999, 12, 31, 23, 30, tzinfo=UTC), last),
        (NOW - timedelta(days=2), last),
    ]
    for start, end in windows:
        flt = MetricsFilter(start=start, end=end)
        args = {"now": NOW, "start": start, "end": end}
        assert_matches(as_dict(await store.overview(flt)), reference.overview(events, **args))
        assert_matches(as_dict(await store.enrichment(flt)), reference.enrichment(events, **args))
        for group_by in DIMENSIONS:
            actual = await store.breakdown(group_by, 10, flt)
            expected = reference.breakdown(events, group_by, 10, **args)
            assert_matches([as_dict(e) for e in actual], expected)


async def test_a_partition_the_go_service_drops_takes_its_rollup_rows_along(
    clock_at_now: Any, store: Store, db: psycopg.Connection, schema_url: str
) -> None:
    """A DROP by another process fires no trigger: the maintenance thread forgets those days."""
    rng = random.Random(13)
    await store.ensure_partitions_between(datetime(2026, 1, 1, tzinfo=UTC), NOW)
    january = [datetime(2026, 1, 10, tzinfo=UTC) + timedelta(hours=n) for n in range(40)]
    await store.log_many([random_event(rng, m) for m in january + moments(rng, 200, 5)])
    # A late row of January in the default partition would keep its days; none here.
    db.execute("DROP TABLE audit_logs_2026_01")  # as the Go service's maintenance does
    assert ru.verify(db) != []  # January's rollup rows count rows that are gone
    run_maintenance_until(schema_url, lambda: ru.verify(db) == [])
    assert ru.verify(db) == []
    await check_statistics(store, db, rng, windows=6)
    flt = MetricsFilter(
        start=datetime(2026, 1, 1, tzinfo=UTC), end=datetime(2026, 2, 1, tzinfo=UTC)
    )
    assert (await store.overview(flt)).total_calls == 0


def test_forgetting_keeps_the_days_the_default_partition_still_holds(
    schema_url: str, db: psycopg.Connection
) -> None:
    from graph.store import partitions

    migrate(schema_url)
    db.execute(
        "CREATE TABLE audit_logs_2026_02 PARTITION OF audit_logs "
        "FOR VALUES FROM ('2026-02-01') TO ('2026-03-01')"
    )
    rows = other_rows(random.Random(14), "d-", 50, 40)  # January rows land in the default
    plain_insert(db, rows)
    partitions.forget_dropped_days(db)
    assert ru.verify(db) == []
    in_default = db.execute("SELECT count(*) FROM audit_logs_default").fetchone()[0]  # type: ignore[index]
    assert in_default > 0
