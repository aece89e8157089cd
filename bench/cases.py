"""The cases of issue #6, each measured against its floor in the same run.

Every case returns a `CaseResult`; a case whose server answers with an error
is recorded as failed (with the server's message) and the run goes on, so one
broken case never hides the numbers of the others.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
from psycopg import AsyncConnection

from graph.store import EventFilter
from graph.store.export import ExportFormat, export_statement

from . import queries, writes
from .client import (
    HttpConnection,
    HttpError,
    build_request,
    check_graphql,
    graphql_body,
    parse_graphql,
)
from .database import SEED_FLOOR_SCHEMA, BenchDatabase, StatsWindow
from .measure import Load, Side, closed_loop, interleaved
from .server import CpuMeter, MemorySampler, ServerProcess

MB = 1024 * 1024
WRITE_CLIENTS = 64
DASHBOARD_CLIENTS = 32
BATCH_SIZE = 1000
PAGE_DEPTH = 100_000
WALK_PAGE = 1000
PAGE_SIZE = 50
RSS_LIMIT_MB = 300
# Issue #15: an export of this many rows (the newest), read in chunks of this many bytes.
EXPORT_ROWS = 1_000_000
EXPORT_CHUNK = 64 * 1024
# Issue #14, 32 viewers of the 7-day dashboard at 10M events.
DASHBOARD_RATE = 100
DASHBOARD_P99 = 1.0


@dataclass
class CaseResult:
    """One row of the report.

    kind "latency": values are seconds, lower is better, ratio = API / floor.
    kind "throughput": values are events (or requests) per second, higher is
    better, ratio = API / floor.
    """

    name: str
    kind: str
    floor_label: str
    target: str = ""
    api: dict[str, Any] | None = None
    floor: dict[str, Any] | None = None
    ratio: float | None = None
    met: bool | None = None
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    def judge(self, api: Side, floor: Side | None, limit: float | None) -> None:
        self.api = api.summary()
        self.floor = floor.summary() if floor is not None else None
        if self.floor is not None and self.floor["median"] > 0:
            self.ratio = self.api["median"] / self.floor["median"]
        for label, side in (("API", api), ("floor", floor)):
            if side is not None and side.cpu:
                per_request = ", ".join(
                    f"{name} {us:,.0f}" for name, us in side.cpu_per_request_us().items()
                )
                self.notes.append(f"{label} CPU per request (us): {per_request}")
        if limit is not None and self.ratio is not None:
            self.met = self.ratio <= limit if self.kind == "latency" else self.ratio >= limit
            self.target = f"{'<=' if self.kind == 'latency' else '>='} {limit:g}x"


@dataclass
class Bench:
    """Shared state of one run: the server, the database, the window, the settings."""

    server: ServerProcess
    db: BenchDatabase
    windows: dict[int, StatsWindow]
    repeats: int
    duration: float
    events: int
    ids: writes.WriteIds = field(default_factory=writes.WriteIds)
    cpu: CpuMeter = field(init=False)

    def __post_init__(self) -> None:
        self.cpu = CpuMeter(self.server, self.db.pgdata)

    def post(self, body: bytes) -> bytes:
        return build_request(self.server.host, self.server.port, "POST", "/graphql", body)

    def http(self) -> HttpConnection:
        return HttpConnection(self.server.host, self.server.port)

    async def floor_connection(self) -> AsyncConnection:
        conn = await AsyncConnection.connect(self.db.url, autocommit=True)
        await conn.execute("SET TIME ZONE 'UTC'")
        return conn

    async def seed_floor_connection(self) -> AsyncConnection:
        """A floor connection that reads the copy of the rows with the seed's indexes."""
        conn = await self.floor_connection()
        await conn.execute(f"SET search_path = {SEED_FLOOR_SCHEMA}, public")
        return conn

    async def connections(self, count: int) -> list[HttpConnection]:
        conns = [self.http() for _ in range(count)]
        await asyncio.gather(*(conn.connect() for conn in conns))
        return conns

    async def http_load(
        self, clients: int, next_request: Callable[[int], bytes], what: str, failures: list[str]
    ) -> Load:
        """`clients` keep-alive connections sending requests back to back for `duration`.

        An error answer is counted in `failures`, not as a completed request.
        """
        conns = await self.connections(clients)

        async def worker(number: int, running: Callable[[], bool]) -> list[float]:
            latencies, conn = [], conns[number]
            while running():
                elapsed, status, body = await conn.timed(next_request(number))
                try:
                    check_graphql(status, body, what)
                except HttpError as exc:
                    failures.append(str(exc))
                    continue
                latencies.append(elapsed)
            return latencies

        try:
            return await closed_loop(clients, self.duration, worker)
        finally:
            await asyncio.gather(*(conn.close() for conn in conns))

    # --- statistics ---------------------------------------------------------------

    async def statistic(self, case: queries.StatisticCase) -> CaseResult:
        floor_label = "the plain SQL via psycopg"
        if len(case.floor) > 1:
            floor_label = f"{len(case.floor)} plain statements in sequence via psycopg"
        result = CaseResult(case.name, "latency", floor_label)
        window = self.windows[case.days]
        request = self.post(graphql_body(case.graphql, window.variables()))
        params = {"start": window.start, "end": window.end}
        http = self.http()
        floor = await self.seed_floor_connection()
        try:

            async def api() -> None:
                status, body = await http.send(request)
                check_graphql(status, body, case.name)

            async def run_floor() -> list[queries.Rows]:
                answers = []
                for sql in case.floor:
                    cur = await floor.execute(sql, params, prepare=True)
                    answers.append(await cur.fetchall())
                return answers

            # Once, untimed: the API must agree with the floor before its speed means anything.
            status, body = await http.send(request)
            mismatch = case.agree(parse_graphql(status, body, case.name), await run_floor())
            if mismatch:
                result.notes.append(f"DISAGREES with the floor: {mismatch}")
            sides = await interleaved({"api": api, "floor": run_floor}, self.repeats)
            at_scale = self.events >= queries.SCALE_EVENTS
            result.judge(sides["api"], sides["floor"], case.at_scale if at_scale else case.target)
            if mismatch:
                result.met = False
        finally:
            await http.close()
            await floor.close()
        return result

    # --- events paging ----------------------------------------------------------------

    async def deep_page(self) -> CaseResult:
        depth = min(PAGE_DEPTH, (self.events // 2) // WALK_PAGE * WALK_PAGE) or WALK_PAGE
        result = CaseResult(
            f"events page of {PAGE_SIZE} at row {depth:,} via cursor",
            "latency",
            "the first page (no cursor) via the API",
        )
        http = self.http()
        try:
            cursor, walk = None, []
            for _ in range(depth // WALK_PAGE):
                request = self.post(
                    graphql_body(queries.EVENTS_PAGE, {"after": cursor, "limit": WALK_PAGE})
                )
                elapsed, status, body = await http.timed(request)
                walk.append(elapsed)
                cursor = parse_graphql(status, body, "events walk")["events"]["endCursor"]
            first = self.post(graphql_body(queries.EVENTS_PAGE, {"limit": PAGE_SIZE}))
            deep = self.post(
                graphql_body(queries.EVENTS_PAGE, {"after": cursor, "limit": PAGE_SIZE})
            )

            def send(request: bytes) -> Callable[[], Awaitable[None]]:
                async def run() -> None:
                    status, body = await http.send(request)
                    check_graphql(status, body, result.name)

                return run

            sides = await interleaved({"deep": send(deep), "first": send(first)}, self.repeats)
            result.judge(sides["deep"], sides["first"], 2.0)
            walk.sort()
            result.notes.append(
                f"walking there: {len(walk)} pages of {WALK_PAGE}, "
                f"median {walk[len(walk) // 2] * 1000:.1f} ms per page"
            )
        finally:
            await http.close()
        return result

    # --- sessions -----------------------------------------------------------------

    async def sessions_page(self) -> CaseResult:
        """Issue #15: the first sessions page over 7 days, within 2x of the events first page."""
        request = self.post(graphql_body(queries.SESSIONS_PAGE, self.windows[7].variables()))
        return await self.versus_first_page("sessions: first page of 25 over 7 days", request)

    async def timeline_page(self) -> CaseResult:
        """Issue #15: the timeline page of the busiest session on the first sessions page."""
        http = self.http()
        try:
            page = self.post(graphql_body(queries.SESSIONS_PAGE, self.windows[7].variables()))
            status, body = await http.send(page)
            items = parse_graphql(status, body, "sessions")["sessions"]["items"]
        finally:
            await http.close()
        busiest = max(items, key=lambda item: item["callCount"])
        request = self.post(graphql_body(queries.TIMELINE_PAGE, {"id": busiest["sessionId"]}))
        return await self.versus_first_page(
            f"session timeline: first page of 50 (a session of {busiest['callCount']} calls "
            "in 7 days)",
            request,
        )

    async def versus_first_page(self, name: str, request: bytes) -> CaseResult:
        """`request` interleaved with the events first page (50 rows); target <= 2x."""
        result = CaseResult(name, "latency", "the events first page (50) via the API")
        first = self.post(graphql_body(queries.EVENTS_PAGE, {"limit": PAGE_SIZE}))
        http = self.http()

        def send(body: bytes) -> Callable[[], Awaitable[None]]:
            async def run() -> None:
                status, answer = await http.send(body)
                check_graphql(status, answer, name)

            return run

        try:
            sides = await interleaved({"api": send(request), "first": send(first)}, self.repeats)
        finally:
            await http.close()
        result.judge(sides["api"], sides["first"], 2.0)
        return result

    # --- export -------------------------------------------------------------------

    async def export_rows(self) -> CaseResult:
        """Issue #15: GET /export/events of up to 1M rows against COPY of the same rows.

        The floor runs the store's own COPY statement through psycopg and reads
        every byte; the API side downloads the CSV over HTTP. Rates are rows/s.
        """
        rows, start, end = await asyncio.to_thread(self.db.newest_rows, EXPORT_ROWS)
        result = CaseResult(
            f"export of {rows:,} rows as CSV",
            "throughput",
            "COPY (SELECT ...) TO STDOUT of the same rows through psycopg",
            target=f">= 0.5x, server RSS <= {RSS_LIMIT_MB} MB",
        )
        flt = EventFilter(start=start, end=end)
        statement, params = export_statement(flt, ExportFormat.CSV)
        query = {"start_time": start.isoformat(), "end_time": end.isoformat()}
        url = f"http://{self.server.host}:{self.server.port}/export/events"

        async def api() -> None:
            async with (
                httpx.AsyncClient(timeout=600) as client,
                client.stream("GET", url, params=query) as response,
            ):
                if response.status_code != 200:
                    raise HttpError(f"export answered {response.status_code}")
                async for _ in response.aiter_raw(EXPORT_CHUNK):
                    pass

        async def floor() -> None:
            conn = await self.floor_connection()
            try:
                async with conn.cursor() as cur, cur.copy(statement, params) as copy:
                    async for _ in copy:
                        pass
            finally:
                await conn.close()

        idle_rss = self.server.rss_bytes()
        with MemorySampler(self.server) as sampler:
            sides = await interleaved({"api": api, "floor": floor}, self.repeats)
        for side in sides.values():  # each export's time is its latency; its rate, the value
            side.latencies = list(side.values)
            side.values = [rows / seconds for seconds in side.values]
        result.judge(sides["api"], sides["floor"], 0.5)
        peak_mb = max(sampler.peak, idle_rss) / MB
        result.api = {**(result.api or {}), "rss_peak_mb": peak_mb}
        result.met = bool(result.met) and peak_mb <= RSS_LIMIT_MB
        result.notes.append(
            f"{rows:,} rows; server RSS idle {idle_rss / MB:.0f} MB, peak {peak_mb:.0f} MB"
        )
        return result

    # --- dashboard under load ---------------------------------------------------------

    async def dashboard_load(self) -> CaseResult:
        at_scale = self.events >= queries.SCALE_EVENTS
        target = f"server RSS <= {RSS_LIMIT_MB} MB"
        if at_scale:
            target += f", >= {DASHBOARD_RATE} requests/s, p99 <= {DASHBOARD_P99 * 1000:.0f} ms"
        result = CaseResult(
            f"dashboard request (7 days) under {DASHBOARD_CLIENTS} concurrent clients",
            "latency",
            "none (p50/p99 reported)",
            target=target,
        )
        request = self.post(graphql_body(queries.DASHBOARD, self.windows[7].variables()))
        idle_rss = self.server.rss_bytes()
        side, rates, failures = Side(), [], []
        with MemorySampler(self.server) as sampler:
            for _ in range(self.repeats):
                cpu_before = self.cpu.snapshot()
                load = await self.http_load(
                    DASHBOARD_CLIENTS, lambda _: request, result.name, failures
                )
                # One value per round (its median latency); every latency for the p99.
                side.add_cpu(self.cpu.spent(cpu_before, self.cpu.snapshot()))
                side.values.append(median(load.latencies))
                side.latencies.extend(load.latencies)
                rates.append(load.per_second)
        result.judge(side, None, None)
        peak_mb = max(sampler.peak, idle_rss) / MB
        result.api = {
            **(result.api or {}),
            "requests_per_s": median(rates),
            "rss_idle_mb": idle_rss / MB,
            "rss_peak_mb": peak_mb,
            "failed_requests": len(failures),
        }
        result.met = peak_mb <= RSS_LIMIT_MB and not failures
        if at_scale:
            p99 = result.api.get("latency_p99") or math.inf
            result.met = result.met and median(rates) >= DASHBOARD_RATE and p99 <= DASHBOARD_P99
        result.notes.append(
            f"{median(rates):.1f} requests/s; server RSS idle {idle_rss / MB:.0f} MB, "
            f"peak {peak_mb:.0f} MB ({self.server.workers} workers + supervisor)"
        )
        if failures:
            result.notes.append(f"{len(failures)} requests FAILED, first: {failures[0][:300]}")
        return result

    # --- writes ------------------------------------------------------------------

    async def _alternate(
        self,
        api: Callable[[], Awaitable[tuple[int, list[float]]]],
        floor: Callable[[], Awaitable[tuple[int, list[float]]]] | None,
        per_request: int,
    ) -> tuple[Side, Side | None]:
        """Repeat API and floor loads (alternating which goes first); events/s of each.

        Rows written are deleted after every repeat, untimed, so each repeat
        starts from the same table.
        """
        api_side, floor_side = Side(), (Side() if floor is not None else None)
        for round_number in range(self.repeats):
            order: list[tuple[Any, Side]] = [(api, api_side)]
            if floor is not None and floor_side is not None:
                order.append((floor, floor_side))
            if round_number % 2:
                order.reverse()
            for run, side in order:
                cpu_before = self.cpu.snapshot()
                started = time.perf_counter()
                count, latencies = await run()
                elapsed = time.perf_counter() - started
                side.add_cpu(self.cpu.spent(cpu_before, self.cpu.snapshot()))
                side.values.append(count * per_request / elapsed)
                side.latencies.extend(latencies)
            await asyncio.to_thread(self.db.delete_throwaway)
        return api_side, floor_side

    async def log_event(self, clients: int) -> CaseResult:
        result = CaseResult(
            f"logEvent, {clients} concurrent client{'s' if clients > 1 else ''}, events/s",
            "throughput",
            f"one INSERT per event in autocommit over {clients} connection"
            + ("s" if clients > 1 else ""),
        )
        requests = writes.LogEventRequests(self.server.host, self.server.port, self.ids)
        floors = [await self.floor_connection() for _ in range(clients)]
        failures: list[str] = []

        async def api() -> tuple[int, list[float]]:
            load = await self.http_load(clients, requests.next, result.name, failures)
            return load.completed, load.latencies

        try:
            api_side, floor_side = await self._alternate(
                api, self.inserting(floors, writes.INSERT_SQL, "f"), 1
            )
        finally:
            await asyncio.gather(*(conn.close() for conn in floors))
        result.judge(api_side, floor_side, 0.75 if clients > 1 else None)
        if clients == 1:
            result.target = "reported"
        if failures:
            result.met = False
            result.notes.append(f"{len(failures)} requests FAILED, first: {failures[0][:300]}")
        return result

    def inserting(
        self, conns: list[Any], statement: str, side: str
    ) -> Callable[[], Awaitable[tuple[int, list[float]]]]:
        """A load of one-row INSERTs by `statement`, one connection per client, for --duration."""

        async def run() -> tuple[int, list[float]]:
            async def worker(number: int, running: Callable[[], bool]) -> list[float]:
                latencies, conn = [], conns[number]
                while running():
                    row = writes.floor_row(*self.ids.next(side, number))
                    started = time.perf_counter()
                    await conn.execute(statement, row, prepare=True)
                    latencies.append(time.perf_counter() - started)
                return latencies

            load = await closed_loop(len(conns), self.duration, worker)
            return load.completed, load.latencies

        return run

    async def other_writer_insert(self) -> CaseResult:
        """Another writer's plain INSERT of one row into audit_logs, rollup triggers and all."""
        result = CaseResult(
            "another writer's INSERT of one row (rollup triggers), 1 connection, rows/s",
            "throughput",
            "the same INSERT into a table of the same shape without the triggers",
            target="reported",
        )
        writer, plain = await self.floor_connection(), await self.floor_connection()
        try:
            api_side, floor_side = await self._alternate(
                self.inserting([writer], writes.OTHER_WRITER_SQL, "o"),
                self.inserting([plain], writes.INSERT_SQL, "f"),
                1,
            )
        finally:
            await asyncio.gather(writer.close(), plain.close())
        result.judge(api_side, floor_side, None)
        result.target = "reported (aim: >= 0.5x)"
        return result

    async def noop_mutation(self, clients: int) -> CaseResult:
        result = CaseResult(
            f"`mutation {{ __typename }}`, {clients} concurrent clients, requests/s",
            "throughput",
            "none: the framework's ceiling for logEvent",
            target="reported",
        )
        request = self.post(graphql_body(writes.NOOP_MUTATION))

        failures: list[str] = []

        async def api() -> tuple[int, list[float]]:
            load = await self.http_load(clients, lambda _: request, result.name, failures)
            return load.completed, load.latencies

        api_side, _ = await self._alternate(api, None, 1)
        result.judge(api_side, None, None)
        if failures:
            result.met = False
            result.notes.append(f"{len(failures)} requests FAILED, first: {failures[0][:300]}")
        return result

    async def log_events_batches(self) -> CaseResult:
        result = CaseResult(
            f"logEvents, batches of {BATCH_SIZE}, 1 client, events/s",
            "throughput",
            f"COPY of the same {BATCH_SIZE} rows per transaction via psycopg, 1 connection",
        )
        http = self.http()
        floor_conn = await self.floor_connection()
        host, port = self.server.host, self.server.port

        async def api() -> tuple[int, list[float]]:
            # Time only the requests: building 1000-event bodies is the client's work.
            latencies: list[float] = []
            while sum(latencies) < self.duration:
                request = writes.log_events_request(host, port, self.ids, BATCH_SIZE)
                elapsed, status, body = await http.timed(request)
                check_graphql(status, body, result.name)
                latencies.append(elapsed)
            return len(latencies), latencies

        async def floor() -> tuple[int, list[float]]:
            latencies: list[float] = []
            while sum(latencies) < self.duration:
                rows = writes.floor_rows(self.ids, BATCH_SIZE)
                started = time.perf_counter()
                async with floor_conn.cursor() as cur, cur.copy(writes.COPY_SQL) as copy:
                    for row in rows:
                        await copy.write_row(row)
                latencies.append(time.perf_counter() - started)
            return len(latencies), latencies

        try:
            api_side, floor_side = Side(), Side()
            for round_number in range(self.repeats):
                order = [(api, api_side), (floor, floor_side)]
                if round_number % 2:
                    order.reverse()
                for run, side in order:
                    cpu_before = self.cpu.snapshot()
                    count, latencies = await run()
                    side.add_cpu(self.cpu.spent(cpu_before, self.cpu.snapshot()))
                    side.values.append(count * BATCH_SIZE / sum(latencies))
                    side.latencies.extend(latencies)
                await asyncio.to_thread(self.db.delete_throwaway)
        finally:
            await http.close()
            await floor_conn.close()
        result.judge(api_side, floor_side, 0.5)
        return result


def median(values: list[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


async def run_case(
    name: str, make: Callable[[], Awaitable[CaseResult]], server: ServerProcess
) -> CaseResult:
    """Run one case; an error from the server becomes a failed row, not a crash."""
    print(f"  {name} ...", flush=True)
    started = time.perf_counter()
    try:
        result = await make()
    except (psycopg.Error, OSError, RuntimeError, asyncio.IncompleteReadError, KeyError) as exc:
        result = CaseResult(name, "latency", "", error=f"{type(exc).__name__}: {exc}"[:1000])
        result.met = False
    if not server.alive():
        result.error = (result.error or "") + " | the server process exited during this case"
        result.met = False
    print(f"    {summary_line(result)} ({time.perf_counter() - started:.0f} s)", flush=True)
    return result


def summary_line(result: CaseResult) -> str:
    if result.error:
        return f"ERROR {result.error[:300]}"
    api = result.api or {}
    if result.kind == "latency":
        text = f"median {api.get('median', math.nan) * 1000:.1f} ms"
    else:
        text = f"median {api.get('median', math.nan):,.0f}/s"
    if result.ratio is not None:
        verdict = "met" if result.met else "MISSED"
        text += f", ratio {result.ratio:.2f}x ({result.target}: {verdict})"
    return text
