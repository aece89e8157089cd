"""Bulk export: the events of a filter, as CSV or NDJSON, straight out of PostgreSQL.

Both formats come from `COPY (SELECT ...) TO STDOUT`: PostgreSQL writes the
text, psycopg hands it over row by row, and the caller streams it on in
chunks, so memory stays constant whatever the number of rows. Rows go in
(timestamp, id) order, the order of the timeline index. Columns are the
event's, in their order (columns.INPUT_COLUMNS), NULL read as `Column.null_reads_as`.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from typing import Any

from psycopg import AsyncConnection, sql

from .columns import INPUT_COLUMNS, Column
from .events import event_conditions, read_value
from .models import EventFilter


class ExportFormat(enum.Enum):
    CSV = "csv"
    NDJSON = "ndjson"


# RFC 3339 in UTC, microseconds always written.
RFC3339 = sql.SQL("""to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')""")


def value(column: Column) -> sql.Composable:
    """A column's value as an export holds it: as it reads, times in RFC 3339."""
    if column.kind == "timestamptz":
        return RFC3339.format(sql.Identifier(column.name))
    return read_value(column)


def csv_expression(column: Column) -> sql.Composable:
    """A column as CSV text under its name: booleans true/false, parameters their JSON."""
    text = sql.SQL("{}::text" if column.kind in ("boolean", "jsonb") else "{}")
    return sql.SQL("{} AS {}").format(text.format(value(column)), sql.Identifier(column.name))


def json_pair(column: Column) -> sql.Composable:
    return sql.SQL("{}, {}").format(sql.Literal(column.name), value(column))


CSV_COLUMNS = sql.SQL(", ").join(map(csv_expression, INPUT_COLUMNS))
# json_build_object takes at most 100 arguments: two per column.
NDJSON_COLUMN = sql.SQL("json_build_object({})::text").format(
    sql.SQL(", ").join(map(json_pair, INPUT_COLUMNS))
)
# COPY's CSV with a delimiter and a quote that JSON text never holds raw (it
# escapes every control character): each object comes out verbatim, one per
# line. COPY's text format would double every backslash of the JSON.
OPTIONS = {
    ExportFormat.CSV: sql.SQL("FORMAT csv, HEADER true"),
    ExportFormat.NDJSON: sql.SQL("FORMAT csv, DELIMITER E'\\x01', QUOTE E'\\x02'"),
}
SELECTED = {ExportFormat.CSV: CSV_COLUMNS, ExportFormat.NDJSON: NDJSON_COLUMN}
# What is handed on at once: one chunk per row would cost a send per row.
CHUNK_BYTES = 64 * 1024


def export_statement(flt: EventFilter, fmt: ExportFormat) -> tuple[sql.Composable, dict[str, Any]]:
    where = event_conditions(flt)
    query = sql.SQL(
        'COPY (SELECT {columns} FROM audit_logs {where} ORDER BY timestamp, id COLLATE "C") '
        "TO STDOUT ({options})"
    ).format(columns=SELECTED[fmt], where=where.sql(), options=OPTIONS[fmt])
    return query, where.params


async def copy_out(
    conn: AsyncConnection, flt: EventFilter, fmt: ExportFormat
) -> AsyncIterator[bytes]:
    """The export's bytes, in chunks of about CHUNK_BYTES."""
    query, params = export_statement(flt, fmt)
    chunk = bytearray()
    async with conn.cursor() as cur, cur.copy(query, params) as copy:
        async for data in copy:
            chunk += data
            if len(chunk) >= CHUNK_BYTES:
                yield bytes(chunk)
                chunk.clear()
    if chunk:
        yield bytes(chunk)
