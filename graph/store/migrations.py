"""Schema migrations: idempotent, tracked, safe to run from many replicas at once.

A new database and one created by the original Go service take the same path:
the first migration creates the original columns only if the table is missing,
the second adds every later column with IF NOT EXISTS. Each migration runs in
its own transaction under a transaction-level advisory lock, and is recorded
in `audit_graph_migrations`, so a replica that starts while another migrates
waits and then finds the work done.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import psycopg
from psycopg import sql

from . import feed, partitions, rollups
from .rules import DEFAULT_EVENT_KIND_SQL

log = logging.getLogger(__name__)

# "audit_mg" in ASCII; distinct from the maintenance lock key.
MIGRATION_LOCK_KEY = 0x61756469745F6D67

ORIGINAL_TABLE = """
CREATE TABLE audit_logs (
    id            varchar(32)  NOT NULL,
    timestamp     timestamptz  NOT NULL,
    duration_ms   integer,
    request_id    varchar(255),
    user_id       varchar(255),
    user_email    varchar(255),
    persona       varchar(100),
    tool_name     varchar(255) NOT NULL,
    toolkit_kind  varchar(100),
    toolkit_name  varchar(100),
    connection    varchar(100),
    parameters    jsonb,
    success       boolean      NOT NULL,
    error_message text,
    created_date  date         NOT NULL,
    PRIMARY KEY (id, created_date)
) PARTITION BY RANGE (created_date)
"""


def create_table(conn: psycopg.Connection) -> None:
    kind = conn.execute(
        "SELECT c.relkind FROM pg_class c WHERE c.oid = to_regclass('audit_logs')"
    ).fetchone()
    if kind is None:
        conn.execute(ORIGINAL_TABLE)
    elif kind[0] == "r":
        convert_plain_table(conn)
    conn.execute("CREATE TABLE IF NOT EXISTS audit_logs_default PARTITION OF audit_logs DEFAULT")


def convert_plain_table(conn: psycopg.Connection) -> None:
    """Turn an unpartitioned audit_logs into the DEFAULT partition of a new parent.

    No row moves: the old table is renamed and attached as it is. Its rows
    leave through the retention DELETE, as rows of the default partition do.
    """
    log.info("converting unpartitioned audit_logs into a partitioned table")
    conn.execute("ALTER TABLE audit_logs RENAME TO audit_logs_default")
    pkey = conn.execute(
        "SELECT conname FROM pg_constraint "
        "WHERE conrelid = 'audit_logs_default'::regclass AND contype = 'p'"
    ).fetchone()
    if pkey is not None:
        conn.execute(
            sql.SQL("ALTER TABLE audit_logs_default RENAME CONSTRAINT {} TO {}").format(
                sql.Identifier(pkey[0]), sql.Identifier("audit_logs_default_pkey")
            )
        )
    conn.execute(
        "CREATE TABLE audit_logs (LIKE audit_logs_default INCLUDING DEFAULTS) "
        "PARTITION BY RANGE (created_date)"
    )
    conn.execute("ALTER TABLE audit_logs ADD PRIMARY KEY (id, created_date)")
    conn.execute("ALTER TABLE audit_logs ATTACH PARTITION audit_logs_default DEFAULT")


LATER_COLUMNS = """
ALTER TABLE audit_logs
    ADD COLUMN IF NOT EXISTS response_chars          integer      DEFAULT 0,
    ADD COLUMN IF NOT EXISTS request_chars           integer      DEFAULT 0,
    ADD COLUMN IF NOT EXISTS content_blocks          integer      DEFAULT 0,
    ADD COLUMN IF NOT EXISTS session_id              text         DEFAULT '',
    ADD COLUMN IF NOT EXISTS transport               varchar(30)  DEFAULT 'stdio',
    ADD COLUMN IF NOT EXISTS source                  varchar(30)  DEFAULT 'mcp',
    ADD COLUMN IF NOT EXISTS enrichment_applied      boolean      DEFAULT false,
    ADD COLUMN IF NOT EXISTS authorized              boolean      DEFAULT true,
    ADD COLUMN IF NOT EXISTS enrichment_tokens_full  integer      DEFAULT 0,
    ADD COLUMN IF NOT EXISTS enrichment_tokens_dedup integer      DEFAULT 0,
    ADD COLUMN IF NOT EXISTS enrichment_mode         varchar(20)  DEFAULT '',
    ADD COLUMN IF NOT EXISTS enrichment_match_kind   varchar(20)  DEFAULT '',
    ADD COLUMN IF NOT EXISTS event_kind              varchar(64)
"""

# Rows written before event_kind existed get the kind `log` would derive for them,
# so filters on event_kind see them.
BACKFILL_EVENT_KIND = f"""
UPDATE audit_logs SET event_kind = {DEFAULT_EVENT_KIND_SQL} WHERE event_kind IS NULL
"""

# id is compared in the "C" collation everywhere (code-point order on every
# server), so the index that serves the default sort is built the same way.
INDEXES = """
CREATE INDEX IF NOT EXISTS audit_logs_timestamp_id_idx ON audit_logs (timestamp, id COLLATE "C");
CREATE INDEX IF NOT EXISTS audit_logs_user_timestamp_idx ON audit_logs (user_id, timestamp);
"""


# The statistics read a time window and a dozen narrow columns. With those
# columns in the timestamp index, every statistic is an index-only scan of
# just the window's slice of the index: no heap pages, whatever the physical
# order of the rows. The same index serves the default sort and its keyset
# cursor (timestamp, id), so it replaces the plain one. Measured in
# bench/README.md ("Plans").
TIMELINE_INDEX = """
CREATE INDEX IF NOT EXISTS audit_logs_timeline_idx ON audit_logs (timestamp, id COLLATE "C")
    INCLUDE (created_date, success, duration_ms, user_id, user_email, tool_name, event_kind,
             toolkit_kind, session_id, enrichment_applied, enrichment_mode,
             enrichment_tokens_full, enrichment_tokens_dedup, response_chars, request_chars);
DROP INDEX IF EXISTS audit_logs_timestamp_id_idx;
"""


# Why the agent made the call; NULL on rows written before the column existed.
PURPOSE = "ALTER TABLE audit_logs ADD COLUMN IF NOT EXISTS purpose text"


# A session's calls, and its timeline in (timestamp, id) order, without a
# scan of the table (sessions.py).
SESSION_INDEX = """
CREATE INDEX IF NOT EXISTS audit_logs_session_idx
    ON audit_logs (session_id, timestamp, id COLLATE "C")
"""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    apply: Callable[[psycopg.Connection], object]


def run_sql(statements: str) -> Callable[[psycopg.Connection], object]:
    return lambda conn: conn.execute(statements)


MIGRATIONS = (
    Migration(1, "create partitioned audit_logs with a default partition", create_table),
    Migration(2, "add the columns later versions of the Go service added", run_sql(LATER_COLUMNS)),
    Migration(3, "derive event_kind of rows written without one", run_sql(BACKFILL_EVENT_KIND)),
    Migration(4, "indexes for the default sort and per-user statistics", run_sql(INDEXES)),
    Migration(5, "covering timeline index for index-only statistics", run_sql(TIMELINE_INDEX)),
    Migration(6, "add purpose, as the newest Go service has it", run_sql(PURPOSE)),
    # Built from rollups.py as it is now, idempotently: a later rollup is a new
    # migration that runs `schema_sql` again (CREATE ... IF NOT EXISTS, CREATE
    # OR REPLACE) and moves the coverage back so the backfill counts its past.
    Migration(7, "hourly rollups kept by statement triggers", rollups.install),
    Migration(8, "fill the rollups online, newest day first", rollups.track_coverage),
    Migration(9, "announce every writer's inserts to the live tail", feed.install),
    Migration(10, "index each session's calls in time order", run_sql(SESSION_INDEX)),
)


def migrate(conninfo: str, *, today: date | None = None) -> list[str]:
    """Apply every pending migration; return the names of those applied now.

    With `today`, the month's partition is created too unless the default
    partition holds rows of it, so rows written next land in it (`audit-graph
    migrate`, `seed`); a server does the same at start-up (maintenance).
    """
    applied: list[str] = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        with conn.transaction():
            # Under the lock: concurrent CREATE TABLE IF NOT EXISTS can still collide.
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS audit_graph_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
        for migration in MIGRATIONS:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
                done = conn.execute(
                    "SELECT 1 FROM audit_graph_migrations WHERE version = %s",
                    (migration.version,),
                ).fetchone()
                if done:
                    continue
                log.info("applying migration %d: %s", migration.version, migration.name)
                migration.apply(conn)
                conn.execute(
                    "INSERT INTO audit_graph_migrations (version, name) VALUES (%s, %s)",
                    (migration.version, migration.name),
                )
                applied.append(migration.name)
        if today is not None:
            # As the maintenance tick does: give up rather than queue writers behind the DDL.
            conn.execute("SET lock_timeout = '5s'")
            result = partitions.ensure_months_with_no_default_rows(conn, today, today)
            for error in result.errors:
                log.warning("migrate: %s", error)
    return applied
