"""Monthly partitions, dropping expired ones, and the retention DELETE (SPEC 2 and 3).

Every expected name, bound and cutoff below is worked out by hand in the
comments next to it; the pg_catalog is the witness of what was created.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone

import psycopg
import pytest
from conftest import FakeClock
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from graph.cli import main
from graph.seed import seed_events
from graph.store import InvalidArgument, NewEvent, PartitionInfo, Store
from graph.store import partitions as parts
from graph.store.migrations import migrate

DEFAULT_BOUND = "DEFAULT"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def bound(start: str, end: str) -> str:
    return f"FOR VALUES FROM ('{start}') TO ('{end}')"


def children(db: psycopg.Connection) -> dict[str, str]:
    """Every table attached to audit_logs, with its bound as PostgreSQL prints it."""
    rows = db.execute(
        """
        SELECT c.relname, pg_get_expr(c.relpartbound, c.oid)
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'audit_logs'::regclass
        """
    ).fetchall()
    return dict(rows)


def table_exists(db: psycopg.Connection, name: str) -> bool:
    row = db.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()
    assert row is not None
    return bool(row[0])


def home(db: psycopg.Connection, event_id: str) -> str:
    """The partition a row physically sits in."""
    row = db.execute(
        "SELECT tableoid::regclass::text FROM audit_logs WHERE id = %s", (event_id,)
    ).fetchone()
    assert row is not None, f"no row {event_id}"
    return str(row[0])


def ids(db: psycopg.Connection) -> set[str]:
    return {row[0] for row in db.execute("SELECT id FROM audit_logs").fetchall()}


def event(event_id: str, timestamp: datetime, **fields: object) -> NewEvent:
    return NewEvent(tool_name="search", success=True, id=event_id, timestamp=timestamp, **fields)  # type: ignore[arg-type]


def attach(db: psycopg.Connection, name: str, start: str, end: str) -> None:
    db.execute(
        f"CREATE TABLE \"{name}\" PARTITION OF audit_logs FOR VALUES FROM ('{start}') TO ('{end}')"
    )


# --- ensure_monthly_partitions ---------------------------------------------------


async def test_ensure_creates_current_and_next_months_with_their_bounds(
    store: Store, db: psycopg.Connection
) -> None:
    # Clock: 2026-03-15. Default partition empty, so March may be created too.
    created = await store.ensure_monthly_partitions(2)
    assert created == ["audit_logs_2026_03", "audit_logs_2026_04", "audit_logs_2026_05"]
    assert children(db) == {
        "audit_logs_default": DEFAULT_BOUND,
        "audit_logs_2026_03": bound("2026-03-01", "2026-04-01"),
        "audit_logs_2026_04": bound("2026-04-01", "2026-05-01"),
        "audit_logs_2026_05": bound("2026-05-01", "2026-06-01"),
    }


async def test_ensure_wraps_december_into_january_of_next_year(
    store: Store, clock: FakeClock, db: psycopg.Connection
) -> None:
    clock.set(utc(2026, 12, 31, 23, 59, 59))
    created = await store.ensure_monthly_partitions(2)
    assert created == ["audit_logs_2026_12", "audit_logs_2027_01", "audit_logs_2027_02"]
    assert children(db) == {
        "audit_logs_default": DEFAULT_BOUND,
        "audit_logs_2026_12": bound("2026-12-01", "2027-01-01"),
        "audit_logs_2027_01": bound("2027-01-01", "2027-02-01"),
        "audit_logs_2027_02": bound("2027-02-01", "2027-03-01"),
    }


async def test_ensure_spans_more_than_a_year(
    store: Store, clock: FakeClock, db: psycopg.Connection
) -> None:
    # From November 2026, 14 months ahead: December 2026 .. January 2028, plus November.
    clock.set(utc(2026, 11, 5, 8))
    created = await store.ensure_monthly_partitions(14)
    expected = (
        ["audit_logs_2026_11", "audit_logs_2026_12"]
        + [f"audit_logs_2027_{m:02d}" for m in range(1, 13)]
        + ["audit_logs_2028_01"]
    )
    assert created == expected
    found = children(db)
    assert found.pop("audit_logs_default") == DEFAULT_BOUND
    assert sorted(found) == expected
    assert found["audit_logs_2027_12"] == bound("2027-12-01", "2028-01-01")
    assert found["audit_logs_2028_01"] == bound("2028-01-01", "2028-02-01")


async def test_ensure_takes_today_in_utc(
    store: Store, clock: FakeClock, db: psycopg.Connection
) -> None:
    # 2027-01-01 00:30 at UTC+1 is 2026-12-31 23:30 UTC: the current month is December.
    clock.set(datetime(2027, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1))))
    created = await store.ensure_monthly_partitions(1)
    assert created == ["audit_logs_2026_12", "audit_logs_2027_01"]


@pytest.mark.parametrize("months_ahead", [0, -1, -12])
async def test_ensure_with_months_ahead_below_one_does_nothing(
    store: Store, db: psycopg.Connection, months_ahead: int
) -> None:
    assert await store.ensure_monthly_partitions(months_ahead) == []
    assert children(db) == {"audit_logs_default": DEFAULT_BOUND}


async def test_ensure_is_idempotent(store: Store, db: psycopg.Connection) -> None:
    first = await store.ensure_monthly_partitions(2)
    before = children(db)
    assert await store.ensure_monthly_partitions(2) == []
    assert children(db) == before
    # A longer horizon afterwards adds only the months that are missing.
    assert await store.ensure_monthly_partitions(3) == ["audit_logs_2026_06"]
    assert len(first) == 3
    # And a repeat reports no error either.
    again = parts.ensure_monthly_partitions(db, 3, date(2026, 3, 15))
    assert (again.names, again.errors) == ([], [])


async def test_ensure_skips_current_month_when_default_holds_its_rows(
    store: Store, db: psycopg.Connection
) -> None:
    await store.log(event("march-early", utc(2026, 3, 1, 0, 0)))
    created = await store.ensure_monthly_partitions(2)
    assert created == ["audit_logs_2026_04", "audit_logs_2026_05"]
    assert "audit_logs_2026_03" not in children(db)
    assert home(db, "march-early") == "audit_logs_default"
    # Still skipped on the next tick, without an error.
    assert await store.ensure_monthly_partitions(2) == []


async def test_ensure_creates_current_month_when_default_holds_only_other_months(
    store: Store, db: psycopg.Connection
) -> None:
    # February's last microsecond is not March: March may still be created.
    await store.log(event("feb-last", utc(2026, 2, 28, 23, 59, 59, 999999)))
    created = await store.ensure_monthly_partitions(1)
    assert created == ["audit_logs_2026_03", "audit_logs_2026_04"]
    assert home(db, "feb-last") == "audit_logs_default"


async def test_rows_route_to_the_named_partition_once_it_exists(
    store: Store, db: psycopg.Connection
) -> None:
    await store.ensure_monthly_partitions(2)
    await store.log(event("mar", utc(2026, 3, 31, 23, 59, 59, 999999)))
    await store.log(event("apr-first", utc(2026, 4, 1)))
    await store.log(event("may-last", utc(2026, 5, 31, 23, 59, 59, 999999)))
    await store.log(event("jun", utc(2026, 6, 1)))  # beyond the horizon
    # 2026-04-01 00:30 at UTC+2 is 2026-03-31 22:30 UTC: March by its UTC day.
    await store.log(event("tz", datetime(2026, 4, 1, 0, 30, tzinfo=timezone(timedelta(hours=2)))))
    assert home(db, "mar") == "audit_logs_2026_03"
    assert home(db, "apr-first") == "audit_logs_2026_04"
    assert home(db, "may-last") == "audit_logs_2026_05"
    assert home(db, "jun") == "audit_logs_default"
    assert home(db, "tz") == "audit_logs_2026_03"


async def test_ensure_reports_a_month_it_cannot_create_and_goes_on(
    store: Store, db: psycopg.Connection
) -> None:
    # A row of next month already in the default partition (a clock running ahead):
    # PostgreSQL refuses April; May is still created and nothing raises.
    db.execute(
        "INSERT INTO audit_logs (id, timestamp, tool_name, success, created_date) "
        "VALUES ('early', '2026-04-02T00:00:00Z', 't', true, '2026-04-02')"
    )
    result = parts.ensure_monthly_partitions(db, 2, date(2026, 3, 15))
    assert result.names == ["audit_logs_2026_03", "audit_logs_2026_05"]
    assert len(result.errors) == 1
    assert result.errors[0].startswith("create audit_logs_2026_04:")
    assert home(db, "early") == "audit_logs_default"


async def test_ensure_does_not_claim_a_name_taken_by_an_unattached_table(
    store: Store, db: psycopg.Connection
) -> None:
    # An unrelated table already holds the name of April's partition. Nothing is
    # created under that name, so the step must say so rather than report success.
    db.execute("CREATE TABLE audit_logs_2026_04 (note text)")
    result = parts.ensure_monthly_partitions(db, 2, date(2026, 3, 15))
    assert result.names == ["audit_logs_2026_03", "audit_logs_2026_05"]
    assert len(result.errors) == 1
    assert "audit_logs_2026_04" in result.errors[0]
    assert "audit_logs_2026_04" not in children(db)


# --- drop_expired_partitions -----------------------------------------------------


async def make_months(store: Store, clock: FakeClock, first: datetime, months_ahead: int) -> None:
    """Create monthly partitions from `first`'s month on, by running ensure back then."""
    clock.set(first)
    await store.ensure_monthly_partitions(months_ahead)


async def test_drop_follows_the_seed_example(store: Store, clock: FakeClock) -> None:
    # Partitions 2026_05 .. 2026_10 (ensure in May, 5 ahead).
    await make_months(store, clock, utc(2026, 5, 10), 5)
    # Seed: retention 90, today 2026-09-30 -> cutoff 2026-07-02
    # (Sept 30 - 30 = Aug 31, - 31 = Jul 31, - 29 = Jul 2).
    # 2026_05 ends 06-01 and 2026_06 ends 07-01: on or before 07-02, dropped.
    # 2026_07 ends 08-01: after the cutoff, kept.
    clock.set(utc(2026, 9, 30))
    dropped = await store.drop_expired_partitions(90)
    assert dropped == ["audit_logs_2026_05", "audit_logs_2026_06"]
    names = [p.name for p in await store.partitions()]
    assert names == [
        "audit_logs_2026_07",
        "audit_logs_2026_08",
        "audit_logs_2026_09",
        "audit_logs_2026_10",
        "audit_logs_default",
    ]


async def test_drop_upper_bound_exactly_at_cutoff(store: Store, clock: FakeClock) -> None:
    await make_months(store, clock, utc(2026, 6, 10), 2)  # 2026_06, 07, 08
    # Retention 90 from 2026-10-30 00:00: Oct 30 - 29 = Oct 1, - 30 = Sep 1, - 31 = Aug 1.
    # Cutoff 2026-08-01 00:00 == upper bound of 2026_07: dropped.
    clock.set(utc(2026, 10, 30))
    assert await store.drop_expired_partitions(90) == [
        "audit_logs_2026_06",
        "audit_logs_2026_07",
    ]


async def test_drop_keeps_partition_ending_one_day_after_cutoff(
    store: Store, clock: FakeClock
) -> None:
    await make_months(store, clock, utc(2026, 6, 10), 2)
    # From 2026-10-29 the cutoff is 2026-07-31; 2026_07 ends 08-01, one day later: kept.
    clock.set(utc(2026, 10, 29))
    assert await store.drop_expired_partitions(90) == ["audit_logs_2026_06"]
    # One microsecond before the cutoff reaches 08-01, it is still kept.
    clock.set(utc(2026, 10, 30) - timedelta(microseconds=1))
    assert await store.drop_expired_partitions(90) == []
    clock.set(utc(2026, 10, 30))
    assert await store.drop_expired_partitions(90) == ["audit_logs_2026_07"]


async def test_drop_takes_the_rows_of_the_partition_with_it(
    store: Store, clock: FakeClock, db: psycopg.Connection
) -> None:
    await make_months(store, clock, utc(2026, 1, 10), 1)  # 2026_01, 2026_02
    await store.log(event("jan", utc(2026, 1, 20)))
    await store.log(event("feb", utc(2026, 2, 20)))
    await store.log(event("dec", utc(2025, 12, 20)))  # default partition
    clock.set(utc(2026, 3, 15))
    # Retention 30 from 03-15: cutoff 2026-02-13. 2026_01 ends 02-01: dropped.
    # The default partition is never dropped; its old row waits for cleanup.
    assert await store.drop_expired_partitions(30) == ["audit_logs_2026_01"]
    assert ids(db) == {"feb", "dec"}


@pytest.mark.parametrize("days", [0, -1, -90])
async def test_drop_with_retention_zero_or_negative_does_nothing(
    store: Store, clock: FakeClock, db: psycopg.Connection, days: int
) -> None:
    await make_months(store, clock, utc(2020, 1, 10), 1)
    clock.set(utc(2026, 9, 30))
    assert await store.drop_expired_partitions(days) == []
    assert set(children(db)) == {"audit_logs_default", "audit_logs_2020_01", "audit_logs_2020_02"}


async def test_drop_without_argument_uses_configured_retention(
    store: Store, clock: FakeClock
) -> None:
    # The store's retention is 0, meaning 90. From 2026-09-30 the cutoff is 2026-07-02.
    await make_months(store, clock, utc(2026, 6, 10), 1)  # 2026_06, 2026_07
    clock.set(utc(2026, 9, 30))
    assert await store.drop_expired_partitions() == ["audit_logs_2026_06"]


async def test_drop_never_touches_the_default_partition(
    store: Store, clock: FakeClock, db: psycopg.Connection
) -> None:
    await store.log(event("ancient", utc(2001, 1, 1)))
    clock.set(utc(2026, 9, 30))
    assert await store.drop_expired_partitions(1) == []
    assert children(db) == {"audit_logs_default": DEFAULT_BOUND}
    assert ids(db) == {"ancient"}


FOREIGN = {
    # name: (from, to) -- every range long expired on 2026-09-30 with retention 90.
    "audit_logs_archive": ("2000-01-01", "2001-01-01"),
    "audit_logs_2026_13": ("2001-01-01", "2001-02-01"),
    "audit_logs_2026_00": ("2001-02-01", "2001-03-01"),
    "audit_logs_0999_01": ("0999-01-01", "0999-02-01"),
    "audit_logs_2020_1": ("2001-03-01", "2001-04-01"),
    "audit_logs_2020_01_old": ("2001-04-01", "2001-05-01"),
    "AUDIT_LOGS_2020_05": ("2001-05-01", "2001-06-01"),
    "x_audit_logs_2020_06": ("2001-06-01", "2001-07-01"),
}


async def test_drop_never_touches_foreign_named_partitions(
    store: Store, clock: FakeClock, db: psycopg.Connection
) -> None:
    for name, (start, end) in FOREIGN.items():
        attach(db, name, start, end)
    await store.log(event("kept-row", utc(2000, 6, 1)))
    assert home(db, "kept-row") == "audit_logs_archive"
    clock.set(utc(2026, 9, 30))
    assert await store.drop_expired_partitions(90) == []
    assert set(children(db)) == {"audit_logs_default", *FOREIGN}
    assert ids(db) == {"kept-row"}


async def test_drop_never_touches_unattached_tables(
    store: Store, clock: FakeClock, db: psycopg.Connection
) -> None:
    # Named like an expired month, but not a partition of audit_logs: not ours.
    db.execute("CREATE TABLE audit_logs_2020_01 (LIKE audit_logs)")
    db.execute(
        "INSERT INTO audit_logs_2020_01 (id, timestamp, tool_name, success, created_date) "
        "VALUES ('x', '2020-01-05T00:00:00Z', 't', true, '2020-01-05')"
    )
    # A detached former partition, too.
    await make_months(store, clock, utc(2020, 2, 10), 1)  # 2020_02, 2020_03
    db.execute("ALTER TABLE audit_logs DETACH PARTITION audit_logs_2020_02")
    clock.set(utc(2026, 9, 30))
    assert await store.drop_expired_partitions(90) == ["audit_logs_2020_03"]
    assert table_exists(db, "audit_logs_2020_01")
    assert table_exists(db, "audit_logs_2020_02")
    assert db.execute("SELECT count(*) FROM audit_logs_2020_01").fetchone() == (1,)


async def test_drop_judges_a_partition_by_its_real_upper_bound(
    store: Store, clock: FakeClock, db: psycopg.Connection
) -> None:
    # SPEC 3 drops a partition "whose exclusive upper bound is at or before" the
    # cutoff: the bound PostgreSQL holds, not the one its name suggests.
    attach(db, "audit_logs_2020_01", "2027-01-01", "2027-02-01")  # name old, range future
    attach(db, "audit_logs_2030_01", "2020-01-01", "2020-02-01")  # name future, range old
    await store.log(event("future-row", utc(2027, 1, 15)))
    assert home(db, "future-row") == "audit_logs_2020_01"
    clock.set(utc(2026, 9, 30))  # cutoff 2026-07-02
    assert await store.drop_expired_partitions(90) == ["audit_logs_2030_01"]
    assert ids(db) == {"future-row"}


async def test_drop_survives_a_partition_at_the_end_of_the_calendar(
    store: Store, clock: FakeClock, db: psycopg.Connection
) -> None:
    # audit_logs_9999_12 parses (year 9999, month 12) but its upper bound is in year
    # 10000, beyond Python's dates. It is not expired; the step must not fail on it.
    attach(db, "audit_logs_9999_12", "9999-12-01", "10000-01-01")
    await make_months(store, clock, utc(2026, 1, 10), 1)  # 2026_01, 2026_02
    clock.set(utc(2026, 9, 30))
    assert await store.drop_expired_partitions(90) == ["audit_logs_2026_01", "audit_logs_2026_02"]
    assert "audit_logs_9999_12" in children(db)
    listed = {p.name: p for p in await store.partitions()}
    assert listed["audit_logs_9999_12"].is_default is False


async def test_drop_uses_the_partition_own_schema(
    store: Store, clock: FakeClock, db: psycopg.Connection, database_url: str
) -> None:
    # A partition in another schema shares its name with an unattached table in
    # ours: dropping the expired partition must not drop the look-alike instead.
    other = f"o_{uuid.uuid4().hex[:12]}"
    db.execute(f'CREATE SCHEMA "{other}"')
    try:
        db.execute(
            f'CREATE TABLE "{other}".audit_logs_2020_01 PARTITION OF audit_logs '
            "FOR VALUES FROM ('2020-01-01') TO ('2020-02-01')"
        )
        db.execute("CREATE TABLE audit_logs_2020_01 (note text)")
        clock.set(utc(2026, 9, 30))
        assert await store.drop_expired_partitions(90) == ["audit_logs_2020_01"]
        assert children(db) == {"audit_logs_default": DEFAULT_BOUND}
        assert table_exists(db, "audit_logs_2020_01")  # ours, untouched
    finally:
        db.execute(f'DROP SCHEMA "{other}" CASCADE')


async def test_partition_bounds_are_read_whatever_the_datestyle(
    store: Store, schema_url: str, clock: FakeClock
) -> None:
    # A server configured with DateStyle 'SQL, DMY' prints bounds as '01/03/2026'.
    # Ranges must still be listed, and expired partitions still dropped.
    options = conninfo_to_dict(schema_url)["options"]
    url = make_conninfo(schema_url, options=f"{options} -c DateStyle=SQL,DMY")
    async with Store(url, clock=clock, pool_max_size=2) as dmy:
        created = await dmy.ensure_monthly_partitions(1)
        assert created == ["audit_logs_2026_03", "audit_logs_2026_04"]
        listed = await dmy.partitions()
        assert [(p.name, p.range_start, p.range_end) for p in listed] == [
            ("audit_logs_2026_03", utc(2026, 3, 1), utc(2026, 4, 1)),
            ("audit_logs_2026_04", utc(2026, 4, 1), utc(2026, 5, 1)),
            ("audit_logs_default", None, None),
        ]
        # Cutoff 2026-07-02 (the seed's example): both months have ended before it.
        clock.set(utc(2026, 9, 30))
        assert await dmy.drop_expired_partitions(90) == [
            "audit_logs_2026_03",
            "audit_logs_2026_04",
        ]


# --- cleanup ----------------------------------------------------------------------


async def test_cleanup_deletes_exactly_rows_older_than_cutoff(
    store: Store, db: psycopg.Connection
) -> None:
    # Retention 0 means 90. From 2026-03-15 12:00: Mar 15 - 28 = Feb 15 (2026 is not
    # a leap year), - 31 = Jan 15, - 31 = Dec 15. Cutoff 2025-12-15 12:00:00 UTC.
    cutoff = utc(2025, 12, 15, 12)
    await store.log(event("at-cutoff", cutoff))
    await store.log(event("just-older", cutoff - timedelta(microseconds=1)))
    await store.log(event("just-newer", cutoff + timedelta(microseconds=1)))
    await store.log(event("old", utc(2024, 1, 1)))
    await store.log(event("same-day-before", utc(2025, 12, 15, 0, 0)))
    await store.log(event("same-day-after", utc(2025, 12, 15, 23, 59)))
    await store.log(event("recent", utc(2026, 3, 15, 11)))
    assert await store.cleanup() == 3
    assert ids(db) == {"at-cutoff", "just-newer", "same-day-after", "recent"}
    assert await store.cleanup() == 0


async def test_cleanup_uses_configured_retention(
    store: Store, schema_url: str, clock: FakeClock, db: psycopg.Connection
) -> None:
    # A second store on the schema `store` migrated, with a retention of a week.
    async with Store(schema_url, retention_days=7, clock=clock, pool_max_size=2) as week:
        # 2026-03-15 12:00 - 7 days = 2026-03-08 12:00.
        await week.log(event("in", utc(2026, 3, 8, 12)))
        await week.log(event("out", utc(2026, 3, 8, 11, 59, 59, 999999)))
        assert await week.cleanup() == 1
    assert ids(db) == {"in"}


def test_negative_retention_is_an_error(schema_url: str) -> None:
    with pytest.raises(InvalidArgument, match="retention_days"):
        Store(schema_url, retention_days=-1)


async def test_cleanup_at_a_month_boundary_across_partitions(
    store: Store, clock: FakeClock, db: psycopg.Connection
) -> None:
    # Partitions for February and March 2026; January and May stay in the default.
    parts.create_partition(db, date(2026, 2, 1))
    parts.create_partition(db, date(2026, 3, 1))
    rows = {
        "mar-start": utc(2026, 3, 1),
        "mar-start+1us": utc(2026, 3, 1, 0, 0, 0, 1),
        "feb-end": utc(2026, 2, 28, 23, 59, 59, 999999),
        # 2026-03-01 00:30 at UTC+1 is 2026-02-28 23:30 UTC: February, and older.
        "feb-by-utc": datetime(2026, 3, 1, 0, 30, tzinfo=timezone(timedelta(hours=1))),
        "jan": utc(2026, 1, 31, 12),
        "may": utc(2026, 5, 29, 9),
    }
    for event_id, timestamp in rows.items():
        await store.log(event(event_id, timestamp))
    assert home(db, "feb-end") == "audit_logs_2026_02"
    assert home(db, "feb-by-utc") == "audit_logs_2026_02"
    assert home(db, "mar-start") == "audit_logs_2026_03"
    assert home(db, "jan") == "audit_logs_default"
    assert home(db, "may") == "audit_logs_default"
    # Retention 90 from 2026-05-30 00:00: May 30 - 29 = May 1, - 30 = Apr 1,
    # - 31 = Mar 1. Cutoff 2026-03-01 00:00 UTC, exactly the partitions' boundary.
    clock.set(utc(2026, 5, 30))
    assert await store.cleanup() == 3
    assert ids(db) == {"mar-start", "mar-start+1us", "may"}
    assert db.execute("SELECT count(*) FROM audit_logs_2026_02").fetchone() == (0,)


async def test_cleanup_goes_by_timestamp_even_when_created_date_is_a_local_day(
    store: Store, clock: FakeClock, db: psycopg.Connection
) -> None:
    # Rows from an older writer whose created_date is its local (UTC+2 or UTC-5) day,
    # not the UTC day. SPEC 3 deletes by timestamp, so the day column must not decide.
    db.execute(
        "INSERT INTO audit_logs (id, timestamp, tool_name, success, created_date) VALUES"
        # 23:30 UTC on Feb 28 is 01:30 on Mar 1 at UTC+2.
        " ('ahead', '2026-02-28T23:30:00Z', 't', true, '2026-03-01'),"
        # 03:00 UTC on Mar 1 is 22:00 on Feb 28 at UTC-5.
        " ('behind', '2026-03-01T03:00:00Z', 't', true, '2026-02-28'),"
        " ('utc', '2026-02-28T23:50:00Z', 't', true, '2026-02-28')"
    )
    # Retention 90 from 2026-05-29 23:45: May 29 - 28 = May 1, - 30 = Apr 1,
    # - 31 = Mar 1, - 1 = Feb 28. Cutoff 2026-02-28 23:45 UTC: only 'ahead' is older.
    clock.set(utc(2026, 5, 29, 23, 45))
    assert await store.cleanup() == 1
    assert ids(db) == {"behind", "utc"}


# --- partitions() -------------------------------------------------------------------


async def test_partitions_lists_names_ranges_and_default(
    store: Store, db: psycopg.Connection
) -> None:
    assert await store.partitions() == [PartitionInfo("audit_logs_default", None, None, True, 0)]
    await store.ensure_monthly_partitions(1)  # 2026_03, 2026_04
    await store.log(event("a", utc(2026, 3, 2)))
    await store.log(event("b", utc(2026, 3, 3)))
    await store.log(event("c", utc(2026, 4, 3)))
    await store.log(event("d", utc(2026, 7, 3)))
    db.execute("ANALYZE audit_logs")
    assert await store.partitions() == [
        PartitionInfo("audit_logs_2026_03", utc(2026, 3, 1), utc(2026, 4, 1), False, 2),
        PartitionInfo("audit_logs_2026_04", utc(2026, 4, 1), utc(2026, 5, 1), False, 1),
        PartitionInfo("audit_logs_default", None, None, True, 1),
    ]


# --- rows land in named partitions from the first one ----------------------------------------


async def test_partitions_count_rows_not_yet_analyzed(store: Store, db: psycopg.Connection) -> None:
    await store.ensure_monthly_partitions(1)
    for n in range(3):
        await store.log(event(f"r{n}", utc(2026, 3, 2 + n)))
    # No ANALYZE: PostgreSQL still reports no rows for the partition; the API counts them.
    listed = {p.name: p.approx_rows for p in await store.partitions()}
    assert listed == {"audit_logs_2026_03": 3, "audit_logs_2026_04": 0, "audit_logs_default": 0}


def test_cli_migrate_creates_the_current_month(schema_url: str, db: psycopg.Connection) -> None:
    assert main(["migrate", "--database-url", schema_url]) == 0
    month = datetime.now(UTC).date().replace(day=1)
    assert f"audit_logs_{month:%Y_%m}" in children(db)


def test_cli_migrate_leaves_a_month_the_default_holds(
    schema_url: str, db: psycopg.Connection
) -> None:
    migrate(schema_url)
    now = datetime.now(UTC)
    db.execute(
        "INSERT INTO audit_logs (id, timestamp, tool_name, success, created_date) "
        "VALUES ('early', %s, 't', true, %s)",
        (now, now.date()),
    )
    assert main(["migrate", "--database-url", schema_url]) == 0
    assert sorted(children(db)) == ["audit_logs_default"]  # PostgreSQL would refuse the partition


async def test_seed_writes_into_the_partitions_of_its_months(
    store: Store, db: psycopg.Connection
) -> None:
    # The clock is 2026-03-15 12:00 UTC: 40 days reach back into February.
    await seed_events(store, 300, 40, progress=False)
    assert sorted(children(db)) == [
        "audit_logs_2026_02",
        "audit_logs_2026_03",
        "audit_logs_default",
    ]
    assert db.execute("SELECT count(*) FROM audit_logs_default").fetchone() == (0,)
    listed = {p.name: p.approx_rows for p in await store.partitions()}
    counted = dict(
        db.execute(
            "SELECT tableoid::regclass::text, count(*) FROM audit_logs GROUP BY 1"
        ).fetchall()
    )
    assert listed["audit_logs_default"] == 0
    for name in ("audit_logs_2026_02", "audit_logs_2026_03"):
        assert listed[name] == counted[name] > 0  # analyzed after seeding: exact here
