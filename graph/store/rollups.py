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

Reads do not use the rollups yet (see bench/README.md, "Rollups").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import psycopg
from psycopg import sql


@dataclass(frozen=True, slots=True)
class Rollup:
    """One rollup table: its name and the columns of audit_logs it is keyed by."""

    table: str
    dimensions: tuple[str, ...]

    @property
    def key(self) -> tuple[str, ...]:
        return ("bucket", "created_date", *self.dimensions)


ROLLUPS = (
    Rollup(
        "audit_rollup_tools", ("tool_name", "toolkit_kind", "connection", "source", "event_kind")
    ),
    Rollup("audit_rollup_users", ("user_id", "user_email", "persona", "source", "event_kind")),
)

# Each measure: its column and the aggregate over audit_logs rows that makes it.
MEASURES = {
    "calls": "count(*)",
    "successes": "count(*) FILTER (WHERE success)",
    "duration_sum": "COALESCE(sum(duration_ms), 0)",
    "durations": "count(duration_ms)",
    "enriched": "count(*) FILTER (WHERE enrichment_applied)",
}


def partial_rows(
    rollup: Rollup,
    source: str,
    sign: int = 1,
    where: sql.Composable | None = None,
    fold_nulls: bool = True,
) -> sql.Composable:
    """SELECT of `source`'s rows as partial rollup rows, each measure times `sign`.

    NULL text is grouped as '' (as the statistics read it).
    """
    columns = [
        # date_bin on the instant: the UTC hour whatever the session's time zone.
        sql.SQL("date_bin('1 hour', timestamp, '2000-01-01T00:00:00Z') AS bucket"),
        sql.SQL("created_date"),
    ]
    columns += [folded(name) if fold_nulls else sql.Identifier(name) for name in rollup.dimensions]
    columns += [
        sql.SQL("{} AS {}").format(
            sql.SQL(aggregate if sign == 1 else f"-{aggregate}"), sql.Identifier(measure)
        )
        for measure, aggregate in MEASURES.items()
    ]
    return sql.SQL("SELECT {columns} FROM {source} {where} GROUP BY {positions}").format(
        columns=sql.SQL(", ").join(columns),
        source=sql.Identifier(source),
        where=sql.SQL("WHERE {}").format(where) if where is not None else sql.SQL(""),
        positions=sql.SQL(", ").join(sql.Literal(n) for n in range(1, len(rollup.key) + 1)),
    )


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
    """Create the rollups and their triggers, and fill them from the rows already stored.

    Runs in the migration's transaction: CREATE TRIGGER holds off writers of
    audit_logs until it commits, so no row is counted twice or missed.
    """
    conn.execute(schema_sql())
    for rollup in ROLLUPS:
        conn.execute(
            sql.SQL("INSERT INTO {table} {rows}").format(
                table=sql.Identifier(rollup.table), rows=raw_sums(rollup)
            ),
            {"first": None, "last": None},
        )


def lock_rollups(conn: psycopg.Connection) -> None:
    """Hold off compaction, rebuilds and the triggers' inserts until this transaction ends."""
    conn.execute(
        sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(
            sql.SQL(", ").join(sql.Identifier(rollup.table) for rollup in ROLLUPS)
        )
    )


def day_range(column: str) -> sql.Composable:
    """`column` between %(first)s and %(last)s, each bound optional (NULL: unbounded)."""
    name = sql.Identifier(column)
    return sql.SQL(
        "(%(first)s::date IS NULL OR {name} >= %(first)s) "
        "AND (%(last)s::date IS NULL OR {name} <= %(last)s)"
    ).format(name=name)


def rebuild(conn: psycopg.Connection, first: date | None = None, last: date | None = None) -> None:
    """Recompute the rollups of the created_dates from first to last (all when None) from raw rows.

    In one transaction that locks audit_logs against writes (SHARE), so no
    trigger adds a partial row for a statement the rebuild also counts, and
    the rollups against a compaction that would merge rows it deletes.
    """
    params = {"first": first, "last": last}
    with conn.transaction():
        conn.execute("LOCK TABLE audit_logs IN SHARE MODE")
        lock_rollups(conn)
        for rollup in ROLLUPS:
            conn.execute(
                sql.SQL("DELETE FROM {} WHERE {}").format(
                    sql.Identifier(rollup.table), day_range("created_date")
                ),
                params,
            )
            conn.execute(
                sql.SQL("INSERT INTO {table} {rows}").format(
                    table=sql.Identifier(rollup.table), rows=raw_sums(rollup)
                ),
                params,
            )


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


def compact(conn: psycopg.Connection, before: datetime) -> int:
    """Merge the partial rows of the hours before `before` into one per key; return rows removed.

    Rows written meanwhile by other transactions are not seen by the DELETE
    and stay as they are, so compaction never loses a concurrent write.
    Keys that sum to nothing disappear.
    """
    removed = 0
    if not installed(conn):
        return removed
    for rollup in ROLLUPS:
        key = sql.SQL(", ").join(map(sql.Identifier, rollup.key))
        sums = sql.SQL(", ").join(sql.SQL("sum({})").format(sql.Identifier(m)) for m in MEASURES)
        nonzero = sql.SQL(" OR ").join(
            sql.SQL("sum({}) <> 0").format(sql.Identifier(m)) for m in MEASURES
        )
        # Only keys with several partial rows (or one that sums to nothing)
        # are rewritten: a compacted hour is left as it is.
        with conn.transaction():
            cur = conn.execute(
                sql.SQL(
                    "WITH moved AS (DELETE FROM {table} WHERE bucket < %(before)s "
                    "AND ({key}) IN (SELECT {key} FROM {table} WHERE bucket < %(before)s "
                    "GROUP BY {key} HAVING count(*) > 1 OR NOT ({nonzero})) RETURNING *), "
                    "merged AS (INSERT INTO {table} SELECT {key}, {sums} FROM moved "
                    "GROUP BY {key} HAVING {nonzero} RETURNING 1) "
                    "SELECT (SELECT count(*) FROM moved) - (SELECT count(*) FROM merged)"
                ).format(table=sql.Identifier(rollup.table), key=key, sums=sums, nonzero=nonzero),
                {"before": before},
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


@dataclass(frozen=True, slots=True)
class Status:
    table: str
    rows: int
    first_bucket: datetime | None
    last_bucket: datetime | None


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
