"""The maintenance tick, its thread and `audit-graph maintain` (SPEC 3 and 5).

Every expected partition name, cutoff and row set is worked out by hand in the
comments next to it. Each test takes its own random advisory lock key: the
lock is per database, not per schema, and other test runs may share the server.
"""

from __future__ import annotations

import asyncio
import dataclasses
import multiprocessing
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest
from conftest import FakeClock

from graph.store import Store
from graph.store import maintenance as mt

THREAD_NAME = "audit-graph-maintenance"
AUDIT_GRAPH = [sys.executable, "-m", "graph.cli"]


# --- helpers ------------------------------------------------------------------------


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def new_lock_key() -> int:
    """A random positive 63-bit key, so concurrent runs never share a lock."""
    return secrets.randbits(62) + 1


def insert(db: psycopg.Connection, event_id: str, timestamp: datetime) -> None:
    """One row, routed by PostgreSQL to whichever partition covers its UTC day."""
    db.execute(
        "INSERT INTO audit_logs (id, timestamp, tool_name, success, created_date) "
        "VALUES (%s, %s, 'search', true, %s)",
        (event_id, timestamp, timestamp.astimezone(UTC).date()),
    )


def insert_many(db: psycopg.Connection, prefix: str, first: datetime, count: int) -> set[str]:
    """`count` rows one minute apart from `first`; returns their ids."""
    made = set()
    for n in range(count):
        insert(db, f"{prefix}{n}", first + timedelta(minutes=n))
        made.add(f"{prefix}{n}")
    return made


def attach(db: psycopg.Connection, name: str, start: str, end: str) -> None:
    db.execute(
        f"CREATE TABLE \"{name}\" PARTITION OF audit_logs FOR VALUES FROM ('{start}') TO ('{end}')"
    )


def children(db: psycopg.Connection) -> set[str]:
    rows = db.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'audit_logs'::regclass"
    ).fetchall()
    return {row[0] for row in rows}


def ids(db: psycopg.Connection) -> set[str]:
    return {row[0] for row in db.execute("SELECT id FROM audit_logs").fetchall()}


def lock_holders(db: psycopg.Connection, key: int) -> list[int]:
    """Backends holding the session advisory lock `key` in this database.

    pg_locks shows a bigint key split in two: classid is the high 32 bits,
    objid the low 32 bits, and objsubid 1 marks the one-bigint form.
    """
    rows = db.execute(
        """
        SELECT pid FROM pg_locks
        WHERE locktype = 'advisory' AND granted
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND classid::bigint = %s AND objid::bigint = %s AND objsubid = 1
        """,
        (key >> 32, key & 0xFFFFFFFF),
    ).fetchall()
    return [row[0] for row in rows]


def wait_until(check: Callable[[], Any], what: str, timeout: float = 15.0) -> Any:
    """Poll until `check()` is truthy; its value is returned. Fails naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def waiting_on_a_lock(db: psycopg.Connection, pid: int) -> bool:
    row = db.execute(
        "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %s", (pid,)
    ).fetchone()
    return bool(row and row[0])


def maintenance_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == THREAD_NAME and t.is_alive()]


@contextmanager
def row_lock(url: str, table: str, event_id: str) -> Iterator[psycopg.Connection]:
    """Hold FOR UPDATE on one row, taken through its partition so the parent stays unlocked.

    Locking through the parent would also hold ROW SHARE on audit_logs and on
    every partition, and the tick's CREATE ... PARTITION OF would wait on that
    instead of its DELETE waiting on the row.
    """
    with psycopg.connect(url) as holder:
        found = holder.execute(
            f'SELECT id FROM "{table}" WHERE id = %s FOR UPDATE', (event_id,)
        ).fetchall()
        assert found == [(event_id,)]
        try:
            yield holder
        finally:
            holder.rollback()


@pytest.fixture
def lock_key() -> int:
    return new_lock_key()


@pytest.fixture
async def keyed_store(schema_url: str, clock: FakeClock, lock_key: int) -> AsyncIterator[Store]:
    """The conftest store, with a lock key of its own and retention 90 days."""
    store = Store(schema_url, clock=clock, pool_max_size=2, maintenance_lock_key=lock_key)
    store.migrate()
    async with store:
        yield store


@pytest.fixture
def migrated(schema_url: str) -> str:
    Store(schema_url).migrate()
    return schema_url


# --- one tick ------------------------------------------------------------------------


async def test_a_tick_creates_deletes_and_drops_what_the_clock_says(
    keyed_store: Store, db: psycopg.Connection, lock_key: int
) -> None:
    # Clock 2026-03-15T12:00Z, retention 90 days:
    # cutoff = 2026-03-15 - (14 + 28 + 31 + 17 days) = 2025-12-15T12:00Z.
    for month, start, end in [
        ("2025_10", "2025-10-01", "2025-11-01"),  # ends 2025-11-01 <= cutoff: dropped
        ("2025_11", "2025-11-01", "2025-12-01"),  # ends 2025-12-01 <= cutoff: dropped
        ("2025_12", "2025-12-01", "2026-01-01"),  # ends after the cutoff: kept
        ("2026_01", "2026-01-01", "2026-02-01"),
    ]:
        attach(db, f"audit_logs_{month}", start, end)
    # Expired by its bounds, but not named like a month: never dropped.
    attach(db, "audit_logs_archive", "2025-01-01", "2025-02-01")
    insert(db, "archived", utc(2025, 1, 5))  # in audit_logs_archive, expired
    insert(db, "oct", utc(2025, 10, 20))  # expired
    insert(db, "nov-last", utc(2025, 11, 30, 23, 59, 59))  # expired
    insert(db, "before-cutoff", utc(2025, 12, 15, 11, 59, 59))  # one second before: expired
    insert(db, "at-cutoff", utc(2025, 12, 15, 12, 0, 0))  # exactly at the cutoff: stays
    insert(db, "jan", utc(2026, 1, 10))  # stays
    insert(db, "feb", utc(2026, 2, 10))  # default partition, stays
    # A March row in the default partition: March itself is not created (SPEC 3),
    # so the tick creates next month and the one after: April and May.
    insert(db, "mar", utc(2026, 3, 14))

    report = await keyed_store.run_maintenance()

    assert report.ran_at == utc(2026, 3, 15, 12)
    assert report.lock_acquired
    assert report.partitions_created == ["audit_logs_2026_04", "audit_logs_2026_05"]
    assert report.rows_deleted == 4  # archived, oct, nov-last, before-cutoff
    assert sorted(report.partitions_dropped) == ["audit_logs_2025_10", "audit_logs_2025_11"]
    assert report.errors == []
    assert ids(db) == {"at-cutoff", "jan", "feb", "mar"}
    assert children(db) == {
        "audit_logs_default",
        "audit_logs_archive",
        "audit_logs_2025_12",
        "audit_logs_2026_01",
        "audit_logs_2026_04",
        "audit_logs_2026_05",
    }
    assert lock_holders(db, lock_key) == []


async def test_a_second_tick_at_the_same_time_finds_nothing_to_do(
    keyed_store: Store, db: psycopg.Connection
) -> None:
    insert(db, "old", utc(2025, 6, 1))
    first = await keyed_store.run_maintenance()
    # Default empty of March at 2026-03-15: March, April and May are created.
    assert first.partitions_created == [
        "audit_logs_2026_03",
        "audit_logs_2026_04",
        "audit_logs_2026_05",
    ]
    assert first.rows_deleted == 1
    second = await keyed_store.run_maintenance()
    assert (second.lock_acquired, second.partitions_created, second.rows_deleted) == (True, [], 0)
    assert (second.partitions_dropped, second.errors) == ([], [])


async def test_a_failed_partition_does_not_stop_the_delete_or_the_drop(
    keyed_store: Store, db: psycopg.Connection
) -> None:
    # An April row already sits in the default partition (a client clock running
    # ahead): PostgreSQL refuses to create April over it.
    insert(db, "apr-early", utc(2026, 4, 10))
    insert(db, "mar", utc(2026, 3, 10))  # keeps March out of the picture
    insert(db, "expired", utc(2025, 11, 1))  # before the 2025-12-15T12:00Z cutoff
    attach(db, "audit_logs_2025_09", "2025-09-01", "2025-10-01")  # ends before the cutoff

    report = await keyed_store.run_maintenance()

    assert report.lock_acquired
    assert report.partitions_created == ["audit_logs_2026_05"]
    assert len(report.errors) == 1
    assert report.errors[0].startswith("create audit_logs_2026_04:")
    assert "default partition" in report.errors[0]
    assert not report.ok
    # The steps after the failure ran.
    assert report.rows_deleted == 1
    assert report.partitions_dropped == ["audit_logs_2025_09"]
    assert ids(db) == {"apr-early", "mar"}


async def test_ddl_gives_up_at_its_lock_timeout_and_the_delete_still_runs(
    migrated: str, db: psycopg.Connection, lock_key: int
) -> None:
    insert(db, "mar", utc(2026, 3, 10))
    insert(db, "expired", utc(2025, 11, 1))
    attach(db, "audit_logs_2025_09", "2025-09-01", "2025-10-01")
    # A long report holds ACCESS SHARE on audit_logs and its partitions. Creating
    # or dropping a partition needs ACCESS EXCLUSIVE: it must give up rather than
    # queue (every writer would queue behind it); the DELETE does not conflict.
    with psycopg.connect(migrated) as reader:
        reader.execute("SELECT count(*) FROM audit_logs").fetchone()
        with psycopg.connect(migrated, autocommit=True) as conn:
            started = time.monotonic()
            report = mt.tick(
                conn,
                lock_key=lock_key,
                now=utc(2026, 3, 15, 12),
                retention_days=90,
                ddl_lock_timeout=0.2,
            )
            elapsed = time.monotonic() - started
        reader.rollback()
    assert report.lock_acquired
    assert report.partitions_created == []
    assert report.partitions_dropped == []
    # April and May could not be created, 2025_09 could not be dropped.
    assert len(report.errors) == 3, report.errors
    assert all("lock timeout" in error for error in report.errors), report.errors
    assert report.rows_deleted == 1
    assert ids(db) == {"mar"}
    assert elapsed < 10  # three 0.2 s waits, not an indefinite queue
    assert lock_holders(db, lock_key) == []


async def test_a_tick_is_skipped_while_another_session_holds_the_lock(
    keyed_store: Store, db: psycopg.Connection, lock_key: int
) -> None:
    insert(db, "expired", utc(2025, 11, 1))
    db.execute("SELECT pg_advisory_lock(%s::bigint)", (lock_key,))
    skipped = await keyed_store.run_maintenance()
    assert skipped.lock_acquired is False
    assert (skipped.partitions_created, skipped.rows_deleted, skipped.partitions_dropped) == (
        [],
        0,
        [],
    )
    assert skipped.errors == []  # skipping is not a failure
    assert ids(db) == {"expired"}
    assert children(db) == {"audit_logs_default"}

    db.execute("SELECT pg_advisory_unlock(%s::bigint)", (lock_key,))
    ran = await keyed_store.run_maintenance()
    assert ran.lock_acquired
    assert ran.rows_deleted == 1


# --- many processes, one tick ----------------------------------------------------------


def tick_in_process(url: str, lock_key: int, now_iso: str, start: Any, reports: Any) -> None:
    """A replica: its own Store and connection, one run_maintenance when the barrier opens."""
    now = datetime.fromisoformat(now_iso)

    async def run() -> None:
        store = Store(url, clock=lambda: now, maintenance_lock_key=lock_key)
        start.wait(timeout=60)
        report = await store.run_maintenance()
        reports.put(dataclasses.asdict(report))

    asyncio.run(run())


def round_of_ticks(
    url: str, lock_key: int, now: datetime, replicas: int, locked: tuple[str, str]
) -> list[dict[str, Any]]:
    """`replicas` processes tick at the same moment; the winner is kept busy meanwhile.

    A row the DELETE must remove stays locked until every other replica has
    reported, so the winner holds the advisory lock through all of their
    attempts: none of them can run after it finished and look like a second
    winner. The lock is released after n - 1 reports or 60 s, whichever first.
    """
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(replicas)
    reports = context.Queue()
    processes = [
        context.Process(
            target=tick_in_process, args=(url, lock_key, now.isoformat(), start, reports)
        )
        for _ in range(replicas)
    ]
    results: list[dict[str, Any]] = []
    with row_lock(url, *locked):
        for process in processes:
            process.start()
        deadline = time.monotonic() + 60
        while len(results) < replicas - 1 and time.monotonic() < deadline:
            try:
                results.append(reports.get(timeout=1))
            except Exception:  # queue.Empty
                continue
    while len(results) < replicas:
        results.append(reports.get(timeout=60))
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0
    return results


@pytest.mark.slow
def test_each_tick_runs_exactly_once_across_two_then_four_processes(
    migrated: str, db: psycopg.Connection, lock_key: int
) -> None:
    url = migrated
    for month, start, end in [
        ("2025_10", "2025-10-01", "2025-11-01"),
        ("2025_11", "2025-11-01", "2025-12-01"),
        ("2025_12", "2025-12-01", "2026-01-01"),
        ("2026_01", "2026-01-01", "2026-02-01"),
    ]:
        attach(db, f"audit_logs_{month}", start, end)

    # Round 1, two replicas at 2026-03-15T12:00Z: cutoff 2025-12-15T12:00Z.
    insert(db, "oct", utc(2025, 10, 20))  # expired
    insert(db, "nov", utc(2025, 11, 30))  # expired
    bulk1 = insert_many(db, "r1-", utc(2025, 12, 2), 40)  # 2025_12, expired
    insert(db, "at-cutoff", utc(2025, 12, 15, 12))  # stays (until round 2)
    insert(db, "jan", utc(2026, 1, 10))  # stays (until round 2)
    insert(db, "feb", utc(2026, 2, 10))  # default, stays (until round 2)
    insert(db, "mar", utc(2026, 3, 14))  # default: March is not created
    round1 = round_of_ticks(url, lock_key, utc(2026, 3, 15, 12), 2, ("audit_logs_2025_12", "r1-0"))

    assert [r["lock_acquired"] for r in round1].count(True) == 1
    assert sum(r["rows_deleted"] for r in round1) == 42  # oct, nov, 40 of round 1
    assert sorted(n for r in round1 for n in r["partitions_created"]) == [
        "audit_logs_2026_04",
        "audit_logs_2026_05",
    ]
    assert sorted(n for r in round1 for n in r["partitions_dropped"]) == [
        "audit_logs_2025_10",
        "audit_logs_2025_11",
    ]
    assert [e for r in round1 for e in r["errors"]] == []
    assert ids(db) == {"at-cutoff", "jan", "feb", "mar"}
    assert not bulk1 & ids(db)
    assert lock_holders(db, lock_key) == []

    # Round 2, four replicas at 2026-05-20T00:00Z: cutoff = 2026-05-20 - 90 days
    # = 2026-02-19T00:00Z (19 days of May, 30 of April, 31 of March, 10 of February).
    bulk2 = insert_many(db, "r2-", utc(2026, 1, 20), 40)  # 2026_01, expired
    insert(db, "before-cutoff", utc(2026, 2, 18, 23, 59, 59))  # default, expired
    insert(db, "at-cutoff-2", utc(2026, 2, 19))  # default, stays
    insert(db, "apr", utc(2026, 4, 10))  # 2026_04, stays
    round2 = round_of_ticks(url, lock_key, utc(2026, 5, 20), 4, ("audit_logs_2026_01", "r2-0"))

    assert [r["lock_acquired"] for r in round2].count(True) == 1
    # at-cutoff (2025-12-15), jan, feb, before-cutoff and the 40 of round 2.
    assert sum(r["rows_deleted"] for r in round2) == 44
    # May exists; next month and the one after: June and July.
    assert sorted(n for r in round2 for n in r["partitions_created"]) == [
        "audit_logs_2026_06",
        "audit_logs_2026_07",
    ]
    # Upper bounds 2026-01-01 and 2026-02-01 are at or before the cutoff; April's is not.
    assert sorted(n for r in round2 for n in r["partitions_dropped"]) == [
        "audit_logs_2025_12",
        "audit_logs_2026_01",
    ]
    assert [e for r in round2 for e in r["errors"]] == []
    assert ids(db) == {"mar", "at-cutoff-2", "apr"}
    assert not bulk2 & ids(db)
    assert children(db) == {
        "audit_logs_default",
        "audit_logs_2026_04",
        "audit_logs_2026_05",
        "audit_logs_2026_06",
        "audit_logs_2026_07",
    }
    assert lock_holders(db, lock_key) == []


# --- the thread ------------------------------------------------------------------------


async def test_the_start_up_run_only_ensures_partitions(
    keyed_store: Store, db: psycopg.Connection, lock_key: int
) -> None:
    insert(db, "expired", utc(2025, 11, 1))
    attach(db, "audit_logs_2025_09", "2025-09-01", "2025-10-01")
    keyed_store.start_maintenance(3600)
    # Partitions there and the lock free again: the start-up run is over.
    wait_until(
        lambda: "audit_logs_2026_05" in children(db) and not lock_holders(db, lock_key),
        "the start-up ensure",
    )
    assert children(db) == {
        "audit_logs_default",
        "audit_logs_2025_09",  # not dropped
        "audit_logs_2026_03",
        "audit_logs_2026_04",
        "audit_logs_2026_05",
    }
    assert ids(db) == {"expired"}  # not deleted
    await keyed_store.close()


async def test_the_thread_runs_full_ticks_every_interval(
    keyed_store: Store, db: psycopg.Connection, clock: FakeClock
) -> None:
    keyed_store.start_maintenance(0.2)
    insert(db, "expired", utc(2025, 11, 1))
    wait_until(lambda: not ids(db), "a full tick to delete the expired row")
    # The clock moves to June: the next ticks create July and August.
    clock.set(utc(2026, 6, 2))
    wait_until(lambda: "audit_logs_2026_08" in children(db), "a tick at the new time")
    await keyed_store.close()
    assert maintenance_threads() == []


async def test_close_during_a_tick_cancels_it_and_releases_the_lock(
    keyed_store: Store, schema_url: str, db: psycopg.Connection, lock_key: int
) -> None:
    attach(db, "audit_logs_2025_11", "2025-11-01", "2025-12-01")
    insert(db, "expired", utc(2025, 11, 1))
    with row_lock(schema_url, "audit_logs_2025_11", "expired"):
        keyed_store.start_maintenance(0.2)
        # The first full tick's DELETE waits for the row: the tick holds the lock.
        holder = wait_until(lambda: lock_holders(db, lock_key), "the tick to take the lock")
        wait_until(lambda: waiting_on_a_lock(db, holder[0]), "the DELETE to wait on the row")
        started = time.monotonic()
        await keyed_store.close()
        elapsed = time.monotonic() - started
        # Still inside the row lock: close did not wait for the DELETE to finish.
        assert maintenance_threads() == []
        assert elapsed < 4.0, f"close took {elapsed:.1f}s"
        wait_until(lambda: not lock_holders(db, lock_key), "the advisory lock to go", 3.0)
    assert ids(db) == {"expired"}  # the DELETE was cancelled, not completed


async def test_close_without_start_and_twice_is_safe(keyed_store: Store, lock_key: int) -> None:
    await keyed_store.close()
    await keyed_store.close()
    idle = keyed_store.maintenance_thread(60)
    assert idle.close() is True
    assert idle.close() is True


async def test_close_twice_after_start_is_safe(
    keyed_store: Store, db: psycopg.Connection, lock_key: int
) -> None:
    keyed_store.start_maintenance(60)
    await keyed_store.close()
    await keyed_store.close()
    assert maintenance_threads() == []
    assert lock_holders(db, lock_key) == []


async def test_the_thread_survives_a_lost_connection(
    keyed_store: Store, schema_url: str, db: psycopg.Connection, lock_key: int
) -> None:
    attach(db, "audit_logs_2025_11", "2025-11-01", "2025-12-01")
    insert(db, "first", utc(2025, 11, 1))
    # Catch the thread's backend while its DELETE waits on a row, to learn its pid.
    with row_lock(schema_url, "audit_logs_2025_11", "first"):
        keyed_store.start_maintenance(0.2)
        pid = wait_until(lambda: lock_holders(db, lock_key), "the tick to take the lock")[0]
    wait_until(lambda: "first" not in ids(db), "the tick to finish its DELETE")

    db.execute("SELECT pg_terminate_backend(%s)", (pid,))
    wait_until(
        lambda: (
            db.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone() is None
        ),
        "the backend to exit",
    )
    insert(db, "second", utc(2025, 11, 2))
    wait_until(lambda: "second" not in ids(db), "a tick on a new connection")
    assert len(maintenance_threads()) == 1
    await keyed_store.close()
    assert maintenance_threads() == []


async def test_start_twice_is_refused(keyed_store: Store) -> None:
    keyed_store.start_maintenance(60)
    with pytest.raises(RuntimeError, match="already started"):
        keyed_store.start_maintenance(60)
    await keyed_store.close()


@pytest.mark.parametrize("interval", [0, -1.0])
def test_the_interval_must_be_positive(schema_url: str, interval: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        Store(schema_url).maintenance_thread(interval)


# --- audit-graph maintain ----------------------------------------------------------------


def month_name(day: date, ahead: int) -> str:
    index = day.year * 12 + day.month - 1 + ahead
    return f"audit_logs_{index // 12:04d}_{index % 12 + 1:02d}"


def maintain(url: str, lock_key: int, *flags: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "AUDIT_GRAPH_MAINTENANCE_LOCK_KEY": str(lock_key),
        "AUDIT_GRAPH_RETENTION_DAYS": "90",
    }
    return subprocess.run(
        [*AUDIT_GRAPH, "maintain", *flags, "--database-url", url],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_maintain_once_prints_the_report_and_exits_0(
    migrated: str, db: psycopg.Connection, lock_key: int
) -> None:
    # The command runs on the real clock: rows are placed relative to it.
    now = datetime.now(UTC)
    insert(db, "old", now - timedelta(days=200))
    insert(db, "recent", now - timedelta(days=1))
    result = maintain(migrated, lock_key, "--once")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("maintenance tick at ")
    assert "  lock:               acquired" in lines
    created = next(line for line in lines if line.startswith("  partitions created: "))
    for ahead in (1, 2):
        assert month_name(now.date(), ahead) in created
    assert "  rows deleted:       1" in lines
    assert "  partitions dropped: none" in lines
    assert "  errors:             none" in lines
    assert ids(db) == {"recent"}
    assert lock_holders(db, lock_key) == []


def test_maintain_once_exits_1_when_a_step_failed(
    migrated: str, db: psycopg.Connection, lock_key: int
) -> None:
    now = datetime.now(UTC)
    next_month = month_name(now.date(), 1)
    year, month = int(next_month[-7:-3]), int(next_month[-2:])
    insert(db, "early", utc(year, month, 10))  # next month's row in the default partition
    insert(db, "old", now - timedelta(days=200))
    result = maintain(migrated, lock_key, "--once")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "  rows deleted:       1" in result.stdout.splitlines()
    assert "  errors:             1" in result.stdout.splitlines()
    assert f"    create {next_month}:" in result.stdout
    assert ids(db) == {"early"}


def test_maintain_once_exits_3_when_the_lock_is_held_elsewhere(
    migrated: str, db: psycopg.Connection, lock_key: int
) -> None:
    insert(db, "old", datetime.now(UTC) - timedelta(days=200))
    db.execute("SELECT pg_advisory_lock(%s::bigint)", (lock_key,))
    result = maintain(migrated, lock_key, "--once")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "held by another process" in result.stdout
    assert ids(db) == {"old"}


def test_maintain_exits_1_when_the_database_is_unreachable(lock_key: int) -> None:
    # Port 1 on loopback: nothing listens there, so the connection is refused at once.
    result = maintain("postgresql://nobody@127.0.0.1:1/none", lock_key, "--once")
    assert result.returncode == 1
    assert "unreachable" in result.stderr


def test_maintain_without_once_loops_until_sigterm(
    migrated: str, db: psycopg.Connection, lock_key: int
) -> None:
    env = {**os.environ, "AUDIT_GRAPH_MAINTENANCE_LOCK_KEY": str(lock_key)}
    insert(db, "old", datetime.now(UTC) - timedelta(days=200))
    process = subprocess.Popen(
        [*AUDIT_GRAPH, "maintain", "--interval", "0.2", "--database-url", migrated],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: not ids(db), "a full tick of the foreground loop", 30)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()
    assert lock_holders(db, lock_key) == []
