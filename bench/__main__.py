"""`python -m bench`: seed (or reuse) a database, start the real server, measure every case.

Exit status: 0 when every case ran, whether or not it met its target (the
report marks misses); 1 when a case could not run because the server failed
(an error answer, a dropped connection, the process gone) or the benchmark
itself crashed; 2 for a database the benchmark refuses to use.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from . import queries, report
from .cases import DASHBOARD_CLIENTS, WRITE_CLIENTS, Bench, CaseResult, run_case
from .database import DEFAULT_DAYS, BenchDatabase, SetupError, StatsWindow, machine
from .server import REPO, ServerProcess

HERE = Path(__file__).resolve().parent


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark audit-graph over HTTP against plain psycopg floors (issue #6).",
    )
    parser.add_argument("--events", type=int, default=1_000_000, help="rows to seed")
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS, help="days the seeded rows span")
    parser.add_argument("--repeats", type=int, default=7, help="measurements per case")
    parser.add_argument(
        "--database-url", help="PostgreSQL to use (default: embedded, in bench/data/)"
    )
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="server worker processes"
    )
    parser.add_argument("--out", type=Path, default=HERE / "results", help="results directory")
    parser.add_argument(
        "--duration", type=float, default=3.0, help="seconds per side of each throughput repeat"
    )
    parser.add_argument(
        "--reseed",
        action="store_true",
        help="empty audit_logs and seed again even if a given database holds other rows",
    )
    parser.add_argument(
        "--only",
        help="run only the cases whose name contains one of these comma-separated texts",
    )
    args = parser.parse_args(argv)
    if args.events < 1 or args.days < 1 or args.repeats < 1 or args.workers < 1:
        parser.error("--events, --days, --repeats and --workers must be at least 1")
    return args


def command_line(argv: Sequence[str] | None) -> str:
    """The command as typed, the database URL elided (it may hold a password)."""
    args = list(sys.argv[1:] if argv is None else argv)
    for index, arg in enumerate(args):
        if arg == "--database-url" and index + 1 < len(args):
            args[index + 1] = "URL"
        elif arg.startswith("--database-url="):
            args[index] = "--database-url=URL"
    return shlex.join(["python", "-m", "bench", *args])


def code_version() -> dict[str, object]:
    """The commit the server ran from, and files changed on top of it (a shared tree moves)."""

    def git(*args: str) -> str:
        try:
            # Not strip(): porcelain lines start with a meaningful space.
            return subprocess.run(
                ["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10, check=False
            ).stdout.rstrip()
        except OSError:
            return ""

    changed = [line[3:] for line in git("status", "--porcelain", "--", "graph").splitlines()]
    return {"commit": git("rev-parse", "--short", "HEAD").strip(), "graph_changes": changed}


def load_average() -> str:
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def plan(bench: Bench) -> list[tuple[str, Callable[[], Awaitable[CaseResult]]]]:
    """Every case in run order: reads first, then the writes (which clean up after)."""
    cases: list[tuple[str, Callable[[], Awaitable[CaseResult]]]] = [
        (case.name, lambda case=case: bench.statistic(case))  # type: ignore[misc]
        for case in queries.STATISTICS
    ]
    cases += [
        ("events page via cursor", bench.deep_page),
        ("sessions: first page", bench.sessions_page),
        ("session timeline", bench.timeline_page),
        ("export of rows as CSV", bench.export_rows),
        (f"dashboard under {DASHBOARD_CLIENTS} clients", bench.dashboard_load),
        (f"logEvent {WRITE_CLIENTS} clients", lambda: bench.log_event(WRITE_CLIENTS)),
        ("mutation { __typename }", lambda: bench.noop_mutation(WRITE_CLIENTS)),
        ("logEvent 1 client", lambda: bench.log_event(1)),
        ("logEvents batches", bench.log_events_batches),
        ("another writer's INSERT", bench.other_writer_insert),
    ]
    return cases


async def measure(args: argparse.Namespace, db: BenchDatabase, seeding: str) -> int:
    windows = {days: StatsWindow.last_days(db, days) for days in queries.WINDOW_DAYS}
    window = windows[7]
    server = ServerProcess(db.url, args.workers, db.data_dir.parent / "server.log")
    meta = {
        "command": command_line(args.argv),
        "server_command": server.display_command(),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "events": args.events,
        "days": args.days,
        "repeats": args.repeats,
        "duration": args.duration,
        "workers": args.workers,
        "seeding": seeding,
        "window": {
            "start": window.start.isoformat(),
            "end": window.end.isoformat(),
            "rows": window.rows,
        },
        "windows": {
            str(days): {"start": w.start.isoformat(), "end": w.end.isoformat(), "rows": w.rows}
            for days, w in windows.items()
        },
        "machine": machine(db),
        "code": code_version(),
        "load_average_start": load_average(),
    }
    results: list[CaseResult] = []
    try:
        await server.wait_ready()
        sizes = ", ".join(f"{days} days {w.rows:,} rows" for days, w in windows.items())
        print(f"server ready on port {server.port}; windows: {sizes}")
        bench = Bench(server, db, windows, args.repeats, args.duration, args.events)
        for name, make in plan(bench):
            if args.only and not any(text in name for text in args.only.split(",")):
                continue
            results.append(await run_case(name, make, server))
            if not server.alive():
                print("the server exited; stopping here", file=sys.stderr)
                break
    finally:
        exit_code = server.stop()
        await asyncio.to_thread(db.delete_throwaway)
    relate_to_ceiling(results)
    meta["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    meta["load_average_end"] = load_average()
    meta["server_exit_code"] = exit_code
    md_path, json_path = report.write(args.out, meta, results)
    print()
    print(md_path.read_text())
    print(f"wrote {md_path.relative_to(REPO) if md_path.is_relative_to(REPO) else md_path} "
          f"and {json_path.name}; server log in {server.log_path}")  # fmt: skip
    return 1 if any(result.error for result in results) else 0


def relate_to_ceiling(results: list[CaseResult]) -> None:
    """Say how far the do-nothing mutation gets against the INSERT floor.

    When even `mutation { __typename }` stays under the logEvent target, the
    miss is the per-request cost of the HTTP + GraphQL stack, not the store.
    """
    by_name = {result.name: result for result in results if not result.error}
    ceiling = next((r for name, r in by_name.items() if "__typename" in name), None)
    write = next(
        (r for name, r in by_name.items() if name.startswith(f"logEvent, {WRITE_CLIENTS} ")), None
    )
    if ceiling is None or write is None or not (ceiling.api and write.floor and write.api):
        return
    ceiling_ratio = ceiling.api["median"] / write.floor["median"]
    share = write.api["median"] / ceiling.api["median"]
    write.notes.append(
        f"the do-nothing mutation reaches {ceiling_ratio:.2f}x of this floor; "
        f"logEvent runs at {share:.0%} of that ceiling"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    args.argv = argv
    started = time.perf_counter()
    db = BenchDatabase(args.database_url, HERE / "data", args.events, args.days)
    try:
        db.start()
        print(f"database: {'embedded in ' + str(db.data_dir) if db.is_embedded else 'given'}")
        seeding = db.ensure_seeded(args.events, args.days, args.reseed)
        print(seeding)
        print(f"statistics floor: {db.prepare_seed_floor()}")
        status = asyncio.run(measure(args, db, seeding))
    except SetupError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    finally:
        db.stop()
    print(f"done in {time.perf_counter() - started:.0f} s")
    return status


def install_fast_loop() -> None:
    """uvloop for the client side too, when present: less client CPU per request."""
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


if __name__ == "__main__":
    install_fast_loop()
    sys.exit(main())
