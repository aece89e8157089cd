"""Schema migrations: a fresh schema, repeats, concurrency, and Go-era databases (SPEC 2).

The brownfield tables below are written out by hand as the Go service created
them, not taken from graph.store.migrations, so the test does not share the
code under test. Expected values are worked out in the comments.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import FakeClock
from go_schema import GO_COLUMNS

from graph.store import (
    Dimension,
    EventFilter,
    NewEvent,
    Resolution,
    Store,
)
from graph.store.migrations import MIGRATIONS, migrate

REPO = Path(__file__).resolve().parent.parent


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


# (data_type, character_maximum_length, is_nullable, column_default), from SPEC 2.
SPEC_COLUMNS: dict[str, tuple[str, int | None, str, str | None]] = {
    "id": ("character varying", 32, "NO", None),
    "timestamp": ("timestamp with time zone", None, "NO", None),
    "duration_ms": ("integer", None, "YES", None),
    "request_id": ("character varying", 255, "YES", None),
    "user_id": ("character varying", 255, "YES", None),
    "user_email": ("character varying", 255, "YES", None),
    "persona": ("character varying", 100, "YES", None),
    "tool_name": ("character varying", 255, "NO", None),
    "toolkit_kind": ("character varying", 100, "YES", None),
    "toolkit_name": ("character varying", 100, "YES", None),
    "connection": ("character varying", 100, "YES", None),
    "parameters": ("jsonb", None, "YES", None),
    "success": ("boolean", None, "NO", None),
    "error_message": ("text", None, "YES", None),
    "created_date": ("date", None, "NO", None),
    "response_chars": ("integer", None, "YES", "0"),
    "request_chars": ("integer", None, "YES", "0"),
    "content_blocks": ("integer", None, "YES", "0"),
    "session_id": ("text", None, "YES", "''::text"),
    "transport": ("character varying", 30, "YES", "'stdio'::character varying"),
    "source": ("character varying", 30, "YES", "'mcp'::character varying"),
    "enrichment_applied": ("boolean", None, "YES", "false"),
    "authorized": ("boolean", None, "YES", "true"),
    "enrichment_tokens_full": ("integer", None, "YES", "0"),
    "enrichment_tokens_dedup": ("integer", None, "YES", "0"),
    "enrichment_mode": ("character varying", 20, "YES", "''::character varying"),
    "enrichment_match_kind": ("character varying", 20, "YES", "''::character varying"),
    "event_kind": ("character varying", 64, "YES", None),
    "purpose": ("text", None, "YES", None),
}

GO_INSERT = """
INSERT INTO audit_logs (id, timestamp, duration_ms, request_id, user_id, user_email, persona,
    tool_name, toolkit_kind, toolkit_name, connection, parameters, success, error_message,
    created_date)
VALUES
 ('go-1', '2026-03-15T10:00:00Z', 100, NULL, 'u1', NULL, NULL,
  'search_datasets', 'datahub', NULL, NULL, '{"query": "orders"}', true, NULL, '2026-03-15'),
 ('go-2', '2026-03-15T11:00:00Z', 300, 'r2', 'u2', 'u2@example.com', 'analyst',
  'invoke_api', 'api', 'gateway', 'prod', NULL, false, 'upstream timeout', '2026-03-15'),
 ('go-3', '2026-03-14T13:00:00Z', 200, NULL, 'u1', 'u1@example.com', NULL,
  'search_datasets', 'datahub', NULL, NULL, NULL, true, NULL, '2026-03-14'),
 ('go-4', '2026-02-10T09:00:00Z', 50, NULL, NULL, NULL, NULL,
  'run_query', NULL, NULL, NULL, NULL, true, NULL, '2026-02-10')
"""
GO_IDS = {"go-1", "go-2", "go-3", "go-4"}


def columns(db: psycopg.Connection) -> dict[str, tuple[str, int | None, str, str | None]]:
    rows = db.execute(
        """
        SELECT column_name, data_type, character_maximum_length, is_nullable, column_default
        FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name = 'audit_logs'
        """
    ).fetchall()
    return {name: tuple(rest) for name, *rest in rows}  # type: ignore[misc]


def primary_key(db: psycopg.Connection, table: str) -> list[str]:
    rows = db.execute(
        """
        SELECT a.attname
        FROM pg_constraint c
        CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, n)
        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
        WHERE c.conrelid = to_regclass(%s) AND c.contype = 'p'
        ORDER BY k.n
        """,
        (table,),
    ).fetchall()
    return [row[0] for row in rows]


def partitioning(db: psycopg.Connection) -> dict[str, str]:
    """relkind of audit_logs, its partition key, and each child's bound."""
    row = db.execute(
        "SELECT relkind, pg_get_partkeydef(oid) FROM pg_class WHERE oid = to_regclass('audit_logs')"
    ).fetchone()
    assert row is not None
    found = {"relkind": str(row[0]), "key": str(row[1])}
    for name, bound in db.execute(
        """
        SELECT c.relname, pg_get_expr(c.relpartbound, c.oid)
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'audit_logs'::regclass
        """
    ).fetchall():
        found[name] = bound
    return found


def tracked(db: psycopg.Connection) -> list[tuple[int, str]]:
    query = "SELECT version, name FROM audit_graph_migrations ORDER BY version"
    return db.execute(query).fetchall()


def homes(db: psycopg.Connection) -> dict[str, str]:
    rows = db.execute("SELECT id, tableoid::regclass::text FROM audit_logs").fetchall()
    return dict(rows)


def count_rows(db: psycopg.Connection) -> int:
    row = db.execute("SELECT count(*) FROM audit_logs").fetchone()
    assert row is not None
    return int(row[0])


@asynccontextmanager
async def open_store(url: str, clock: FakeClock) -> AsyncIterator[Store]:
    async with Store(url, clock=clock, pool_max_size=2) as store:
        yield store


# --- a fresh schema -----------------------------------------------------------------


def test_fresh_schema_gets_every_column_of_spec_2(schema_url: str, db: psycopg.Connection) -> None:
    applied = migrate(schema_url)
    assert applied == [migration.name for migration in MIGRATIONS]
    assert columns(db) == SPEC_COLUMNS
    assert primary_key(db, "audit_logs") == ["id", "created_date"]
    assert partitioning(db) == {
        "relkind": "p",
        "key": "RANGE (created_date)",
        "audit_logs_default": "DEFAULT",
    }
    assert [version for version, _ in tracked(db)] == [m.version for m in MIGRATIONS]
    assert [name for _, name in tracked(db)] == applied


def test_migrate_twice_is_a_no_op(schema_url: str, db: psycopg.Connection) -> None:
    migrate(schema_url)
    before = db.execute(
        "SELECT version, name, applied_at FROM audit_graph_migrations ORDER BY version"
    ).fetchall()
    shape = (columns(db), partitioning(db), primary_key(db, "audit_logs"))
    assert migrate(schema_url) == []
    assert migrate(schema_url) == []
    after = db.execute(
        "SELECT version, name, applied_at FROM audit_graph_migrations ORDER BY version"
    ).fetchall()
    assert after == before
    assert (columns(db), partitioning(db), primary_key(db, "audit_logs")) == shape


def run_in_threads(count: int, work: Callable[[], list[str]]) -> list[list[str]]:
    """Run `work` in `count` threads released together; re-raise the first failure."""
    barrier = threading.Barrier(count)
    results: list[list[str]] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def run() -> None:
        barrier.wait()
        try:
            applied = work()
        except BaseException as exc:
            with lock:
                failures.append(exc)
        else:
            with lock:
                results.append(applied)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return results


def test_concurrent_migrate_from_threads(schema_url: str, db: psycopg.Connection) -> None:
    results = run_in_threads(8, lambda: migrate(schema_url))
    assert len(results) == 8
    # Every migration was applied exactly once, by whichever thread got there first.
    assert sorted(name for applied in results for name in applied) == sorted(
        migration.name for migration in MIGRATIONS
    )
    assert [version for version, _ in tracked(db)] == [m.version for m in MIGRATIONS]
    assert columns(db) == SPEC_COLUMNS


def test_concurrent_migrate_from_processes(schema_url: str, db: psycopg.Connection) -> None:
    code = (
        "import json, sys\n"
        "from graph.store.migrations import migrate\n"
        "print(json.dumps(migrate(sys.argv[1])))\n"
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code, schema_url],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    applied: list[str] = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        applied += json.loads(out.strip().splitlines()[-1])
    assert sorted(applied) == sorted(migration.name for migration in MIGRATIONS)
    assert [version for version, _ in tracked(db)] == [m.version for m in MIGRATIONS]
    assert columns(db) == SPEC_COLUMNS


# --- brownfield: a database the Go service created ---------------------------------


def create_go_partitioned(db: psycopg.Connection) -> None:
    db.execute(f"CREATE TABLE audit_logs ({GO_COLUMNS}) PARTITION BY RANGE (created_date)")
    db.execute("CREATE TABLE audit_logs_default PARTITION OF audit_logs DEFAULT")
    db.execute(
        "CREATE TABLE audit_logs_2026_02 PARTITION OF audit_logs "
        "FOR VALUES FROM ('2026-02-01') TO ('2026-03-01')"
    )
    db.execute("CREATE INDEX idx_audit_logs_timestamp ON audit_logs (timestamp DESC)")
    db.execute(GO_INSERT)


def create_go_plain(db: psycopg.Connection) -> None:
    db.execute(f"CREATE TABLE audit_logs ({GO_COLUMNS})")
    db.execute("CREATE INDEX idx_audit_logs_timestamp ON audit_logs (timestamp DESC)")
    db.execute("CREATE INDEX idx_audit_logs_user_id ON audit_logs (user_id)")
    db.execute(GO_INSERT)


async def check_store_on_go_rows(store: Store, db: psycopg.Connection) -> None:
    """Every read of the store over the four Go rows, with the clock at 2026-03-15 12:00.

    The default window is 2026-03-14 12:00 .. 2026-03-15 12:00: go-1, go-2, go-3.
    """
    found = await store.query()
    assert [event.id for event in found] == ["go-2", "go-1", "go-3", "go-4"]
    by_id = {event.id: event for event in found}

    go1 = by_id["go-1"]
    # NULL text reads as ''; columns added later read as their defaults.
    assert (go1.request_id, go1.user_email, go1.persona, go1.toolkit_name, go1.connection) == (
        "",
        "",
        "",
        "",
        "",
    )
    assert go1.error_message == ""
    assert go1.session_id == ""
    assert (go1.transport, go1.source) == ("stdio", "mcp")
    assert (go1.response_chars, go1.request_chars, go1.content_blocks) == (0, 0, 0)
    assert (go1.enrichment_applied, go1.authorized) == (False, True)
    assert (go1.enrichment_tokens_full, go1.enrichment_tokens_dedup) == (0, 0)
    assert (go1.enrichment_mode, go1.enrichment_match_kind) == ("", "")
    assert go1.parameters == {"query": "orders"}
    assert go1.timestamp == utc(2026, 3, 15, 10)
    assert go1.duration_ms == 100
    assert go1.user_id == "u1" and go1.toolkit_kind == "datahub" and go1.success is True

    go4 = by_id["go-4"]
    assert (go4.user_id, go4.toolkit_kind, go4.parameters) == ("", "", None)

    # event_kind derived as log would: api -> apigateway_invoke, anything else (NULL too)
    # -> mcp_tool_call.
    assert {i: e.event_kind for i, e in by_id.items()} == {
        "go-1": "mcp_tool_call",
        "go-2": "apigateway_invoke",
        "go-3": "mcp_tool_call",
        "go-4": "mcp_tool_call",
    }
    assert [e.id for e in await store.query(EventFilter(event_kind="apigateway_invoke"))] == [
        "go-2"
    ]
    assert await store.count(EventFilter(event_kind="mcp_tool_call")) == 3
    assert await store.count() == 4
    assert [e.id for e in await store.query(EventFilter(search="TIMEOUT"))] == ["go-2"]
    assert [e.id for e in await store.query(EventFilter(search="u1"), order="asc")] == [
        "go-3",
        "go-1",
    ]
    assert await store.distinct("user_id") == ["u1", "u2"]
    assert await store.distinct("toolkit_kind") == ["api", "datahub"]
    assert await store.distinct("event_kind") == ["apigateway_invoke", "mcp_tool_call"]
    # u1's most recent row (go-1) has no email; the most recent one that has one is go-3.
    assert await store.distinct_pairs("user_id", "user_email") == {
        "u1": "u1@example.com",
        "u2": "u2@example.com",
    }

    # Window rows: go-1 (100 ms, ok), go-2 (300 ms, failed), go-3 (200 ms, ok).
    overview = await store.overview()
    assert overview.total_calls == 3
    assert overview.success_rate == pytest.approx(2 / 3)
    assert overview.avg_duration_ms == pytest.approx(200.0)
    assert (overview.unique_users, overview.unique_tools) == (2, 2)
    assert overview.enrichment_rate == 0
    assert overview.error_count == 1

    breakdown = await store.breakdown(Dimension.TOOL_NAME)
    assert [(b.dimension, b.count) for b in breakdown] == [
        ("search_datasets", 2),
        ("invoke_api", 1),
    ]
    assert breakdown[0].success_rate == pytest.approx(1.0)
    assert breakdown[0].avg_duration_ms == pytest.approx(150.0)
    assert breakdown[1].success_rate == pytest.approx(0.0)

    # Day buckets 2026-03-14 (go-3) and 2026-03-15 (go-1, go-2).
    series = await store.timeseries(Resolution.DAY)
    assert [(b.bucket, b.count, b.success_count, b.error_count) for b in series] == [
        (utc(2026, 3, 14), 1, 1, 0),
        (utc(2026, 3, 15), 2, 1, 1),
    ]
    assert [b.avg_duration_ms for b in series] == pytest.approx([200.0, 200.0])

    # percentile_cont over [100, 200, 300]: p50 = 200; p95 at position 1.9 = 290;
    # p99 at 1.98 = 298.
    perf = await store.performance()
    assert (perf.p50_ms, perf.p95_ms, perf.p99_ms) == pytest.approx((200.0, 290.0, 298.0))
    assert (perf.avg_ms, perf.max_ms) == pytest.approx((200.0, 300.0))
    assert (perf.avg_response_chars, perf.avg_request_chars) == pytest.approx((0.0, 0.0))

    enrichment = await store.enrichment()
    assert (enrichment.total_calls, enrichment.enriched_calls) == (3, 0)
    assert enrichment.tokens_saved == 0


async def check_writes_after_migration(store: Store, db: psycopg.Connection) -> None:
    """New writes land next to the Go rows, and retries stay single (clock 2026-03-15 12:00)."""
    new = await store.log(NewEvent(tool_name="search_datasets", success=True, id="new-1"))
    assert new.timestamp == utc(2026, 3, 15, 12)
    assert new.event_kind == "mcp_tool_call"
    await store.log(NewEvent(tool_name="search_datasets", success=True, id="new-1"))
    assert count_rows(db) == 5
    # A retry carrying a Go row's key returns the row the Go service stored.
    retry = await store.log(
        NewEvent(tool_name="other", success=False, id="go-1", timestamp=utc(2026, 3, 15, 10))
    )
    assert (retry.tool_name, retry.success, retry.user_id) == ("search_datasets", True, "u1")
    assert count_rows(db) == 5
    # The same id on another day is another event.
    await store.log(
        NewEvent(tool_name="again", success=True, id="go-1", timestamp=utc(2026, 3, 16, 1))
    )
    assert count_rows(db) == 6
    assert await store.log_many(
        [
            NewEvent(tool_name="batch", success=True, id="b-1"),
            NewEvent(tool_name="batch", success=True, id="go-2", timestamp=utc(2026, 3, 15, 11)),
        ]
    ) == ["b-1", "go-2"]
    assert count_rows(db) == 7
    assert (await store.query(EventFilter(id="go-2")))[0].tool_name == "invoke_api"


async def test_brownfield_partitioned_go_table_migrates_in_place(
    schema_url: str, db: psycopg.Connection, clock: FakeClock
) -> None:
    create_go_partitioned(db)
    migrate(schema_url)
    assert columns(db) == SPEC_COLUMNS
    assert primary_key(db, "audit_logs") == ["id", "created_date"]
    assert partitioning(db) == {
        "relkind": "p",
        "key": "RANGE (created_date)",
        "audit_logs_default": "DEFAULT",
        "audit_logs_2026_02": "FOR VALUES FROM ('2026-02-01') TO ('2026-03-01')",
    }
    assert homes(db) == {
        "go-1": "audit_logs_default",
        "go-2": "audit_logs_default",
        "go-3": "audit_logs_default",
        "go-4": "audit_logs_2026_02",
    }
    # The Go service's own index is left alone.
    assert db.execute("SELECT to_regclass('idx_audit_logs_timestamp') IS NOT NULL").fetchone() == (
        True,
    )
    assert migrate(schema_url) == []

    async with open_store(schema_url, clock) as store:
        await check_store_on_go_rows(store, db)
        await check_writes_after_migration(store, db)
        # March rows sit in the default partition: March is skipped, April and May made.
        assert await store.ensure_monthly_partitions(2) == [
            "audit_logs_2026_04",
            "audit_logs_2026_05",
        ]
        # Retention 90 from 2026-06-01 00:00: Jun 1 - 31 = May 1, - 30 = Apr 1,
        # - 29 = Mar 3. Cutoff 2026-03-03 00:00. The DELETE takes go-4 (2026-02-10);
        # the Go era's February partition ends 03-01, before the cutoff: dropped.
        clock.set(utc(2026, 6, 1))
        assert await store.cleanup() == 1
        assert await store.drop_expired_partitions() == ["audit_logs_2026_02"]
        assert set(homes(db)) == {"go-1", "go-2", "go-3", "new-1", "b-1"}


async def test_brownfield_plain_go_table_becomes_the_default_partition(
    schema_url: str, db: psycopg.Connection, clock: FakeClock
) -> None:
    create_go_plain(db)
    before = db.execute("SELECT * FROM audit_logs ORDER BY id").fetchall()
    migrate(schema_url)
    assert partitioning(db) == {
        "relkind": "p",
        "key": "RANGE (created_date)",
        "audit_logs_default": "DEFAULT",
    }
    assert primary_key(db, "audit_logs") == ["id", "created_date"]
    assert primary_key(db, "audit_logs_default") == ["id", "created_date"]
    assert columns(db) == SPEC_COLUMNS
    # Every row survived, unchanged in its original columns, in the default partition.
    original = [
        "id", "timestamp", "duration_ms", "request_id", "user_id", "user_email", "persona",
        "tool_name", "toolkit_kind", "toolkit_name", "connection", "parameters", "success",
        "error_message", "created_date",
    ]  # fmt: skip
    after = db.execute(f"SELECT {', '.join(original)} FROM audit_logs ORDER BY id").fetchall()
    assert after == before
    assert homes(db) == dict.fromkeys(GO_IDS, "audit_logs_default")
    assert migrate(schema_url) == []

    async with open_store(schema_url, clock) as store:
        await check_store_on_go_rows(store, db)
        await check_writes_after_migration(store, db)
        assert await store.ensure_monthly_partitions(2) == [
            "audit_logs_2026_04",
            "audit_logs_2026_05",
        ]
        april = await store.log(
            NewEvent(tool_name="t", success=True, id="apr", timestamp=utc(2026, 4, 2))
        )
        assert april.created_date == date(2026, 4, 2)
        assert homes(db)["apr"] == "audit_logs_2026_04"
        assert homes(db)["go-1"] == "audit_logs_default"
        # Retention 90 from 2026-05-12 09:00: May 12 - 12 = Apr 30, - 30 = Mar 31,
        # - 31 = Feb 28, - 17 = Feb 11. Cutoff 2026-02-11 09:00: go-4 (02-10) goes.
        clock.set(utc(2026, 5, 12, 9))
        assert await store.cleanup() == 1
        assert "go-4" not in homes(db)


def test_concurrent_migrate_converts_a_plain_table_once(
    schema_url: str, db: psycopg.Connection
) -> None:
    create_go_plain(db)
    results = run_in_threads(6, lambda: migrate(schema_url))
    assert sorted(name for applied in results for name in applied) == sorted(
        migration.name for migration in MIGRATIONS
    )
    assert homes(db) == dict.fromkeys(GO_IDS, "audit_logs_default")
    assert partitioning(db)["relkind"] == "p"


async def test_brownfield_with_some_later_columns_keeps_their_values(
    schema_url: str, db: psycopg.Connection, clock: FakeClock
) -> None:
    # A later Go version: session_id, source and event_kind exist already, with values.
    db.execute(f"CREATE TABLE audit_logs ({GO_COLUMNS}) PARTITION BY RANGE (created_date)")
    db.execute("CREATE TABLE audit_logs_default PARTITION OF audit_logs DEFAULT")
    db.execute(
        "ALTER TABLE audit_logs ADD COLUMN session_id text DEFAULT '', "
        "ADD COLUMN source varchar(30) DEFAULT 'mcp', ADD COLUMN event_kind varchar(64)"
    )
    db.execute(
        "INSERT INTO audit_logs (id, timestamp, tool_name, toolkit_kind, success, created_date,"
        " session_id, source, event_kind) VALUES"
        " ('k-1', '2026-03-15T09:00:00Z', 't', 'api', true, '2026-03-15', 's-1', 'rest',"
        "  'custom_kind'),"
        " ('k-2', '2026-03-15T10:00:00Z', 't', 'api', true, '2026-03-15', NULL, 'mcp', NULL),"
        " ('k-3', '2026-03-15T11:00:00Z', 't', 'trino', true, '2026-03-15', 's-1', NULL, NULL)"
    )
    migrate(schema_url)
    assert columns(db) == SPEC_COLUMNS
    async with open_store(schema_url, clock) as store:
        found = {e.id: e for e in await store.query()}
        assert {i: (e.event_kind, e.session_id, e.source) for i, e in found.items()} == {
            "k-1": ("custom_kind", "s-1", "rest"),
            "k-2": ("apigateway_invoke", "", "mcp"),
            "k-3": ("mcp_tool_call", "s-1", ""),
        }
        assert await store.distinct("event_kind") == [
            "apigateway_invoke",
            "custom_kind",
            "mcp_tool_call",
        ]
        assert await store.distinct("source") == ["mcp", "rest"]


def test_migrations_are_recorded_once_with_their_names(
    schema_url: str, db: psycopg.Connection
) -> None:
    create_go_partitioned(db)
    first = migrate(schema_url)
    rows: list[Any] = tracked(db)
    assert [version for version, _ in rows] == [m.version for m in MIGRATIONS]
    assert [name for _, name in rows] == first
    assert len(set(first)) == len(MIGRATIONS)
