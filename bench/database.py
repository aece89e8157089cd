"""The benchmark's database: where it runs, seeding it once, and keeping it comparable.

The default is an embedded PostgreSQL per event count under bench/data/, so a
re-run at the same size finds its data and skips the seeding. Rows the write
cases add carry ids starting with `WRITE_ID_PREFIX` and timestamps in January
2000, far from the seeded days, and land in a partition of their own,
`THROWAWAY_PARTITION`, which is truncated after every repeat. In a partition
of their own they never leave dead tuples in the partitions that hold the
seeded rows: deleting millions of COPYed rows from the default partition made
it grow, and every later statistic scanned the empty pages (the statistics
cases would drift from run to run).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from graph.store import rollups

from .server import REPO, clean_env

THROWAWAY_START = datetime(2000, 1, 1, tzinfo=UTC)
THROWAWAY_END = datetime(2000, 2, 1, tzinfo=UTC)
WRITE_ID_PREFIX = "bw"
# The floor opens 64 connections while the server's pools (two per worker)
# may still hold theirs; 100, PostgreSQL's default, is not enough for both.
MIN_MAX_CONNECTIONS = 200
DEFAULT_DAYS = 30

THROWAWAY_PARTITION = "audit_logs_2000_01"
# Rows of the throwaway month written before it had a partition (into the default).
DELETE_THROWAWAY = """
DELETE FROM audit_logs
WHERE created_date >= %(start)s::date AND created_date < %(end)s::date
  AND timestamp >= %(start)s AND timestamp < %(end)s
  AND id LIKE 'bw%%'
"""
CREATE_THROWAWAY_PARTITION = f"""
CREATE TABLE IF NOT EXISTS {THROWAWAY_PARTITION} PARTITION OF audit_logs
FOR VALUES FROM ('2000-01-01') TO ('2000-02-01')
"""

# The write floors write into a table shaped like ours (columns, defaults,
# indexes) but without the rollup triggers: the floor is a plain INSERT or COPY
# into a table of this shape. Made anew every run, so it follows migrations.
WRITE_FLOOR_SCHEMA = "write_floor"
WRITE_FLOOR_TABLE = f"""
DROP SCHEMA IF EXISTS {WRITE_FLOOR_SCHEMA} CASCADE;
CREATE SCHEMA {WRITE_FLOOR_SCHEMA};
CREATE TABLE {WRITE_FLOOR_SCHEMA}.audit_logs (LIKE public.audit_logs INCLUDING ALL)
    PARTITION BY RANGE (created_date);
CREATE TABLE {WRITE_FLOOR_SCHEMA}.{THROWAWAY_PARTITION} PARTITION OF {WRITE_FLOOR_SCHEMA}.audit_logs
    FOR VALUES FROM ('2000-01-01') TO ('2000-02-01');
"""


# The statistics floors run on a copy of the seeded rows that has the original
# Go store's indexes, not ours: the issue measures against "the seed's SQL on
# the seed's indexes". The seed's documentation does not list its indexes; we
# take the ones a Go audit table of this shape typically has (timestamp, and
# the columns its filters test for equality), and say so in bench/README.md.
SEED_FLOOR_SCHEMA = "seed_floor"
SEED_FLOOR_TABLE = f"""
CREATE TABLE {SEED_FLOOR_SCHEMA}.audit_logs (LIKE public.audit_logs INCLUDING DEFAULTS)
    PARTITION BY RANGE (created_date);
CREATE TABLE {SEED_FLOOR_SCHEMA}.audit_logs_default
    PARTITION OF {SEED_FLOOR_SCHEMA}.audit_logs DEFAULT;
"""
SEED_FLOOR_INDEXES = f"""
ALTER TABLE {SEED_FLOOR_SCHEMA}.audit_logs ADD PRIMARY KEY (id, created_date);
CREATE INDEX ON {SEED_FLOOR_SCHEMA}.audit_logs (timestamp);
CREATE INDEX ON {SEED_FLOOR_SCHEMA}.audit_logs (user_id);
CREATE INDEX ON {SEED_FLOOR_SCHEMA}.audit_logs (tool_name);
CREATE INDEX ON {SEED_FLOOR_SCHEMA}.audit_logs (session_id);
"""


ROWS_SIGNATURE = "SELECT count(*), min(timestamp), max(timestamp) FROM {table}"


class SetupError(RuntimeError):
    """The benchmark cannot use the database it was given; the message says why."""


def run_cli(*args: str) -> None:
    """`audit-graph ARGS` as the user would run it, output straight to our terminal."""
    command = [sys.executable, "-m", "graph.cli", *args]
    completed = subprocess.run(command, cwd=REPO, env=clean_env(), check=False)
    if completed.returncode != 0:
        raise SetupError(f"{' '.join(command[1:])} exited with status {completed.returncode}")


class BenchDatabase:
    """The database URL, starting (and stopping) an embedded server when none is given."""

    def __init__(self, url: str | None, data_root: Path, events: int, days: int) -> None:
        self.given_url = url
        # One embedded database per shape, so runs of other sizes never reseed it.
        self.data_dir = data_root / (
            f"events-{events}" if days == DEFAULT_DAYS else f"events-{events}-days-{days}"
        )
        self.embedded: Any = None
        self.url = url or ""

    @property
    def pgdata(self) -> Path | None:
        """The embedded server's data directory (to find its processes), else None."""
        return self.embedded.pgdata if self.embedded is not None else None

    @property
    def is_embedded(self) -> bool:
        return self.given_url is None

    def start(self) -> str:
        if self.is_embedded:
            from graph.embedded import EmbeddedPostgres

            self.embedded = EmbeddedPostgres(self.data_dir)
            self.url = self.embedded.start()
            if self._max_connections() < MIN_MAX_CONNECTIONS:
                # Our own embedded server: raise the limit once, it persists in the data dir.
                with psycopg.connect(self.url, autocommit=True) as conn:
                    conn.execute(f"ALTER SYSTEM SET max_connections = {MIN_MAX_CONNECTIONS}")
                self.embedded.stop()
                self.url = self.embedded.start()
        elif self._max_connections() < MIN_MAX_CONNECTIONS:
            print(
                f"warning: max_connections is {self._max_connections()}; the 64-connection "
                f"floor next to the server's pools wants {MIN_MAX_CONNECTIONS}",
                file=sys.stderr,
            )
        return self.url

    def stop(self) -> None:
        if self.embedded is not None:
            self.embedded.stop()
            self.embedded = None

    def _max_connections(self) -> int:
        with psycopg.connect(self.url, autocommit=True) as conn:
            row = conn.execute("SHOW max_connections").fetchone()
        assert row is not None
        return int(row[0])

    def connect(self) -> psycopg.Connection:
        conn = psycopg.connect(self.url, autocommit=True)
        conn.execute("SET TIME ZONE 'UTC'")
        return conn

    # --- seeding ----------------------------------------------------------------

    def prepare_throwaway(self) -> None:
        """Give the write cases' month its own partition (before the server starts).

        The default partition must hold none of its rows for the partition to
        be created, so any left there by an older run are deleted first.
        """
        with self.connect() as conn:
            conn.execute(WRITE_FLOOR_TABLE)
            exists = conn.execute(
                "SELECT to_regclass(%s) IS NOT NULL", (THROWAWAY_PARTITION,)
            ).fetchone()
            if exists and exists[0]:
                conn.execute(f"TRUNCATE {THROWAWAY_PARTITION}")
                return
            conn.execute(DELETE_THROWAWAY, {"start": THROWAWAY_START, "end": THROWAWAY_END})
            conn.execute(CREATE_THROWAWAY_PARTITION)

    def delete_throwaway(self) -> None:
        """Remove every row the write cases added: empty their partition, no dead tuples."""
        with self.connect() as conn:
            conn.execute(f"TRUNCATE {THROWAWAY_PARTITION}")
            conn.execute(f"TRUNCATE {WRITE_FLOOR_SCHEMA}.{THROWAWAY_PARTITION}")
            # A partition's TRUNCATE fires no trigger of audit_logs: its rollups go by hand.
            rollups.delete_days(conn, THROWAWAY_START.date(), THROWAWAY_END.date())

    def seeded_shape(self) -> tuple[int, float]:
        """(rows, days between the first and the last seeded timestamp)."""
        with self.connect() as conn:
            row = conn.execute(
                "SELECT count(*), extract(epoch FROM max(timestamp) - min(timestamp)) / 86400 "
                "FROM audit_logs"
            ).fetchone()
        assert row is not None
        return int(row[0]), float(row[1] or 0.0)

    def ensure_seeded(self, events: int, days: int, reseed: bool) -> str:
        """Seed unless the database already holds exactly `events` rows over `days` days.

        Returns what happened, for the report. A database that holds some other
        number of rows is emptied first only when it is our embedded one (or
        --reseed says so): a database someone else gave us is never truncated
        on a guess.
        """
        run_cli("migrate", "--database-url", self.url)
        self.prepare_throwaway()
        rows, span = self.seeded_shape()
        if rows == events and abs(span - days) <= 1.0 and not reseed:
            self.fill_rollups()
            return f"reused: {rows} rows over {span:.1f} days"
        if rows and not (self.is_embedded or reseed):
            raise SetupError(
                f"the database holds {rows} rows over {span:.1f} days, not {events} over {days}; "
                "pass --reseed to empty audit_logs and seed it again, or another --database-url"
            )
        if rows:
            with self.connect() as conn:
                conn.execute("TRUNCATE audit_logs")
        run_cli("seed", "--events", str(events), "--days", str(days), "--database-url", self.url)
        with self.connect() as conn:
            # Fresh statistics and visibility map: the state autovacuum reaches on its own.
            conn.execute("VACUUM (ANALYZE) audit_logs")
        rows, span = self.seeded_shape()
        if rows != events:
            raise SetupError(f"audit-graph seed wrote {rows} rows, not {events}")
        return f"seeded: {rows} rows over {span:.1f} days"

    def fill_rollups(self) -> None:
        """Finish the rollups' backfill (a database seeded before they existed) before measuring.

        A server does it in the background, reading raw rows meanwhile; the
        statistics cases must measure the state it settles in.
        """
        with self.connect() as conn:
            left = rollups.coverage(conn).days_left
            if left:
                print(f"rollups: backfilling {left} day(s) of rows stored before them")
            while (step := rollups.backfill_step(conn)) is not None and step.day is not None:
                pass
            rollups.compact(conn)
            conn.execute("VACUUM (ANALYZE) audit_rollup_tools, audit_rollup_users")

    def prepare_seed_floor(self) -> str:
        """Copy the seeded rows into a table with the seed's indexes (reused when current)."""
        with self.connect() as conn:
            current = conn.execute(
                f"SELECT to_regclass('{SEED_FLOOR_SCHEMA}.audit_logs') IS NOT NULL"
            ).fetchone()
            # The same rows, not only as many: a reseed writes new timestamps.
            ours = conn.execute(ROWS_SIGNATURE.format(table="public.audit_logs")).fetchone()
            if current and current[0]:
                theirs = conn.execute(
                    ROWS_SIGNATURE.format(table=f"{SEED_FLOOR_SCHEMA}.audit_logs")
                ).fetchone()
                if theirs == ours:
                    return f"reused: {SEED_FLOOR_SCHEMA}.audit_logs"
            conn.execute(f"DROP SCHEMA IF EXISTS {SEED_FLOOR_SCHEMA} CASCADE")
            conn.execute(f"CREATE SCHEMA {SEED_FLOOR_SCHEMA}")
            conn.execute(SEED_FLOOR_TABLE)
            conn.execute(
                f"INSERT INTO {SEED_FLOOR_SCHEMA}.audit_logs SELECT * FROM public.audit_logs"
            )
            conn.execute(SEED_FLOOR_INDEXES)
            conn.execute(f"VACUUM (ANALYZE) {SEED_FLOOR_SCHEMA}.audit_logs")
        return f"copied: {SEED_FLOOR_SCHEMA}.audit_logs"

    def newest_rows(self, count: int) -> tuple[int, datetime, datetime]:
        """(rows, start, end): the range of the newest `count` seeded rows (fewer if not held)."""
        with self.connect() as conn:
            bounds = conn.execute(
                "SELECT min(timestamp), max(timestamp), count(*) FROM ("
                " SELECT timestamp FROM audit_logs WHERE timestamp >= %s"
                " ORDER BY timestamp DESC LIMIT %s) AS newest",
                (THROWAWAY_END, count),
            ).fetchone()
            assert bounds is not None and bounds[0] is not None, "the database holds no events"
            start, end, _ = bounds
            row = conn.execute(
                "SELECT count(*) FROM audit_logs WHERE timestamp BETWEEN %s AND %s", (start, end)
            ).fetchone()
        assert row is not None
        return int(row[0]), start, end

    def vacuum(self) -> None:
        with self.connect() as conn:
            conn.execute("VACUUM (ANALYZE) audit_logs")


@dataclass(frozen=True)
class StatsWindow:
    """The last 7 days of the seeded data: the filter of every statistics case."""

    start: datetime
    end: datetime
    rows: int

    @classmethod
    def last_days(cls, db: BenchDatabase, days: int = 7) -> StatsWindow:
        with db.connect() as conn:
            row = conn.execute(
                "SELECT max(timestamp) FROM audit_logs WHERE timestamp >= %s", (THROWAWAY_END,)
            ).fetchone()
            assert row is not None and row[0] is not None, "the database holds no events"
            # Whole seconds: the same instant in GraphQL (ISO text) and SQL, no rounding.
            end = row[0].replace(microsecond=0) + timedelta(seconds=1)
            start = end - timedelta(days=days)
            count = conn.execute(
                "SELECT count(*) FROM audit_logs WHERE timestamp BETWEEN %s AND %s", (start, end)
            ).fetchone()
        assert count is not None
        return cls(start=start, end=end, rows=int(count[0]))

    def variables(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}


def machine(db: BenchDatabase) -> dict[str, Any]:
    """What the numbers were measured on, PostgreSQL settings that shape them included."""
    import platform

    import psutil

    with db.connect() as conn:
        settings = {
            name: conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
            for name in (
                "server_version", "max_connections", "shared_buffers", "work_mem",
                "max_parallel_workers_per_gather", "fsync", "synchronous_commit", "jit",
            )
        }  # fmt: skip
    cpu_model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "postgresql_version": settings.pop("server_version"),
        "postgresql_settings": settings,
        "database": "embedded (bench/data)" if db.is_embedded else "given --database-url",
    }
