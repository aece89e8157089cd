"""Monthly partitions and retention: the SQL the maintenance tick runs.

These run on a plain synchronous connection in autocommit mode, because they
are called from the maintenance thread (and, through `asyncio.to_thread`, from
admin requests). Each statement commits on its own, so one failed partition
does not undo the others.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import psycopg
from psycopg import sql

from . import rollups
from .models import PartitionInfo

log = logging.getLogger(__name__)

PARENT = "audit_logs"
DEFAULT_PARTITION = "audit_logs_default"
PARTITION_NAME = re.compile(r"^audit_logs_(\d{4})_(\d{2})$")
SANE_YEARS = range(1970, 10_000)
BOUND = re.compile(r"FROM \('([^']+)'\) TO \('([^']+)'\)")


@dataclass(slots=True)
class StepResult:
    """Tables a partition step changed, and one message per table it could not."""

    names: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def month_start(day: date) -> date:
    return day.replace(day=1)


def add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def partition_name(month: date) -> str:
    return f"audit_logs_{month.year:04d}_{month.month:02d}"


def parse_partition_name(name: str) -> date | None:
    """The month a named partition covers, or None for any other table name."""
    match = PARTITION_NAME.match(name)
    if match is None:
        return None
    year, month = int(match[1]), int(match[2])
    if year not in SANE_YEARS or not 1 <= month <= 12:
        return None
    return date(year, month, 1)


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def child_tables(conn: psycopg.Connection) -> list[str]:
    return [name for _, name, _, _ in attached_partitions(conn)]


def attached_partitions(conn: psycopg.Connection) -> list[tuple[str, str, str, int]]:
    """(schema, name, bound, approximate rows) of every partition of audit_logs.

    The bound is as PostgreSQL prints it, with dates in ISO form whatever the
    server's DateStyle, so that `parse_bound` can read them.
    """
    with conn.transaction():
        conn.execute("SET LOCAL DateStyle = ISO")
        rows = conn.execute(
            """
            SELECT n.nspname, c.relname, pg_get_expr(c.relpartbound, c.oid),
                   GREATEST(c.reltuples, 0)::int8
            FROM pg_inherits i
            JOIN pg_class c ON c.oid = i.inhrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE i.inhparent = 'audit_logs'::regclass
            ORDER BY c.relname
            """
        ).fetchall()
    return [(schema, name, bound or "", approx) for schema, name, bound, approx in rows]


def parse_bound(bound: str) -> tuple[date | None, date | None]:
    """The [start, end) of a range bound; None where it is not a date Python can hold.

    MINVALUE, MAXVALUE, 'infinity' and years past 9999 come back as None.
    """
    match = BOUND.search(bound)
    if match is None:
        return None, None
    return parse_date(match[1]), parse_date(match[2])


def parse_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def default_holds_month(conn: psycopg.Connection, month: date) -> bool:
    row = conn.execute(
        sql.SQL(
            "SELECT EXISTS (SELECT 1 FROM {} WHERE created_date >= %s AND created_date < %s)"
        ).format(sql.Identifier(DEFAULT_PARTITION)),
        (month, add_months(month, 1)),
    ).fetchone()
    return bool(row and row[0])


def create_partition(conn: psycopg.Connection, month: date) -> None:
    # DDL takes no bind parameters; the bounds are dates we computed, as literals.
    conn.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} PARTITION OF audit_logs FOR VALUES FROM ({}) TO ({})"
        ).format(
            sql.Identifier(partition_name(month)),
            sql.Literal(month),
            sql.Literal(add_months(month, 1)),
        )
    )


def ensure_monthly_partitions(
    conn: psycopg.Connection, months_ahead: int, today: date
) -> StepResult:
    """Create the partitions of the next `months_ahead` months, starting with next month.

    The current month is created too, but only while the default partition
    holds none of its rows: PostgreSQL refuses a partition whose range
    already has rows in the default one.
    """
    if months_ahead < 1:
        return StepResult()
    current = month_start(today)
    result = ensure_months_with_no_default_rows(conn, current, current)
    ahead = create_months(conn, [add_months(current, n) for n in range(1, months_ahead + 1)])
    result.names += ahead.names
    result.errors += ahead.errors
    return result


def ensure_months_with_no_default_rows(
    conn: psycopg.Connection, first: date, last: date
) -> StepResult:
    """Create the partitions of the months from `first` to `last` whose rows are not in the default.

    A month that already has rows in the default partition is left there:
    PostgreSQL refuses a partition whose range the default holds rows of.
    """
    existing = set(child_tables(conn))
    months = []
    month = month_start(first)
    while month <= last:
        if partition_name(month) not in existing and not default_holds_month(conn, month):
            months.append(month)
        month = add_months(month, 1)
    return create_months(conn, months)


def create_months(conn: psycopg.Connection, months: list[date]) -> StepResult:
    """Create each month's partition that does not exist yet; one error per one that failed."""
    result = StepResult()
    existing = set(child_tables(conn))
    for month in months:
        name = partition_name(month)
        if name in existing:
            continue
        try:
            create_partition(conn, month)
        except psycopg.Error as exc:
            log.warning("could not create partition %s: %s", name, exc)
            result.errors.append(f"create {name}: {exc.diag.message_primary or exc}")
            continue
        if name not in child_tables(conn):
            # IF NOT EXISTS skipped it: a table of that name exists but is not ours.
            log.warning("could not create partition %s: the name is taken", name)
            result.errors.append(
                f"create {name}: a table named {name} exists and is not a partition "
                "of audit_logs; rename or attach it"
            )
        else:
            result.names.append(name)
    return result


def drop_expired_partitions(
    conn: psycopg.Connection, retention_days: int, now: datetime
) -> StepResult:
    """Drop each named monthly partition whose exclusive upper bound is at or before the cutoff.

    Only tables attached to audit_logs whose names parse as a month are
    candidates: the default partition and any foreign-named table stay. The
    bound is the one PostgreSQL holds, not the one the name suggests, and a
    bound that is not a plain date (MAXVALUE, year 10000) never expires.
    """
    result = StepResult()
    if retention_days <= 0:
        return result
    cutoff = now - timedelta(days=retention_days)
    for schema, name, bound, _ in attached_partitions(conn):
        start, end = parse_bound(bound)
        if parse_partition_name(name) is None or end is None or midnight(end) > cutoff:
            continue
        try:
            # The rollups of its days go with it: a DROP fires no DELETE trigger.
            with conn.transaction():
                conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(schema, name)))
                rollups.delete_days(conn, start, end - timedelta(days=1))
        except psycopg.Error as exc:
            log.warning("could not drop partition %s: %s", name, exc)
            result.errors.append(f"drop {name}: {exc.diag.message_primary or exc}")
        else:
            result.names.append(name)
    return result


def range_floor(conn: psycopg.Connection) -> tuple[date | None, tuple[str, str] | None]:
    """(the lowest start of a range partition, the default partition), from the catalog.

    The start is None when there is no range partition or one starts at
    MINVALUE (no created_date is then known to be unstorable).
    """
    starts: list[date] = []
    default = None
    for schema, name, bound, _ in attached_partitions(conn):
        if bound == "DEFAULT":
            default = (schema, name)
            continue
        start, _ = parse_bound(bound)
        if start is None:
            return None, default
        starts.append(start)
    return (min(starts) if starts else None), default


def forget_dropped_days(conn: psycopg.Connection) -> None:
    """Delete the rollup rows of days no partition can hold any more.

    Another process (the Go service's own maintenance) may drop a partition
    without deleting its days' rollup rows. Rows can only have created_dates
    from the lowest range partition's start on, or whatever the default
    partition holds; rollup rows of earlier days count rows that are gone.
    """
    lowest, default = range_floor(conn)
    if lowest is None:
        return
    rollups.delete_before(conn, lowest, default)


def delete_expired_rows(conn: psycopg.Connection, cutoff: datetime) -> int:
    """The retention DELETE: every row whose timestamp is before the cutoff.

    The created_date bound only lets PostgreSQL skip newer partitions. It
    allows one day more than the cutoff's UTC day: rows from older writers may
    carry their local day, at most a day ahead of UTC (offsets reach +14 h).
    """
    cur = conn.execute(
        "DELETE FROM audit_logs WHERE created_date <= %s AND timestamp < %s",
        (cutoff.astimezone(UTC).date() + timedelta(days=1), cutoff),
    )
    return cur.rowcount


# A partition PostgreSQL has not analyzed since rows arrived reports 0 (or -1)
# rows; those are counted, up to this many.
COUNTED_ROWS = 100_000


def counted_rows(conn: psycopg.Connection, schema: str, name: str) -> int:
    row = conn.execute(
        sql.SQL("SELECT count(*) FROM (SELECT FROM {} LIMIT %s) AS sample").format(
            sql.Identifier(schema, name)
        ),
        (COUNTED_ROWS,),
    ).fetchone()
    return int(row[0]) if row else 0


def list_partitions(conn: psycopg.Connection) -> list[PartitionInfo]:
    partitions = []
    for schema, name, bound, estimate in attached_partitions(conn):
        approx_rows = estimate or counted_rows(conn, schema, name)
        start, end = parse_bound(bound)
        partitions.append(
            PartitionInfo(
                name=name,
                range_start=midnight(start) if start else None,
                range_end=midnight(end) if end else None,
                is_default=bound == "DEFAULT",
                approx_rows=approx_rows,
            )
        )
    return partitions
