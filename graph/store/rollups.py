"""Hourly rollups of audit_logs, kept exact by PostgreSQL for every writer.

Two tables of mergeable partial aggregates per UTC hour (and `created_date`,
so that dropping a partition maps to deleting rollup rows):

- `audit_rollup_tools`: by tool_name, toolkit_kind, connection, source, event_kind;
- `audit_rollup_users`: by user_id, user_email, persona, source, event_kind.

Each holds calls, successes, the sum and count of duration_ms and the
enriched calls. Statement-level AFTER triggers with transition tables on
`audit_logs` (they see the rows of every partition, whoever writes: the API,
the Go service, psql, COPY) add one partial row per key and statement:
positive for inserted rows, negative for deleted ones, both for an update.
Insert-only, so concurrent writers never wait on each other's rollup rows;
readers sum, and `compact` merges a range's partial rows into one per key
in the background. TRUNCATE of audit_logs empties the rollups; a dropped
partition's rows are deleted with it (`delete_days`); anything else that
bypasses the triggers is repaired by `rebuild`, and `verify` reports any
difference from the raw rows.

Rows stored before the triggers existed are filled in online, newest day
first (`backfill_step`, run by the maintenance thread); `audit_rollup_coverage`
says from which created_date on the rollups hold every row, and the
statistics read raw rows for the rest (`sources.py`).

Whoever deletes rollup rows (compaction, rebuild, backfill, a partition drop)
first takes a transaction advisory lock (`lock_rollups`): those serialize with
each other, while the triggers' INSERTs, readers and autovacuum never wait
on it. Each replaces
rows with one statement (a DELETE in a WITH and the INSERT), so the DELETE
and the raw rows it recounts are read in one snapshot: a writer's rows and
its trigger's partial row are either both seen (the partial row deleted and
the rows recounted) or both unseen (left as they are).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import psycopg
from psycopg import sql

from graph.constants import fnv1a_64

# Each measure: its column and the aggregate over audit_logs rows that makes it.
# Every one is a count or a sum, so partial rows merge by adding them up and a
# deleted row is taken back by adding its negative.
MEASURES = {
    "calls": "count(*)",
    "successes": "count(*) FILTER (WHERE success)",
    "duration_sum": "COALESCE(sum(duration_ms), 0)",
    "durations": "count(duration_ms)",
    "enriched": "count(*) FILTER (WHERE enrichment_applied)",
}


@dataclass(frozen=True, slots=True)
class Rollup:
    """One rollup table: its name and the columns of audit_logs it is keyed by (every measure)."""

    table: str
    dimensions: tuple[str, ...]

    @property
    def key(self) -> tuple[str, ...]:
        return ("bucket", "created_date", *self.dimensions)


# Smallest first: a statistic reads the first one that has its columns.
ROLLUPS = (
    # The dashboard's: calls by tool and where they came from (~80 keys an hour seeded).
    Rollup(
        "audit_rollup_tools", ("tool_name", "toolkit_kind", "connection", "source", "event_kind")
    ),
    # Calls by user (~90 keys an hour), for the user breakdowns and filters.
    Rollup("audit_rollup_users", ("user_id", "user_email", "persona", "source", "event_kind")),
)


HOUR = "1 hour"
# The origin of date_bin: any UTC midnight gives the UTC hour, minute or day of
# the instant whatever the session's time zone.
BIN_ORIGIN = "2000-01-01T00:00:00Z"


def aggregated(
    source: str,
    dimensions: Sequence[str],
    *,
    width: str | None = HOUR,
    sign: int = 1,
    where: sql.Composable | None = None,
    fold_nulls: bool = True,
) -> sql.Composable:
    """SELECT of `source`'s rows as partial rollup rows: bucket, dimensions, measures.

    The bucket is the `width` bin of timestamp (NULL when width is None, for
    statistics that need no time). Text dimensions are grouped with NULL as ''
    (as the statistics read them); each measure is multiplied by `sign`.
    """
    columns = [
        sql.SQL("NULL::timestamptz AS bucket")
        if width is None
        else sql.SQL("date_bin({}::interval, timestamp, {}) AS bucket").format(
            sql.Literal(width), sql.Literal(BIN_ORIGIN)
        )
    ]
    columns += [dimension(name, fold_nulls) for name in dimensions]
    columns += [
        sql.SQL("{} AS {}").format(
            sql.SQL(MEASURES[measure] if sign == 1 else f"-{MEASURES[measure]}"),
            sql.Identifier(measure),
        )
        for measure in MEASURES
    ]
    return sql.SQL("SELECT {columns} FROM {source} {where} GROUP BY {positions}").format(
        columns=sql.SQL(", ").join(columns),
        source=sql.Identifier(source),
        where=sql.SQL("WHERE {}").format(where) if where is not None else sql.SQL(""),
        positions=sql.SQL(", ").join(sql.Literal(n) for n in range(1, len(dimensions) + 2)),
    )


def partial_rows(
    rollup: Rollup,
    source: str,
    sign: int = 1,
    where: sql.Composable | None = None,
    fold_nulls: bool = True,
) -> sql.Composable:
    """SELECT of `source`'s rows as partial rows of `rollup` (its whole key), times `sign`."""
    return aggregated(source, rollup.key[1:], sign=sign, where=where, fold_nulls=fold_nulls)


def dimension(name: str, fold_nulls: bool = True) -> sql.Composable:
    """A rollup key column over audit_logs rows: text folded (see `folded`), dates as they are."""
    if name == "created_date" or not fold_nulls:
        return sql.Identifier(name)
    return folded(name)


def folded(name: str) -> sql.Composable:
    """A text dimension as the rollups keep it: NULL as '', varchar as text."""
    return sql.SQL("COALESCE({name}, '')::text AS {name}").format(name=sql.Identifier(name))


# Every dimension of any rollup: a statement's rows are aggregated once by all
# of them, and each rollup sums that small result by its own.
ALL_DIMENSIONS = Rollup("", tuple(dict.fromkeys(d for r in ROLLUPS for d in r.dimensions)))


def insert_partials(source: str, sign: int = 1) -> sql.Composable:
    """One statement adding `source`'s rows to every rollup, as partial rows times `sign`."""
    inserts = [
        sql.SQL("INSERT INTO {table} SELECT {key}, {sums} FROM fine GROUP BY {positions}").format(
            table=sql.Identifier(rollup.table),
            key=sql.SQL(", ").join(
                [sql.SQL("bucket"), sql.SQL("created_date"), *map(folded, rollup.dimensions)]
            ),
            positions=sql.SQL(", ").join(sql.Literal(n) for n in range(1, len(rollup.key) + 1)),
            sums=sql.SQL(", ").join(
                sql.SQL("sum({})::int8").format(sql.Identifier(m)) for m in MEASURES
            ),
        )
        for rollup in ROLLUPS
    ]
    # The statement's rows grouped as they are (NULLs folded only in the few groups).
    fine = partial_rows(ALL_DIMENSIONS, source, sign, fold_nulls=False)
    ctes = [sql.SQL("fine AS ({})").format(fine)]
    ctes += [
        sql.SQL("{} AS ({})").format(sql.Identifier(f"into_{n}"), insert)
        for n, insert in enumerate(inserts[:-1])
    ]
    return sql.SQL("WITH {ctes} {last};").format(ctes=sql.SQL(", ").join(ctes), last=inserts[-1])


def create_table(rollup: Rollup) -> sql.Composable:
    columns = [sql.SQL("bucket timestamptz NOT NULL"), sql.SQL("created_date date NOT NULL")]
    columns += [sql.SQL("{} text NOT NULL").format(sql.Identifier(d)) for d in rollup.dimensions]
    columns += [sql.SQL("{} bigint NOT NULL").format(sql.Identifier(m)) for m in MEASURES]
    return sql.SQL(
        "CREATE TABLE IF NOT EXISTS {table} ({columns});"
        "CREATE INDEX IF NOT EXISTS {bucket} ON {table} (bucket);"
        # Dropping a partition deletes its days' rows while it holds audit_logs.
        "CREATE INDEX IF NOT EXISTS {day} ON {table} (created_date);"
    ).format(
        table=sql.Identifier(rollup.table),
        columns=sql.SQL(", ").join(columns),
        bucket=sql.Identifier(f"{rollup.table}_bucket_idx"),
        day=sql.Identifier(f"{rollup.table}_created_date_idx"),
    )


def trigger_function(name: str, body: list[sql.Composable]) -> sql.Composable:
    # SECURITY DEFINER with the search_path of the migration: a writer that may
    # write audit_logs (the Go service's role, say) needs no rights on the
    # rollups, and finds them whatever its own search_path.
    return sql.SQL(
        "CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql "
        "SECURITY DEFINER SET search_path FROM CURRENT AS $body$ "
        "BEGIN {body} RETURN NULL; END $body$;"
    ).format(name=sql.Identifier(name), body=sql.SQL(" ").join(body))


def schema_sql() -> str:
    """The rollup tables, their trigger functions and the triggers on audit_logs (idempotent)."""
    parts: list[sql.Composable] = [create_table(rollup) for rollup in ROLLUPS]
    parts.append(trigger_function("audit_rollups_insert", [insert_partials("new_rows")]))
    parts.append(trigger_function("audit_rollups_delete", [insert_partials("old_rows", -1)]))
    parts.append(
        trigger_function(
            "audit_rollups_update", [insert_partials("old_rows", -1), insert_partials("new_rows")]
        )
    )
    parts.append(
        trigger_function(
            "audit_rollups_truncate",
            [
                sql.SQL("TRUNCATE {};").format(
                    sql.SQL(", ").join(sql.Identifier(r.table) for r in ROLLUPS)
                )
            ],
        )
    )
    parts.append(
        sql.SQL(
            """
            CREATE OR REPLACE TRIGGER audit_rollups_insert AFTER INSERT ON audit_logs
                REFERENCING NEW TABLE AS new_rows
                FOR EACH STATEMENT EXECUTE FUNCTION audit_rollups_insert();
            CREATE OR REPLACE TRIGGER audit_rollups_delete AFTER DELETE ON audit_logs
                REFERENCING OLD TABLE AS old_rows
                FOR EACH STATEMENT EXECUTE FUNCTION audit_rollups_delete();
            CREATE OR REPLACE TRIGGER audit_rollups_update AFTER UPDATE ON audit_logs
                REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
                FOR EACH STATEMENT EXECUTE FUNCTION audit_rollups_update();
            CREATE OR REPLACE TRIGGER audit_rollups_truncate AFTER TRUNCATE ON audit_logs
                FOR EACH STATEMENT EXECUTE FUNCTION audit_rollups_truncate();
            """
        )
    )
    return sql.Composed(parts).as_string()


def install(conn: psycopg.Connection) -> None:
    """Create the rollups and their triggers (migration 7); the backfill fills them.

    CREATE TRIGGER waits for the writers of audit_logs in flight and holds
    off new ones until the migration commits: every row written after it is
    counted by the triggers, the rows before it by the backfill.
    """
    conn.execute(schema_sql())


COVERAGE = "audit_rollup_coverage"
# Two days after the newest row's UTC date (a created_date may be a day later),
# within the dates Python can hold.
# NULL (every day) for an empty table: LEAST and GREATEST skip NULLs, hence the CASE.
FIRST_UNCOVERED_DAY = (
    "SELECT CASE WHEN max(timestamp) IS NOT NULL THEN "
    "LEAST((max(timestamp) AT TIME ZONE 'UTC')::date + 2, date '9999-12-31') END "
    "FROM audit_logs"
)


def track_coverage(conn: psycopg.Connection) -> None:
    """Migration 8: record from which created_date on the rollups hold every row.

    `covered_from` NULL means every day. Rows stored before the triggers
    have created_dates up to a day after their UTC date (the Go service
    stores local dates), so the backfill starts two days after the newest
    timestamp. A database whose rollups migration 7 filled at once is
    recounted too (the same numbers, in the background): there is no telling
    it from one whose rows came before the triggers.
    """
    conn.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {table} ("
            " only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),"
            " covered_from date);"
            "INSERT INTO {table} (covered_from)"
            f" {FIRST_UNCOVERED_DAY}"
            " ON CONFLICT DO NOTHING"
        ).format(table=sql.Identifier(COVERAGE))
    )


# Deleters of rollup rows (compaction, recount, a partition's days) hold this
# transaction-level advisory lock: they serialize with each other and with
# nothing else (not the triggers' INSERTs, readers or autovacuum).
ROLLUP_LOCK_KEY = fnv1a_64("audit-graph:rollups:deleters")


def lock_rollups(conn: psycopg.Connection, wait: bool = True) -> bool:
    """Hold off the other deleters of rollup rows until this transaction ends.

    With wait=False, return False at once when another transaction holds it.
    """
    if wait:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (ROLLUP_LOCK_KEY,))
        return True
    row = conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (ROLLUP_LOCK_KEY,)).fetchone()
    return bool(row and row[0])


def lock_to_recount(conn: psycopg.Connection, wait: bool = True) -> bool:
    """The locks of a recount: audit_logs first, then the deleters' lock.

    In the order of a partition drop and of TRUNCATE, which lock audit_logs
    and then the rollups, so the two never wait for each other in a circle.
    """
    try:
        conn.execute("LOCK TABLE audit_logs IN ACCESS SHARE MODE" + ("" if wait else " NOWAIT"))
    except psycopg.errors.LockNotAvailable:
        return False
    return lock_rollups(conn, wait)


def day_range(column: str) -> sql.Composable:
    """`column` between %(first)s and %(last)s, each bound optional (NULL: unbounded)."""
    name = sql.Identifier(column)
    return sql.SQL(
        "(%(first)s::date IS NULL OR {name} >= %(first)s) "
        "AND (%(last)s::date IS NULL OR {name} <= %(last)s)"
    ).format(name=name)


def recount(conn: psycopg.Connection, first: date | None, last: date | None) -> None:
    """Replace the rollup rows of created_dates first..last by the raw rows' sums.

    The caller holds `lock_rollups`. One statement per rollup, so the rows it
    deletes and the raw rows it counts are one snapshot (module docstring).
    """
    for rollup in ROLLUPS:
        conn.execute(
            sql.SQL(
                "WITH gone AS (DELETE FROM {table} WHERE {days}) INSERT INTO {table} {rows}"
            ).format(
                table=sql.Identifier(rollup.table),
                days=day_range("created_date"),
                rows=raw_sums(rollup),
            ),
            {"first": first, "last": last},
        )


def rebuild(conn: psycopg.Connection, first: date | None = None, last: date | None = None) -> None:
    """Recompute the rollups of the created_dates from first to last (all when None) from raw rows.

    Writers go on meanwhile: their rows are counted once, by the rebuild or
    by their trigger (module docstring).
    """
    with conn.transaction():
        lock_to_recount(conn)
        recount(conn, first, last)
        if first is None and last is None:
            set_coverage(conn, None)  # every day is counted now


@dataclass(frozen=True, slots=True)
class Backfill:
    """What one backfill step did: the day it filled, and the days still to fill."""

    day: date | None
    days_left: int


def backfill_step(conn: psycopg.Connection) -> Backfill | None:
    """Fill the rollups of the newest created_date not covered yet, and mark it covered.

    Returns None when another process holds the rollups' lock (try later);
    Backfill(None, 0) once every day is covered. Each step is one
    transaction over one day's rows, so writers never wait for it and a
    stopped backfill resumes where it was.
    """
    with conn.transaction():
        if not lock_to_recount(conn, wait=False):
            return None
        covered_from = covered_since(conn)
        if covered_from is None:
            return Backfill(None, 0)
        oldest = oldest_day(conn)
        day = covered_from - timedelta(days=1)
        if oldest is None or day < oldest:
            set_coverage(conn, None)
            return Backfill(None, 0)
        # The newest day clamped to the last one Python holds is recounted to the end.
        recount(conn, day, None if covered_from == date.max else day)
        set_coverage(conn, day)
        return Backfill(day, (day - oldest).days)


def covered_since(conn: psycopg.Connection) -> date | None:
    row = conn.execute(sql.SQL("SELECT covered_from FROM {}").format(sql.Identifier(COVERAGE)))
    found = row.fetchone()
    return found[0] if found else None


def set_coverage(conn: psycopg.Connection, day: date | None) -> None:
    conn.execute(
        sql.SQL("UPDATE {} SET covered_from = %s").format(sql.Identifier(COVERAGE)), (day,)
    )


def oldest_day(conn: psycopg.Connection) -> date | None:
    """The oldest created_date a row may have: the day before the oldest UTC date (index read)."""
    row = conn.execute(
        "SELECT CASE WHEN min(timestamp) IS NOT NULL THEN "
        "GREATEST((min(timestamp) AT TIME ZONE 'UTC')::date - 1, date '0001-01-01') END "
        "FROM audit_logs"
    ).fetchone()
    return row[0] if row else None


@dataclass(frozen=True, slots=True)
class Difference:
    """A rollup key whose summed measures differ from the raw rows'."""

    table: str
    key: tuple[object, ...]
    rollup: tuple[int, ...] | None
    raw: tuple[int, ...] | None


def verify(
    conn: psycopg.Connection, first: date | None = None, last: date | None = None
) -> list[Difference]:
    """Every key of the created_date range whose rollup sums are not the raw rows' sums."""
    params = {"first": first, "last": last}
    differences: list[Difference] = []
    for rollup in ROLLUPS:
        key = sql.SQL(", ").join(map(sql.Identifier, rollup.key))
        summed = sql.SQL("SELECT {key}, {sums} FROM {table} WHERE {days} GROUP BY {key}").format(
            key=key,
            sums=sql.SQL(", ").join(
                sql.SQL("sum({name})::int8 AS {name}").format(name=sql.Identifier(m))
                for m in MEASURES
            ),
            table=sql.Identifier(rollup.table),
            days=day_range("created_date"),
        )

        def side(alias: str) -> sql.Composable:
            return sql.SQL(", ").join(sql.Identifier(alias, m) for m in MEASURES)

        # A key that sums to nothing in the rollup is as good as absent from the raw rows.
        query = sql.SQL(
            "WITH summed AS ({summed}), raw AS ({raw}) "
            "SELECT {key}, {rolled}, {computed} FROM summed AS s FULL JOIN raw AS r USING ({key}) "
            "WHERE ({rolled}) IS DISTINCT FROM ({computed}) "
            "AND NOT (r.calls IS NULL AND ({rolled}) = ({zeros}))"
        ).format(
            summed=summed,
            raw=raw_sums(rollup),
            key=key,
            rolled=side("s"),
            computed=side("r"),
            zeros=sql.SQL(", ").join(sql.Literal(0) for _ in MEASURES),
        )
        width, count = len(rollup.key), len(MEASURES)
        for row in conn.execute(query, params).fetchall():
            rolled, computed = row[width : width + count], row[width + count :]
            differences.append(
                Difference(
                    rollup.table,
                    tuple(row[:width]),
                    None if rolled[0] is None else tuple(rolled),
                    None if computed[0] is None else tuple(computed),
                )
            )
    return differences


def raw_sums(rollup: Rollup) -> sql.Composable:
    """The raw rows' measures per rollup key, for the created_date range of the call."""
    return partial_rows(rollup, "audit_logs", where=day_range("created_date"))


def compact(
    conn: psycopg.Connection,
    before: datetime | None = None,
    since: datetime | None = None,
    nowait: bool = False,
) -> int:
    """Merge the partial rows of the hours in [since, before) into one per key.

    Both bounds are optional (None: unbounded). Returns the rows removed.
    Rows written meanwhile by other transactions are not seen by the DELETE
    and stay as they are, so compaction never loses a concurrent write; keys
    that sum to nothing disappear. With nowait, a compaction that finds
    another deleter at work returns at once.
    """
    removed = 0
    if not installed(conn):
        return removed
    hours = {
        "before": before or datetime.max.replace(tzinfo=UTC),
        "since": since or datetime.min.replace(tzinfo=UTC),
    }
    for rollup in ROLLUPS:
        key = sql.SQL(", ").join(map(sql.Identifier, rollup.key))
        sums = sql.SQL(", ").join(sql.SQL("sum({})").format(sql.Identifier(m)) for m in MEASURES)
        nonzero = sql.SQL(" OR ").join(
            sql.SQL("sum({}) <> 0").format(sql.Identifier(m)) for m in MEASURES
        )
        # Only keys with several partial rows (or one that sums to nothing)
        # are rewritten: a compacted hour is left as it is.
        with conn.transaction():
            if not lock_rollups(conn, wait=not nowait):
                return removed
            cur = conn.execute(
                sql.SQL(
                    "WITH moved AS (DELETE FROM {table} WHERE {hours} "
                    "AND ({key}) IN (SELECT {key} FROM {table} WHERE {hours} "
                    "GROUP BY {key} HAVING count(*) > 1 OR NOT ({nonzero})) RETURNING *), "
                    "merged AS (INSERT INTO {table} SELECT {key}, {sums} FROM moved "
                    "GROUP BY {key} HAVING {nonzero} RETURNING 1) "
                    "SELECT (SELECT count(*) FROM moved) - (SELECT count(*) FROM merged)"
                ).format(
                    table=sql.Identifier(rollup.table),
                    key=key,
                    sums=sums,
                    nonzero=nonzero,
                    hours=sql.SQL("bucket >= %(since)s AND bucket < %(before)s"),
                ),
                hours,
            )
            row = cur.fetchone()
            removed += int(row[0]) if row else 0
    return removed


def installed(conn: psycopg.Connection) -> bool:
    """Whether this database has the rollups (a Go-only database we never migrated has not)."""
    row = conn.execute(
        "SELECT bool_and(to_regclass(name) IS NOT NULL) FROM unnest(%s::text[]) AS name",
        ([rollup.table for rollup in ROLLUPS],),
    ).fetchone()
    return bool(row and row[0])


def delete_days(conn: psycopg.Connection, first: date | None, last: date) -> None:
    """Delete the rollup rows of created_dates first..last (a partition being dropped)."""
    if not installed(conn):
        return
    with conn.transaction():  # a savepoint inside the caller's transaction
        lock_rollups(conn)  # a compaction must not merge rows of these days back in
        for rollup in ROLLUPS:
            conn.execute(
                sql.SQL("DELETE FROM {} WHERE {}").format(
                    sql.Identifier(rollup.table), day_range("created_date")
                ),
                {"first": first, "last": last},
            )


def delete_before(conn: psycopg.Connection, day: date, default: tuple[str, str] | None) -> None:
    """Delete the rollup rows of created_dates before `day` that the `default` partition lacks.

    One statement per rollup reads the default partition's oldest
    created_date in the snapshot of its DELETE, so a row written there
    meanwhile keeps its partial row (module docstring).
    """
    if not installed(conn):
        return
    oldest = (
        sql.SQL("(SELECT min(created_date) FROM {})").format(sql.Identifier(*default))
        if default
        else sql.SQL("NULL::date")
    )
    with conn.transaction():
        lock_to_recount(conn)
        for rollup in ROLLUPS:
            conn.execute(
                sql.SQL(
                    "DELETE FROM {table} WHERE created_date < LEAST(%(day)s::date, {oldest})"
                ).format(table=sql.Identifier(rollup.table), oldest=oldest),
                {"day": day},
            )


@dataclass(frozen=True, slots=True)
class Status:
    table: str
    rows: int
    first_bucket: datetime | None
    last_bucket: datetime | None


@dataclass(frozen=True, slots=True)
class Coverage:
    """How far the backfill has come: rollups hold every row of created_date >= covered_from."""

    covered_from: date | None  # None: every day
    oldest: date | None  # the oldest day a stored row may have

    @property
    def days_left(self) -> int:
        if self.covered_from is None or self.oldest is None:
            return 0
        return max(0, (self.covered_from - self.oldest).days)

    def describe(self) -> str:
        if self.days_left == 0:
            return "every stored row is counted"
        assert self.covered_from is not None
        return (
            f"rows from {self.covered_from.isoformat()} on are counted; backfilling, "
            f"{self.days_left} day(s) left (back to {self.oldest}); older days read raw rows"
        )


def coverage(conn: psycopg.Connection) -> Coverage:
    return Coverage(covered_since(conn), oldest_day(conn))


def status(conn: psycopg.Connection) -> list[Status]:
    result = []
    for rollup in ROLLUPS:
        row = conn.execute(
            sql.SQL("SELECT count(*), min(bucket), max(bucket) FROM {}").format(
                sql.Identifier(rollup.table)
            )
        ).fetchone()
        assert row is not None
        result.append(Status(rollup.table, int(row[0]), row[1], row[2]))
    return result
