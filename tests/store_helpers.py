"""Helpers the store tests share: moments of March 2026, events with defaults, legacy rows.

`ev` makes a NewEvent an hour before the `clock` fixture's now unless told otherwise;
`insert_row_with_nulls` writes a row the way an older writer left it, NULL in every
nullable column; JSON_SCALARS and JSON_KEYS are the pieces of the JSON strategies.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from hypothesis import strategies as st

from graph.store import NewEvent

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)  # the `clock` fixture's "now"
MICROSECOND = timedelta(microseconds=1)


def at(day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    """A moment in March 2026, UTC."""
    return datetime(2026, 3, day, hour, minute, second, micro, tzinfo=UTC)


def ev(**fields: Any) -> NewEvent:
    fields.setdefault("tool_name", "tool")
    fields.setdefault("success", True)
    fields.setdefault("timestamp", NOW - timedelta(hours=1))
    return NewEvent(**fields)


def row_count(db: psycopg.Connection) -> int:
    row = db.execute("SELECT count(*) FROM audit_logs").fetchone()
    assert row is not None
    return int(row[0])


NULLABLE_TEXT = (
    "request_id", "user_id", "user_email", "persona", "toolkit_kind", "toolkit_name",
    "connection", "error_message", "session_id", "transport", "source", "enrichment_mode",
    "enrichment_match_kind", "event_kind",
)  # fmt: skip


def insert_row_with_nulls(db: psycopg.Connection, event_id: str, moment: datetime) -> None:
    nulls = ", ".join(NULLABLE_TEXT)
    db.execute(
        f"INSERT INTO audit_logs (id, timestamp, created_date, tool_name, success, {nulls}, "
        "duration_ms, response_chars, request_chars, content_blocks, enrichment_applied, "
        "authorized, enrichment_tokens_full, enrichment_tokens_dedup) "
        f"VALUES (%s, %s, %s, 'legacy_tool', true, {', '.join(['NULL'] * len(NULLABLE_TEXT))}, "
        "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
        (event_id, moment, moment.date()),
    )


JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**80), 2**80),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([-0.0, 1.5e-7, 1e22, 100.0]),
    st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=8),
)
JSON_KEYS = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=6)
