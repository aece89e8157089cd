"""Known write documents answer exactly as the general executor does.

Every request is sent twice on an empty table: as services send it, which the
short path (graph/schema/writes.py) takes once the document is known, and
with a request `extensions` entry, which strawberry ignores and which sends
it through the general executor instead. The two answers must be equal (request ids and
server-chosen event ids aside) and so must the rows each one left behind.
The inputs are generated: valid events, and every kind of bad value the
contract names (wrong types, out-of-range numbers, unknown and missing
fields, text over its limit or with NUL, bad date-times, oversized batches).
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import graphql
import httpx
import msgspec
import psycopg
import pytest
from api_client import Api
from graphql import GraphQLList, GraphQLNonNull, Undefined, coerce_input_value
from graphql_client import EVENT_FIELDS, app_client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strawberry.utils.str_converters import to_camel_case

from graph.app import create_app
from graph.config import Settings
from graph.schema import Context, schema
from graph.schema.scalars import parse_datetime
from graph.schema.writes import Declined, WriteDocuments
from graph.store import InvalidArgument, NewEvent, Store
from graph.store.validation import check_event

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


@dataclass
class Served(Api):
    """An Api that also sees the app's known write documents."""

    documents: WriteDocuments | None = None


@pytest.fixture
async def served(store: Store, schema_url: str) -> AsyncIterator[Served]:
    """The app, and a client of it that also sees the app's known write documents."""
    app = create_app(Settings(database_url="unused"), store=store)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Served(client=client, dsn=schema_url, documents=app.state.write_documents)


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
    served: Served, db: psycopg.Connection, query: str, variables: dict[str, Any], server_ids: bool
) -> None:
    """The executor's answer and rows first (which makes the document known), then the plain one."""
    answers, rows = [], []
    for extra in (EXECUTOR, {}):
        db.execute("DELETE FROM audit_logs")
        response = await served.client.post(
            "/graphql", json={"query": query, "variables": variables, **extra}
        )
        assert response.status_code == 200, response.text
        answers.append(comparable(response.json(), server_ids))
        columns = "* " if not server_ids else "to_jsonb(a) - 'id' "
        rows.append(db.execute(f"SELECT {columns} FROM audit_logs a ORDER BY 1::text").fetchall())
    executed, plain = answers
    assert plain == executed
    assert rows[0] == rows[1]


HYPOTHESIS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@HYPOTHESIS
@given(event=events(), query=st.sampled_from([LOG_EVENT, LOG_EVENT_ALIASED]))
async def test_log_event_answers_as_the_executor_does(
    served: Served, db: psycopg.Connection, event: dict[str, Any], query: str
) -> None:
    variable = "e" if query is LOG_EVENT else "event"
    await both_ways(
        served, db, query, {variable: event}, server_ids=type(event.get("id")) is not str
    )


@settings(HYPOTHESIS, max_examples=40)
@given(
    batch=st.one_of(
        st.lists(events(), max_size=5),
        st.just("not a list"),
        st.integers(1001, 1002).map(lambda n: [{"toolName": "t", "success": True}] * n),
    )
)
async def test_log_events_answers_as_the_executor_does(
    served: Served, db: psycopg.Connection, batch: Any
) -> None:
    await both_ways(served, db, LOG_EVENTS, {"es": batch}, server_ids=True)


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
    served: Served, db: psycopg.Connection, query: str, variables: Any, operation_name: str | None
) -> None:
    answers = []
    for extra in (EXECUTOR, {}):
        db.execute("DELETE FROM audit_logs")
        response = await served.client.post(
            "/graphql",
            json={"query": query, "variables": variables, "operationName": operation_name, **extra},
        )
        ok = response.status_code == 200
        answer = comparable(response.json(), server_ids=True) if ok else response.text
        answers.append((response.status_code, answer))
    assert answers[0] == answers[1]


FRAGMENT = "fragment F on AuditEvent { id }"
USUAL_EVENT = {"e": {"toolName": "t", "success": True}}


async def learned(served: Served, query: str) -> bool:
    """Whether the app knows `query` as a write document after it ran once."""
    await served.client.post(
        "/graphql", json={"query": query, "variables": USUAL_EVENT, **EXECUTOR}
    )
    assert served.documents is not None
    return query in served.documents.documents


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
async def test_only_the_plain_write_shape_is_learned(served: Served, query: str) -> None:
    assert not await learned(served, query)


@pytest.mark.parametrize("query", [LOG_EVENT, LOG_EVENT_ALIASED, LOG_EVENTS])
async def test_the_plain_write_documents_are_learned(served: Served, query: str) -> None:
    assert await learned(served, query)


async def test_the_usual_write_takes_the_short_path_once_known(
    served: Served, db: psycopg.Connection
) -> None:
    assert served.documents is not None
    for attempt in range(3):
        body = {"query": LOG_EVENT, "variables": {"e": {"id": f"u{attempt}", "toolName": "t",
                                                         "success": True}}}  # fmt: skip
        response = await served.client.post("/graphql", json=body)
        assert response.json()["data"]["logEvent"]["id"] == f"u{attempt}"
    # The first request made the document known; the next two took the short path.
    assert served.documents.answered["logEvent"] == 2
    assert db.execute("SELECT count(*) FROM audit_logs").fetchone() == (3,)


async def test_a_declined_request_is_counted_and_logged_once(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    assert served.documents is not None and await learned(served, LOG_EVENT)
    caplog.set_level(logging.INFO, logger="graph.schema.writes")
    null_default = {"e": {"toolName": "t", "success": True, "durationMs": None}}
    for _ in range(3):
        response = await served.client.post(
            "/graphql", json={"query": LOG_EVENT, "variables": null_default}
        )
        assert response.json()["data"]["logEvent"]["durationMs"] == 0  # the executor's default
    assert served.documents.declined["variables the decoder does not take"] == 3
    logged = [r for r in caplog.records if "left to the executor" in r.getMessage()]
    assert len(logged) == 1


def known(query: str) -> Any:
    """A WriteDocuments of the module schema that knows `query`."""
    documents = WriteDocuments(schema)
    documents.learn(query, graphql.parse(query))
    return documents


async def test_a_known_write_is_committed_before_it_answers(
    store: Store, db: psycopg.Connection
) -> None:
    documents = known(LOG_EVENT)
    context = Context(store=store, request_id="r1", scopes=frozenset({"write"}))
    variables = {"e": {"id": "committed-1", "toolName": "t", "success": False}}
    body = await documents.answer(
        json.dumps({"query": LOG_EVENT, "variables": variables}).encode(), context
    )
    assert body is not None
    assert body["data"]["logEvent"]["id"] == "committed-1"
    assert db.execute("SELECT id, success FROM audit_logs").fetchall() == [("committed-1", False)]


async def test_a_caller_without_the_write_scope_is_left_to_the_executor(
    store: Store, db: psycopg.Connection
) -> None:
    documents = known(LOG_EVENT)
    request = json.dumps({"query": LOG_EVENT, "variables": USUAL_EVENT}).encode()
    for scopes in (frozenset({"read"}), None):
        context = Context(store=store, request_id="r2", scopes=scopes)
        assert await documents.answer(request, context) is None
    assert documents.declined["another operation or a caller without the scope"] == 2
    assert db.execute("SELECT count(*) FROM audit_logs").fetchone() == (0,)


async def test_a_read_token_gets_forbidden_and_nothing_is_written(
    store: Store, db: psycopg.Connection
) -> None:
    async with app_client(store, tokens={"r-token": frozenset({"read"})}) as client:
        for _ in range(2):  # known after the first request: the second is answered the same
            response = await client.post(
                "/graphql",
                json={"query": LOG_EVENT, "variables": USUAL_EVENT},
                headers={"authorization": "Bearer r-token"},
            )
            body = response.json()
            assert body["data"] is None
            assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
            assert body["errors"][0]["path"] == ["logEvent"]
    assert db.execute("SELECT count(*) FROM audit_logs").fetchone() == (0,)


# --- the decoder agrees with graphql-core's coercion and the input's conversion ---------------

# The contract as graphql-core reads it, independently of the code under test.
CONTRACT = graphql.build_schema(schema.as_str())
EVENT_INPUT = GraphQLNonNull(CONTRACT.type_map["AuditEventInput"])  # type: ignore[arg-type]
EVENTS_INPUT = GraphQLNonNull(GraphQLList(EVENT_INPUT))
PYTHON_NAMES = {to_camel_case(name): name for name in NewEvent.__struct_fields__}


def generic_event(value: dict[str, Any]) -> Any:
    """The NewEvent the executor's way gives: coerced, explicit nulls to defaults, converted."""
    fields = {PYTHON_NAMES[name]: item for name, item in value.items() if item is not None}
    if "timestamp" in fields:
        fields["timestamp"] = parse_datetime(fields["timestamp"])
    return msgspec.structs.astuple(NewEvent(**fields))


def generic_argument(value: Any, many: bool) -> Any:
    coerced = coerce_input_value(value, EVENTS_INPUT if many else EVENT_INPUT)
    if coerced is Undefined:
        return Undefined
    try:
        return [generic_event(item) for item in coerced] if many else generic_event(coerced)
    except ValueError:  # a date-time the scalar refuses: the executor reports it
        return Undefined


def as_store(argument: Any) -> Any:
    if isinstance(argument, list):
        return [msgspec.structs.astuple(item) for item in argument]
    return msgspec.structs.astuple(argument)


@settings(max_examples=300, deadline=None)
@given(value=events() | st.lists(events(), max_size=3) | st.none() | st.integers())
def test_decoder_gives_the_generic_argument_or_declines(value: Any) -> None:
    for query, variable, many in ((LOG_EVENT, "e", False), (LOG_EVENTS, "es", True)):
        document = known(query).documents[query]
        expected = generic_argument(value, many)
        raw = msgspec.Raw(json.dumps({variable: value}).encode())
        try:
            decoded = document.decode(raw)
        except (msgspec.MsgspecError, Declined):
            continue
        assert expected is not Undefined
        assert as_store(decoded) == expected


def test_decoder_takes_the_events_services_send() -> None:
    sent = [
        {"toolName": "t", "success": True, "timestamp": "2026-03-15T12:00:00+02:00",
         "durationMs": 5, "parameters": {"q": [1, None, 2.5]}, "id": "a", "eventKind": None},
        {"toolName": "u", "success": False},
    ]  # fmt: skip
    document = known(LOG_EVENTS).documents[LOG_EVENTS]
    decoded = document.decode(msgspec.Raw(json.dumps({"es": sent}).encode()))
    assert as_store(decoded) == generic_argument(sent, many=True)
    assert all(isinstance(event, NewEvent) for event in decoded)
    assert decoded[0].timestamp == datetime(2026, 3, 15, 10, 0, tzinfo=UTC)
    assert decoded[1].transport == "stdio"  # the field's default, filled in


def test_decoder_declines_a_variable_spelled_otherwise() -> None:
    document = known(LOG_EVENTS).documents[LOG_EVENTS]
    for raw in (b'{"es": [], "more": 1}', b'{"other": []}', b"null", b'{"es": [{"toolName": 1}]}'):
        with pytest.raises(msgspec.MsgspecError):
            document.decode(msgspec.Raw(raw))


def check_outcome(event: Any) -> str | None:
    try:
        check_event(event)
    except InvalidArgument as exc:
        return str(exc)
    return None


@settings(max_examples=300, deadline=None)
@given(value=events())
def test_a_decoded_event_is_checked_as_any_other_event_is(value: Any) -> None:
    """The store checks a decoded event less (msgspec checked lengths and ranges): same verdict."""
    document = known(LOG_EVENT).documents[LOG_EVENT]
    try:
        decoded = document.decode(msgspec.Raw(json.dumps({"e": value}).encode()))
    except (msgspec.MsgspecError, Declined):
        return
    plain = NewEvent(**msgspec.structs.asdict(decoded))
    assert check_outcome(decoded) == check_outcome(plain)


@pytest.mark.parametrize(
    "timestamp", ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00", "2026-02-30T00:00:00Z"]
)
async def test_a_date_time_outside_the_calendar_answers_as_the_executor_does(
    served: Served, db: psycopg.Connection, timestamp: str
) -> None:
    event = {"id": "far", "toolName": "t", "success": True, "timestamp": timestamp}
    await both_ways(served, db, LOG_EVENT, {"e": event}, server_ids=False)
