"""Store.distinct and Store.distinct_pairs: the values of a column, and users' latest emails."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest
from store_helpers import MICROSECOND, at, ev, insert_row_with_nulls

from graph.store import InvalidArgument, Store


async def test_distinct_is_sorted_by_code_point_without_empty_or_null(
    store: Store, db: psycopg.Connection
) -> None:
    await store.log_many(
        [
            ev(id=f"e{n}", user_id=u)
            for n, u in enumerate(["bob", "", "Alice", "bob", "_svc", "alice"])
        ]
    )
    insert_row_with_nulls(db, "legacy", at(15, 1))
    assert await store.distinct("user_id") == ["Alice", "_svc", "alice", "bob"]


async def test_distinct_range_is_inclusive_and_unbounded_when_absent(store: Store) -> None:
    await store.log_many(
        [
            ev(id="old", tool_name="old", timestamp=datetime(2020, 1, 1, tzinfo=UTC)),
            ev(id="start", tool_name="at_start", timestamp=at(14)),
            ev(id="end", tool_name="at_end", timestamp=at(15)),
            ev(id="late", tool_name="late", timestamp=at(15) + MICROSECOND),
        ]
    )
    assert await store.distinct("tool_name") == ["at_end", "at_start", "late", "old"]
    assert await store.distinct("tool_name", at(14), at(15)) == ["at_end", "at_start"]
    assert await store.distinct("tool_name", start=at(15)) == ["at_end", "late"]
    assert await store.distinct("tool_name", end=at(14)) == ["at_start", "old"]


@pytest.mark.parametrize("column", ["user_id", "tool_name", "toolkit_kind", "source", "event_kind"])
async def test_distinct_lists_each_allowed_column(store: Store, column: str) -> None:
    await store.log_many([ev(id="a", **{column: "v2"}), ev(id="b", **{column: "v1"})])
    assert await store.distinct(column) == ["v1", "v2"]


@pytest.mark.parametrize("column", ["persona", "user_email", "id", "connection", "user_id; --"])
async def test_distinct_on_another_column_is_rejected(store: Store, column: str) -> None:
    with pytest.raises(InvalidArgument, match="column"):
        await store.distinct(column)


async def test_distinct_start_after_end_is_rejected(store: Store) -> None:
    with pytest.raises(InvalidArgument, match="after"):
        await store.distinct("user_id", at(15), at(14))


async def test_distinct_pairs_most_recent_email_wins(store: Store) -> None:
    await store.log_many(
        [
            ev(id="1", user_id="alice", user_email="old@example.com", timestamp=at(10)),
            ev(id="2", user_id="alice", user_email="new@example.com", timestamp=at(12)),
            ev(id="3", user_id="alice", user_email="mid@example.com", timestamp=at(11)),
        ]
    )
    assert await store.distinct_pairs("user_id", "user_email") == {"alice": "new@example.com"}
    assert await store.distinct_pairs("user_id", "user_email", end=at(11)) == {
        "alice": "mid@example.com"
    }


async def test_distinct_pairs_skips_rows_without_email(store: Store) -> None:
    await store.log_many(
        [
            ev(id="1", user_id="bob", user_email="bob@example.com", timestamp=at(10)),
            ev(id="2", user_id="bob", user_email="", timestamp=at(12)),
            ev(id="3", user_id="svc", user_email="", timestamp=at(12)),
            ev(id="4", user_id="", user_email="ghost@example.com", timestamp=at(12)),
        ]
    )
    assert await store.distinct_pairs("user_id", "user_email") == {"bob": "bob@example.com"}


async def test_distinct_pairs_range_is_inclusive(store: Store) -> None:
    await store.log_many(
        [
            ev(id="1", user_id="a", user_email="a@x", timestamp=at(10)),
            ev(id="2", user_id="b", user_email="b@x", timestamp=at(11)),
            ev(id="3", user_id="c", user_email="c@x", timestamp=at(11) + MICROSECOND),
        ]
    )
    assert await store.distinct_pairs("user_id", "user_email", at(10), at(11)) == {
        "a": "a@x",
        "b": "b@x",
    }


@pytest.mark.parametrize(
    ("col1", "col2"),
    [("user_email", "user_id"), ("user_id", "persona"), ("tool_name", "user_email"), ("id", "id")],
)
async def test_distinct_pairs_other_than_user_id_and_email_are_rejected(
    store: Store, col1: str, col2: str
) -> None:
    with pytest.raises(InvalidArgument):
        await store.distinct_pairs(col1, col2)
