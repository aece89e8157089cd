"""Prepared writes answer exactly as the general executor does.

Every request is sent twice on an empty table: as services send it, which the
prepared path (graph/schema/prepared.py) takes, and with a request
`extensions` entry, which strawberry ignores and which sends it through the
general executor instead. The two answers must be equal (request ids and
server-chosen event ids aside) and so must the rows each one left behind.
The inputs are generated: valid events, and every kind of bad value the
contract names (wrong types, out-of-range numbers, unknown and missing
fields, text over its limit or with NUL, bad date-times, oversized batches).
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from typing import Any

import msgspec
import psycopg
import pytest
from api_client import Api
from graphql import GraphQLList, GraphQLNonNull, Undefined, coerce_input_value
from graphql_client import EVENT_FIELDS, app_client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strawberry.types.arguments import convert_argument

from graph.schema import Context, schema
from graph.schema.prepared import Declined, PreparedWrite, coercion
from graph.store import NewEvent, Store

LOG_EVENT = f"mutation($e: AuditEventInput!) {{ logEvent(input: $e) {{ {EVENT_FIELDS} }} }}"
LOG_EVENT_ALIASED = """
mutation Write($event: AuditEventInput!) {
  saved: logEvent(input: $event) { __typename id at: timestamp parameters kind: eventKind }
}
"""
LOG_EVENTS = (
    "mutation($es: [AuditEventInput!]!) { logEvents(inputs: $es) { __typename accepted ids } }"
)

EXECUTOR = {"extensions": {"via": "the general executor"}}
unique = itertools.count()


def text(limit: int) -> st.SearchStrategy[str]:
    """Text around `limit` characters, now and then with a NUL."""
    return st.one_of(
        st.text(max_size=12),
        st.text(alphabet="ab", min_size=limit - 1, max_size=limit + 1),
        st.just("nul\x00inside"),
    )


INT = st.one_of(
    st.integers(-5, 100_000),
    st.sampled_from([2**31 - 1, 2**31, -(2**31) - 1, 1.0, 2.5, True, "7"]),
)
BOOL = st.one_of(st.booleans(), st.sampled_from([0, 1, "true"]))
VALUE_OF = {
    "timestamp": st.one_of(
        st.sampled_from(
            ["2026-03-15T10:00:00Z", "2026-03-14T23:59:59.5+02:00", "2026-03-15T08:00:00"]
        ),
        st.sampled_from(["yesterday", "2026-13-01T00:00:00Z", 1_773_000_000]),
    ),
    "durationMs": INT,
    "requestId": text(255),
    "sessionId": text(255),
    "userId": text(255),
    "userEmail": text(255),
    "persona": text(100),
    "toolName": text(255),
    "toolkitKind": text(50),
    "toolkitName": text(255),
    "connection": text(255),
    "parameters": st.one_of(
        st.dictionaries(
            st.sampled_from(["q", "limit", "api_key", "token"]),
            st.integers() | st.text(max_size=8),
        ),
        st.sampled_from(
            [[1, 2], "a string", 3, {"nested": {"password": "x", "ok": [1, {"b": None}]}}]
        ),
    ),
    "success": BOOL,
    "errorMessage": text(20),
    "responseChars": INT,
    "requestChars": INT,
    "contentBlocks": INT,
    "transport": text(50),
    "source": text(50),
    "enrichmentApplied": BOOL,
    "enrichmentTokensFull": INT,
    "enrichmentTokensDedup": INT,
    "enrichmentMode": text(50),
    "enrichmentMatchKind": text(50),
    "authorized": BOOL,
    "eventKind": text(50),
}  # fmt: skip


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    """An AuditEventInput value: mostly valid, often with one or two bad or odd fields."""
    event: dict[str, Any] = {"toolName": "search_datasets", "success": True}
    for name in draw(st.lists(st.sampled_from(sorted(VALUE_OF)), max_size=6, unique=True)):
        event[name] = draw(st.none() | VALUE_OF[name])
    choice = draw(st.sampled_from(["own id", "own id", "no id", "null id", "int id", "long id"]))
    event_id = {"own id": f"p{next(unique)}", "int id": next(unique), "long id": "x" * 33}
    if choice in event_id:
        event["id"] = event_id[choice]
    elif choice == "null id":
        event["id"] = None
    if draw(st.integers(0, 9)) == 0:
        event.pop(draw(st.sampled_from(["toolName", "success"])))
    if draw(st.integers(0, 19)) == 0:
        event["notAField"] = 1
    return event


def comparable(body: dict[str, Any], server_ids: bool) -> dict[str, Any]:
    """The body without what differs by request: request ids, and ids the server chose."""
    for error in body.get("errors") or []:
        error["extensions"].pop("requestId", None)
    data = body.get("data") or {}
    for value in data.values():
        if server_ids and isinstance(value, dict):
            value.pop("id", None)
            value.pop("ids", None)
    return body


async def both_ways(
    api: Api, db: psycopg.Connection, query: str, variables: dict[str, Any], server_ids: bool
) -> None:
    answers, rows = [], []
    for extra in ({}, EXECUTOR):
        db.execute("DELETE FROM audit_logs")
        response = await api.client.post(
            "/graphql", json={"query": query, "variables": variables, **extra}
        )
        assert response.status_code == 200, response.text
        answers.append(comparable(response.json(), server_ids))
        columns = "* " if not server_ids else "to_jsonb(a) - 'id' "
        rows.append(db.execute(f"SELECT {columns} FROM audit_logs a ORDER BY 1::text").fetchall())
    prepared, executed = answers
    assert prepared == executed
    assert rows[0] == rows[1]


HYPOTHESIS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@HYPOTHESIS
@given(event=events(), query=st.sampled_from([LOG_EVENT, LOG_EVENT_ALIASED]))
async def test_log_event_answers_as_the_executor_does(
    api: Api, db: psycopg.Connection, event: dict[str, Any], query: str
) -> None:
    variable = "e" if query is LOG_EVENT else "event"
    await both_ways(api, db, query, {variable: event}, server_ids=type(event.get("id")) is not str)


@settings(HYPOTHESIS, max_examples=40)
@given(
    batch=st.one_of(
        st.lists(events(), max_size=5),
        st.just("not a list"),
        st.integers(1001, 1002).map(lambda n: [{"toolName": "t", "success": True}] * n),
    )
)
async def test_log_events_answers_as_the_executor_does(
    api: Api, db: psycopg.Connection, batch: Any
) -> None:
    await both_ways(api, db, LOG_EVENTS, {"es": batch}, server_ids=True)


@pytest.mark.parametrize(
    ("query", "variables", "operation_name"),
    [
        (LOG_EVENT_ALIASED, {"event": {"toolName": "t", "success": True}}, "Write"),
        (LOG_EVENT_ALIASED, {"event": {"toolName": "t", "success": True}}, "Other"),
        (LOG_EVENT, {"e": {"toolName": "t", "success": True}, "extra": 1}, None),
        (LOG_EVENT, {}, None),
        (LOG_EVENT, None, None),
    ],
)
async def test_requests_around_the_prepared_shape_answer_the_same(
    api: Api, db: psycopg.Connection, query: str, variables: Any, operation_name: str | None
) -> None:
    answers = []
    for extra in ({}, EXECUTOR):
        db.execute("DELETE FROM audit_logs")
        response = await api.client.post(
            "/graphql",
            json={"query": query, "variables": variables, "operationName": operation_name, **extra},
        )
        ok = response.status_code == 200
        answer = comparable(response.json(), server_ids=True) if ok else response.text
        answers.append((response.status_code, answer))
    assert answers[0] == answers[1]


FRAGMENT = "fragment F on AuditEvent { id }"


@pytest.mark.parametrize(
    "query",
    [
        "mutation($e: AuditEventInput) { logEvent(input: $e) { id } }",  # nullable variable
        'mutation { logEvent(input: {toolName: "t", success: true}) { id } }',  # inline input
        "mutation($e: AuditEventInput!) { logEvent(input: $e) { ...F } } " + FRAGMENT,
        "mutation($e: AuditEventInput!, $s: Boolean!) { logEvent(input: $e) { id @skip(if: $s) } }",
        "mutation($e: AuditEventInput!) { a: logEvent(input: $e) { id } b: logEvent(input: $e) { id } }",  # noqa: E501
        "mutation($e: AuditEventInput!) { logEvent(input: $e) { id nope } }",  # invalid
        "query { eventCount }",
        "mutation { runMaintenance { lockAcquired } }",
    ],
)
def test_only_the_plain_write_shape_is_prepared(query: str) -> None:
    assert schema.prepared_writes.get(query) is None


@pytest.mark.parametrize("query", [LOG_EVENT, LOG_EVENT_ALIASED, LOG_EVENTS])
def test_the_plain_write_documents_are_prepared(query: str) -> None:
    assert schema.prepared_writes.get(query) is not None


async def test_a_prepared_write_is_committed_before_it_answers(
    store: Store, db: psycopg.Connection
) -> None:
    prepared = schema.prepared_writes.get(LOG_EVENT)
    assert prepared is not None
    context = Context(store=store, request_id="r1", scopes=frozenset({"write"}))
    body = await prepared.run(
        {"e": {"id": "committed-1", "toolName": "t", "success": False}}, None, context
    )
    assert body is not None
    assert body["data"]["logEvent"]["id"] == "committed-1"
    assert db.execute("SELECT id, success FROM audit_logs").fetchall() == [("committed-1", False)]


async def test_a_caller_without_the_write_scope_is_left_to_the_executor(
    store: Store, db: psycopg.Connection
) -> None:
    prepared = schema.prepared_writes.get(LOG_EVENT)
    assert prepared is not None
    variables = {"e": {"toolName": "t", "success": True}}
    for scopes in (frozenset({"read"}), None):
        context = Context(store=store, request_id="r2", scopes=scopes)
        assert await prepared.run(variables, None, context) is None
    assert db.execute("SELECT count(*) FROM audit_logs").fetchone() == (0,)


async def test_a_read_token_gets_forbidden_and_nothing_is_written(
    store: Store, db: psycopg.Connection
) -> None:
    async with app_client(store, tokens={"r-token": frozenset({"read"})}) as client:
        response = await client.post(
            "/graphql",
            json={"query": LOG_EVENT, "variables": {"e": {"toolName": "t", "success": True}}},
            headers={"authorization": "Bearer r-token"},
        )
    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert body["errors"][0]["path"] == ["logEvent"]
    assert db.execute("SELECT count(*) FROM audit_logs").fetchone() == (0,)


# --- the specialised coercion agrees with graphql-core's -------------------------------------

EVENT_INPUT = schema._schema.type_map["AuditEventInput"]
EVENTS_INPUT = GraphQLNonNull(GraphQLList(GraphQLNonNull(EVENT_INPUT)))  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(value=events() | st.lists(events(), max_size=3) | st.none() | st.integers())
def test_coercion_returns_what_coerce_input_value_returns_or_declines(value: Any) -> None:
    for type_ in (GraphQLNonNull(EVENT_INPUT), EVENTS_INPUT):  # type: ignore[arg-type]
        expected = coerce_input_value(value, type_)
        try:
            coerced = coercion(type_)(value)
        except Declined:
            continue
        assert coerced is not Undefined
        assert coerced == expected


def test_coercion_takes_the_events_services_send() -> None:
    sent = {"toolName": "t", "success": True, "timestamp": "2026-03-15T12:00:00+02:00",
            "durationMs": 5, "parameters": {"q": [1, None]}, "id": "a", "userId": None}  # fmt: skip
    coerced = coercion(EVENTS_INPUT)([sent, {"toolName": "u", "success": False}])
    assert coerced == coerce_input_value([sent, {"toolName": "u", "success": False}], EVENTS_INPUT)
    assert coerced[0]["timestamp"] == datetime(2026, 3, 15, 10, 0, tzinfo=UTC)
    assert coerced[1]["transport"] == "stdio"  # the field's default, filled in


# --- the decoder agrees with coercion and conversion -----------------------------------------


def generic_argument(prepared: PreparedWrite, variables: dict[str, Any]) -> Any:
    """The write's argument the generic way: graphql-core's coercion, strawberry's conversion."""
    value = coerce_input_value(variables[prepared.variable], prepared.variable_type)
    if value is Undefined:
        return Undefined
    return convert_argument(
        value,
        prepared.strawberry_argument.type,
        scalar_registry=schema.schema_converter.scalar_registry,
        config=schema.config,
        path=(prepared.argument,),
    )


def as_store(argument: Any) -> Any:
    """What the write functions use of an argument: each input's store value, as a tuple."""
    if isinstance(argument, list):
        return [msgspec.structs.astuple(item.to_store()) for item in argument]
    return msgspec.structs.astuple(argument.to_store())


@settings(max_examples=300, deadline=None)
@given(value=events() | st.lists(events(), max_size=3) | st.none() | st.integers())
def test_decoder_gives_the_generic_argument_or_declines(value: Any) -> None:
    for query, variable in ((LOG_EVENT, "e"), (LOG_EVENTS, "es")):
        prepared = schema.prepared_writes.get(query)
        assert prepared is not None and prepared.decode is not None
        expected = generic_argument(prepared, {variable: value})
        raw = msgspec.Raw(json.dumps({variable: value}).encode())
        try:
            decoded = prepared.decode(raw)
        except (msgspec.MsgspecError, Declined):
            continue
        assert expected is not Undefined
        assert as_store(decoded) == as_store(expected)


def test_decoder_takes_the_events_services_send() -> None:
    sent = [
        {"toolName": "t", "success": True, "timestamp": "2026-03-15T12:00:00+02:00",
         "durationMs": 5, "parameters": {"q": [1, None, 2.5]}, "id": "a", "eventKind": None},
        {"toolName": "u", "success": False},
    ]  # fmt: skip
    prepared = schema.prepared_writes.get(LOG_EVENTS)
    assert prepared is not None and prepared.decode is not None
    decoded = prepared.decode(msgspec.Raw(json.dumps({"es": sent}).encode()))
    assert as_store(decoded) == as_store(generic_argument(prepared, {"es": sent}))
    events = [item.to_store() for item in decoded]
    assert all(isinstance(event, NewEvent) for event in events)
    assert events[0].timestamp == datetime(2026, 3, 15, 10, 0, tzinfo=UTC)
    assert events[1].transport == "stdio"  # the field's default, filled in


def test_decoder_declines_a_variable_spelled_otherwise() -> None:
    prepared = schema.prepared_writes.get(LOG_EVENTS)
    assert prepared is not None and prepared.decode is not None
    for raw in (b'{"es": [], "more": 1}', b'{"other": []}', b"null", b'{"es": [{"toolName": 1}]}'):
        with pytest.raises(msgspec.MsgspecError):
            prepared.decode(msgspec.Raw(raw))
