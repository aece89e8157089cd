"""The `audit-graph` command: serve, migrate, seed, maintain, export-schema."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from . import logs
from .config import ConfigError, Settings, load_settings, parse_seconds
from .constants import LOG_FORMATS
from .embedded import EmbeddedError, EmbeddedPostgres

if TYPE_CHECKING:
    from .store import MaintenanceReport, Store

log = logging.getLogger("audit-graph")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
DEMO_EVENTS = 20_000
DEMO_DAYS = 7


@contextmanager
def database(settings: Settings) -> Iterator[str]:
    """The configured database URL, or an embedded PostgreSQL started for the duration."""
    if settings.database_url:
        yield settings.database_url
        return
    with EmbeddedPostgres(settings.data_dir) as embedded:
        yield embedded.url


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from .store.migrations import migrate

    with database(settings) as url:
        applied = migrate(url, today=datetime.now(UTC).date())
    print(f"applied {len(applied)} migration(s)" + "".join(f"\n  {name}" for name in applied))
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    check_exposure(settings)
    with database(settings) as url:
        settings = settings.with_overrides(database_url=url)
        if args.demo:
            seed_if_empty(url)
        # uvicorn's worker processes build the app from the environment.
        os.environ["AUDIT_GRAPH_DATABASE_URL"] = url
        options: dict = {
            "host": settings.host,
            "port": settings.port,
            "loop": "uvloop",
            "http": "httptools",
            "log_level": "info",
            "log_config": logs.uvicorn_config(settings.log_format, log_level(args)),
            "access_log": settings.access_log,
            "timeout_graceful_shutdown": 30,
        }
        with stop_signals_end_serving():
            if settings.workers > 1:
                uvicorn.run(
                    "graph.app:app_from_environment",
                    factory=True,
                    workers=settings.workers,
                    **options,
                )
            else:
                from .app import create_app

                uvicorn.run(create_app(settings), **options)
    return 0


@contextmanager
def stop_signals_end_serving() -> Iterator[None]:
    """Let SIGTERM/SIGINT end `serve` with status 0, after the embedded database stops.

    uvicorn shuts down gracefully on these signals and then raises the signal
    again under the handlers it found; with these no-op handlers in place that
    second delivery is absorbed, so the code after uvicorn.run (stopping the
    embedded PostgreSQL) still runs.
    """
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def check_exposure(settings: Settings) -> None:
    """Without tokens, only this machine may reach the API."""
    if settings.tokens or is_loopback(settings.host):
        return
    raise ConfigError(
        "AUDIT_GRAPH_TOKENS",
        f"must be set to serve on {settings.host}: without tokens anyone who reaches the "
        "port could read and write the audit log (or bind 127.0.0.1)",
    )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def seed_if_empty(url: str) -> None:
    """`serve --demo`: fill an empty database with a week of synthetic events."""
    import asyncio

    from .seed import seed_events
    from .store import Store
    from .store.migrations import migrate

    migrate(url)

    async def run() -> None:
        async with Store(url) as store:
            if await store.count() == 0:
                await seed_events(store, events=DEMO_EVENTS, days=DEMO_DAYS)

    asyncio.run(run())


def cmd_seed(settings: Settings, args: argparse.Namespace) -> int:
    """Migrate, then write --events synthetic events over the last --days days with COPY."""
    import asyncio
    import time

    import psycopg

    from .seed import seed_events, summary_line
    from .store import Store, StoreUnavailable
    from .store.migrations import migrate

    async def run(url: str) -> int:
        async with Store(url, pool_min_size=1, pool_max_size=2) as store:
            return await seed_events(store, args.events, args.days, seed=args.seed)

    with database(settings) as url:
        try:
            migrate(url)
            started = time.perf_counter()
            written = asyncio.run(run(url))
        except (StoreUnavailable, psycopg.OperationalError) as exc:
            print(f"audit-graph: cannot seed, the database is unreachable: {exc}", file=sys.stderr)
            return 1
    print(summary_line(written, args.days, time.perf_counter() - started))
    return 0


def count_arg(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number in [low, high], with an error that says so."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f"{low} or more"
            raise argparse.ArgumentTypeError(f"must be {bound}, not {value}")
        return value

    return parse


def cmd_export_schema(settings: Settings, args: argparse.Namespace) -> int:
    from .schema import schema

    print(schema.as_str())
    return 0


EXIT_STEP_FAILED = 1
EXIT_LOCK_HELD = 3
MAINTAIN_EPILOG = """\
Without --once, maintain runs the server's maintenance loop in the foreground
(ensure partitions at start, a full tick every interval) until SIGINT or SIGTERM.

exit status of --once:
  0  the tick ran and every step succeeded
  1  a step failed (the report names it), or the database is unreachable
  2  bad configuration
  3  another process holds the maintenance lock: that process is running this
     tick, nothing was done here
"""


def cmd_maintain(settings: Settings, args: argparse.Namespace) -> int:
    import asyncio

    from .store import Store, StoreUnavailable

    interval = settings.maintenance_interval
    if args.interval is not None:
        interval = parse_seconds("--interval", args.interval)
    with database(settings) as url:

        def open_store() -> Store:
            return Store(
                url,
                retention_days=settings.retention_days,
                maintenance_lock_key=settings.maintenance_lock_key,
            )

        if not args.once:
            return maintain_in_foreground(open_store(), interval)

        async def once() -> MaintenanceReport:
            return await open_store().run_maintenance()

        try:
            report = asyncio.run(once())
        except StoreUnavailable as exc:
            print(f"audit-graph: {exc}", file=sys.stderr)
            return EXIT_STEP_FAILED
    print(format_report(report))
    if report.errors:
        return EXIT_STEP_FAILED
    return 0 if report.lock_acquired else EXIT_LOCK_HELD


def maintain_in_foreground(store: Store, interval: float) -> int:
    """The maintenance thread of `serve`, alone, until SIGINT or SIGTERM."""
    import signal
    import threading

    stop = threading.Event()
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in signals}
    loop = store.maintenance_thread(interval)
    loop.start()
    try:
        # A timed wait keeps the main thread responsive to signals on every platform.
        while not stop.wait(1.0):
            pass
    finally:
        loop.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def cmd_rollups(settings: Settings, args: argparse.Namespace) -> int:
    """`rollups status|rebuild|verify [--from DATE --to DATE]`."""
    import psycopg

    from .store import rollups

    with database(settings) as url, psycopg.connect(url, autocommit=True) as conn:
        if not rollups.installed(conn):
            print("audit-graph: this database has no rollups yet; run audit-graph migrate first.")
            return 1
        if args.action == "rebuild":
            rollups.rebuild(conn, args.from_day, args.to_day)
            print("rebuilt the rollups from the raw rows")
            return 0
        if args.action == "verify":
            covered = rollups.coverage(conn)
            first = args.from_day
            if covered.days_left and (first is None or first < covered.covered_from):
                # The days the backfill has not reached differ by design.
                first = covered.covered_from
                print(f"verifying from {first}: {covered.describe()}")
            differences = rollups.verify(conn, first, args.to_day)
            for difference in differences:
                print(
                    f"{difference.table} {difference.key}: rollup {difference.rollup}, "
                    f"raw rows {difference.raw}"
                )
            print(f"{len(differences)} difference(s)")
            return 1 if differences else 0
        for state in rollups.status(conn):
            span = (
                f"{state.first_bucket.isoformat()} .. {state.last_bucket.isoformat()}"
                if state.first_bucket and state.last_bucket
                else "empty"
            )
            print(f"{state.table}: {state.rows} rows, hours {span}")
        print(f"coverage: {rollups.coverage(conn).describe()}")
    return 0


def format_report(report: MaintenanceReport) -> str:
    def names(values: list[str]) -> str:
        return ", ".join(values) or "none"

    lines = [f"maintenance tick at {report.ran_at.isoformat()}"]
    if not report.lock_acquired:
        lines.append("  lock:               held by another process; nothing done here")
    else:
        lines += [
            "  lock:               acquired",
            f"  partitions created: {names(report.partitions_created)}",
            f"  rows deleted:       {report.rows_deleted}",
            f"  partitions dropped: {names(report.partitions_dropped)}",
        ]
    lines.append(f"  errors:             {len(report.errors) or 'none'}")
    lines += [f"    {error}" for error in report.errors]
    return "\n".join(lines)


def add_database_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        help="PostgreSQL URL (default: AUDIT_GRAPH_DATABASE_URL, DATABASE_URL, else embedded)",
    )
    parser.add_argument("--data-dir", type=Path, help="embedded database directory")


def check_flag(name: str, value: int | None, low: int, high: int) -> int | None:
    if value is not None and not low <= value <= high:
        raise ConfigError(name, f"must be between {low} and {high}, not {value}")
    return value


COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], int]] = {
    "migrate": cmd_migrate,
    "maintain": cmd_maintain,
    "serve": cmd_serve,
    "export-schema": cmd_export_schema,
    "seed": cmd_seed,
    "rollups": cmd_rollups,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="audit-graph", description="GraphQL analytics API over an audit log of tool calls."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    parser.add_argument(
        "--log-format", choices=LOG_FORMATS,
        help="text (default) or json: one object per line (AUDIT_GRAPH_LOG_FORMAT)",
    )  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = sub.add_parser("serve", help="serve the GraphQL API (embedded database by default)")
    add_database_flag(serve)
    serve.add_argument("--host", help="address to bind (default 127.0.0.1, AUDIT_GRAPH_HOST)")
    serve.add_argument("--port", type=int, help="port (default 8000, AUDIT_GRAPH_PORT)")
    serve.add_argument(
        "--workers", type=int, help="worker processes (default: CPU count, AUDIT_GRAPH_WORKERS)"
    )
    serve.add_argument(
        "--access-log",
        action="store_true",
        default=None,
        help="log one line per request (default off, AUDIT_GRAPH_ACCESS_LOG)",
    )
    serve.add_argument(
        "--demo", action="store_true", help="fill an empty database with synthetic events first"
    )
    migrate = sub.add_parser("migrate", help="apply pending schema migrations and exit")
    add_database_flag(migrate)
    maintain = sub.add_parser(
        "maintain",
        help="run maintenance: one tick with --once, else the loop until SIGINT/SIGTERM",
        description="Partitions ahead, the retention DELETE and expired partitions,\n"
        "under the same advisory lock as the server's maintenance thread.",
        epilog=MAINTAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_database_flag(maintain)
    maintain.add_argument(
        "--once", action="store_true", help="run one full tick now, print its report and exit"
    )
    maintain.add_argument(
        "--interval",
        help="seconds between ticks of the loop (default 86400, AUDIT_GRAPH_MAINTENANCE_INTERVAL)",
    )
    sub.add_parser("export-schema", help="print the GraphQL schema (SDL)")
    add_seed_parser(sub)
    rollups = sub.add_parser(
        "rollups",
        help="the hourly rollups: status, rebuild from raw rows, verify against them",
        description="status: rows and hours the rollups hold. rebuild: recompute them "
        "from the raw rows (all, or the created_dates --from..--to). verify: compare them "
        "with the raw rows and list every difference (exit 1 when there is one).",
    )
    rollups.add_argument("action", choices=["status", "rebuild", "verify"])
    add_database_flag(rollups)
    for flag in ("--from", "--to"):
        rollups.add_argument(
            flag, dest=flag[2:] + "_day", type=date.fromisoformat, metavar="DATE",
            help=f"{'first' if flag == '--from' else 'last'} created_date (YYYY-MM-DD) "
            "to rebuild or verify (default: all)",
        )  # fmt: skip
    return parser


def add_seed_parser(sub: argparse._SubParsersAction) -> None:
    from .seed import DEFAULT_SEED, MAX_DAYS

    seed = sub.add_parser(
        "seed",
        help="write realistic synthetic events (applies migrations first)",
        description="Write N synthetic events spread over the last D days up to now, "
        "with COPY, after applying pending migrations. Deterministic for a --seed "
        "(except event ids, which are random).",
    )
    add_database_flag(seed)
    seed.add_argument(
        "--events", type=count_arg(0), default=100_000, metavar="N",
        help="number of events to write (default 100000)",
    )  # fmt: skip
    seed.add_argument(
        "--days", type=count_arg(1, MAX_DAYS), default=30, metavar="D",
        help=f"spread them over the last D days, 1 to {MAX_DAYS} (default 30)",
    )  # fmt: skip
    seed.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, metavar="S",
        help=f"random seed: the same seed gives the same events (default {DEFAULT_SEED})",
    )  # fmt: skip


def log_level(args: argparse.Namespace) -> int:
    return logging.DEBUG if args.verbose else logging.INFO


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings().with_overrides(
            database_url=getattr(args, "database_url", None),
            data_dir=getattr(args, "data_dir", None),
            host=getattr(args, "host", None),
            port=check_flag("--port", getattr(args, "port", None), 1, 65_535),
            workers=check_flag("--workers", getattr(args, "workers", None), 1, 256),
            access_log=getattr(args, "access_log", None),
            log_format=args.log_format,
        )
        logs.configure(settings.log_format, log_level(args))
        return COMMANDS[args.command](settings, args)
    except ConfigError as exc:
        print(f"audit-graph: configuration error: {exc}", file=sys.stderr)
        return 2
    except EmbeddedError as exc:
        print(f"audit-graph: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
