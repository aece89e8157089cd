"""`python -m bench.plans`: EXPLAIN (ANALYZE, BUFFERS) of every statistic, store and floor.

The store's SQL is not copied here (it changes as indexes are tuned): the
statistics run through `Store` itself while PostgreSQL's `auto_explain`,
loaded into every session by PGOPTIONS, sends each statement's plan back as
a NOTICE, which a handler on every new connection collects. The floor SQL of
`bench.queries` is explained directly. Both use the benchmark's window (the
last 7 days of the seeded data) on the same database.

auto_explain is loaded with `session_preload_libraries`, which needs a
superuser (the embedded database's user is one).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import psycopg

from . import queries
from .database import DEFAULT_DAYS, BenchDatabase, StatsWindow

HERE = Path(__file__).resolve().parent
PLAN_SETTLE_RUNS = 12
AUTO_EXPLAIN = (
    "-c session_preload_libraries=auto_explain -c auto_explain.log_min_duration=0 "
    "-c auto_explain.log_analyze=on -c auto_explain.log_buffers=on "
    "-c auto_explain.log_timing=on -c auto_explain.log_level=notice"
)


def collect_notices(into: list[str]) -> None:
    """Give every psycopg connection this process opens a handler that keeps its notices."""
    original = psycopg.AsyncConnection.connect.__func__  # type: ignore[attr-defined]

    async def connect(cls: Any, *args: Any, **kwargs: Any) -> Any:
        conn = await original(cls, *args, **kwargs)
        conn.add_notice_handler(lambda diag: into.append(diag.message_primary or ""))
        return conn

    psycopg.AsyncConnection.connect = classmethod(connect)  # type: ignore[assignment, method-assign]


async def store_plans(url: str, window: StatsWindow) -> list[tuple[str, list[str]]]:
    """The plans of the store's statements for the statistics of the dashboard and the rest."""
    from graph.store import Store
    from graph.store.models import Dimension, MetricsFilter, Resolution

    notices: list[str] = []
    collect_notices(notices)
    flt = MetricsFilter(start=window.start, end=window.end)
    calls: list[tuple[str, Callable[[Store], Awaitable[Any]]]] = [
        ("overview", lambda s: s.overview(flt)),
        ("performance", lambda s: s.performance(flt)),
        ("enrichment", lambda s: s.enrichment(flt)),
        ("discovery", lambda s: s.discovery(flt)),
        ("timeseries (hour)", lambda s: s.timeseries(Resolution.HOUR, flt)),
        ("timeseries (day)", lambda s: s.timeseries(Resolution.DAY, flt)),
        ("breakdown (tool_name)", lambda s: s.breakdown(Dimension.TOOL_NAME, 10, flt)),
        ("breakdown (user_id)", lambda s: s.breakdown(Dimension.USER_ID, 10, flt)),
    ]
    plans = []
    async with Store(url, pool_max_size=2) as store:
        for name, call in calls:
            # Warm, and past psycopg's prepare threshold (5) and PostgreSQL's five custom
            # plans: the plan a long-running server settles on is the one that counts.
            for _ in range(PLAN_SETTLE_RUNS):
                await call(store)
            notices.clear()
            await call(store)
            plans.append((name, [n for n in notices if "plan:" in n or "Query Text" in n]))
    return plans


def floor_plans(db: BenchDatabase, window: StatsWindow, days: int) -> list[tuple[str, list[str]]]:
    params = {"start": window.start, "end": window.end}
    plans = []
    with db.connect() as conn:
        for case in queries.statistics(days):
            if case.name.startswith("dashboard"):
                continue  # its statements are the cases before it
            texts = []
            for sql in case.floor:
                conn.execute(sql, params).fetchall()  # warm
                rows = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params).fetchall()
                texts.append(sql.strip() + "\n" + "\n".join(row[0] for row in rows))
            plans.append((case.name, texts))
    return plans


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.plans", description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000, help="which bench database")
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS, help="which bench database")
    parser.add_argument("--window", type=int, default=7, help="days of the statistics window")
    parser.add_argument("--database-url", help="PostgreSQL to use (default: embedded)")
    args = parser.parse_args(argv)
    db = BenchDatabase(args.database_url, HERE / "data", args.events, args.days)
    db.start()
    try:
        window = StatsWindow.last_days(db, args.window)
        print(f"# window {window.start} .. {window.end}, {window.rows:,} rows\n")
        for name, texts in floor_plans(db, window, args.window):
            print(f"## floor: {name}\n")
            for text in texts:
                print(text, "\n")
        os.environ["PGOPTIONS"] = (os.environ.get("PGOPTIONS", "") + " " + AUTO_EXPLAIN).strip()
        for name, texts in asyncio.run(store_plans(db.url, window)):
            print(f"## store: {name}\n")
            for text in texts:
                print(text, "\n")
    finally:
        db.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
