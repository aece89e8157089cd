"""The audit store: every operation of SPEC 3 over two async connection pools.

`Store` validates arguments (raising `InvalidArgument` before any SQL runs),
resolves time windows against its clock, picks a pool and calls one SQL
function from `events`, `metrics` or `partitions`. Writes go through the
write pool; reads through the read pool, which may point at a replica.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Sequence,
)
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Self, TypeVar

import psycopg
from psycopg import AsyncConnection, pq
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from graph.constants import DEFAULT_MAINTENANCE_LOCK_KEY, PARTITIONS_AHEAD
from graph.values import as_utc

from . import events, export, maintenance, metrics, partitions, sessions, sources
from .conditions import Conditions
from .errors import FellBehind, InvalidArgument, StoreUnavailable
from .export import ExportFormat
from .feed import EventFeed, Snapshot
from .ingest import GroupCommit
from .maintenance import Maintenance
from .migrations import migrate
from .models import (
    BreakdownEntry,
    Dimension,
    DiscoveryStats,
    DistinctColumn,
    EnrichmentStats,
    Event,
    EventFilter,
    EventPage,
    FilterOptions,
    MaintenanceReport,
    MetricsFilter,
    NewEvent,
    Overview,
    PartitionInfo,
    PerformanceStats,
    Resolution,
    Session,
    SessionFilter,
    SessionPage,
    SortField,
    SortOrder,
    TimeseriesBucket,
    UserLabel,
    Window,
)
from .sources import Scope
from .validation import (
    check_bucket_count,
    check_event,
    check_range,
    check_text,
    resolve_retention,
    resolve_window,
)

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
E = TypeVar("E")
T = TypeVar("T")

MAX_PAGE_SIZE = 1000
MAX_OFFSET = 100_000
MAX_BATCH = 1000
MAX_IDS = 1000
MAX_SESSIONS_PAGE = 200
# Stored events a resumed live tail reads per statement before it catches up.
REPLAY_PAGE = 500
# Connections outside the pools (exports, replays) per process, how long one
# may take to open, and how long a replay's snapshot may wait on its reader.
OWN_CONNECTIONS = 16
OWN_CONNECT_TIMEOUT = 10
REPLAY_IDLE_TIMEOUT = 60
BREAKDOWN_DEFAULT_LIMIT = 10
BREAKDOWN_MAX_LIMIT = 100
# psycopg_pool retries a lost connection with a doubling delay (1 s, 2 s, 4 s, ...) and no
# ceiling until this many seconds have passed; after an outage of T seconds the pool
# could sleep about T more before trying again. Giving up sooner lets the next request
# start a fresh attempt at once, so the API is back within seconds of the database.
RECONNECT_TIMEOUT = 10.0


def utc_now() -> datetime:
    return datetime.now(UTC)


def place(position: tuple[datetime, str]) -> tuple[datetime, bytes]:
    """A (timestamp, id) position's key in the default order: ids by code point."""
    return position[0], position[1].encode()


def parse_enum(kind: type[E], value: E | str, what: str) -> E:
    """Accept an enum member or its value; anything else names the allowed values."""
    if isinstance(value, kind):
        return value
    try:
        return kind(value)  # type: ignore[call-arg]
    except ValueError:
        allowed = ", ".join(member.value for member in kind)  # type: ignore[attr-defined]
        raise InvalidArgument(f"{what} must be one of {allowed}; got {value!r}.") from None


def checked_rows(batch: Iterable[NewEvent], now: datetime) -> Iterator[tuple[Any, ...]]:
    """Each event checked and prepared as `log` does it; an error names the event's index."""
    for index, event in enumerate(batch):
        try:
            check_event(event)
        except InvalidArgument as exc:
            raise InvalidArgument(f"event {index}: {exc}") from None
        yield events.prepare_row(event, now)


async def check_connection(conn: AsyncConnection) -> None:
    """The pools' check of a connection they hand out, without a round trip.

    A server that ended the session (restarted, terminated the backend) has
    closed the socket, and reading what is pending on it says so; a
    connection that fails only later is reported unavailable like any failed
    query. psycopg_pool's own check sends an empty query, a round trip per
    group-commit batch (bench/README.md, "Write path").
    """
    # The first read may return the goodbye message, the second the end of the
    # stream; on a live idle connection both find nothing and return at once.
    conn.pgconn.consume_input()
    conn.pgconn.consume_input()
    if conn.pgconn.status != pq.ConnStatus.OK:
        raise psycopg.OperationalError("the server closed the connection")


class Store:
    """PostgreSQL storage for audit events.

    database_url: the primary, for writes and maintenance.
    read_database_url: where statistics are read (a replica); defaults to the primary.
    retention_days: rows older than this many days are deleted (0 means 90).
    clock: returns the current UTC time; tests set it to work at month boundaries.
    discovery_kind, query_kind: the toolkit kinds the discovery statistic compares.
    maintenance_lock_key: the pg_try_advisory_lock key that keeps maintenance to one
        replica per tick; every replica of one deployment must use the same key.
    """

    def __init__(
        self,
        database_url: str,
        *,
        read_database_url: str | None = None,
        retention_days: int = 0,
        clock: Clock = utc_now,
        discovery_kind: str = "datahub",
        query_kind: str = "trino",
        pool_min_size: int = 1,
        pool_max_size: int = 10,
        pool_timeout: float = 10.0,
        statement_timeout: float | None = None,
        maintenance_lock_key: int = DEFAULT_MAINTENANCE_LOCK_KEY,
    ) -> None:
        self.database_url = database_url
        self.read_database_url = read_database_url or database_url
        self.retention_days = resolve_retention(retention_days)
        self.clock = clock
        self.discovery_kind = discovery_kind
        self.query_kind = query_kind
        self.maintenance_lock_key = maintenance_lock_key
        self._maintenance: Maintenance | None = None
        self._write_pool = self._make_pool(
            database_url, "write", pool_min_size, pool_max_size, pool_timeout
        )
        self._read_pool = self._make_pool(
            self.read_database_url,
            "read",
            pool_min_size,
            pool_max_size,
            pool_timeout,
            statement_timeout,
            for_statistics=True,
        )
        # event, events and session read the primary, so a caller sees its own
        # writes (SPEC 8): with a replica, through a pool of their own that has
        # the read pool's statement timeout (writes have none).
        self._primary_read_pool = (
            self._read_pool
            if self.read_database_url == database_url
            else self._make_pool(
                database_url, "primary-read", pool_min_size, pool_max_size, pool_timeout,
                statement_timeout,
            )
        )  # fmt: skip
        self._feed = EventFeed(database_url)
        self._own_connections = asyncio.Semaphore(OWN_CONNECTIONS)
        # One transaction in flight per process: the next batch gathers every
        # event that arrives meanwhile; more in flight measured slower
        # (bench/README.md, "Decisions").
        self._ingest = GroupCommit(self._write_rows, max_in_flight=1)

    @staticmethod
    def _make_pool(
        url: str,
        name: str,
        min_size: int,
        max_size: int,
        timeout: float,
        statement_timeout: float | None = None,
        *,
        for_statistics: bool = False,
    ) -> AsyncConnectionPool:
        async def configure(conn: AsyncConnection) -> None:
            # Buckets, dates and generate_series steps are UTC calendar units.
            await conn.execute("SET TIME ZONE 'UTC'")
            if for_statistics:
                # Statistics group by session or duration: room for hash
                # aggregates in memory instead of sorts spilled to disk.
                await conn.execute("SET work_mem = '64MB'")
            if statement_timeout:
                # One runaway aggregate must not hold a connection forever.
                await conn.execute(
                    "SELECT set_config('statement_timeout', %s, false)",
                    (f"{int(statement_timeout * 1000)}ms",),
                )

        kwargs: dict[str, Any] = {"autocommit": True}
        if for_statistics:
            # Never prepare statistics: a prepared statement soon runs a generic
            # plan that cannot see the window's size and gives up parallel
            # aggregation; planning costs little next to the statistic
            # (bench/README.md, "Plans").
            kwargs["prepare_threshold"] = None
        return AsyncConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            reconnect_timeout=RECONNECT_TIMEOUT,
            kwargs=kwargs,
            configure=configure,
            check=check_connection,
            name=f"audit-graph-{name}",
            open=False,
        )

    # --- lifecycle -------------------------------------------------------

    def migrate(self) -> list[str]:
        """Apply pending schema migrations (synchronously, before serving)."""
        return migrate(self.database_url)

    async def open(self, wait_timeout: float = 30.0) -> None:
        for pool in self._pools:
            await pool.open(wait=True, timeout=wait_timeout)

    @property
    def _pools(self) -> list[AsyncConnectionPool]:
        return list(dict.fromkeys([self._write_pool, self._read_pool, self._primary_read_pool]))

    def start_maintenance(self, interval: float) -> None:
        """Start the maintenance thread: ensure partitions now, a full tick every `interval` s."""
        if self._maintenance is not None:
            raise RuntimeError("maintenance was already started on this store")
        self._maintenance = self.maintenance_thread(interval)
        self._maintenance.start()

    def maintenance_thread(self, interval: float) -> Maintenance:
        """A maintenance thread (not started) over this store's database, clock and settings."""
        return Maintenance(
            self.connect_maintenance,
            self.now,
            interval,
            lock_key=self.maintenance_lock_key,
            retention_days=self.retention_days,
        )

    async def close(self) -> None:
        """Stop maintenance, then close the pools; connections in use are waited for.

        Maintenance stops first so that a tick cut short by shutdown still
        finds the database to release its lock on. Safe to call twice.
        """
        if self._maintenance is not None:
            # close() joins the thread: wait for it off the event loop.
            await asyncio.to_thread(self._maintenance.close)
        await self._ingest.drain()
        await self._feed.close()
        for pool in reversed(self._pools):
            await pool.close()

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def now(self) -> datetime:
        return as_utc(self.clock())

    async def ping(self) -> bool:
        """True when the primary answers a trivial query (readiness)."""
        try:
            async with self._writing() as conn:
                await conn.execute("SELECT 1")
        except StoreUnavailable:
            return False
        return True

    @asynccontextmanager
    async def _connection(self, pool: AsyncConnectionPool) -> AsyncIterator[AsyncConnection]:
        """A pooled connection; connection-level failures become StoreUnavailable."""
        try:
            async with pool.connection() as conn:
                yield conn
        except PoolTimeout as exc:
            raise StoreUnavailable(
                "the database did not hand out a connection in time; try again shortly."
            ) from exc
        except psycopg.errors.QueryCanceled as exc:
            raise StoreUnavailable(
                "the query took too long and was cancelled; narrow the time window or filters."
            ) from exc
        except psycopg.OperationalError as exc:
            raise StoreUnavailable("the database is unreachable; try again shortly.") from exc

    def _reading(self) -> Any:
        return self._connection(self._read_pool)

    def _reading_primary(self) -> Any:
        return self._connection(self._primary_read_pool)

    def _writing(self) -> Any:
        return self._connection(self._write_pool)

    # --- writes ------------------------------------------------------------

    async def log(self, event: NewEvent) -> Event:
        """Persist one event (idempotent on id and day) and return it as stored."""
        check_event(event)
        return await self._ingest.submit(events.prepare_row(event, self.now()))

    async def log_many(self, batch: Sequence[NewEvent]) -> list[str]:
        """Persist 1..1000 events in one transaction; return their ids in order."""
        if not batch:
            raise InvalidArgument("the batch is empty; send between 1 and 1000 events.")
        if len(batch) > MAX_BATCH:
            raise InvalidArgument(
                f"the batch holds {len(batch)} events; the most one call takes is {MAX_BATCH}. "
                "Split it into several calls."
            )
        async with self._writing() as conn:
            # Each event is checked as the COPY streams; a bad one aborts it.
            rows = await events.insert_new_rows(conn, checked_rows(batch, self.now()))
        return [row[0] for row in rows]

    async def copy_events(self, batch: Iterable[NewEvent]) -> int:
        """Bulk-import events with COPY in one transaction; return how many were stored.

        For imports and `seed`, not for services logging calls: it takes any
        number of events at several times the speed of `log_many`, but it does
        not deduplicate. An event whose (id, created_date) is already stored,
        or repeats in the batch, fails the whole call; events without an id
        get random 16-byte ids, which never collide in practice. The rows are
        not announced to live-tail subscribers.

        Each event is checked and prepared exactly as `log` does it, while the
        COPY streams; the first invalid event aborts it, so nothing of the
        call is stored, and the error names the event's index.
        """
        try:
            async with self._writing() as conn, conn.transaction():
                return await events.copy_rows(conn, checked_rows(batch, self.now()))
        except psycopg.errors.UniqueViolation:
            raise InvalidArgument(
                "an event of the batch has the id of an event already stored on the same day "
                "(or of another event of the batch); copy_events does not deduplicate: "
                "leave ids empty, or use log_many for retries."
            ) from None

    async def _write_rows(self, rows: Sequence[tuple[Any, ...]]) -> list[Event]:
        async with self._writing() as conn:
            return await events.insert_rows(conn, rows)

    # --- events ------------------------------------------------------------

    @staticmethod
    def _check_filter(flt: EventFilter) -> None:
        for name in ("id", *events.EXACT_FILTERS[1:], "search"):
            check_text(name, getattr(flt, name))
        if flt.ids is not None:
            if not 1 <= len(flt.ids) <= MAX_IDS:
                raise InvalidArgument(
                    f"ids holds {len(flt.ids)} ids; give between 1 and {MAX_IDS} "
                    "(leave it out to match any id)."
                )
            for event_id in flt.ids:
                check_text("an id in ids", event_id)
        check_range(flt.start, flt.end)

    async def tail(
        self,
        flt: EventFilter = EventFilter(),  # noqa: B008 (immutable)
        after: str | None = None,
    ) -> AsyncGenerator[Event, None]:
        """Events that match the filter: stored ones after the cursor `after`, then live ones.

        Without `after`, each event committed from now on. With it, first the
        stored events after that place in (timestamp, id) order, read in one
        snapshot, then each event committed later: an announced transaction
        that snapshot already saw is skipped, so none is missed or repeated
        across the switch. An event stored later with a timestamp before the
        cursor is not replayed. A subscriber that falls behind gets
        FellBehind with the cursor to resume from. Rows are read from the
        primary: a replica may not have them yet.
        """
        self._check_filter(flt)
        position = events.decode_position(after) if after is not None else None
        async with self._feed.subscribe() as subscription:
            # Events arrive in commit order, not always in timestamp order: the
            # place to resume from is the furthest one delivered.
            furthest = position or (self.now(), "")
            seen: Snapshot | None = None

            def resume() -> FellBehind:
                return FellBehind(events.position_cursor(*furthest))

            if position is not None:
                try:
                    async with self._snapshot() as (conn, seen):
                        while page := await events.select_events(
                            conn, flt, SortField.TIMESTAMP, SortOrder.ASC, REPLAY_PAGE, 0,
                            (*furthest, None),
                        ):  # fmt: skip
                            for event in page:
                                yield event
                            furthest = (page[-1].timestamp, page[-1].id)
                            if subscription.fell_behind:
                                raise resume()
                except FellBehind:
                    raise
                except StoreUnavailable as exc:  # the replay's connection is gone
                    raise resume() from exc
            while True:
                announced = await subscription.queue.get()
                if announced is None or subscription.fell_behind:
                    raise resume()
                if seen is not None and seen.sees(announced.tx):
                    continue
                if announced.keys is None:
                    raise resume()
                async with self._writing() as conn:
                    found = await events.select_by_keys(conn, announced.keys, flt)
                for event in found:
                    furthest = max(furthest, (event.timestamp, event.id), key=place)
                    yield event

    @asynccontextmanager
    async def _snapshot(self) -> AsyncIterator[tuple[AsyncConnection, Snapshot]]:
        """A connection of its own to the primary, in a read-only snapshot, and that snapshot.

        Not from the pool: a replay lasts as long as its subscriber reads.
        """
        async with self._own_connection(self.database_url) as conn:
            # A subscriber that stops reading mid-replay must not hold the
            # snapshot (and vacuum) back for long: the server ends it.
            await conn.execute(
                "SELECT set_config('idle_in_transaction_session_timeout', %s, false)",
                (f"{REPLAY_IDLE_TIMEOUT}s",),
            )
            await conn.set_isolation_level(psycopg.IsolationLevel.REPEATABLE_READ)
            await conn.set_read_only(True)
            async with conn.transaction():
                cur = await conn.execute("SELECT pg_current_snapshot()::text")
                row = await cur.fetchone()
                assert row is not None
                yield conn, Snapshot.parse(row[0])

    @asynccontextmanager
    async def _own_connection(self, url: str) -> AsyncIterator[AsyncConnection]:
        """A connection outside the pools, for work that lasts as long as a client reads.

        At most OWN_CONNECTIONS at once per process, so a crowd of exports or
        resuming tails cannot use up the server's connections.
        """
        if self._own_connections.locked():
            raise StoreUnavailable(
                "too many exports and resuming live tails at once; try again shortly."
            )
        try:
            async with (
                self._own_connections,
                await AsyncConnection.connect(
                    url, autocommit=True, connect_timeout=OWN_CONNECT_TIMEOUT
                ) as conn,
            ):
                yield conn
        except psycopg.OperationalError as exc:
            raise StoreUnavailable("the database is unreachable; try again shortly.") from exc

    def export(
        self,
        flt: EventFilter = EventFilter(),  # noqa: B008 (immutable)
        fmt: ExportFormat | str = ExportFormat.CSV,
    ) -> AsyncGenerator[bytes, None]:
        """The events of a filter in (timestamp, id) order, as CSV or NDJSON bytes.

        Bad arguments raise InvalidArgument here, before any SQL; an
        unreachable database, StoreUnavailable from the first chunk. Read on
        a connection of its own: an export lasts as long as its client reads.
        """
        fmt = parse_enum(ExportFormat, fmt, "format")
        self._check_filter(flt)
        return self._exported(flt, fmt)

    async def _exported(self, flt: EventFilter, fmt: ExportFormat) -> AsyncGenerator[bytes, None]:
        async with self._own_connection(self.read_database_url) as conn:
            async for chunk in export.copy_out(conn, flt, fmt):
                yield chunk

    async def get(self, event_id: str) -> Event | None:
        """The event with this id (the most recent one if the id was reused on another day)."""
        if not event_id:
            return None
        found = await self.query(EventFilter(id=event_id), limit=1)
        return found[0] if found else None

    async def query(
        self,
        flt: EventFilter = EventFilter(),  # noqa: B008 (immutable)
        sort: SortField | str = SortField.TIMESTAMP,
        order: SortOrder | str = SortOrder.DESC,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Event]:
        page = await self.page(flt, sort, order, limit, offset)
        return page.items

    async def page(
        self,
        flt: EventFilter = EventFilter(),  # noqa: B008 (immutable)
        sort: SortField | str = SortField.TIMESTAMP,
        order: SortOrder | str = SortOrder.DESC,
        limit: int = 50,
        offset: int = 0,
        after: str | None = None,
    ) -> EventPage:
        """One page of events; `after` continues from a previous page's end cursor."""
        sort = parse_enum(SortField, sort, "sort")
        order = parse_enum(SortOrder, order, "order")
        self._check_filter(flt)
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise InvalidArgument(f"limit must be between 1 and {MAX_PAGE_SIZE}; got {limit}.")
        if not 0 <= offset <= MAX_OFFSET:
            raise InvalidArgument(
                f"offset must be between 0 and {MAX_OFFSET}; got {offset}. "
                "For deeper pages pass endCursor as after."
            )
        position = None
        if after is not None:
            if offset:
                raise InvalidArgument("offset must be 0 when after is given.")
            position = events.decode_cursor(after, sort, order)
        async with self._reading_primary() as conn:
            rows = await events.select_events(conn, flt, sort, order, limit + 1, offset, position)
        items = rows[:limit]
        end_cursor = events.encode_cursor(items[-1], sort, order) if items else None
        return EventPage(items=items, has_next_page=len(rows) > limit, end_cursor=end_cursor)

    async def count(self, flt: EventFilter = EventFilter()) -> int:  # noqa: B008
        self._check_filter(flt)
        async with self._reading() as conn:
            return await events.count_events(conn, flt)

    async def distinct(
        self,
        column: DistinctColumn | str,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[str]:
        """Sorted non-empty values of a column; absent bounds mean unbounded."""
        column = parse_enum(DistinctColumn, column, "column")
        check_range(start, end)
        async with self._reading() as conn:
            return await events.select_distinct(conn, column, start, end)

    async def distinct_pairs(
        self,
        col1: str,
        col2: str,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> dict[str, str]:
        """user_id -> user_email, the most recent non-empty email winning."""
        if (col1, col2) != ("user_id", "user_email"):
            raise InvalidArgument(
                "distinct pairs are only available for (user_id, user_email); "
                f"got ({col1}, {col2})."
            )
        check_range(start, end)
        async with self._reading() as conn:
            return await events.select_user_emails(conn, start, end)

    async def user_labels(
        self, start: datetime | None = None, end: datetime | None = None
    ) -> list[UserLabel]:
        """`distinct_pairs` of user_id and user_email as labels, sorted by user id."""
        emails = await self.distinct_pairs("user_id", "user_email", start, end)
        return [UserLabel(user_id=user_id, email=email) for user_id, email in emails.items()]

    async def filter_options(
        self, start: datetime | None = None, end: datetime | None = None
    ) -> FilterOptions:
        """Every distinct column and the user labels at once, read concurrently."""
        users, tools, kinds, sources, event_kinds, labels = await asyncio.gather(
            self.distinct(DistinctColumn.USER_ID, start, end),
            self.distinct(DistinctColumn.TOOL_NAME, start, end),
            self.distinct(DistinctColumn.TOOLKIT_KIND, start, end),
            self.distinct(DistinctColumn.SOURCE, start, end),
            self.distinct(DistinctColumn.EVENT_KIND, start, end),
            self.user_labels(start, end),
        )
        return FilterOptions(users, tools, kinds, sources, event_kinds, labels)

    # --- statistics ----------------------------------------------------------

    def _scope(self, flt: MetricsFilter, tool_name: str = "") -> Scope:
        equal = {
            "user_id": flt.user_id,
            "event_kind": flt.event_kind,
            "source": flt.source,
            "tool_name": tool_name,
        }
        for name, value in equal.items():
            check_text(name, value)
        window = resolve_window(flt.start, flt.end, self.now())
        return Scope(window, {name: value for name, value in equal.items() if value})

    async def timeseries(
        self,
        resolution: Resolution | str,
        flt: MetricsFilter = MetricsFilter(),  # noqa: B008
    ) -> list[TimeseriesBucket]:
        resolution = parse_enum(Resolution, resolution, "resolution")
        scope = self._scope(flt)
        check_bucket_count(scope.window, resolution)
        async with self._reading() as conn:
            covered = await sources.covered_from(conn)
            return await metrics.timeseries(conn, scope, resolution, covered)

    async def breakdown(
        self,
        group_by: Dimension | str,
        limit: int = BREAKDOWN_DEFAULT_LIMIT,
        flt: MetricsFilter = MetricsFilter(),  # noqa: B008
        tool_name: str = "",
    ) -> list[BreakdownEntry]:
        group_by = parse_enum(Dimension, group_by, "group_by")
        if limit <= 0:
            limit = BREAKDOWN_DEFAULT_LIMIT
        limit = min(limit, BREAKDOWN_MAX_LIMIT)
        scope = self._scope(flt, tool_name)
        async with self._reading() as conn:
            covered = await sources.covered_from(conn)
            return await metrics.breakdown(conn, group_by, limit, scope, covered)

    async def overview(self, flt: MetricsFilter = MetricsFilter()) -> Overview:  # noqa: B008
        scope = self._scope(flt)
        async with self._reading() as conn:
            covered = await sources.covered_from(conn)
            return await metrics.overview(conn, scope, covered)

    async def _raw_summary(
        self, flt: MetricsFilter, statistic: Callable[[AsyncConnection, Conditions], Awaitable[T]]
    ) -> T:
        """A statistic that summarises the filter's raw rows in one row."""
        where = self._scope(flt).conditions()
        async with self._reading() as conn:
            return await statistic(conn, where)

    async def performance(self, flt: MetricsFilter = MetricsFilter()) -> PerformanceStats:  # noqa: B008
        return await self._raw_summary(flt, metrics.performance)

    async def enrichment(self, flt: MetricsFilter = MetricsFilter()) -> EnrichmentStats:  # noqa: B008
        return await self._raw_summary(flt, metrics.enrichment)

    async def discovery(self, flt: MetricsFilter = MetricsFilter()) -> DiscoveryStats:  # noqa: B008
        """Sessions that discover before they query; `flt.user_id` does not apply (SPEC 3)."""
        scope = self._scope(dataclasses.replace(flt, user_id=""))
        async with self._reading() as conn:
            covered = await sources.covered_from(conn)
            return await metrics.discovery(
                conn, scope, covered, self.discovery_kind, self.query_kind
            )

    # --- sessions ---------------------------------------------------------------

    @property
    def _kinds(self) -> dict[str, str]:
        return {"discovery_kind": self.discovery_kind, "query_kind": self.query_kind}

    def _check_sessions(self, flt: SessionFilter) -> Window:
        check_text("userId", flt.user_id)
        check_text("search", flt.search)
        return resolve_window(flt.start, flt.end, self.now())

    async def sessions(
        self,
        flt: SessionFilter = SessionFilter(),  # noqa: B008 (immutable)
        first: int = 25,
        after: str | None = None,
    ) -> SessionPage:
        """Sessions with a call in the window, most recently active first, summed over it."""
        if not 1 <= first <= MAX_SESSIONS_PAGE:
            raise InvalidArgument(f"first must be between 1 and {MAX_SESSIONS_PAGE}; got {first}.")
        window = self._check_sessions(flt)
        position = sessions.decode_cursor(after) if after is not None else None
        async with self._reading() as conn:
            rows = await sessions.select_sessions(
                conn, window, flt, self._kinds, first + 1, position
            )
        items = rows[:first]
        end_cursor = sessions.encode_cursor(items[-1]) if items else None
        resolved = dataclasses.replace(flt, start=window.start, end=window.end)
        return SessionPage(items, len(rows) > first, end_cursor, resolved)

    async def count_sessions(self, flt: SessionFilter = SessionFilter()) -> int:  # noqa: B008
        window = self._check_sessions(flt)
        async with self._reading() as conn:
            return await sessions.count_sessions(conn, window, flt, self._kinds)

    async def session(self, session_id: str) -> Session | None:
        """All calls of one session, summed; None when the log holds none."""
        if not session_id:
            return None
        check_text("id", session_id)
        async with self._reading_primary() as conn:
            return await sessions.select_session(conn, session_id, self._kinds)

    async def timeline(
        self, session_id: str, first: int = 50, after: str | None = None
    ) -> EventPage:
        """A session's events, oldest first, keyset-paged."""
        if not 1 <= first <= MAX_PAGE_SIZE:
            raise InvalidArgument(f"first must be between 1 and {MAX_PAGE_SIZE}; got {first}.")
        flt = EventFilter(session_id=session_id)
        return await self.page(flt, SortField.TIMESTAMP, SortOrder.ASC, first, 0, after)

    # --- retention and partitions ---------------------------------------------

    def retention_cutoff(self) -> datetime:
        return self.now() - timedelta(days=self.retention_days)

    def connect_maintenance(self) -> psycopg.Connection:
        """A dedicated synchronous connection for partition DDL and the retention DELETE."""
        try:
            return psycopg.connect(self.database_url, autocommit=True, connect_timeout=10)
        except psycopg.OperationalError as exc:
            raise StoreUnavailable("the database is unreachable; try again shortly.") from exc

    async def _in_thread(self, work: Callable[[psycopg.Connection], T]) -> T:
        def run() -> T:
            with self.connect_maintenance() as conn:
                return work(conn)

        try:
            return await asyncio.to_thread(run)
        except psycopg.OperationalError as exc:
            raise StoreUnavailable("the database is unreachable; try again shortly.") from exc

    async def cleanup(self) -> int:
        """Delete rows older than now - retention_days; return how many."""
        cutoff = self.retention_cutoff()
        return await self._in_thread(lambda conn: partitions.delete_expired_rows(conn, cutoff))

    async def ensure_monthly_partitions(self, months_ahead: int = PARTITIONS_AHEAD) -> list[str]:
        today = self.now().date()
        result = await self._in_thread(
            lambda conn: partitions.ensure_monthly_partitions(conn, months_ahead, today)
        )
        return result.names

    async def drop_expired_partitions(self, retention_days: int | None = None) -> list[str]:
        days = self.retention_days if retention_days is None else retention_days
        now = self.now()
        result = await self._in_thread(
            lambda conn: partitions.drop_expired_partitions(conn, days, now)
        )
        return result.names

    async def run_maintenance(self) -> MaintenanceReport:
        """One full maintenance tick now, under the same lock as the thread's ticks.

        It runs on a fresh connection in a worker thread: the maintenance
        thread's own connection belongs to its schedule. When another process
        holds the lock the report says so (lock_acquired=False) and nothing ran.
        """
        now = self.now()
        return await self._in_thread(
            lambda conn: maintenance.tick(
                conn,
                lock_key=self.maintenance_lock_key,
                now=now,
                retention_days=self.retention_days,
            )
        )

    async def ensure_partitions_between(self, start: datetime, end: datetime) -> list[str]:
        """Create the partitions of the months from start to end whose rows are not in the default.

        For bulk writers (`seed`) about to fill those months.
        """
        first, last = as_utc(start).date(), as_utc(end).date()
        result = await self._in_thread(
            lambda conn: partitions.ensure_months_with_no_default_rows(conn, first, last)
        )
        return result.names

    async def analyze(self) -> None:
        """Refresh the planner's statistics of audit_logs (after a bulk write)."""
        await self._in_thread(lambda conn: conn.execute("ANALYZE audit_logs"))

    async def partitions(self) -> list[PartitionInfo]:
        return await self._in_thread(partitions.list_partitions)
