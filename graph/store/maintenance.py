"""The maintenance tick (SPEC 5): partitions ahead, retention, expired partitions, rollups.

A tick takes `pg_try_advisory_lock(key)` on its connection. A process that
does not get it skips the tick: another replica is doing the same work right
now. Holding it, the tick runs its steps in order (ensure the next months'
partitions, delete rows older than the retention cutoff, drop partitions that
aged out), each isolated so one failure is logged, reported and does not stop
the next, and then releases the lock on the same connection, with a short
statement timeout so the release can never hang a shutdown.

`tick` is the unit: `Store.run_maintenance` and `audit-graph maintain --once`
call it on a fresh connection. `Maintenance` is the background thread of a
running server: it owns one dedicated connection, runs the ensure step at
start and a full tick every interval, and stops promptly on `close`, cancelling
a statement that is still running.

Between ticks, every `upkeep_interval` seconds, the thread keeps the rollups
small and whole (`upkeep`): it backfills the days the rollups do not cover
yet, newest first, and compacts the partial rows the writers add. Not under
the tick's lock: both try the rollups' own lock (`rollups.lock_rollups`)
without waiting, so of many replicas one does the work and the others skip.

Everything here is synchronous on purpose: partition DDL and a large DELETE
are long, rare statements that must not occupy the async pools that serve
requests.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import psycopg

from graph.constants import PARTITIONS_AHEAD

from . import partitions, rollups
from .errors import StoreUnavailable
from .models import MaintenanceReport

log = logging.getLogger(__name__)

# CREATE/DROP of a partition needs a strong lock on audit_logs; while it waits
# in the lock queue every writer queues behind it. Give up quickly instead and
# let the next tick try again.
DDL_LOCK_TIMEOUT = 5.0
# The unlock statement takes no lock; this bounds a stuck network or server.
UNLOCK_TIMEOUT = 2.0
# How long close() waits for the thread before abandoning it (it is a daemon).
STOP_TIMEOUT = 5.0
# close() re-sends a cancel this often, in case the first one landed between
# two statements and the thread went on into the next one.
CANCEL_INTERVAL = 0.25
APPLICATION_NAME = "audit-graph maintenance"

STEP_ENSURE = "ensure partitions"
STEP_DELETE = "retention delete"
STEP_DROP = "drop expired partitions"
STEP_COMPACT = "compact rollups"
# How often the rollups are backfilled and compacted between ticks. Each
# statement of a writer adds partial rows; compacting often keeps the hours a
# dashboard reads near one row per key.
UPKEEP_INTERVAL = 10.0
# A backfill runs day after day for at most this long before it compacts.
BACKFILL_BUDGET = 5.0
# The hours the upkeep compacts: where writers add partial rows all the time.
UPKEEP_COMPACTS = timedelta(hours=3)


def never() -> bool:
    return False


def tick(
    conn: psycopg.Connection,
    *,
    lock_key: int,
    now: datetime,
    retention_days: int,
    full: bool = True,
    months_ahead: int = PARTITIONS_AHEAD,
    ddl_lock_timeout: float = DDL_LOCK_TIMEOUT,
    stopping: Callable[[], bool] = never,
) -> MaintenanceReport:
    """One maintenance tick on `conn` (autocommit) under the advisory lock.

    full=False runs only the ensure step (the start-up run of SPEC 5).
    Failures of the steps are in the report, never raised; only a failure to
    ask for the lock (the database is unreachable) raises psycopg.Error.
    `stopping` is polled between steps: once it returns True the remaining
    steps are skipped, so a shutdown is not held up by work nobody waits for.
    The retention cutoff is `now - retention_days`, the same instant
    `Store.retention_cutoff` gives for that `now`.
    """
    report = MaintenanceReport(ran_at=now)
    if stopping() or not try_lock(conn, lock_key):
        return report
    report.lock_acquired = True
    try:
        run_steps(conn, report, now, retention_days, full, months_ahead, ddl_lock_timeout, stopping)
    finally:
        release_lock(conn, lock_key)
    return report


def run_steps(
    conn: psycopg.Connection,
    report: MaintenanceReport,
    now: datetime,
    retention_days: int,
    full: bool,
    months_ahead: int,
    ddl_lock_timeout: float,
    stopping: Callable[[], bool],
) -> None:
    def ensure() -> None:
        set_lock_timeout(conn, ddl_lock_timeout)
        result = partitions.ensure_monthly_partitions(conn, months_ahead, now.date())
        report.partitions_created.extend(result.names)
        report.errors.extend(result.errors)

    def delete() -> None:
        # The DELETE takes only row locks and ROW EXCLUSIVE, which no writer
        # waits for, so it keeps the session's own lock_timeout (none by default).
        conn.execute("RESET lock_timeout")
        cutoff = now - timedelta(days=retention_days)
        report.rows_deleted = partitions.delete_expired_rows(conn, cutoff)

    def drop() -> None:
        set_lock_timeout(conn, ddl_lock_timeout)
        result = partitions.drop_expired_partitions(conn, retention_days, now)
        report.partitions_dropped.extend(result.names)
        report.errors.extend(result.errors)

    def compact() -> None:
        # Hours before the current one: writers still add partial rows to it.
        removed = rollups.compact(conn, now.replace(minute=0, second=0, microsecond=0))
        log.info("maintenance: compacted %d partial rollup row(s)", removed)

    steps: list[tuple[str, Callable[[], None]]] = [(STEP_ENSURE, ensure)]
    if full:
        steps += [(STEP_DELETE, delete), (STEP_DROP, drop), (STEP_COMPACT, compact)]
    for name, step in steps:
        if stopping():
            log.info("maintenance: %s skipped, shutting down", name)
            report.errors.append(f"{name}: skipped, shutting down")
            continue
        if conn.closed or conn.broken:
            # The session (and with it the advisory lock) is gone: running the
            # step on a new connection could overlap another replica's tick.
            report.errors.append(f"{name}: skipped, the database connection was lost")
            continue
        try:
            step()
        except psycopg.Error as exc:
            log.warning("maintenance: %s failed: %s", name, exc)
            report.errors.append(f"{name}: {describe(exc)}")
        except Exception as exc:
            log.exception("maintenance: %s failed unexpectedly", name)
            report.errors.append(f"{name}: unexpected {type(exc).__name__}: {exc}")


def describe(exc: psycopg.Error) -> str:
    """The server's one-line message, without the SQL context lines."""
    message = exc.diag.message_primary or str(exc).strip()
    return message.splitlines()[0] if message else type(exc).__name__


def set_lock_timeout(conn: psycopg.Connection, seconds: float) -> None:
    conn.execute(
        "SELECT set_config('lock_timeout', %s, false)", (f"{max(0, int(seconds * 1000))}ms",)
    )


def try_lock(conn: psycopg.Connection, key: int) -> bool:
    row = conn.execute("SELECT pg_try_advisory_lock(%s::bigint)", (key,)).fetchone()
    return bool(row and row[0])


def release_lock(conn: psycopg.Connection, key: int) -> None:
    """Release the session lock on the connection that took it; never hang, never raise.

    When the release itself fails the connection is closed: the server drops
    every session-level advisory lock of a backend that goes away.
    """
    if conn.closed or conn.broken:
        return  # the backend is gone, and its locks with it
    try:
        conn.execute(
            "SELECT set_config('statement_timeout', %s, false)",
            (f"{int(UNLOCK_TIMEOUT * 1000)}ms",),
        )
        row = conn.execute("SELECT pg_advisory_unlock(%s::bigint)", (key,)).fetchone()
        conn.execute("RESET statement_timeout")
    except Exception as exc:
        log.warning("maintenance: could not release the lock (%s); closing its connection", exc)
        conn.close()
        return
    if not (row and row[0]):
        log.warning("maintenance: the advisory lock %#x was not held at release", key)


def upkeep(
    conn: psycopg.Connection,
    stopping: Callable[[], bool] = never,
    budget: float = BACKFILL_BUDGET,
    since: datetime | None = None,
) -> int:
    """Backfill uncovered days for up to `budget` seconds, then compact; return days filled.

    Compacts the hours from `since` on (all when None): the ones writers add
    to; older hours that late events reach wait for the full tick's compaction.
    """
    if not rollups.installed(conn):
        return 0
    # The tick's DDL steps leave a short lock_timeout on this session; a
    # recount waiting behind a partition's DDL gives up the same way.
    set_lock_timeout(conn, DDL_LOCK_TIMEOUT)
    filled = 0
    deadline = time.monotonic() + budget
    while not stopping() and time.monotonic() < deadline:
        step = rollups.backfill_step(conn)
        if step is None or step.day is None:
            if step is not None and filled:
                log.info("rollups: backfill done; every stored row is counted")
            break
        filled += 1
        log.info("rollups: backfilled %s; %d day(s) left", step.day, step.days_left)
    if not stopping():
        removed = rollups.compact(conn, since=since, nowait=True)
        log.debug("rollups: compacted %d partial row(s)", removed)
    return filled


def summary(report: MaintenanceReport) -> str:
    """One log line for a tick."""
    if not report.lock_acquired:
        return "lock held elsewhere; skipped"
    text = (
        f"created {', '.join(report.partitions_created) or 'no partition'}; "
        f"deleted {report.rows_deleted} row(s); "
        f"dropped {', '.join(report.partitions_dropped) or 'no partition'}"
    )
    if report.errors:
        text += f"; {len(report.errors)} error(s): " + " | ".join(report.errors)
    return text


class Maintenance:
    """A maintenance thread: `start()` once, `close()` any number of times.

    connect: opens a new autocommit connection to the primary.
    clock: the current UTC time, read at each tick.
    interval: seconds between full ticks; the run at start does only the ensure step.
    lock_key, retention_days: as `tick` takes them.
    upkeep_interval: seconds between rollup upkeeps (`upkeep`).
    stop_timeout: how long close() waits for the thread before abandoning it.

    The thread keeps one dedicated connection (checked before each tick and
    replaced when it was lost) and catches everything per tick, so a
    database outage or a bug in one tick is logged with its traceback and
    the next tick starts afresh.
    """

    def __init__(
        self,
        connect: Callable[[], psycopg.Connection],
        clock: Callable[[], datetime],
        interval: float,
        *,
        lock_key: int,
        retention_days: int,
        stop_timeout: float = STOP_TIMEOUT,
        upkeep_interval: float = UPKEEP_INTERVAL,
    ) -> None:
        if not interval > 0:
            raise ValueError(f"the maintenance interval must be positive seconds; got {interval}")
        if not upkeep_interval > 0:
            raise ValueError(
                f"the rollup upkeep interval must be positive seconds; got {upkeep_interval}"
            )
        self.connect = connect
        self.clock = clock
        self.interval = interval
        self.lock_key = lock_key
        self.retention_days = retention_days
        self.stop_timeout = stop_timeout
        self.upkeep_interval = upkeep_interval
        self._upkeep_failing = False
        self._range_floor: tuple[object, ...] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: psycopg.Connection | None = None
        # Guards _conn between the thread (which replaces it) and close() (which cancels on it).
        self._conn_lock = threading.Lock()

    def start(self) -> None:
        if self._stop.is_set():
            raise RuntimeError("this maintenance thread was closed; create a new one")
        if self._thread is not None:
            raise RuntimeError("maintenance is already running")
        self._thread = threading.Thread(
            target=self._run, name="audit-graph-maintenance", daemon=True
        )
        self._thread.start()

    def close(self, timeout: float | None = None) -> bool:
        """Stop the thread and wait for it; True when it exited within the timeout.

        A tick in progress is cut short: its running statement is cancelled,
        the steps left are skipped, and the lock is released (or the
        connection closed, which releases it). Safe without start() and twice.
        """
        self._stop.set()
        thread = self._thread
        if thread is None:
            return True
        deadline = time.monotonic() + (self.stop_timeout if timeout is None else timeout)
        thread.join(min(0.05, self.stop_timeout))
        while thread.is_alive() and (left := deadline - time.monotonic()) > 0:
            self._cancel_statement()
            thread.join(min(CANCEL_INTERVAL, left))
        if thread.is_alive():
            log.warning(
                "maintenance thread still busy after %.1fs; leaving it behind (daemon)",
                self.stop_timeout if timeout is None else timeout,
            )
            return False
        return True

    def _cancel_statement(self) -> None:
        with self._conn_lock:
            conn = self._conn
        if conn is None or conn.closed:
            return
        try:
            conn.cancel_safe(timeout=1.0)
        except Exception as exc:  # the connection may be going away under us
            log.debug("maintenance: cancel failed: %s", exc)

    def _run(self) -> None:
        log.info("maintenance thread started (every %.0fs)", self.interval)
        try:
            self._tick(full=False)
            now = time.monotonic()
            next_tick, next_upkeep = now + self.interval, now
            while not self._stop.wait(max(0.0, min(next_tick, next_upkeep) - time.monotonic())):
                if time.monotonic() >= next_tick:
                    self._tick(full=True)
                    next_tick = time.monotonic() + self.interval
                if time.monotonic() >= next_upkeep and not self._stop.is_set():
                    self._upkeep()
                    next_upkeep = time.monotonic() + self.upkeep_interval
        finally:
            self._disconnect()
            log.info("maintenance thread stopped")

    def _tick(self, full: bool) -> None:
        try:
            conn = self._connection()
            report = tick(
                conn,
                lock_key=self.lock_key,
                now=self.clock(),
                retention_days=self.retention_days,
                full=full,
                stopping=self._stop.is_set,
            )
        except Exception:
            if self._stop.is_set():
                log.info("maintenance tick interrupted by shutdown")
            else:
                log.exception("maintenance tick failed; the next one starts on a new connection")
            self._disconnect()
            return
        level = logging.WARNING if report.errors else logging.INFO
        if report.lock_acquired or report.errors:
            log.log(level, "maintenance tick: %s", summary(report))
        else:
            log.debug("maintenance tick: %s", summary(report))

    def _upkeep(self) -> None:
        try:
            conn = self._connection()
            # A partition dropped by another process (the Go service) leaves
            # its days' rollup rows behind: forget them when the lowest
            # partition moves (a catalog read; the forgetting reads the
            # default partition, so only then).
            floor = partitions.range_floor(conn)
            if floor != self._range_floor:
                partitions.forget_dropped_days(conn)
                self._range_floor = floor
            upkeep(conn, self._stop.is_set, since=self.clock() - UPKEEP_COMPACTS)
        except (psycopg.OperationalError, StoreUnavailable) as exc:
            # Every few seconds during an outage: one line when it starts, no traceback.
            if not self._upkeep_failing and not self._stop.is_set():
                log.warning("rollup upkeep paused, the database is unreachable: %s", exc)
            self._upkeep_failing = True
            self._disconnect()
            return
        except psycopg.Error as exc:
            if not self._stop.is_set():
                log.warning("rollup upkeep failed, trying again shortly: %s", describe(exc))
            self._disconnect()
            return
        except Exception:
            if not self._stop.is_set():
                log.exception("rollup upkeep failed; the next one starts on a new connection")
            self._disconnect()
            return
        if self._upkeep_failing:
            log.info("rollup upkeep resumed")
        self._upkeep_failing = False

    def _connection(self) -> psycopg.Connection:
        """The thread's connection, replaced when it no longer answers.

        A connection idle for a whole interval (a day by default) is often cut
        by a firewall or an idle timeout; checking first keeps such a loss
        from costing a tick.
        """
        conn = self._conn
        if conn is not None and not conn.closed:
            try:
                conn.execute("SELECT 1")
                return conn
            except psycopg.Error as exc:
                log.warning("maintenance connection lost (%s); reconnecting", exc)
                self._disconnect()
        conn = self.connect()
        try:
            conn.execute("SELECT set_config('application_name', %s, false)", (APPLICATION_NAME,))
        except BaseException:
            conn.close()
            raise
        with self._conn_lock:
            self._conn = conn
        return conn

    def _disconnect(self) -> None:
        with self._conn_lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception as exc:
                log.debug("maintenance: closing the connection failed: %s", exc)
