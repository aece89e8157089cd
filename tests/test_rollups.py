"""The hourly rollups equal the raw rows after every kind of write, by every writer.

The expected rollups are computed here in Python from the raw rows read back,
and compared with the rollup rows summed per key (keys that sum to nothing
count as absent): an independent check of the triggers, `compact`, `rebuild`
and the partition drop. `rollups.verify`, the operators' check, must agree.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from graph.store import NewEvent, Store
from graph.store import rollups as ru

TOOLS = [("search_datasets", "datahub"), ("run_query", "trino"), ("invoke", "api"), ("get", "s3")]
USERS = [("u1", "ada@example.com", "analyst"), ("u2", "", "engineer"), ("u3", None, None)]
Key = tuple[Any, ...]


def hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


# Each measure of a raw row, worked out in Python (not from rollups.MEASURES' SQL).
ROW_MEASURES: dict[str, Callable[[dict[str, Any]], int]] = {
    "calls": lambda row: 1,
    "successes": lambda row: int(bool(row["success"])),
    "duration_sum": lambda row: row["duration_ms"] or 0,
    "durations": lambda row: int(row["duration_ms"] is not None),
    "enriched": lambda row: int(bool(row["enrichment_applied"])),
}


def expected_rollups(db: psycopg.Connection) -> dict[str, dict[Key, tuple[int, ...]]]:
    """Each rollup as the raw rows make it, worked out in Python."""
    with db.cursor(row_factory=dict_row) as cur:
        rows = cur.execute("SELECT * FROM audit_logs").fetchall()
    result: dict[str, dict[Key, tuple[int, ...]]] = {}
    for rollup in ru.ROLLUPS:
        sums: dict[Key, list[int]] = defaultdict(lambda: [0] * len(ru.MEASURES))
        for row in rows:
            key = (hour(row["timestamp"]), row["created_date"],
                   *(row[name] or "" for name in rollup.dimensions))  # fmt: skip
            for index, measure in enumerate(ru.MEASURES):
                sums[key][index] += ROW_MEASURES[measure](row)
        result[rollup.table] = {key: tuple(v) for key, v in sums.items()}
    return result


def stored_rollups(db: psycopg.Connection) -> dict[str, dict[Key, tuple[int, ...]]]:
    """Each rollup table's partial rows summed per key; keys that sum to nothing left out."""
    result: dict[str, dict[Key, tuple[int, ...]]] = {}
    for rollup in ru.ROLLUPS:
        sums: dict[Key, list[int]] = defaultdict(lambda: [0] * len(ru.MEASURES))
        for row in db.execute(f"SELECT * FROM {rollup.table}").fetchall():
            key, measures = row[: len(rollup.key)], row[len(rollup.key) :]
            for index, value in enumerate(measures):
                sums[tuple(key)][index] += value
        result[rollup.table] = {key: tuple(v) for key, v in sums.items() if any(v)}
    return result


def assert_exact(db: psycopg.Connection) -> None:
    assert stored_rollups(db) == expected_rollups(db)
    assert ru.verify(db) == []


def random_event(rng: random.Random, moment: datetime, index: int) -> NewEvent:
    tool, kind = rng.choice(TOOLS)
    user, email, persona = rng.choice(USERS)
    return NewEvent(
        id=f"e{index}",
        timestamp=moment,
        tool_name=tool,
        toolkit_kind=kind,
        success=rng.random() < 0.8,
        duration_ms=rng.randint(0, 5000),
        user_id=user,
        user_email=email or "",
        persona=persona or "",
        connection=rng.choice(["prod", "dev", ""]),
        source=rng.choice(["mcp", "portal"]),
        enrichment_applied=rng.random() < 0.3,
        event_kind=rng.choice([None, "prompt_serve"]),
    )


def plain_insert(db: psycopg.Connection, rows: list[tuple[Any, ...]]) -> None:
    """Another writer's INSERT, NULLs where the API writes defaults (as older writers do)."""
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO audit_logs (id, timestamp, created_date, tool_name, toolkit_kind, "
            "success, duration_ms, user_id, source, parameters) "
            "VALUES (%s, %s, (%s::timestamptz AT TIME ZONE 'UTC')::date, "
            "%s, %s, %s, %s, %s, %s, %s)",
            [
                (id_, ts, ts, tool, kind, ok, ms, user, src, Jsonb({}))
                for id_, ts, tool, kind, ok, ms, user, src in rows
            ],
        )


async def test_rollups_stay_exact_through_every_writer_and_deletion(
    store: Store, db: psycopg.Connection, clock: Any
) -> None:
    rng = random.Random(20261201)
    now = clock.current
    index = 0

    def moments(count: int, days_back: float) -> list[datetime]:
        return [now - timedelta(seconds=rng.uniform(0, days_back * 86_400)) for _ in range(count)]

    # logEvent through group commit, several at once.
    batch = [random_event(rng, moment, index + n) for n, moment in enumerate(moments(40, 2))]
    index += len(batch)
    await asyncio.gather(*(store.log(event) for event in batch))
    assert_exact(db)

    # logEvents (COPY), with late events days in the past, across a day and a month boundary.
    batch = [random_event(rng, moment, index + n) for n, moment in enumerate(moments(300, 20))]
    index += len(batch)
    await store.log_many(batch)
    assert_exact(db)

    # A retried logEvents: the stored keys are skipped (INSERT ... ON CONFLICT), once counted.
    await store.log_many([*batch[:50], random_event(rng, now, index)])
    index += 1
    assert_exact(db)

    # Another writer's plain INSERTs, with NULLs, and a COPY of its own.
    rows = [
        (f"o{n}", moment, *rng.choice(TOOLS), rng.random() < 0.5, rng.choice([None, 7]),
         rng.choice([None, "u1"]), rng.choice([None, "agent"]))
        for n, moment in enumerate(moments(60, 5))
    ]  # fmt: skip
    plain_insert(db, rows)
    with (
        db.cursor() as cur,
        cur.copy(
            "COPY audit_logs (id, timestamp, created_date, tool_name, success, duration_ms) "
            "FROM STDIN"
        ) as copy,
    ):
        for n, moment in enumerate(moments(50, 3)):
            copy.write_row((f"c{n}", moment, moment.astimezone(UTC).date(), "copied", True, n))
    assert_exact(db)

    # Updates that move rows between keys, hours and days.
    db.execute("UPDATE audit_logs SET tool_name = 'renamed' WHERE id LIKE 'e1%'")
    db.execute(
        "UPDATE audit_logs SET timestamp = timestamp - interval '3 hours' WHERE id LIKE 'o%'"
    )
    assert_exact(db)

    # Deletions: by hand, and the retention DELETE (a 3-day retention store).
    db.execute("DELETE FROM audit_logs WHERE id LIKE 'c1%'")
    short = Store(store.database_url, clock=clock, retention_days=3)
    async with short:
        deleted = await short.cleanup()
    assert deleted > 0
    assert_exact(db)

    # Compaction merges the partial rows and keeps the sums.
    partial_rows = sum(s.rows for s in ru.status(db))
    assert ru.compact(db, now) > 0
    assert sum(s.rows for s in ru.status(db)) < partial_rows
    assert_exact(db)


async def test_dropping_a_partition_deletes_its_rollup_rows(
    store: Store, db: psycopg.Connection, clock: Any
) -> None:
    await store.ensure_monthly_partitions(1)  # 2026_03, 2026_04
    db.execute(
        "CREATE TABLE audit_logs_2025_11 PARTITION OF audit_logs "
        "FOR VALUES FROM ('2025-11-01') TO ('2025-12-01')"
    )
    rng = random.Random(7)
    old = [random_event(rng, datetime(2025, 11, 3, 10, tzinfo=UTC), n) for n in range(20)]
    new = [random_event(rng, clock.current - timedelta(hours=2), 100 + n) for n in range(20)]
    await store.log_many(old + new)
    assert_exact(db)
    dropped = await store.drop_expired_partitions(90)
    assert dropped == ["audit_logs_2025_11"]
    assert_exact(db)
    assert db.execute(
        "SELECT count(*) FROM audit_rollup_tools WHERE created_date < '2025-12-01'"
    ).fetchone() == (0,)


async def test_truncate_empties_the_rollups_and_rebuild_repairs_what_bypassed_them(
    store: Store, db: psycopg.Connection, clock: Any
) -> None:
    rng = random.Random(11)
    await store.log_many(
        [random_event(rng, clock.current - timedelta(minutes=n), n) for n in range(30)]
    )
    db.execute("TRUNCATE audit_logs")
    assert [s.rows for s in ru.status(db)] == [0] * len(ru.ROLLUPS)
    await store.log_many(
        [random_event(rng, clock.current - timedelta(minutes=n), n) for n in range(30)]
    )
    # Writes that bypass the triggers: a partition's own TRUNCATE, and rollup rows tampered with.
    db.execute("UPDATE audit_rollup_users SET calls = calls + 1 WHERE user_id = 'u1'")
    db.execute("TRUNCATE audit_rollup_tools")
    differences = ru.verify(db)
    assert {d.table for d in differences} == {"audit_rollup_tools", "audit_rollup_users"}
    assert all(d.rollup is None for d in differences if d.table == "audit_rollup_tools")
    ru.rebuild(db)
    assert_exact(db)


async def test_rebuild_of_a_range_leaves_the_other_days(
    store: Store, db: psycopg.Connection, clock: Any
) -> None:
    rng = random.Random(3)
    days = [clock.current - timedelta(days=d) for d in range(4)]
    await store.log_many([random_event(rng, day, n) for n, day in enumerate(days * 5)])
    db.execute("TRUNCATE " + ", ".join(r.table for r in ru.ROLLUPS))
    first = (clock.current - timedelta(days=1)).date()
    ru.rebuild(db, first, clock.current.date())
    rebuilt = {key[1] for key in stored_rollups(db)["audit_rollup_tools"]}
    assert rebuilt == {first, clock.current.date()}
    assert ru.verify(db, first, clock.current.date()) == []
    assert {d.key[1] for d in ru.verify(db)} == {day.date() for day in days[2:]}


async def test_two_writers_at_once_with_overlapping_keys_stay_exact(
    store: Store, db: psycopg.Connection, schema_url: str, clock: Any
) -> None:
    rng = random.Random(5)
    moment = clock.current - timedelta(minutes=5)

    async def writer(name: str) -> None:
        async with await psycopg.AsyncConnection.connect(schema_url, autocommit=True) as conn:
            for round_number in range(20):
                events = [random_event(rng, moment, n) for n in range(25)]
                async with conn.transaction():
                    for event in events:
                        await conn.execute(
                            "INSERT INTO audit_logs (id, timestamp, created_date, tool_name, "
                            "toolkit_kind, success, user_id, source) "
                            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                            (f"{name}{round_number}-{event.id}", moment, moment.date(),
                             event.tool_name, event.toolkit_kind, event.success,
                             event.user_id, event.source),
                        )  # fmt: skip

    async def api_writer() -> None:
        for round_number in range(20):
            await store.log_many(
                [random_event(rng, moment, 10_000 + round_number * 100 + n) for n in range(25)]
            )

    await asyncio.gather(writer("a"), writer("b"), api_writer())
    assert db.execute("SELECT count(*) FROM audit_logs").fetchone() == (1500,)
    assert_exact(db)


def test_rollups_cli_status_verify_and_rebuild(schema_url: str, db: psycopg.Connection) -> None:
    from graph.cli import main
    from graph.store.migrations import migrate

    migrate(schema_url)
    db.execute(
        "INSERT INTO audit_logs (id, timestamp, tool_name, success, created_date) "
        "VALUES ('a', '2026-03-15T10:00:00Z', 't', true, '2026-03-15')"
    )
    assert main(["rollups", "verify", "--database-url", schema_url]) == 0
    db.execute("TRUNCATE audit_rollup_users")
    assert main(["rollups", "verify", "--database-url", schema_url]) == 1
    assert main(["rollups", "rebuild", "--from", "2026-03-15", "--database-url", schema_url]) == 0
    assert main(["rollups", "verify", "--database-url", schema_url]) == 0
    assert main(["rollups", "status", "--database-url", schema_url]) == 0
    assert date(2026, 3, 15) in {key[1] for key in stored_rollups(db)["audit_rollup_users"]}


def test_the_backfill_fills_the_rollups_from_the_rows_already_stored(
    schema_url: str, db: psycopg.Connection
) -> None:
    from graph.store.migrations import migrate

    migrate(schema_url)
    # Back to the state before the rollups existed, with rows written meanwhile.
    for name in ("insert", "delete", "update", "truncate"):
        db.execute(f"DROP FUNCTION audit_rollups_{name}() CASCADE")
    db.execute("DROP TABLE audit_rollup_coverage, " + ", ".join(r.table for r in ru.ROLLUPS))
    db.execute("DELETE FROM audit_graph_migrations WHERE version >= 7")
    plain_insert(
        db,
        [(f"b{n}", datetime(2026, 3, 1 + n % 9, n % 24, tzinfo=UTC), "t", "datahub",
          n % 3 > 0, n, "u1", "mcp") for n in range(40)],
    )  # fmt: skip
    migrate(schema_url)
    assert stored_rollups(db)["audit_rollup_tools"] == {}  # migrating does not wait for it
    days = []
    while (step := ru.backfill_step(db)) is not None and step.day is not None:
        days.append(step.day)
    assert days == sorted(days, reverse=True)  # newest first
    assert days[-1] == date(2026, 2, 28)  # the day before the oldest UTC date
    assert_exact(db)
    assert sum(calls for calls, *_ in stored_rollups(db)["audit_rollup_tools"].values()) == 40


def test_another_role_that_may_only_write_audit_logs_keeps_the_rollups(
    schema_url: str, db: psycopg.Connection
) -> None:
    from graph.store.migrations import migrate

    migrate(schema_url)
    role = f"writer_{uuid.uuid4().hex[:12]}"
    schema = db.execute("SELECT current_schema()").fetchone()[0]  # type: ignore[index]
    db.execute(f'CREATE ROLE "{role}" NOLOGIN')
    try:
        db.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"')
        db.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON audit_logs TO "{role}"')
        with psycopg.connect(schema_url, autocommit=True) as writer:
            writer.execute(f'SET ROLE "{role}"')
            writer.execute("SET search_path = pg_catalog")  # it names the table itself
            writer.execute(
                f'INSERT INTO "{schema}".audit_logs (id, timestamp, tool_name, success, '
                "created_date) VALUES ('r1', '2026-03-15T10:00:00Z', 't', true, '2026-03-15')"
            )
            writer.execute(f"""DELETE FROM "{schema}".audit_logs WHERE id = 'nothing'""")
        assert_exact(db)
        assert len(stored_rollups(db)["audit_rollup_tools"]) == 1
    finally:
        db.execute(f'DROP OWNED BY "{role}"')
        db.execute(f'DROP ROLE "{role}"')


async def test_compaction_leaves_compacted_hours_alone(
    store: Store, db: psycopg.Connection, clock: Any
) -> None:
    rng = random.Random(9)
    for round_number in range(3):
        await store.log_many(
            [random_event(rng, clock.current - timedelta(hours=n), round_number * 100 + n)
             for n in range(10)]
        )  # fmt: skip
    assert ru.compact(db, clock.current) > 0
    rows = sum(s.rows for s in ru.status(db))
    assert ru.compact(db, clock.current) == 0
    assert sum(s.rows for s in ru.status(db)) == rows
    assert_exact(db)
