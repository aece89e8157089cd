"""SQL for writing and reading individual events: log, query, count, distinct.

Each function takes an open async connection and already-validated arguments;
`Store` picks the pool and does the validation.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from operator import attrgetter
from typing import Any

import psycopg
from psycopg import AsyncConnection, sql
from psycopg.copy import AsyncLibpqWriter
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from graph.values import as_utc, is_storable_text

from . import feed
from .columns import COLUMNS, SEARCHED_COLUMNS, Column
from .conditions import Conditions
from .errors import InvalidArgument
from .models import DistinctColumn, Event, EventFilter, NewEvent, SortField, SortOrder
from .rules import default_event_kind, new_event_id, redact
from .validation import JSON_ENCODER

# Column order of INSERT and COPY; `prepare_row` yields values in this order.
WRITE_COLUMNS = tuple(column.name for column in COLUMNS)

# The type each written column is cast to from JSON (`insert_rows`) and
# dumped as for COPY.
CAST_TYPES = {
    "text": "text",
    "varchar": "text",
    "integer": "int4",
    "boolean": "bool",
    "timestamptz": "timestamptz",
    "date": "date",
    "jsonb": "jsonb",
}
COLUMN_TYPES = {column.name: CAST_TYPES[column.kind] for column in COLUMNS}


def read_value(column: Column) -> sql.Composable:
    """A column's value as read: NULL as `Column.null_reads_as` (parameters stay NULL)."""
    name = sql.Identifier(column.name)
    if column.not_null or column.kind == "jsonb":
        return name
    return sql.SQL("COALESCE({}, {})").format(name, sql.Literal(column.null_reads_as))


def read_expression(column: Column) -> sql.Composable:
    """How a column is selected: `read_value` under the column's own name."""
    if column.not_null or column.kind == "jsonb":
        return sql.Identifier(column.name)
    return sql.SQL("{} AS {}").format(read_value(column), sql.Identifier(column.name))


EVENT_SELECT = sql.SQL(", ").join(map(read_expression, COLUMNS))

# How each sortable column is ordered: NULL folded into its default so that
# sorting, keyset comparison and the values returned all agree, and text in
# the "C" collation so the order is code-point order on every server.
SORT_EXPRESSIONS: dict[SortField, sql.Composable] = {
    SortField.TIMESTAMP: sql.SQL("timestamp"),
    SortField.DURATION_MS: sql.SQL("COALESCE(duration_ms, 0)"),
    SortField.SUCCESS: sql.SQL("success"),
    SortField.ENRICHMENT_APPLIED: sql.SQL("COALESCE(enrichment_applied, false)"),
    **{
        field: sql.SQL("COALESCE({}, '') COLLATE \"C\"").format(sql.Identifier(field.value))
        for field in (
            SortField.USER_ID,
            SortField.TOOL_NAME,
            SortField.TOOLKIT_KIND,
            SortField.SOURCE,
            SortField.CONNECTION,
            SortField.ENRICHMENT_MODE,
        )
    },
}
EXACT_FILTERS = ("id", "user_id", "session_id", "tool_name", "toolkit_kind", "source", "event_kind")


def prepare_row(event: NewEvent, now: datetime) -> tuple[Any, ...]:
    """The values `WRITE_COLUMNS` stores for a validated event."""
    timestamp = as_utc(event.timestamp) if event.timestamp is not None else now
    row = list(EVENT_COLUMNS(event))  # parameters: None when there are none
    row[ID] = event.id or new_event_id()
    row[TIMESTAMP] = timestamp
    row[CREATED_DATE] = timestamp.date()
    if event.parameters is not None:
        # msgspec writes the JSON json.dumps writes but for the spelling of
        # some floats, which jsonb reads as the same numbers, and is faster.
        row[PARAMETERS] = Jsonb(redact(event.parameters), dumps=JSON_ENCODER.encode)
    row[EVENT_KIND] = event.event_kind or default_event_kind(event.toolkit_kind)
    return tuple(row)


ID, TIMESTAMP, CREATED_DATE, PARAMETERS, EVENT_KIND = map(
    WRITE_COLUMNS.index, ("id", "timestamp", "created_date", "parameters", "event_kind")
)
# NewEvent's value of each column (created_date, which it has not, is set above).
EVENT_COLUMNS = attrgetter(*("timestamp" if c == "created_date" else c for c in WRITE_COLUMNS))


# A write is one statement in autocommit, for any number of rows: one round
# trip, all rows committed or none.
#
# The rows travel as one JSON array of arrays: json.dumps encodes them in C,
# where psycopg would dump 28 array parameters value by value in Python (a
# fifth of a logEvent's CPU), and arrays rather than objects halve the bytes
# and the time on both sides (bench/README.md, "Write path"). Live-tail
# subscribers hear of the rows from a trigger, as of every writer's (feed.py).
#
# The statement text never changes, so its prepared plan is reused.
def json_element(index: int) -> sql.Composable:
    """Column `index` of a row sent by `rows_json`, as its column's type."""
    type_ = COLUMN_TYPES[WRITE_COLUMNS[index]]
    if type_ == "jsonb":
        # A JSON null is SQL NULL here, as no parameters at all is stored.
        return sql.SQL("NULLIF(sent -> {}, 'null')").format(index)
    return sql.SQL("(sent ->> {})::{}").format(index, sql.SQL(type_))


def insert_statement(returning: sql.Composable) -> str:
    return (
        sql.SQL("""
            INSERT INTO audit_logs ({columns})
            SELECT {values} FROM jsonb_array_elements(%s::jsonb) AS sent
            ON CONFLICT DO NOTHING
            RETURNING {returning}
        """)
        .format(
            columns=sql.SQL(", ").join(map(sql.Identifier, WRITE_COLUMNS)),
            values=sql.SQL(", ").join(map(json_element, range(len(WRITE_COLUMNS)))),
            returning=returning,
        )
        # Rendered once: a Composed is otherwise joined again on every execute.
        .as_string()
    )


# Of the rows it inserted, INSERT_ROWS reads back only `parameters`: every
# other column is stored exactly as sent, while jsonb normalises a document
# (key order, number spelling) and the caller must get what a read returns.
INSERT_ROWS = insert_statement(sql.SQL("id, created_date, parameters"))
INSERT_ROWS_KEYS = insert_statement(sql.SQL("id, created_date"))


def rows_json(rows: Sequence[tuple[Any, ...]]) -> str:
    """`rows` (from `prepare_row`) as the JSON document INSERT_ROWS reads: arrays of values."""
    return json.dumps(rows, default=json_value)


def json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Jsonb):
        return value.obj
    raise TypeError(f"{type(value).__name__} is not a stored column type")


# Where each of Event's fields is in a row from `prepare_row`.
EVENT_FROM_ROW = [WRITE_COLUMNS.index(field.name) for field in dataclasses.fields(Event)]


def stored_event(row: tuple[Any, ...], parameters: Any) -> Event:
    """The event INSERT_ROWS stored from `row`, given the `parameters` it read back."""
    values = list(row)
    values[PARAMETERS] = parameters
    return Event(*[values[index] for index in EVENT_FROM_ROW])


async def insert_rows(conn: AsyncConnection, rows: Sequence[tuple[Any, ...]]) -> list[Event]:
    """Insert rows with one statement and return each as stored, in order.

    `conn` is in autocommit, as the store's pools hand them out: the
    statement commits all rows or none. A key (id, created_date) that already
    exists, or repeats within the batch, is stored once: the first copy wins
    and is what every retry gets back.
    """
    keys = [(row[0], row[CREATED_DATE]) for row in rows]
    cur = await conn.execute(INSERT_ROWS, (rows_json(rows),))
    inserted = {(id_, day): parameters for id_, day, parameters in await cur.fetchall()}
    stored: dict[feed.Key, Event] = {}
    for key, row in zip(keys, rows, strict=True):
        if key in inserted and key not in stored:
            stored[key] = stored_event(row, inserted[key])
    missing = [key for key in dict.fromkeys(keys) if key not in stored]
    if missing:
        # Stored before (a retry): committed, so readable after our statement.
        for event in await select_by_keys(conn, missing, EventFilter()):
            stored[event.id, event.created_date] = event
    return [stored[key] for key in keys]


async def insert_rows_keys(conn: AsyncConnection, rows: Sequence[tuple[Any, ...]]) -> None:
    """`insert_rows` for a caller that knows its keys already: nothing is read back."""
    await conn.execute(INSERT_ROWS_KEYS, (rows_json(rows),))


async def insert_new_rows(
    conn: AsyncConnection, rows: Iterable[tuple[Any, ...]]
) -> list[tuple[Any, ...]]:
    """`insert_rows_keys` for rows whose keys are most likely new, at the speed of COPY.

    A batch of new events (the usual case: a retry is rare) is copied in one
    transaction. A key already stored, or repeated in
    the batch, makes the COPY fail (as does a deadlock with a batch holding
    some of the keys); nothing of it is kept and the rows go through
    `insert_rows_keys`, which skips the duplicates (and is run again after a
    deadlock of its own). COPY is the fastest way in
    (bench/README.md, "Write path").

    The rows are copied as `rows` yields them, in text format: PostgreSQL
    stores each 64 kB of text as it arrives, while the caller checks and
    prepares the next rows (binary COPY stores nothing before its 1000th row).
    An exception from `rows` aborts the COPY and the transaction: nothing is
    stored. Returns the rows.
    """
    pending = iter(rows)
    sent: list[tuple[Any, ...]] = []

    def sending() -> Iterator[tuple[Any, ...]]:
        for row in pending:
            sent.append(row)
            yield row

    try:
        async with conn.transaction():
            await copy_rows(conn, sending(), binary=False)
    except (psycopg.errors.UniqueViolation, psycopg.errors.DeadlockDetected):
        sent.extend(pending)
        await insert_rows_keys_retrying(conn, sent)
    return sent


# A batch that takes some of another batch's keys in another order can deadlock
# with it; PostgreSQL cancels one statement, and the other finishes.
DEADLOCK_RETRIES = 5


async def insert_rows_keys_retrying(conn: AsyncConnection, rows: Sequence[tuple[Any, ...]]) -> None:
    """`insert_rows_keys`, again after a deadlock (its statement was rolled back)."""
    for attempt in range(DEADLOCK_RETRIES):
        try:
            await insert_rows_keys(conn, rows)
            return
        except psycopg.errors.DeadlockDetected:
            if attempt == DEADLOCK_RETRIES - 1:
                raise


# The same columns as INSERT_ROWS, sent by COPY. In binary format each value
# travels in PostgreSQL's own wire format and the server parses no text, the
# faster for a bulk import (see `copy_rows`); text lets it store rows while
# more arrive (`insert_new_rows`).
COPY_COLUMNS = sql.SQL(", ").join(map(sql.Identifier, WRITE_COLUMNS))
COPY_ROWS = sql.SQL("COPY audit_logs ({columns}) FROM STDIN (FORMAT BINARY)").format(
    columns=COPY_COLUMNS
)
COPY_TEXT_ROWS = sql.SQL("COPY audit_logs ({columns}) FROM STDIN").format(columns=COPY_COLUMNS)
# Each column's type, for COPY's dumpers (binary COPY needs them); varchar is sent as text.
COPY_TYPES = [COLUMN_TYPES[column] for column in WRITE_COLUMNS]
# What psycopg sends of a COPY before waiting for the socket (its default is 1 MiB).
COPY_FLUSH_BYTES = 64 * 1024


async def copy_rows(
    conn: AsyncConnection, rows: Iterable[tuple[Any, ...]], binary: bool = True
) -> int:
    """COPY rows (from `prepare_row`) into audit_logs; return how many were sent.

    For bulk imports such as `seed`: several times the throughput of INSERT,
    at a price. There is no ON CONFLICT, so a key (id, created_date) already
    stored fails the whole COPY instead of being skipped. The caller owns the transaction; rows
    are streamed as `rows` yields them, so the server works while the caller
    produces the next ones, and an exception from `rows` aborts the COPY.
    """
    count = 0
    async with conn.cursor() as cur:
        writer = AsyncLibpqWriter(cur, flush_threshold=COPY_FLUSH_BYTES)
        async with cur.copy(COPY_ROWS if binary else COPY_TEXT_ROWS, writer=writer) as copy:
            copy.set_types(COPY_TYPES)  # dumpers chosen once, not per value
            for row in rows:
                await copy.write_row(row)
                count += 1
    return count


# --- reading ---------------------------------------------------------------


def event_conditions(flt: EventFilter) -> Conditions:
    where = Conditions()
    where.time_range(flt.start, flt.end)
    for name in EXACT_FILTERS:
        value = getattr(flt, name)
        if value:
            where.equals(name, value)
    if flt.success is not None:
        where.equals("success", flt.success)
    if flt.ids is not None:
        where.add("id = ANY(%(ids)s::text[])", ids=list(flt.ids))
    if flt.search:
        # strpos on lower() matches the text literally, so %, _ and \ need no escaping.
        matches = sql.SQL(" OR ").join(
            sql.SQL("strpos(lower({}), lower(%(search)s)) > 0").format(sql.Identifier(column))
            for column in SEARCHED_COLUMNS
        )
        where.add(sql.SQL("({})").format(matches), search=flt.search)
    return where


def encode_cursor(event: Event, sort: SortField, order: SortOrder) -> str:
    value: Any = getattr(event, sort.value)
    if isinstance(value, datetime):
        value = value.isoformat()
    day = event.created_date.isoformat() if event.created_date is not None else None
    return cursor_text([sort.value, order.value, value, event.id, day])


def cursor_text(elements: list[Any]) -> str:
    """What `parse_cursor` reads back: the elements as JSON, base64url without padding."""
    payload = json.dumps(elements, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def event_cursor(event: Event) -> str:
    """The event's place in the default sort: `after` for events, and for the live tail."""
    return encode_cursor(event, SortField.TIMESTAMP, SortOrder.DESC)


def position_cursor(timestamp: datetime, id_: str) -> str:
    """A cursor of the default sort standing at (timestamp, id), where no event need be."""
    default = [SortField.TIMESTAMP.value, SortOrder.DESC.value]
    return cursor_text([*default, timestamp.isoformat(), id_, None])


def parse_cursor(cursor: str) -> tuple[str, str, Any, str, date | None]:
    """(sort field, order, sort value, id, created_date) of a cursor this API issued.

    Cursors issued before created_date was part of them carry four elements.
    """
    try:
        field, direction, value, id_, *rest = cursor_elements(cursor)
        day = date.fromisoformat(rest[0]) if rest and rest[0] is not None else None
        if len(rest) > 1:
            raise ValueError("too many elements")
    except (ValueError, TypeError):
        raise not_a_cursor() from None
    return field, direction, value, id_, day


def not_a_cursor() -> InvalidArgument:
    return InvalidArgument(
        "after is not a cursor this API issued; pass endCursor from a previous page."
    )


def cursor_elements(cursor: str) -> list[Any]:
    """The elements `cursor_text` encoded; InvalidArgument for anything else."""
    try:
        elements = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError, binascii.Error, RecursionError):
        raise not_a_cursor() from None
    if not isinstance(elements, list):
        raise not_a_cursor()
    return elements


def checked_position(sort: SortField, value: Any, id_: Any) -> Any:
    """The sort value of a cursor, once it is known to be text and values PostgreSQL holds."""
    # A forged cursor's text goes into the query's parameters.
    if not (isinstance(id_, str) and is_storable_text(id_) and cursor_value_ok(sort, value)):
        raise not_a_cursor()
    if sort is SortField.TIMESTAMP:
        try:
            return as_utc(datetime.fromisoformat(value))  # a forged naive one is UTC
        except OverflowError:
            raise not_a_cursor() from None
    return value


def decode_cursor(cursor: str, sort: SortField, order: SortOrder) -> tuple[Any, str, date | None]:
    """The (sort value, id, created_date) a cursor points after; it must come from the same sort."""
    field, direction, value, id_, day = parse_cursor(cursor)
    if (field, direction) != (sort.value, order.value):
        raise InvalidArgument(
            "after comes from a page with a different sortBy/sortOrder; "
            "use the same sort as the page that returned it, or start again without after."
        )
    return checked_position(sort, value, id_), id_, day


def decode_position(cursor: str) -> tuple[datetime, str]:
    """The (timestamp, id) a cursor of a timestamp sort, in either order, stands at."""
    field, _, value, id_, _ = parse_cursor(cursor)
    if field != SortField.TIMESTAMP.value:
        raise InvalidArgument(
            "after must be an event's cursor, or endCursor of events sorted by TIMESTAMP; "
            "this one comes from a page of another sort."
        )
    return checked_position(SortField.TIMESTAMP, value, id_), id_


def cursor_value_ok(sort: SortField, value: Any) -> bool:
    if sort is SortField.TIMESTAMP:
        try:
            datetime.fromisoformat(value)
        except (TypeError, ValueError):
            return False
        return True
    if sort in (SortField.SUCCESS, SortField.ENRICHMENT_APPLIED):
        return isinstance(value, bool)
    if sort is SortField.DURATION_MS:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, str) and is_storable_text(value)


async def select_events(
    conn: AsyncConnection,
    flt: EventFilter,
    sort: SortField,
    order: SortOrder,
    limit: int,
    offset: int,
    after: tuple[Any, str, date | None] | None,
) -> list[Event]:
    """Up to `limit` events in sort order, id breaking ties in the same direction.

    An id may be stored once per UTC day, so under any sort but timestamp (where
    equal timestamp and id mean the same day) created_date breaks the last ties:
    without it two rows sharing sort value and id could both fall on a page edge.
    """
    sort_expr = SORT_EXPRESSIONS[sort]
    direction = sql.SQL("ASC" if order is SortOrder.ASC else "DESC")
    keys: list[sql.Composable] = [sort_expr, sql.SQL('id COLLATE "C"')]
    if sort is not SortField.TIMESTAMP:
        keys.append(sql.SQL("created_date"))
    where = event_conditions(flt)
    if after is not None:
        comparison = sql.SQL(">" if order is SortOrder.ASC else "<")
        values = [sql.Placeholder("after_value"), sql.Placeholder("after_id")]
        if after[2] is not None and sort is not SortField.TIMESTAMP:
            values.append(sql.Placeholder("after_day"))
        where.add(
            sql.SQL("({}) {} ({})").format(
                sql.SQL(", ").join(keys[: len(values)]), comparison, sql.SQL(", ").join(values)
            ),
            after_value=after[0],
            after_id=after[1],
            after_day=after[2],
        )
    query = sql.SQL(
        "SELECT {columns} FROM audit_logs {where} ORDER BY {order} "
        "LIMIT %(limit)s OFFSET %(offset)s"
    ).format(
        columns=EVENT_SELECT,
        where=where.sql(),
        order=sql.SQL(", ").join(sql.SQL("{} {}").format(key, direction) for key in keys),
    )
    cur = conn.cursor(row_factory=class_row(Event))
    await cur.execute(query, {**where.params, "limit": limit, "offset": offset})
    return await cur.fetchall()


async def count_events(conn: AsyncConnection, flt: EventFilter) -> int:
    where = event_conditions(flt)
    query = sql.SQL("SELECT count(*) FROM audit_logs {}").format(where.sql())
    row = await (await conn.execute(query, where.params)).fetchone()
    assert row is not None
    return int(row[0])


async def select_distinct(
    conn: AsyncConnection, column: DistinctColumn, start: datetime | None, end: datetime | None
) -> list[str]:
    col = sql.Identifier(column.value)
    where = Conditions()
    where.add(sql.SQL("{} <> ''").format(col))
    where.time_range(start, end)
    query = sql.SQL(
        'SELECT {col} FROM audit_logs {where} GROUP BY {col} ORDER BY {col} COLLATE "C"'
    ).format(col=col, where=where.sql())
    rows = await (await conn.execute(query, where.params)).fetchall()
    return [row[0] for row in rows]


async def select_user_emails(
    conn: AsyncConnection, start: datetime | None, end: datetime | None
) -> dict[str, str]:
    """user_id -> the email of its most recent row that has one (id breaks timestamp ties)."""
    where = Conditions()
    where.add("user_id <> ''")
    where.add("user_email <> ''")
    where.time_range(start, end)
    query = sql.SQL(
        'SELECT DISTINCT ON (user_id COLLATE "C") user_id, user_email FROM audit_logs {} '
        'ORDER BY user_id COLLATE "C", timestamp DESC, id COLLATE "C" DESC'
    ).format(where.sql())
    rows = await (await conn.execute(query, where.params)).fetchall()
    return {user_id: email for user_id, email in rows}


async def select_by_keys(
    conn: AsyncConnection, keys: Sequence[feed.Key], flt: EventFilter
) -> list[Event]:
    """The rows with these (id, created_date) keys that match the filter, oldest first."""
    where = event_conditions(flt)
    where.add(
        "(id, created_date) IN (SELECT * FROM unnest(%(key_ids)s::text[], %(key_days)s::date[]))",
        key_ids=[id_ for id_, _ in keys],
        key_days=[day for _, day in keys],
    )
    query = sql.SQL('SELECT {} FROM audit_logs {} ORDER BY timestamp, id COLLATE "C"').format(
        EVENT_SELECT, where.sql()
    )
    cur = conn.cursor(row_factory=class_row(Event))
    await cur.execute(query, where.params)
    return await cur.fetchall()
