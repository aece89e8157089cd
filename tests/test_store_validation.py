"""Store input checks: bad events and bad arguments are rejected and write nothing."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from store_helpers import JSON_KEYS, JSON_SCALARS, at, ev, row_count

from graph.store import EventFilter, InvalidArgument, MetricsFilter, NewEvent, Store
from graph.store.validation import (
    COUNT_FIELDS,
    JSON_ENCODER,
    TEXT_LIMITS,
    check_fields,
    check_parameters,
    plain_columns,
    plain_parameters,
)

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


# --- configuration, and reads with bad arguments ------------------------------------------------


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
