"""The columns of `audit_logs`: the one definition of an audit event.

Everything else that lists the event's fields is derived from `COLUMNS`:
the store's `NewEvent` and `Event` (models.py), the column lists, types and
NULL defaults of its SQL (events.py), the limits its checks enforce
(validation.py) and the GraphQL `AuditEvent` and `AuditEventInput` types
(schema/). Migrations are history and stay literal SQL; a test compares this
table with the live one after migrating (tests/test_columns.py).

Adding a column: a `Column` here, a migration that adds it, and, when clients
may send or read it, nothing more: the GraphQL types follow.

The order is the API's (the contract lists AuditEvent's fields in it); SQL
names its columns, so the table's own order does not matter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

# The PostgreSQL types used, by what information_schema calls them.
Kind = Literal["text", "varchar", "integer", "boolean", "timestamptz", "date", "jsonb"]

INT4_MAX = 2**31 - 1


@dataclass(frozen=True, slots=True)
class Column:
    """One column, as the table declares it and as the API treats it.

    kind, not_null, declared_default: the table's declaration
        (`declared_default` when the table has a DEFAULT, which is then `default`).
    max_length: the most characters a value may hold: `varchar(max_length)`
        for a varchar, a limit of ours for text.
    default: what an event holds when the caller gives none; None for a
        value `log` fills in (id, timestamp, event_kind) or leaves NULL
        (parameters). A required input has no default (`required`).
    required: the caller must give it (tool_name, success).
    written_by_caller: False for created_date, which `log` derives.
    searched: `search` matches its text.
    """

    name: str
    kind: Kind
    default: Any = None
    max_length: int | None = None
    not_null: bool = False
    declared_default: bool = False
    required: bool = False
    written_by_caller: bool = True
    searched: bool = False

    @property
    def is_text(self) -> bool:
        return self.kind in ("text", "varchar")

    @property
    def null_reads_as(self) -> Any:
        """What a NULL of this column reads as: text '', a number 0, a flag its default.

        Rows written before a column existed, or by another writer, hold NULL
        where `log` writes a default; every reader gets the same shape.
        """
        if self.is_text:
            return ""
        if self.kind == "integer":
            return 0
        return self.default


def varchar(name: str, max_length: int, default: Any = "", **kw: Any) -> Column:
    return Column(name, "varchar", default, max_length, **kw)


def text(name: str, default: Any = "", **kw: Any) -> Column:
    return Column(name, "text", default, **kw)


def count(name: str, **kw: Any) -> Column:
    """A non-negative integer column (durations, sizes, token counts)."""
    return Column(name, "integer", 0, **kw)


COLUMNS: tuple[Column, ...] = (
    varchar("id", 32, default=None, not_null=True),
    Column("timestamp", "timestamptz", not_null=True),
    count("duration_ms"),
    varchar("request_id", 255),
    text("session_id", declared_default=True),
    varchar("user_id", 255, searched=True),
    varchar("user_email", 255),
    varchar("persona", 100, searched=True),
    varchar("tool_name", 255, default=None, not_null=True, required=True, searched=True),
    varchar("toolkit_kind", 100, searched=True),
    varchar("toolkit_name", 100),
    varchar("connection", 100, searched=True),
    Column("parameters", "jsonb"),
    Column("success", "boolean", not_null=True, required=True),
    text("error_message", searched=True),
    count("response_chars", declared_default=True),
    count("request_chars", declared_default=True),
    count("content_blocks", declared_default=True),
    varchar("transport", 30, default="stdio", declared_default=True),
    varchar("source", 30, default="mcp", declared_default=True),
    Column("enrichment_applied", "boolean", False, declared_default=True),
    count("enrichment_tokens_full", declared_default=True),
    count("enrichment_tokens_dedup", declared_default=True),
    varchar("enrichment_mode", 20, declared_default=True),
    varchar("enrichment_match_kind", 20, declared_default=True),
    Column("authorized", "boolean", True, declared_default=True),
    varchar("event_kind", 64, default=None),
    text("purpose", max_length=1000, searched=True),
    Column("created_date", "date", not_null=True, written_by_caller=False),
)

BY_NAME = {column.name: column for column in COLUMNS}
# What a caller sends (NewEvent, AuditEventInput) and what a reader gets (Event, AuditEvent).
INPUT_COLUMNS = tuple(column for column in COLUMNS if column.written_by_caller)
TEXT_COLUMNS = tuple(column for column in INPUT_COLUMNS if column.is_text)
COUNT_COLUMNS = tuple(column for column in INPUT_COLUMNS if column.kind == "integer")
SEARCHED_COLUMNS = tuple(column.name for column in COLUMNS if column.searched)
