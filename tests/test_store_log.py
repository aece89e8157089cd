"""Store writes through log and log_many: what is stored, redaction, idempotent retries."""

from __future__ import annotations

import asyncio
import base64
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
from store_helpers import JSON_KEYS, JSON_SCALARS, at, ev, row_count

from graph.store import Event, NewEvent, Store

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

JSON_DOCUMENTS = st.dictionaries(
    JSON_KEYS,
    st.recursive(
        JSON_SCALARS,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(JSON_KEYS, inner, max_size=3),
        max_leaves=8,
    ),
    max_size=6,
)


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
