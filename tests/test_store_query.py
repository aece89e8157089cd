"""Store reads through query and count: time ranges, filters, search, ordering, legacy NULLs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from store_helpers import MICROSECOND, NOW, NULLABLE_TEXT, at, ev, insert_row_with_nulls

from graph.store import EventFilter, InvalidArgument, Store


async def ids_of(store: Store, flt: EventFilter = EventFilter(), **kwargs: Any) -> list[str]:  # noqa: B008
    return [event.id for event in await store.query(flt, **kwargs)]


# --- NULLs written by older writers ---------------------------------------------------------


async def test_null_text_columns_read_back_as_empty_strings(
    store: Store, db: psycopg.Connection
) -> None:
    insert_row_with_nulls(db, "legacy", at(15, 9))
    [event] = await store.query()
    for name in NULLABLE_TEXT:
        assert getattr(event, name) == "", name
    assert event.tool_name == "legacy_tool"
    assert await store.get("legacy") == event


async def test_null_numbers_and_flags_read_back_as_their_column_defaults(
    store: Store, db: psycopg.Connection
) -> None:
    insert_row_with_nulls(db, "legacy", at(15, 9))
    [event] = await store.query()
    assert (event.duration_ms, event.response_chars, event.request_chars) == (0, 0, 0)
    assert (event.content_blocks, event.enrichment_tokens_full) == (0, 0)
    assert event.enrichment_tokens_dedup == 0
    assert (event.enrichment_applied, event.authorized) == (False, True)


# --- query: ranges ----------------------------------------------------------------------------


async def test_query_range_is_inclusive_at_both_ends(store: Store) -> None:
    start, end = at(14, 6, 0, 0, 500), at(15, 6)
    await store.log_many(
        [
            ev(id="before", timestamp=start - MICROSECOND),
            ev(id="start", timestamp=start),
            ev(id="end", timestamp=end),
            ev(id="after", timestamp=end + MICROSECOND),
        ]
    )
    assert await ids_of(store, EventFilter(start=start, end=end)) == ["end", "start"]
    assert await store.count(EventFilter(start=start, end=end)) == 2


async def test_query_single_instant_range_returns_events_at_that_instant(store: Store) -> None:
    await store.log_many([ev(id="a", timestamp=at(15, 6)), ev(id="b", timestamp=at(15, 7))])
    assert await ids_of(store, EventFilter(start=at(15, 6), end=at(15, 6))) == ["a"]


async def test_query_without_bounds_has_no_default_window(store: Store) -> None:
    # SPEC 3 applies the 24-hour default to the statistics' window, not to query's filters.
    await store.log_many(
        [
            ev(id="old", timestamp=datetime(2020, 1, 1, tzinfo=UTC)),
            ev(id="future", timestamp=NOW + timedelta(days=30)),
        ]
    )
    assert await ids_of(store) == ["future", "old"]


async def test_query_start_only_and_end_only(store: Store) -> None:
    await store.log_many([ev(id=f"d{d}", timestamp=at(d)) for d in (10, 12, 14)])
    assert await ids_of(store, EventFilter(start=at(12))) == ["d14", "d12"]
    assert await ids_of(store, EventFilter(end=at(12))) == ["d12", "d10"]


async def test_naive_filter_bounds_are_utc(store: Store) -> None:
    await store.log_many([ev(id="a", timestamp=at(15, 6)), ev(id="b", timestamp=at(15, 8))])
    naive_start = datetime(2026, 3, 15, 7)
    assert await ids_of(store, EventFilter(start=naive_start)) == ["b"]
    assert await ids_of(store, EventFilter(start=naive_start, end=at(15, 9))) == ["b"]


@pytest.mark.parametrize("operation", ["query", "count", "page"])
async def test_start_after_end_is_rejected(store: Store, operation: str) -> None:
    flt = EventFilter(start=at(15, 1), end=at(15, 1) - MICROSECOND)
    with pytest.raises(InvalidArgument, match="after"):
        await getattr(store, operation)(flt)


# --- query: filters and search ----------------------------------------------------------------


@pytest.mark.parametrize(
    "field", ["user_id", "session_id", "tool_name", "toolkit_kind", "source", "event_kind"]
)
async def test_exact_filter_matches_whole_value_case_sensitively(store: Store, field: str) -> None:
    await store.log_many(
        [
            ev(id="exact", **{field: "alpha"}),
            ev(id="longer", **{field: "alphabet"}),
            ev(id="upper", **{field: "Alpha"}),
        ]
    )
    assert await ids_of(store, EventFilter(**{field: "alpha"})) == ["exact"]


async def test_filter_by_id(store: Store) -> None:
    await store.log_many([ev(id="one"), ev(id="two"), ev(id="one-two")])
    assert await ids_of(store, EventFilter(id="one")) == ["one"]


async def test_filter_by_success(store: Store) -> None:
    await store.log_many([ev(id="ok", success=True), ev(id="failed", success=False)])
    assert await ids_of(store, EventFilter(success=False)) == ["failed"]
    assert await ids_of(store, EventFilter(success=True)) == ["ok"]


async def test_empty_string_filters_mean_no_filter(store: Store) -> None:
    await store.log_many(
        [ev(id="a", user_id="alice", timestamp=at(15, 2)), ev(id="b", timestamp=at(15, 1))]
    )
    flt = EventFilter(id="", user_id="", session_id="", tool_name="", search="", event_kind="")
    assert await ids_of(store, flt) == ["a", "b"]


async def test_filters_combine_with_and(store: Store) -> None:
    await store.log_many(
        [
            ev(id="both", user_id="alice", toolkit_kind="trino"),
            ev(id="user", user_id="alice", toolkit_kind="datahub"),
            ev(id="kind", user_id="bob", toolkit_kind="trino"),
        ]
    )
    assert await ids_of(store, EventFilter(user_id="alice", toolkit_kind="trino")) == ["both"]


SEARCHED = ["user_id", "tool_name", "toolkit_kind", "connection", "persona", "error_message"]
NOT_SEARCHED = ["user_email", "session_id", "request_id", "toolkit_name", "source", "event_kind"]


@pytest.mark.parametrize("field", SEARCHED)
async def test_search_looks_in_each_searched_column(store: Store, field: str) -> None:
    await store.log_many([ev(id="hit", **{field: "xx-Needle-xx"}), ev(id="miss")])
    assert await ids_of(store, EventFilter(search="needle")) == ["hit"]


@pytest.mark.parametrize("field", NOT_SEARCHED)
async def test_search_ignores_other_columns(store: Store, field: str) -> None:
    await store.log_many([ev(id="other", **{field: "xx-Needle-xx"})])
    assert await ids_of(store, EventFilter(search="needle")) == []


async def test_search_is_case_insensitive(store: Store) -> None:
    await store.log_many(
        [
            ev(id="mixed", tool_name="SearchDatasets", timestamp=at(15, 3)),
            ev(id="accent", error_message="ÉCHEC de la requête", timestamp=at(15, 2)),
            ev(id="none", tool_name="run_query", timestamp=at(15, 1)),
        ]
    )
    assert await ids_of(store, EventFilter(search="searchdatasets")) == ["mixed"]
    assert await ids_of(store, EventFilter(search="SEARCH")) == ["mixed"]
    assert await ids_of(store, EventFilter(search="échec")) == ["accent"]


async def test_search_percent_matches_only_a_percent_sign(store: Store) -> None:
    await store.log_many(
        [
            ev(id="percent", error_message="100% of quota"),
            ev(id="digits", error_message="1000 of quota"),
        ]
    )
    assert await ids_of(store, EventFilter(search="100%")) == ["percent"]
    assert await ids_of(store, EventFilter(search="%")) == ["percent"]


async def test_search_underscore_matches_only_an_underscore(store: Store) -> None:
    await store.log_many(
        [ev(id="underscore", tool_name="snake_case"), ev(id="letter", tool_name="snakeXcase")]
    )
    assert await ids_of(store, EventFilter(search="e_c")) == ["underscore"]
    assert await ids_of(store, EventFilter(search="_")) == ["underscore"]


async def test_search_backslash_matches_only_a_backslash(store: Store) -> None:
    await store.log_many(
        [
            ev(id="backslash", connection="C:\\tmp", timestamp=at(15, 3)),
            ev(id="plain", connection="C:tmp", timestamp=at(15, 2)),
            ev(id="escaped-percent", error_message="50\\%", timestamp=at(15, 1)),
            ev(id="bare-percent", error_message="50%", timestamp=at(15, 0)),
        ]
    )
    assert await ids_of(store, EventFilter(search="C:\\t")) == ["backslash"]
    assert await ids_of(store, EventFilter(search="\\")) == ["backslash", "escaped-percent"]
    assert await ids_of(store, EventFilter(search="0\\%")) == ["escaped-percent"]


# --- query: ordering -------------------------------------------------------------------------


async def test_default_order_is_timestamp_descending(store: Store) -> None:
    await store.log_many([ev(id=n, timestamp=at(15, h)) for n, h in (("b", 2), ("c", 3), ("a", 1))])
    assert await ids_of(store) == ["c", "b", "a"]


async def test_timestamp_ties_break_by_id_in_the_same_direction(store: Store) -> None:
    # Code-point order: "A" (65) < "_" (95) < "a" (97) < "b" (98).
    await store.log_many([ev(id=i, timestamp=at(15, 1)) for i in ("b", "A", "a", "_")])
    assert await ids_of(store, sort="timestamp", order="asc") == ["A", "_", "a", "b"]
    assert await ids_of(store, sort="timestamp", order="desc") == ["b", "a", "_", "A"]


async def test_sort_value_ties_break_by_id_in_the_same_direction(store: Store) -> None:
    await store.log_many(
        [
            ev(id="m", tool_name="same", timestamp=at(15, 1)),
            ev(id="z", tool_name="same", timestamp=at(15, 3)),
            ev(id="a", tool_name="same", timestamp=at(15, 2)),
            ev(id="first", tool_name="a_tool"),
        ]
    )
    assert await ids_of(store, sort="tool_name", order="asc") == ["first", "a", "m", "z"]
    assert await ids_of(store, sort="tool_name", order="desc") == ["z", "m", "a", "first"]


async def test_string_sort_is_code_point_order(store: Store) -> None:
    names = ["alpha", "Beta", "éclair", "Zeta", "_x", "beta"]
    await store.log_many([ev(id=f"e{n}", tool_name=name) for n, name in enumerate(names)])
    ordered = [e.tool_name for e in await store.query(sort="tool_name", order="asc")]
    assert ordered == ["Beta", "Zeta", "_x", "alpha", "beta", "éclair"]


async def test_duration_sorts_numerically(store: Store) -> None:
    await store.log_many([ev(id=f"d{d}", duration_ms=d) for d in (100, 9, 10, 0)])
    assert await ids_of(store, sort="duration_ms", order="asc") == ["d0", "d9", "d10", "d100"]


@pytest.mark.parametrize("field", ["success", "enrichment_applied"])
async def test_boolean_sorts_false_before_true(store: Store, field: str) -> None:
    await store.log_many([ev(id="t", **{field: True}), ev(id="f", **{field: False})])
    assert await ids_of(store, sort=field, order="asc") == ["f", "t"]
    assert await ids_of(store, sort=field, order="desc") == ["t", "f"]


async def test_limit_and_offset(store: Store) -> None:
    await store.log_many([ev(id=f"e{h}", timestamp=at(15, h)) for h in range(6)])
    assert await ids_of(store, limit=2, offset=1) == ["e4", "e3"]
    assert await ids_of(store, limit=10, offset=5) == ["e0"]
    assert await ids_of(store, limit=10, offset=6) == []


async def test_count_ignores_paging_and_applies_filter(store: Store) -> None:
    await store.log_many(
        [ev(id=f"e{h}", timestamp=at(15, h), success=h % 2 == 0) for h in range(7)]
    )
    assert await store.count() == 7
    assert await store.count(EventFilter(success=True)) == 4
    assert await store.count(EventFilter(success=True, start=at(15, 3))) == 2
