"""The column table (graph/store/columns.py) is the table the migrations build."""

from __future__ import annotations

import psycopg
import pytest

from graph.store.columns import COLUMNS
from graph.store.migrations import migrate
from graph.store.rules import DEFAULT_EVENT_KIND_SQL, default_event_kind

# information_schema's name of each kind the column table uses.
DATA_TYPES = {
    "text": "text",
    "varchar": "character varying",
    "integer": "integer",
    "boolean": "boolean",
    "timestamptz": "timestamp with time zone",
    "date": "date",
    "jsonb": "jsonb",
}


def live_columns(db: psycopg.Connection) -> dict[str, tuple[object, ...]]:
    rows = db.execute(
        "SELECT column_name, data_type, character_maximum_length, is_nullable, column_default "
        "FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = 'audit_logs'"
    ).fetchall()
    return {name: rest for name, *rest in rows}


def test_every_column_is_declared_as_the_table_declares_it(
    schema_url: str, db: psycopg.Connection
) -> None:
    migrate(schema_url)
    live = live_columns(db)
    assert set(live) == {column.name for column in COLUMNS}
    for column in COLUMNS:
        data_type, max_length, nullable, default = live[column.name]
        assert data_type == DATA_TYPES[column.kind], column.name
        # A text column's limit is ours; a varchar's is the table's.
        assert max_length == (column.max_length if column.kind == "varchar" else None), column.name
        assert (nullable == "NO") == column.not_null, column.name
        if column.declared_default:
            # The table's DEFAULT expression, evaluated, is the column's default.
            assert db.execute(f"SELECT {default}").fetchone() == (column.default,), column.name
        else:
            assert default is None, column.name


@pytest.mark.parametrize("toolkit_kind", ["api", "trino", "", "API", None])
def test_the_sql_event_kind_rule_is_the_python_one(
    db: psycopg.Connection, toolkit_kind: str | None
) -> None:
    derived = db.execute(
        f"SELECT {DEFAULT_EVENT_KIND_SQL} FROM (SELECT %s::text AS toolkit_kind) AS row",
        (toolkit_kind,),
    ).fetchone()
    assert derived == (default_event_kind(toolkit_kind or ""),)
