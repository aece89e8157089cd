"""Store writes and event reads on small hand-worked fixtures: one behaviour per test.

Covers log / log_many (ids, timestamps, created_date, event_kind, redaction,
idempotent retries, input validation), query / page / count (ranges, filters,
search, ordering, paging), distinct and distinct_pairs. Expected values are
written out by hand from SPEC 3.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import re
import secrets
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph.store import Event, EventFilter, InvalidArgument, MetricsFilter, NewEvent, Store
from graph.store.validation import (
    COUNT_FIELDS,
    JSON_ENCODER,
    TEXT_LIMITS,
    check_fields,
    check_parameters,
    plain_columns,
    plain_parameters,
)

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


async def ids_of(store: Store, flt: EventFilter = EventFilter(), **kwargs: Any) -> list[str]:  # noqa: B008
    return [event.id for event in await store.query(flt, **kwargs)]


# --- log: what is stored ------------------------------------------------------------


async def test_log_returns_every_field_as_stored(store: Store) -> None:
    sent = NewEvent(
        id="evt-1",
        timestamp=at(15, 10, 30, 0, 123456),
        duration_ms=42,
        request_id="req-1",
        session_id="sess-1",
        user_id="alice",
        user_email="alice@example.com",
        persona="analyst",
        tool_name="run_query",
        toolkit_kind="trino",
        toolkit_name="trino-main",
        connection="prod",
        parameters={"sql": "select 1", "n": [1, 2.5, None, True]},
        success=False,
        error_message="boom",
        response_chars=100,
        request_chars=10,
        content_blocks=2,
        transport="http",
        source="api",
        enrichment_applied=True,
        enrichment_tokens_full=300,
        enrichment_tokens_dedup=120,
        enrichment_mode="summary",
        enrichment_match_kind="exact",
        authorized=False,
        event_kind="custom",
    )
    stored = await store.log(sent)
    for name in NewEvent.__struct_fields__:
        assert getattr(stored, name) == getattr(sent, name), name
    assert stored.created_date == date(2026, 3, 15)
    assert await store.query() == [stored]


async def test_missing_id_is_16_random_bytes_as_22_char_base64url(store: Store) -> None:
    first = await store.log(ev())
    second = await store.log(ev())
    for event_id in (first.id, second.id):
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", event_id)
        assert len(base64.urlsafe_b64decode(event_id + "==")) == 16
    assert first.id != second.id


async def test_empty_id_is_treated_as_missing(store: Store) -> None:
    stored = await store.log(ev(id=""))
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", stored.id)


async def test_log_many_generates_22_char_base64url_ids_in_order(
    store: Store, db: psycopg.Connection
) -> None:
    ids = await store.log_many([ev(), ev(id="given"), ev()])
    assert ids[1] == "given"
    for generated in (ids[0], ids[2]):
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", generated)
    assert ids[0] != ids[2]
    stored = {row[0] for row in db.execute("SELECT id FROM audit_logs").fetchall()}
    assert stored == set(ids)


async def test_missing_timestamp_is_clock_now(store: Store, clock: Any) -> None:
    clock.set(datetime(2026, 4, 1, 0, 0, 0, 1, tzinfo=UTC))
    stored = await store.log(ev(timestamp=None))
    assert stored.timestamp == datetime(2026, 4, 1, 0, 0, 0, 1, tzinfo=UTC)
    assert stored.created_date == date(2026, 4, 1)


async def test_log_many_missing_timestamp_is_clock_now(store: Store, clock: Any) -> None:
    clock.set(at(20, 8))
    await store.log_many([ev(timestamp=None, id="a")])
    [stored] = await store.query()
    assert stored.timestamp == at(20, 8)


async def test_created_date_is_utc_date_of_timestamp_with_positive_offset(
    store: Store, db: psycopg.Connection
) -> None:
    # 01:30 on the 15th at +05:00 is 20:30 UTC on the 14th.
    moment = datetime(2026, 3, 15, 1, 30, tzinfo=timezone(timedelta(hours=5)))
    stored = await store.log(ev(id="plus5", timestamp=moment))
    assert stored.timestamp == at(14, 20, 30)
    assert stored.timestamp.utcoffset() == timedelta(0)
    assert stored.created_date == date(2026, 3, 14)
    assert db.execute("SELECT created_date FROM audit_logs").fetchone() == (date(2026, 3, 14),)


async def test_created_date_is_utc_date_of_timestamp_with_negative_offset(
    store: Store, db: psycopg.Connection
) -> None:
    # 20:00 on the 15th at -08:00 is 04:00 UTC on the 16th.
    moment = datetime(2026, 3, 15, 20, 0, tzinfo=timezone(timedelta(hours=-8)))
    await store.log_many([ev(id="minus8", timestamp=moment)])
    assert db.execute(
        "SELECT created_date, timestamp = %s FROM audit_logs", (at(16, 4),)
    ).fetchone() == (
        date(2026, 3, 16),
        True,
    )


@pytest.mark.parametrize(
    ("toolkit_kind", "event_kind", "expected"),
    [
        ("api", None, "apigateway_invoke"),
        ("trino", None, "mcp_tool_call"),
        ("", None, "mcp_tool_call"),
        ("API", None, "mcp_tool_call"),  # SPEC: "when toolkit_kind is api", compared exactly
        ("api", "custom_kind", "custom_kind"),
        ("trino", "apigateway_invoke", "apigateway_invoke"),
    ],
)
async def test_event_kind_derivation(
    store: Store, toolkit_kind: str, event_kind: str | None, expected: str
) -> None:
    one = await store.log(ev(toolkit_kind=toolkit_kind, event_kind=event_kind))
    assert one.event_kind == expected
    [batch_id] = await store.log_many([ev(toolkit_kind=toolkit_kind, event_kind=event_kind)])
    assert (await store.get(batch_id)).event_kind == expected  # type: ignore[union-attr]


# --- log: redaction ---------------------------------------------------------------------

SENSITIVE_PARAMETERS: dict[str, Any] = {
    "Api_Key": "k-123",
    "AUTHORIZATION": "Bearer abc",
    "query": "select 1",
    "outer": {
        "list": [
            {"Password": "hunter2", "keep": "v", "deeper": [{"credentials": {"user": "u"}}]},
            "token",
            3,
        ],
        "TOKEN": None,
    },
    "Secret": ["a", "b"],
    "tokens": 7,
    "password_hint": "the usual",
    "api-key": "not one of the six names",
}
REDACTED_PARAMETERS: dict[str, Any] = {
    "Api_Key": "[REDACTED]",
    "AUTHORIZATION": "[REDACTED]",
    "query": "select 1",
    "outer": {
        "list": [
            {"Password": "[REDACTED]", "keep": "v", "deeper": [{"credentials": "[REDACTED]"}]},
            "token",
            3,
        ],
        "TOKEN": "[REDACTED]",
    },
    "Secret": "[REDACTED]",
    "tokens": 7,
    "password_hint": "the usual",
    "api-key": "not one of the six names",
}


async def test_log_redacts_sensitive_keys_at_any_depth_case_insensitively(
    store: Store, db: psycopg.Connection
) -> None:
    stored = await store.log(ev(parameters=SENSITIVE_PARAMETERS))
    assert stored.parameters == REDACTED_PARAMETERS
    assert db.execute("SELECT parameters FROM audit_logs").fetchone() == (REDACTED_PARAMETERS,)


async def test_log_many_redacts_sensitive_keys(store: Store, db: psycopg.Connection) -> None:
    await store.log_many([ev(parameters=SENSITIVE_PARAMETERS)])
    assert db.execute("SELECT parameters FROM audit_logs").fetchone() == (REDACTED_PARAMETERS,)


async def test_redaction_leaves_the_callers_parameters_alone(store: Store) -> None:
    parameters = {"password": "p", "nested": {"token": "t"}}
    await store.log(ev(parameters=parameters))
    assert parameters == {"password": "p", "nested": {"token": "t"}}


async def test_parameters_absent_are_stored_as_null(store: Store, db: psycopg.Connection) -> None:
    stored = await store.log(ev(parameters=None))
    assert stored.parameters is None
    assert db.execute("SELECT parameters IS NULL FROM audit_logs").fetchone() == (True,)


# --- log: idempotent retries ----------------------------------------------------------------


async def test_same_id_same_utc_day_twice_stores_one_row_and_returns_the_first(
    store: Store, db: psycopg.Connection
) -> None:
    first = await store.log(ev(id="retry", timestamp=at(15, 1), tool_name="first"))
    again = await store.log(ev(id="retry", timestamp=at(15, 23), tool_name="second"))
    assert again == first
    assert again.tool_name == "first"
    assert row_count(db) == 1


async def test_same_id_same_utc_day_given_in_another_offset_is_one_row(
    store: Store, db: psycopg.Connection
) -> None:
    await store.log(ev(id="retry", timestamp=at(15, 23, 30)))
    # 01:00 on the 16th at +02:00 is 23:00 UTC on the 15th: the same UTC day.
    await store.log(
        ev(id="retry", timestamp=datetime(2026, 3, 16, 1, tzinfo=timezone(timedelta(hours=2))))
    )
    assert row_count(db) == 1


async def test_same_id_on_a_different_utc_day_stores_two_rows(
    store: Store, db: psycopg.Connection
) -> None:
    late = await store.log(ev(id="reused", timestamp=at(15, 23, 59, 59, 999999)))
    early = await store.log(ev(id="reused", timestamp=at(16)))
    assert (late.created_date, early.created_date) == (date(2026, 3, 15), date(2026, 3, 16))
    assert row_count(db) == 2


async def test_log_many_retried_batch_stores_each_row_once(
    store: Store, db: psycopg.Connection
) -> None:
    batch = [ev(id=f"b{n}", timestamp=at(15, n)) for n in range(5)]
    await store.log_many(batch)
    await store.log_many(batch)
    assert row_count(db) == 5


async def test_log_many_duplicate_within_batch_keeps_the_first(
    store: Store, db: psycopg.Connection
) -> None:
    await store.log_many(
        [ev(id="dup", timestamp=at(15, 1), tool_name="first"), ev(id="dup", timestamp=at(15, 2))]
    )
    assert db.execute("SELECT tool_name FROM audit_logs").fetchall() == [("first",)]


# --- log: bad events write nothing ----------------------------------------------------------

# varchar(n) columns of SPEC 2.
VARCHAR_LIMITS = {
    "id": 32,
    "request_id": 255,
    "user_id": 255,
    "user_email": 255,
    "persona": 100,
    "tool_name": 255,
    "toolkit_kind": 100,
    "toolkit_name": 100,
    "connection": 100,
    "transport": 30,
    "source": 30,
    "enrichment_mode": 20,
    "enrichment_match_kind": 20,
    "event_kind": 64,
}


@pytest.mark.parametrize(("field", "limit"), VARCHAR_LIMITS.items())
async def test_string_at_its_varchar_length_in_characters_is_stored(
    store: Store, db: psycopg.Connection, field: str, limit: int
) -> None:
    value = "é" * limit  # two bytes each: the limit counts characters
    stored = await store.log(ev(**{field: value}))
    assert getattr(stored, field) == value
    assert row_count(db) == 1


@pytest.mark.parametrize(("field", "limit"), VARCHAR_LIMITS.items())
async def test_string_over_its_varchar_length_is_rejected(
    store: Store, db: psycopg.Connection, field: str, limit: int
) -> None:
    with pytest.raises(InvalidArgument, match=field):
        await store.log(ev(**{field: "x" * (limit + 1)}))
    with pytest.raises(InvalidArgument, match=field):
        await store.log_many([ev(**{field: "x" * (limit + 1)})])
    assert row_count(db) == 0


@pytest.mark.parametrize(
    "fields",
    [
        {"tool_name": "a\x00b"},
        {"user_id": "\x00"},
        {"error_message": "trailing\x00"},
        {"session_id": "s\x00"},
        {"parameters": {"key": "value\x00"}},
        {"parameters": {"k\x00ey": "value"}},
        {"parameters": {"list": [{"deep": "\x00"}]}},
    ],
    ids=["tool_name", "user_id", "error_message", "session_id", "param-value", "param-key", "deep"],
)
async def test_nul_character_is_rejected(
    store: Store, db: psycopg.Connection, fields: dict[str, Any]
) -> None:
    with pytest.raises(InvalidArgument, match="NUL"):
        await store.log(ev(**fields))
    assert row_count(db) == 0


@pytest.mark.parametrize("parameters", [[1, 2], "text", 5, True, 1.5], ids=repr)
async def test_non_object_parameters_are_rejected(
    store: Store, db: psycopg.Connection, parameters: Any
) -> None:
    with pytest.raises(InvalidArgument, match="object"):
        await store.log(ev(parameters=parameters))
    assert row_count(db) == 0


async def test_parameters_over_64_kib_are_rejected(store: Store, db: psycopg.Connection) -> None:
    with pytest.raises(InvalidArgument, match="64 KiB"):
        await store.log(ev(parameters={"blob": "x" * (64 * 1024)}))
    assert row_count(db) == 0


async def test_parameters_over_64_kib_only_as_json_spells_floats_are_rejected(
    store: Store, db: psycopg.Connection
) -> None:
    """1e+16 is 5 bytes as json writes it (msgspec writes 1e16): measured json's way."""
    floats = {"f": [1e16] * 10_922}  # json: 8 + 6 * 10,922 - 1 = 65,539 bytes
    assert len(json.dumps(floats, separators=(",", ":")).encode()) == 64 * 1024 + 3
    with pytest.raises(InvalidArgument, match="65539 bytes"):
        await store.log(ev(parameters=floats))
    assert row_count(db) == 0


async def test_parameters_under_64_kib_are_stored(store: Store) -> None:
    stored = await store.log(ev(parameters={"blob": "x" * 60_000}))
    assert stored.parameters == {"blob": "x" * 60_000}


async def test_negative_duration_is_rejected(store: Store, db: psycopg.Connection) -> None:
    with pytest.raises(InvalidArgument, match="duration_ms"):
        await store.log(ev(duration_ms=-1))
    assert row_count(db) == 0


async def test_empty_batch_is_rejected(store: Store) -> None:
    with pytest.raises(InvalidArgument, match="empty"):
        await store.log_many([])


async def test_batch_of_1001_events_is_rejected_and_nothing_written(
    store: Store, db: psycopg.Connection
) -> None:
    with pytest.raises(InvalidArgument, match="1000"):
        await store.log_many([ev(id=f"e{n}") for n in range(1001)])
    assert row_count(db) == 0


async def test_batch_of_1000_events_is_stored(store: Store, db: psycopg.Connection) -> None:
    ids = await store.log_many([ev(id=f"e{n}") for n in range(1000)])
    assert len(ids) == 1000
    assert row_count(db) == 1000


async def test_one_bad_event_in_a_batch_writes_nothing_of_the_batch(
    store: Store, db: psycopg.Connection
) -> None:
    batch = [ev(id=f"ok{n}") for n in range(9)] + [ev(id="bad", duration_ms=-5)]
    with pytest.raises(InvalidArgument, match="event 9"):
        await store.log_many(batch)
    assert row_count(db) == 0


# --- NULLs written by older writers ---------------------------------------------------------

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


# --- paging ---------------------------------------------------------------------------------------


async def test_cursor_pages_cover_every_row_once(store: Store) -> None:
    await store.log_many([ev(id=f"e{h}", timestamp=at(15, h)) for h in range(1, 6)])
    first = await store.page(limit=2)
    assert ([e.id for e in first.items], first.has_next_page) == (["e5", "e4"], True)
    second = await store.page(limit=2, after=first.end_cursor)
    assert ([e.id for e in second.items], second.has_next_page) == (["e3", "e2"], True)
    third = await store.page(limit=2, after=second.end_cursor)
    assert ([e.id for e in third.items], third.has_next_page) == (["e1"], False)
    beyond = await store.page(limit=2, after=third.end_cursor)
    assert (beyond.items, beyond.has_next_page, beyond.end_cursor) == ([], False, None)


async def test_cursor_paging_through_ties_in_the_sort_value(store: Store) -> None:
    await store.log_many([ev(id=i, tool_name="same") for i in ("c", "a", "d", "b")])
    seen: list[str] = []
    after = None
    for _ in range(4):
        page = await store.page(sort="tool_name", order="asc", limit=1, after=after)
        seen += [e.id for e in page.items]
        after = page.end_cursor
    assert seen == ["a", "b", "c", "d"]


async def test_cursor_paging_returns_both_rows_that_share_an_id_across_days(store: Store) -> None:
    # (id, created_date) is the key: one id may be stored once per UTC day.
    await store.log_many(
        [
            ev(id="reused", tool_name="same", timestamp=at(14, 12)),
            ev(id="reused", tool_name="same", timestamp=at(15, 9)),
        ]
    )
    for order in ("asc", "desc"):
        seen = []
        after = None
        while True:
            page = await store.page(sort="tool_name", order=order, limit=1, after=after)
            seen += [e.timestamp for e in page.items]
            if not page.has_next_page:
                break
            after = page.end_cursor
        assert sorted(seen) == [at(14, 12), at(15, 9)], order
        offset_pages = [
            (await store.page(sort="tool_name", order=order, limit=1, offset=n)).items
            for n in range(2)
        ]
        assert sorted(e.timestamp for page in offset_pages for e in page) == [at(14, 12), at(15, 9)]


async def test_cursor_issued_before_it_carried_created_date_still_pages(store: Store) -> None:
    # Cursors of the first release held [sort, order, value, id]; a replica running it may
    # have handed one out during an upgrade.
    await store.log_many([ev(id=i, tool_name="same") for i in ("a", "b", "c")])
    legacy = base64.urlsafe_b64encode(b'["tool_name","asc","same","a"]').decode().rstrip("=")
    page = await store.page(sort="tool_name", order="asc", limit=10, after=legacy)
    assert [e.id for e in page.items] == ["b", "c"]


async def test_cursor_from_another_sort_is_rejected(store: Store) -> None:
    await store.log_many([ev(id="a"), ev(id="b")])
    page = await store.page(sort="tool_name", order="asc", limit=1)
    with pytest.raises(InvalidArgument, match="sort"):
        await store.page(sort="timestamp", order="asc", limit=1, after=page.end_cursor)
    with pytest.raises(InvalidArgument, match="sort"):
        await store.page(sort="tool_name", order="desc", limit=1, after=page.end_cursor)


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "",
        "!!!!",
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        base64.urlsafe_b64encode(b'["timestamp", "desc", "not a date", "x"]').decode(),
        base64.urlsafe_b64encode(b'["timestamp", "desc", "2026-03-15T00:00:00+00:00", 5]').decode(),
        base64.urlsafe_b64encode(b'{"a": 1}').decode(),
    ],
)
async def test_garbage_cursor_is_rejected(store: Store, cursor: str) -> None:
    with pytest.raises(InvalidArgument, match="after"):
        await store.page(after=cursor)


async def test_cursor_with_offset_is_rejected(store: Store) -> None:
    await store.log_many([ev(id="a"), ev(id="b")])
    page = await store.page(limit=1)
    with pytest.raises(InvalidArgument, match="offset"):
        await store.page(limit=1, offset=1, after=page.end_cursor)


@pytest.mark.parametrize(("limit", "offset"), [(0, 0), (1001, 0), (-1, 0), (50, -1), (50, 100_001)])
async def test_out_of_range_limit_or_offset_is_rejected(
    store: Store, limit: int, offset: int
) -> None:
    with pytest.raises(InvalidArgument, match="limit" if offset == 0 else "offset"):
        await store.page(limit=limit, offset=offset)


@pytest.mark.parametrize(("limit", "offset"), [(1, 0), (1000, 0), (1000, 100_000)])
async def test_limit_and_offset_at_their_bounds_are_accepted(
    store: Store, limit: int, offset: int
) -> None:
    await store.log(ev(id="only"))
    page = await store.page(limit=limit, offset=offset)
    assert [e.id for e in page.items] == ([] if offset else ["only"])


@pytest.mark.parametrize(("sort", "order"), [("email", "asc"), ("timestamp", "up"), ("id", "asc")])
async def test_unknown_sort_or_order_is_rejected(store: Store, sort: str, order: str) -> None:
    with pytest.raises(InvalidArgument):
        await store.page(sort=sort, order=order)


# --- distinct ---------------------------------------------------------------------------


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


# --- configuration ------------------------------------------------------------------------------


def test_negative_retention_is_rejected(schema_url: str) -> None:
    with pytest.raises(InvalidArgument, match="retention_days"):
        Store(schema_url, retention_days=-1)


@pytest.mark.parametrize(("given", "expected"), [(0, 90), (1, 1), (30, 30)])
def test_retention_zero_means_90_days(schema_url: str, given: int, expected: int) -> None:
    assert Store(schema_url, retention_days=given).retention_days == expected


async def test_invalid_reads_write_nothing(store: Store, db: psycopg.Connection) -> None:
    await store.log(ev(id="only"))
    calls = [
        store.distinct("persona"),
        store.distinct_pairs("user_email", "user_id"),
        store.page(limit=0),
        store.page(offset=-1),
        store.page(after="garbage"),
        store.query(EventFilter(start=at(15), end=at(14))),
        store.timeseries("week"),
        store.breakdown("user_email"),
        store.overview(MetricsFilter(start=at(15), end=at(14))),
    ]
    for call in calls:
        with pytest.raises(InvalidArgument):
            await call
    assert [row[0] for row in db.execute("SELECT id FROM audit_logs").fetchall()] == ["only"]


AWKWARD_TEXT = 'quote " backslash \\ newline \n tab \t emoji \U0001f600 accents éß 中文 \u2028'
AWKWARD_PARAMETERS = {
    "big": 2**70,
    "negative": -(2**63),
    "float": 0.1,
    "tiny": 5e-324,
    "small": 1.5e-7,
    "text": AWKWARD_TEXT,
    'key "quoted" \\': [None, True, False, [], {}, [1, [2, [3]]]],
    "nested": {"deeper": {"list": [{"a": 1.5}, "x"]}},
}


@pytest.mark.parametrize("many", [False, True])
async def test_awkward_values_are_stored_exactly(
    store: Store, db: psycopg.Connection, many: bool
) -> None:
    """Every text and JSON value comes back as sent, through whichever write path."""
    event = ev(
        id="awkward",
        timestamp=datetime(2026, 3, 15, 11, 59, 59, 999_999, tzinfo=timezone(timedelta(hours=-3))),
        tool_name=AWKWARD_TEXT,
        user_email=AWKWARD_TEXT,
        error_message=AWKWARD_TEXT * 10,
        parameters=AWKWARD_PARAMETERS,
        duration_ms=2**31 - 1,
        response_chars=2**31 - 2,
    )
    if many:
        await store.log_many([event])
        stored = await store.get("awkward")
        assert stored is not None
    else:
        stored = await store.log(event)
    assert stored.tool_name == stored.user_email == AWKWARD_TEXT
    assert stored.error_message == AWKWARD_TEXT * 10
    assert stored.parameters == AWKWARD_PARAMETERS
    assert stored.timestamp == datetime(2026, 3, 15, 14, 59, 59, 999_999, tzinfo=UTC)
    assert (stored.duration_ms, stored.response_chars) == (2**31 - 1, 2**31 - 2)
    row = db.execute(
        "SELECT tool_name, parameters, created_date FROM audit_logs WHERE id = 'awkward'"
    ).fetchone()
    assert row == (AWKWARD_TEXT, AWKWARD_PARAMETERS, date(2026, 3, 15))


async def test_log_many_partly_retried_batch_keeps_what_was_stored_first(
    store: Store, db: psycopg.Connection
) -> None:
    """A batch that repeats stored keys (and one of its own) stores only its new keys."""
    await store.log_many([ev(id="b0", timestamp=at(15, 0)), ev(id="b1", tool_name="first")])
    ids = await store.log_many(
        [
            ev(id="b1", tool_name="second"),
            ev(id="b2", timestamp=at(15, 2)),
            ev(id="b3", timestamp=at(15, 3), tool_name="first"),
            ev(id="b3", timestamp=at(15, 4), tool_name="second"),
        ]
    )
    assert ids == ["b1", "b2", "b3", "b3"]
    rows = db.execute("SELECT id, tool_name FROM audit_logs ORDER BY id").fetchall()
    assert rows == [("b0", "tool"), ("b1", "first"), ("b2", "tool"), ("b3", "first")]


async def test_log_many_with_a_stored_key_and_a_bad_event_stores_nothing_new(
    store: Store, db: psycopg.Connection
) -> None:
    """The COPY fails on the stored key; checking the rest still finds the bad event."""
    await store.log_many([ev(id="kept", timestamp=at(15, 1))])
    batch = [ev(id="kept", timestamp=at(15, 1))] + [ev(id=f"n{n}") for n in range(300)]
    batch.append(ev(id="bad", persona="p" * 101))
    with pytest.raises(InvalidArgument, match="event 301: persona"):
        await store.log_many(batch)
    assert db.execute("SELECT id FROM audit_logs").fetchall() == [("kept",)]


async def test_concurrent_batches_of_the_same_keys_in_opposite_orders_store_each_once(
    store: Store, db: psycopg.Connection
) -> None:
    """Their COPYs wait on each other's keys (or deadlock); both end stored, once."""
    # ~700 kB of rows: PostgreSQL inserts them in several steps as they arrive.
    batch = [ev(id=f"c{n:03d}", error_message="e" * 600) for n in range(1000)]
    for _ in range(3):
        db.execute("DELETE FROM audit_logs")
        # Both finish before anything is asserted, or a failed one leaves the other waiting.
        first, second = await asyncio.gather(
            store.log_many(batch), store.log_many(batch[::-1]), return_exceptions=True
        )
        assert first == [event.id for event in batch]
        assert second == first[::-1]
        assert row_count(db) == 1000


# --- log answers with the event exactly as a later read returns it ------------------------

JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**80), 2**80),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([-0.0, 1.5e-7, 1e22, 100.0]),
    st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=8),
)
JSON_KEYS = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=6)
JSON_DOCUMENTS = st.dictionaries(
    JSON_KEYS,
    st.recursive(
        JSON_SCALARS,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(JSON_KEYS, inner, max_size=3),
        max_leaves=8,
    ),
    max_size=6,
)


JSON_DOCUMENTS_WITH_EXPONENTS = st.recursive(
    JSON_SCALARS | st.sampled_from([1e16, 1.5e-7, 1e-300, -2.5e22, 1e100]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(JSON_KEYS, inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(document=JSON_DOCUMENTS_WITH_EXPONENTS)
def test_json_writes_parameters_at_most_a_third_longer_than_msgspec(document: Any) -> None:
    """What plain_parameters relies on to measure with msgspec (msgspec may be longer)."""
    python = len(json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode())
    fast = len(JSON_ENCODER.encode(document))
    assert python <= fast * 4 / 3


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    parameters=st.none() | JSON_DOCUMENTS,
    moment=st.datetimes(min_value=datetime(2026, 3, 10), max_value=datetime(2026, 3, 15, 11)),
    offset_minutes=st.integers(-14 * 60, 14 * 60),
)
async def test_log_answers_what_a_read_returns(
    store: Store, parameters: dict[str, Any] | None, moment: datetime, offset_minutes: int
) -> None:
    """jsonb reorders keys and respells numbers (-0.0 is 0.0); the answer must show that too."""
    event_id = secrets.token_hex(8)
    timestamp = moment.replace(tzinfo=timezone(timedelta(minutes=offset_minutes)))
    logged = await store.log(ev(id=event_id, timestamp=timestamp, parameters=parameters))
    read = await store.get(event_id)
    assert read is not None
    assert logged == read
    assert json.dumps(logged.parameters) == json.dumps(read.parameters)
    assert logged.timestamp.isoformat() == read.timestamp.isoformat()
    assert logged.created_date == read.created_date


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    parameters=st.none() | JSON_DOCUMENTS,
    text=st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=20),
    moment=st.datetimes(min_value=datetime(2026, 3, 10), max_value=datetime(2026, 3, 15, 11)),
    offset_minutes=st.integers(-14 * 60, 14 * 60),
)
async def test_log_many_stores_what_log_stores(
    store: Store,
    parameters: dict[str, Any] | None,
    text: str,
    moment: datetime,
    offset_minutes: int,
) -> None:
    """A batch of new events is copied, a single event inserted: the rows must not differ."""
    timestamp = moment.replace(tzinfo=timezone(timedelta(minutes=offset_minutes)))
    fields = dict(
        timestamp=timestamp, parameters=parameters, user_id=text, error_message=text, persona="p"
    )
    inserted, copied = await inserted_and_copied(store, **fields)
    assert copied == inserted
    assert json.dumps(copied.parameters) == json.dumps(inserted.parameters)


async def inserted_and_copied(store: Store, **fields: Any) -> tuple[Event, Event]:
    """One event written by `log` (an INSERT) and in a `log_many` batch (a COPY), read back.

    The copy is given the inserted one's id, so the two compare equal when stored alike.
    """
    single, batched = secrets.token_hex(8), secrets.token_hex(8)
    await store.log(ev(id=single, **fields))
    await store.log_many([ev(id=batched, **fields), ev(id=secrets.token_hex(8))])
    inserted, copied = await store.get(single), await store.get(batched)
    assert inserted is not None and copied is not None
    return inserted, dataclasses.replace(copied, id=single)


@pytest.mark.parametrize(
    "text",
    ["null", "", 'a "quoted", \\ back\\slash', "line\nbreak\r\ttab\x01\x1f", "\\n not a newline",
     "é ü 😀 \u2028", '\\"', "trailing\\"],
    ids=repr,
)  # fmt: skip
async def test_log_many_copies_any_text_as_log_inserts_it(store: Store, text: str) -> None:
    """COPY's text format: quotes, backslashes, control characters, "null" and "" survive."""
    fields = dict(user_id=text, error_message=text, persona=text[:100], parameters={text: [text]})
    inserted, copied = await inserted_and_copied(store, **fields)
    assert copied == inserted
    assert (copied.user_id, copied.error_message, copied.parameters) == (text, text, {text: [text]})


async def test_concurrent_logs_of_one_key_all_answer_with_the_stored_event(store: Store) -> None:
    """The first write of a key wins, whether its copies share a group-commit batch or not."""
    copies = [ev(id="same", timestamp=at(15, 1), tool_name=f"t{n}") for n in range(8)]
    answers = await asyncio.gather(*(store.log(copy) for copy in copies))
    read = await store.get("same")
    assert read is not None and read.tool_name == "t0"
    assert answers == [read] * len(copies)


async def test_a_write_whose_caller_went_away_is_still_committed(
    store: Store, db: psycopg.Connection
) -> None:
    """A dropped client cancels its wait, not its event: the batch it joined is written."""
    callers = [asyncio.create_task(store.log(ev(id=f"gone-{n}"))) for n in range(5)]
    await asyncio.sleep(0)  # each caller has submitted its event and waits
    for caller in callers:
        caller.cancel()
    # One batch is written at a time, in order: this one commits after theirs.
    await store.log(ev(id="after"))
    stored = {id_ for (id_,) in db.execute("SELECT id FROM audit_logs").fetchall()}
    assert stored == {f"gone-{n}" for n in range(5)} | {"after"}
    assert all(caller.cancelled() for caller in callers)


# --- the quick checks of an event let through only what passes field by field ---------------

STORABLE_TEXT = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=20
)
# A value for any column that is wrong for it, or at the edge of its limit.
ODD_VALUE = st.sampled_from(
    ["nul\x00", "\ud800", 7, None, -1, 0, 2**31 - 1, 2**31, True, 1.0, "1"]
) | st.text(alphabet="ab", min_size=99, max_size=257)


@settings(max_examples=500, deadline=None)
@given(
    texts=st.fixed_dictionaries({name: STORABLE_TEXT for name in TEXT_LIMITS}),
    counts=st.fixed_dictionaries({name: st.integers(0, 2**31 - 1) for name in COUNT_FIELDS}),
    odd=st.dictionaries(st.sampled_from([*TEXT_LIMITS, *COUNT_FIELDS]), ODD_VALUE, max_size=2),
)
def test_quick_column_check_passes_only_what_check_fields_passes(
    texts: dict[str, Any], counts: dict[str, Any], odd: dict[str, Any]
) -> None:
    """A storable event with up to two columns made wrong or taken to their limits."""
    event = NewEvent(tool_name="t", success=True)
    for name, value in {**texts, **counts, **odd}.items():
        setattr(event, name, value)
    if plain_columns(event):
        check_fields(event)  # raises InvalidArgument if the quick check let a bad value through


def test_quick_column_check_takes_the_usual_events() -> None:
    assert plain_columns(ev(id="a", user_id="ü" * 255, error_message="x" * 10_000, duration_ms=5))
    assert plain_columns(ev(persona="p" * 100, content_blocks=2**31 - 1))
    assert not plain_columns(ev(persona="p" * 101))
    assert not plain_columns(ev(user_id="nul\x00"))
    assert not plain_columns(ev(duration_ms=True))


ODD_SCALARS = st.sampled_from(
    [float("nan"), float("inf"), "nul\x00", "\ud800", "\\u0000", 2**70, (1, 2), b"x", None]
)
PARAMETER_VALUES = st.recursive(
    JSON_SCALARS | ODD_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(JSON_KEYS | st.sampled_from([0, 1.5, None, True]), inner, max_size=3)
    ),
    max_leaves=10,
)


def nested(depth: int) -> dict[str, Any]:
    document: dict[str, Any] = {"leaf": 1}
    for _ in range(depth):
        document = {"d": document}
    return document


@settings(max_examples=500, deadline=None)
@given(
    parameters=PARAMETER_VALUES
    | st.dictionaries(JSON_KEYS, PARAMETER_VALUES, max_size=4)
    | st.sampled_from([nested(63), nested(64), nested(65), {"big": "x" * 70_000}])
)
def test_quick_parameters_check_passes_only_what_check_parameters_passes(parameters: Any) -> None:
    if plain_parameters(parameters):
        check_parameters(parameters)  # raises if the quick check let a bad document through
    else:
        with contextlib.suppress(InvalidArgument):
            check_parameters(parameters)


def test_quick_parameters_check_takes_the_usual_documents() -> None:
    assert plain_parameters({"query": "orders by région", "limit": 10, "nested": [1.5, None, {}]})
    assert plain_parameters(nested(63))
    assert not plain_parameters(nested(64))  # its leaf is 65 levels deep
    assert not plain_parameters({"list": [[]] * 64})  # 65 brackets, 2 levels: left to
    check_parameters({"list": [[]] * 64})  # check_parameters, which passes it
