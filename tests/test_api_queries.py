"""Every Query field through the real ASGI app, against values worked out by hand.

The fixture is eight events (seven in the default 24-hour window, which ends
at the FakeClock's 2026-03-15T12:00Z, and one five days earlier), written
directly with `db` so NULL columns of older rows are covered too:

| id | 03-15 | user  | email             | persona  | tool            | kind    | ok | ms   |
|----|-------|-------|-------------------|----------|-----------------|---------|----|------|
| e1 | 09:00 | alice | alice@old.example | analyst  | search_datasets | datahub | T  | 100  |
| e2 | 09:30 | alice | ''                | analyst  | run_query       | trino   | F  | 300  |
| e3 | 10:00 | bob   | ''                | engineer | run_query       | trino   | T  | 200  |
| e4 | 10:05 | bob   | bob@example.com   | engineer | get_schema      | datahub | T  | 400  |
| e5 | 10:10 | carol | ''                | ''       | invoke_api      | api     | F  | 1000 |
| e6 | 11:00 | alice | alice@new.example | analyst  | search_datasets | datahub | T  | 0    |
| e7 | 11:30 | dave  | ''                | NULL     | run_query       | trino   | T  | 500  |
| e8 | 03-10 | Erin  | erin@example.com  | auditor  | list_buckets    | s3      | T  | 50   |

| id | connection | session | source  | enriched, mode, tokens full/dedup | chars resp/req |
|----|------------|---------|---------|-----------------------------------|----------------|
| e1 | prod-dh    | s1      | mcp     | yes, full, 300/100                | 1000/10        |
| e2 | prod-trino | s1      | mcp     | no, none                          | 0/20           |
| e3 | prod-trino | s2      | mcp     | yes, summary, 200/200             | 500/30         |
| e4 | prod-dh    | s2      | mcp     | no                                | 300/40         |
| e5 | NULL       | s3      | gateway | yes, reference, 50/0              | 0/0            |
| e6 | prod-dh    | ''      | mcp     | no                                | 200/0          |
| e7 | prod-trino | s4      | mcp     | no                                | 0/0            |
| e8 | prod-s3    | s5      | cli     | no                                | 0/0            |

e8 is at 08:00 on 03-10; e5 is the only apigateway_invoke event, the rest are mcp_tool_call.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
import reference
from api_client import Api, Recording, gql, insert, recording_app
from graphql_client import EVENT_FIELDS

from graph.store import Store


def at(hour: int, minute: int = 0, day: int = 15) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def row(id: str, timestamp: datetime, **values: Any) -> dict[str, Any]:
    """A full audit_logs row; unnamed columns take the defaults of the table."""
    base: dict[str, Any] = {
        "id": id,
        "timestamp": timestamp,
        "duration_ms": 0,
        "request_id": f"req-{id}",
        "session_id": "",
        "user_id": "",
        "user_email": "",
        "persona": "",
        "tool_name": "",
        "toolkit_kind": "",
        "toolkit_name": "",
        "connection": "",
        "parameters": None,
        "success": True,
        "error_message": "",
        "response_chars": 0,
        "request_chars": 0,
        "content_blocks": 0,
        "transport": "stdio",
        "source": "mcp",
        "enrichment_applied": False,
        "enrichment_tokens_full": 0,
        "enrichment_tokens_dedup": 0,
        "enrichment_mode": "",
        "enrichment_match_kind": "",
        "authorized": True,
        "event_kind": "mcp_tool_call",
    }
    return {**base, **values}


EVENTS = [
    row("e1", at(9), user_id="alice", user_email="alice@old.example", persona="analyst",
        tool_name="search_datasets", toolkit_kind="datahub", toolkit_name="dh-main",
        connection="prod-dh", duration_ms=100, session_id="s1", enrichment_applied=True,
        enrichment_mode="full", enrichment_tokens_full=300, enrichment_tokens_dedup=100,
        response_chars=1000, request_chars=10, parameters={"q": "orders"}, content_blocks=2),
    row("e2", at(9, 30), user_id="alice", persona="analyst", tool_name="run_query",
        toolkit_kind="trino", toolkit_name="trino-main", connection="prod-trino",
        success=False, duration_ms=300, session_id="s1", enrichment_mode="none",
        request_chars=20, error_message="Table not found: orders"),
    row("e3", at(10), user_id="bob", persona="engineer", tool_name="run_query",
        toolkit_kind="trino", toolkit_name="trino-main", connection="prod-trino",
        duration_ms=200, session_id="s2", enrichment_applied=True, enrichment_mode="summary",
        enrichment_tokens_full=200, enrichment_tokens_dedup=200, response_chars=500,
        request_chars=30),
    row("e4", at(10, 5), user_id="bob", user_email="bob@example.com", persona="engineer",
        tool_name="get_schema", toolkit_kind="datahub", toolkit_name="dh-main",
        connection="prod-dh", duration_ms=400, session_id="s2", response_chars=300,
        request_chars=40),
    row("e5", at(10, 10), user_id="carol", tool_name="invoke_api", toolkit_kind="api",
        toolkit_name="gateway", connection=None, success=False, duration_ms=1000,
        session_id="s3", source="gateway", event_kind="apigateway_invoke",
        enrichment_applied=True, enrichment_mode="reference", enrichment_tokens_full=50,
        error_message="HTTP 502 from upstream", transport="http", enrichment_match_kind="exact"),
    row("e6", at(11), user_id="alice", user_email="alice@new.example", persona="analyst",
        tool_name="search_datasets", toolkit_kind="datahub", toolkit_name="dh-main",
        connection="prod-dh", duration_ms=0, response_chars=200),
    row("e7", at(11, 30), user_id="dave", persona=None, tool_name="run_query",
        toolkit_kind="trino", toolkit_name="trino-main", connection="prod-trino",
        duration_ms=500, session_id="s4", authorized=False),
    row("e8", at(8, day=10), user_id="Erin", user_email="erin@example.com", persona="auditor",
        tool_name="list_buckets", toolkit_kind="s3", toolkit_name="s3-main",
        connection="prod-s3", duration_ms=50, session_id="s5", source="cli"),
]  # fmt: skip
BY_ID = {event["id"]: event for event in EVENTS}


@pytest.fixture
async def recording(store: Store, schema_url: str, clock: Any) -> AsyncIterator[Recording]:
    """The app over a RecordingStore (see api_client) on the schema `store` migrated."""
    async with recording_app(schema_url, clock) as app:
        yield app


@pytest.fixture
def seeded(db: psycopg.Connection) -> None:
    for event in EVENTS:
        insert(db, **event)


def ids(page: dict[str, Any]) -> list[str]:
    return [item["id"] for item in page["items"]]


# --- event -------------------------------------------------------------------


async def test_event_returns_every_field_as_stored(api: Api, seeded: None) -> None:
    data = await gql(api, f'{{ event(id: "e1") {{ {EVENT_FIELDS} }} }}')
    assert data["event"] == {
        "id": "e1",
        "timestamp": "2026-03-15T09:00:00+00:00",
        "durationMs": 100,
        "requestId": "req-e1",
        "sessionId": "s1",
        "userId": "alice",
        "userEmail": "alice@old.example",
        "persona": "analyst",
        "toolName": "search_datasets",
        "toolkitKind": "datahub",
        "toolkitName": "dh-main",
        "connection": "prod-dh",
        "parameters": {"q": "orders"},
        "success": True,
        "errorMessage": "",
        "responseChars": 1000,
        "requestChars": 10,
        "contentBlocks": 2,
        "transport": "stdio",
        "source": "mcp",
        "enrichmentApplied": True,
        "enrichmentTokensFull": 300,
        "enrichmentTokensDedup": 100,
        "enrichmentMode": "full",
        "enrichmentMatchKind": "",
        "authorized": True,
        "eventKind": "mcp_tool_call",
    }


async def test_event_reads_null_text_as_empty_string(api: Api, seeded: None) -> None:
    data = await gql(
        api,
        '{ a: event(id: "e5") { connection errorMessage transport enrichmentMatchKind '
        "parameters } "
        ' b: event(id: "e7") { persona authorized } }',
    )
    assert data["a"] == {
        "connection": "",
        "errorMessage": "HTTP 502 from upstream",
        "transport": "http",
        "enrichmentMatchKind": "exact",
        "parameters": None,
    }
    assert data["b"] == {"persona": "", "authorized": False}


async def test_event_of_a_legacy_row_with_nulls_everywhere(
    api: Api, db: psycopg.Connection
) -> None:
    # A row as the original Go service wrote it: only the original columns set.
    db.execute(
        "INSERT INTO audit_logs (id, timestamp, tool_name, success, created_date, "
        "transport, source, event_kind, response_chars, enrichment_applied, authorized) "
        "VALUES ('old', '2026-03-15T08:00:00Z', 't', true, '2026-03-15', "
        "NULL, NULL, NULL, NULL, NULL, NULL)"
    )
    data = await gql(
        api,
        '{ event(id: "old") { durationMs userId sessionId transport source eventKind '
        "responseChars enrichmentApplied authorized } }",
    )
    assert data["event"] == {
        "durationMs": 0,
        "userId": "",
        "sessionId": "",
        "transport": "",
        "source": "",
        "eventKind": "",
        "responseChars": 0,
        "enrichmentApplied": False,
        "authorized": True,
    }


async def test_event_with_unknown_id_is_null(api: Api, seeded: None) -> None:
    data = await gql(api, '{ a: event(id: "nope") { id } b: event(id: "") { id } }')
    assert data == {"a": None, "b": None}


# --- events: filters ---------------------------------------------------------------

FILTER_CASES: list[tuple[str, list[str]]] = [
    ("{}", ["e7", "e6", "e5", "e4", "e3", "e2", "e1", "e8"]),
    ('{id: "e3"}', ["e3"]),
    # Both bounds inclusive.
    ('{startTime: "2026-03-15T09:30:00Z", endTime: "2026-03-15T10:05:00Z"}', ["e4", "e3", "e2"]),
    ('{startTime: "2026-03-15T11:00:00Z"}', ["e7", "e6"]),
    ('{endTime: "2026-03-15T09:00:00Z"}', ["e1", "e8"]),
    ('{userId: "alice"}', ["e6", "e2", "e1"]),
    ('{sessionId: "s2"}', ["e4", "e3"]),
    ('{toolName: "run_query"}', ["e7", "e3", "e2"]),
    ('{toolkitKind: "datahub"}', ["e6", "e4", "e1"]),
    ('{source: "gateway"}', ["e5"]),
    ('{eventKind: "apigateway_invoke"}', ["e5"]),
    ("{success: false}", ["e5", "e2"]),
    ("{success: true}", ["e7", "e6", "e4", "e3", "e1", "e8"]),
    ('{userId: "alice", success: true}', ["e6", "e1"]),
    ('{toolName: "run_query", startTime: "2026-03-15T10:00:00Z"}', ["e7", "e3"]),
    # search: case-insensitive substring of error_message, persona, connection, tool, kind, user.
    ('{search: "table NOT"}', ["e2"]),
    ('{search: "ANALY"}', ["e6", "e2", "e1"]),
    ('{search: "prod-s"}', ["e8"]),
    ('{search: "api"}', ["e5"]),
    ('{search: "ERIN"}', ["e8"]),
    ('{search: "nothing like this"}', []),
    ('{search: "run", success: true}', ["e7", "e3"]),
    # An empty string means "no filter" (README).
    ('{userId: "", search: ""}', ["e7", "e6", "e5", "e4", "e3", "e2", "e1", "e8"]),
    ('{userId: "nobody"}', []),
]


@pytest.mark.parametrize(("flt", "expected"), FILTER_CASES)
async def test_events_and_event_count_filter(
    api: Api, seeded: None, flt: str, expected: list[str]
) -> None:
    data = await gql(
        api,
        f"{{ events(filter: {flt}) {{ items {{ id }} totalCount hasNextPage }} "
        f"eventCount(filter: {flt}) }}",
    )
    assert ids(data["events"]) == expected
    assert data["events"]["totalCount"] == len(expected)
    assert data["events"]["hasNextPage"] is False
    assert data["eventCount"] == len(expected)


async def test_event_count_without_filter_counts_all_time(api: Api, seeded: None) -> None:
    assert (await gql(api, "{ eventCount }"))["eventCount"] == 8


SEARCH_ROWS = [
    row("pct", at(9), error_message="disk 100% full"),
    row("num", at(9, 1), error_message="disk 1000 full"),
    row("und", at(9, 2), tool_name="a_b"),
    row("axb", at(9, 3), tool_name="axb"),
    row("bsl", at(9, 4), connection="C:\\temp"),
    row("nob", at(9, 5), connection="C:temp"),
    # One unique token per searched column ...
    row("c-user", at(9, 6), user_id="zq-user"),
    row("c-tool", at(9, 7), tool_name="zq-tool"),
    row("c-kind", at(9, 8), toolkit_kind="zq-kind"),
    row("c-conn", at(9, 9), connection="zq-conn"),
    row("c-pers", at(9, 10), persona="zq-pers"),
    row("c-err", at(9, 11), error_message="zq-err"),
    # ... and the same kind of token in columns search does not look at.
    row("c-mail", at(9, 12), user_email="zq-mail"),
    row("c-tkn", at(9, 13), toolkit_name="zq-tkn"),
    row("c-sess", at(9, 14), session_id="zq-sess"),
    row("c-src", at(9, 15), source="zq-src"),
]


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("100%", ["pct"]),
        ("a_b", ["und"]),
        ("\\", ["bsl"]),
        ("C:\\T", ["bsl"]),
        ("DISK", ["num", "pct"]),
        ("%", ["pct"]),
        ("_", ["und"]),
        ("zq-", ["c-err", "c-pers", "c-conn", "c-kind", "c-tool", "c-user"]),
    ],
)
async def test_events_search_is_literal_case_insensitive_and_over_six_columns(
    api: Api, db: psycopg.Connection, search: str, expected: list[str]
) -> None:
    for event in SEARCH_ROWS:
        insert(db, **{**event, "tool_name": event["tool_name"] or "t"})
    data = await gql(
        api,
        "query($s: String) { events(filter: {search: $s}) { items { id } } "
        "eventCount(filter: {search: $s}) }",
        {"s": search},
    )
    assert ids(data["events"]) == expected
    assert data["eventCount"] == len(expected)


# --- events: sorting ---------------------------------------------------------------

SORT_COLUMNS = {
    "TIMESTAMP": "timestamp",
    "USER_ID": "user_id",
    "TOOL_NAME": "tool_name",
    "TOOLKIT_KIND": "toolkit_kind",
    "SOURCE": "source",
    "CONNECTION": "connection",
    "DURATION_MS": "duration_ms",
    "SUCCESS": "success",
    "ENRICHMENT_APPLIED": "enrichment_applied",
    "ENRICHMENT_MODE": "enrichment_mode",
}


def expected_order(sort_by: str, order: str) -> list[str]:
    """The fixture sorted in Python: NULL text as '', code-point order, id breaking ties."""
    column = SORT_COLUMNS[sort_by]

    def key(event: dict[str, Any]) -> tuple[Any, str]:
        value = event[column]
        return ("" if value is None else value, event["id"])

    return [e["id"] for e in sorted(EVENTS, key=key, reverse=order == "DESC")]


def test_expected_order_agrees_with_hand_sorted_examples() -> None:
    """The Python ordering used below, checked against orders written out by hand."""
    assert expected_order("TOOLKIT_KIND", "ASC") == ["e5", "e1", "e4", "e6", "e8", "e2", "e3", "e7"]
    assert expected_order("USER_ID", "ASC") == ["e8", "e1", "e2", "e6", "e3", "e4", "e5", "e7"]
    assert expected_order("SUCCESS", "DESC") == ["e8", "e7", "e6", "e4", "e3", "e1", "e5", "e2"]
    assert expected_order("CONNECTION", "ASC") == ["e5", "e1", "e4", "e6", "e8", "e2", "e3", "e7"]


@pytest.mark.parametrize("order", ["ASC", "DESC"])
@pytest.mark.parametrize("sort_by", list(SORT_COLUMNS))
async def test_events_sort_by_each_field(api: Api, seeded: None, sort_by: str, order: str) -> None:
    data = await gql(
        api, f"{{ events(sortBy: {sort_by}, sortOrder: {order}) {{ items {{ id }} }} }}"
    )
    assert ids(data["events"]) == expected_order(sort_by, order)


async def test_events_default_sort_is_newest_first(api: Api, seeded: None) -> None:
    data = await gql(api, "{ events { items { id timestamp } } }")
    assert ids(data["events"]) == ["e7", "e6", "e5", "e4", "e3", "e2", "e1", "e8"]
    assert data["events"]["items"][-1]["timestamp"] == "2026-03-10T08:00:00+00:00"


async def test_events_timestamp_ties_break_on_id_in_code_point_order(
    api: Api, db: psycopg.Connection
) -> None:
    for id_ in ("a", "B", "c", "D", "_x"):
        insert(db, **row(id_, at(9), tool_name="t"))
    asc = await gql(api, "{ events(sortOrder: ASC) { items { id } } }")
    desc = await gql(api, "{ events { items { id } } }")
    assert ids(asc["events"]) == ["B", "D", "_x", "a", "c"]
    assert ids(desc["events"]) == ["c", "a", "_x", "D", "B"]


# --- events: paging ----------------------------------------------------------------


async def test_events_limit_and_offset(api: Api, seeded: None) -> None:
    data = await gql(
        api,
        "{ first: events(limit: 3) { items { id } hasNextPage } "
        "  middle: events(limit: 3, offset: 3) { items { id } hasNextPage } "
        "  last: events(limit: 3, offset: 6) { items { id } hasNextPage } "
        "  beyond: events(limit: 3, offset: 8) { items { id } hasNextPage endCursor } "
        "  all: events(limit: 8) { items { id } hasNextPage } }",
    )
    assert ids(data["first"]) == ["e7", "e6", "e5"]
    assert data["first"]["hasNextPage"] is True
    assert ids(data["middle"]) == ["e4", "e3", "e2"]
    assert data["middle"]["hasNextPage"] is True
    assert ids(data["last"]) == ["e1", "e8"]
    assert data["last"]["hasNextPage"] is False
    assert data["beyond"] == {"items": [], "hasNextPage": False, "endCursor": None}
    # Exactly `limit` rows left: no next page.
    assert data["all"]["hasNextPage"] is False


async def test_events_limit_bounds_are_accepted(api: Api, seeded: None) -> None:
    data = await gql(
        api,
        "{ one: events(limit: 1) { items { id } } "
        "  most: events(limit: 1000, offset: 100000) { items { id } } }",
    )
    assert ids(data["one"]) == ["e7"]
    assert ids(data["most"]) == []


async def walk_pages(
    api: Api, sort_by: str, order: str, limit: int, flt: str = "{}"
) -> list[list[str]]:
    """Follow endCursor from the first page to the last; the ids of each page."""
    pages: list[list[str]] = []
    after: str | None = None
    query = (
        f"query($after: String) {{ events(filter: {flt}, sortBy: {sort_by}, "
        f"sortOrder: {order}, limit: {limit}, after: $after) "
        "{ items { id } hasNextPage endCursor } }"
    )
    while True:
        page = (await gql(api, query, {"after": after}))["events"]
        pages.append(ids(page))
        assert page["endCursor"] is not None
        if not page["hasNextPage"]:
            return pages
        assert len(pages) <= len(EVENTS), "paging does not end"
        after = page["endCursor"]


@pytest.mark.parametrize("order", ["ASC", "DESC"])
@pytest.mark.parametrize("sort_by", list(SORT_COLUMNS))
async def test_events_after_cursor_pages_through_everything_once(
    api: Api, seeded: None, sort_by: str, order: str
) -> None:
    pages = await walk_pages(api, sort_by, order, limit=3)
    assert [len(p) for p in pages] == [3, 3, 2]
    assert [id_ for p in pages for id_ in p] == expected_order(sort_by, order)


async def test_events_after_cursor_with_a_filter_and_exact_last_page(
    api: Api, seeded: None
) -> None:
    pages = await walk_pages(api, "TOOL_NAME", "ASC", limit=2, flt='{source: "mcp"}')
    # mcp events by tool then id: get_schema e4; run_query e2 e3 e7; search_datasets e1 e6.
    assert pages == [["e4", "e2"], ["e3", "e7"], ["e1", "e6"]]


async def test_events_cursor_pages_with_ties_and_rows_added_meanwhile(
    api: Api, db: psycopg.Connection
) -> None:
    for id_ in ("a", "b", "c", "d", "e"):
        insert(db, **row(id_, at(9), tool_name="t"))
    query = (
        "query($after: String) { events(limit: 2, after: $after) "
        "{ items { id } hasNextPage endCursor } }"
    )
    first = (await gql(api, query))["events"]
    assert ids(first) == ["e", "d"]
    # A newer row arriving between pages does not shift a keyset cursor.
    insert(db, **row("z", at(10), tool_name="t"))
    second = (await gql(api, query, {"after": first["endCursor"]}))["events"]
    third = (await gql(api, query, {"after": second["endCursor"]}))["events"]
    assert ids(second) == ["c", "b"]
    assert ids(third) == ["a"]
    assert third["hasNextPage"] is False


async def test_events_total_count_ignores_paging(api: Api, seeded: None) -> None:
    data = await gql(
        api,
        '{ events(filter: {toolName: "run_query"}, limit: 1) '
        "{ items { id } totalCount hasNextPage } }",
    )
    assert data["events"] == {"items": [{"id": "e7"}], "totalCount": 3, "hasNextPage": True}


async def test_events_runs_count_only_when_total_count_is_selected(
    recording: Recording, seeded: None
) -> None:
    await recording.api.gql("{ events(limit: 2) { items { id } hasNextPage endCursor } }")
    assert [name for kind, name in recording.store.calls if kind == "enter"] == ["page"]
    recording.store.calls.clear()
    data = await recording.api.gql("{ events(limit: 2) { totalCount } }")
    assert data["events"]["totalCount"] == 8
    assert sorted(name for kind, name in recording.store.calls if kind == "enter") == [
        "count",
        "page",
    ]


# --- distinctValues, userLabels, filterOptions -------------------------------------


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        ("USER_ID", ["Erin", "alice", "bob", "carol", "dave"]),
        ("TOOL_NAME", ["get_schema", "invoke_api", "list_buckets", "run_query", "search_datasets"]),
        ("TOOLKIT_KIND", ["api", "datahub", "s3", "trino"]),
        ("SOURCE", ["cli", "gateway", "mcp"]),
        ("EVENT_KIND", ["apigateway_invoke", "mcp_tool_call"]),
    ],
)
async def test_distinct_values_of_each_column_over_all_time(
    api: Api, seeded: None, column: str, expected: list[str]
) -> None:
    data = await gql(api, f"{{ distinctValues(column: {column}) }}")
    assert data["distinctValues"] == expected


async def test_distinct_values_in_an_inclusive_range(api: Api, seeded: None) -> None:
    data = await gql(
        api,
        '{ users: distinctValues(column: USER_ID, startTime: "2026-03-15T10:00:00Z", '
        'endTime: "2026-03-15T10:10:00Z") '
        ' tools: distinctValues(column: TOOL_NAME, startTime: "2026-03-15T10:00:00Z", '
        'endTime: "2026-03-15T10:10:00Z") '
        ' late: distinctValues(column: SOURCE, startTime: "2026-03-15T10:10:00Z") '
        ' early: distinctValues(column: SOURCE, endTime: "2026-03-14T00:00:00Z") }',
    )
    assert data == {
        "users": ["bob", "carol"],
        "tools": ["get_schema", "invoke_api", "run_query"],
        "late": ["gateway", "mcp"],
        "early": ["cli"],
    }


async def test_distinct_values_leave_out_null_and_empty(api: Api, db: psycopg.Connection) -> None:
    insert(db, **row("a", at(9), tool_name="t", user_id=None, source=None, event_kind=None))
    insert(db, **row("b", at(9), tool_name="t", user_id="", source="", event_kind=""))
    insert(db, **row("c", at(9), tool_name="t", user_id="u", source="s", event_kind="k"))
    data = await gql(
        api,
        "{ u: distinctValues(column: USER_ID) s: distinctValues(column: SOURCE) "
        "  k: distinctValues(column: EVENT_KIND) kinds: distinctValues(column: TOOLKIT_KIND) }",
    )
    assert data == {"u": ["u"], "s": ["s"], "k": ["k"], "kinds": []}


async def test_user_labels_map_each_user_to_their_most_recent_email(api: Api, seeded: None) -> None:
    data = await gql(
        api,
        "{ all: userLabels { userId email } "
        '  today: userLabels(startTime: "2026-03-15T00:00:00Z") { userId email } '
        '  morning: userLabels(endTime: "2026-03-15T10:00:00Z") { userId email } }',
    )
    # carol and dave never sent an email; alice's newest (11:00) wins over 09:00.
    assert data["all"] == [
        {"userId": "Erin", "email": "erin@example.com"},
        {"userId": "alice", "email": "alice@new.example"},
        {"userId": "bob", "email": "bob@example.com"},
    ]
    assert data["today"] == data["all"][1:]
    # Up to 10:00 alice has only her old address and bob none yet.
    assert data["morning"] == [
        {"userId": "Erin", "email": "erin@example.com"},
        {"userId": "alice", "email": "alice@old.example"},
    ]


async def test_filter_options_gather_every_list(api: Api, seeded: None) -> None:
    data = await gql(
        api,
        "{ all: filterOptions { users tools toolkitKinds sources eventKinds "
        "      userLabels { userId email } } "
        '  window: filterOptions(startTime: "2026-03-15T10:00:00Z", '
        '      endTime: "2026-03-15T10:10:00Z") { users tools toolkitKinds sources eventKinds '
        "      userLabels { userId email } } }",
    )
    assert data["all"] == {
        "users": ["Erin", "alice", "bob", "carol", "dave"],
        "tools": ["get_schema", "invoke_api", "list_buckets", "run_query", "search_datasets"],
        "toolkitKinds": ["api", "datahub", "s3", "trino"],
        "sources": ["cli", "gateway", "mcp"],
        "eventKinds": ["apigateway_invoke", "mcp_tool_call"],
        "userLabels": [
            {"userId": "Erin", "email": "erin@example.com"},
            {"userId": "alice", "email": "alice@new.example"},
            {"userId": "bob", "email": "bob@example.com"},
        ],
    }
    assert data["window"] == {
        "users": ["bob", "carol"],
        "tools": ["get_schema", "invoke_api", "run_query"],
        "toolkitKinds": ["api", "datahub", "trino"],
        "sources": ["gateway", "mcp"],
        "eventKinds": ["apigateway_invoke", "mcp_tool_call"],
        "userLabels": [{"userId": "bob", "email": "bob@example.com"}],
    }


# --- timeseries --------------------------------------------------------------------

BUCKET = "bucket count successCount errorCount avgDurationMs"


def bucket(moment: datetime, count: int = 0, ok: int = 0, avg: float = 0.0) -> dict[str, Any]:
    return {
        "bucket": moment.isoformat(),
        "count": count,
        "successCount": ok,
        "errorCount": count - ok,
        "avgDurationMs": pytest.approx(avg),
    }


async def test_timeseries_hourly_over_the_default_window_is_zero_filled(
    api: Api, seeded: None
) -> None:
    data = await gql(api, f"{{ timeseries(resolution: HOUR) {{ {BUCKET} }} }}")
    # 2026-03-14T12:00 .. 2026-03-15T12:00, both ends included: 25 buckets.
    filled = {
        at(9): bucket(at(9), 2, 1, (100 + 300) / 2),
        at(10): bucket(at(10), 3, 2, (200 + 400 + 1000) / 3),
        at(11): bucket(at(11), 2, 2, (0 + 500) / 2),
    }
    hours = [at(12, day=14) + timedelta(hours=n) for n in range(25)]
    assert data["timeseries"] == [filled.get(h, bucket(h)) for h in hours]
    assert data["timeseries"][0]["bucket"] == "2026-03-14T12:00:00+00:00"
    assert data["timeseries"][-1]["bucket"] == "2026-03-15T12:00:00+00:00"


async def test_timeseries_by_minute_truncates_buckets_but_not_the_window(
    api: Api, seeded: None
) -> None:
    data = await gql(
        api,
        f'{{ timeseries(resolution: MINUTE, filter: {{startTime: "2026-03-15T10:00:30Z", '
        f'endTime: "2026-03-15T10:10:00Z"}}) {{ {BUCKET} }} }}',
    )
    # e3 at 10:00:00 is before the start; e5 at 10:10:00 is on the (inclusive) end.
    filled = {at(10, 5): bucket(at(10, 5), 1, 1, 400), at(10, 10): bucket(at(10, 10), 1, 0, 1000)}
    minutes = [at(10, m) for m in range(11)]
    assert data["timeseries"] == [filled.get(m, bucket(m)) for m in minutes]


async def test_timeseries_by_day(api: Api, seeded: None) -> None:
    data = await gql(
        api,
        f'{{ timeseries(resolution: DAY, filter: {{startTime: "2026-03-09T06:00:00Z"}}) '
        f"{{ {BUCKET} }} }}",
    )
    days = [datetime(2026, 3, d, tzinfo=UTC) for d in range(9, 16)]
    filled = {
        days[1]: bucket(days[1], 1, 1, 50),
        days[6]: bucket(days[6], 7, 5, 2500 / 7),
    }
    assert data["timeseries"] == [filled.get(d, bucket(d)) for d in days]
    assert data["timeseries"][0]["bucket"] == "2026-03-09T00:00:00+00:00"


async def test_timeseries_scoped_to_a_user_and_an_event_kind(api: Api, seeded: None) -> None:
    window = 'startTime: "2026-03-15T09:00:00Z", endTime: "2026-03-15T11:59:59Z"'
    data = await gql(
        api,
        f'{{ alice: timeseries(resolution: HOUR, filter: {{ {window}, userId: "alice" }}) '
        f"{{ {BUCKET} }} "
        f"  api: timeseries(resolution: HOUR, filter: {{ {window}, "
        f'eventKind: "apigateway_invoke" }}) {{ {BUCKET} }} }}',
    )
    assert data["alice"] == [
        bucket(at(9), 2, 1, 200),
        bucket(at(10)),
        bucket(at(11), 1, 1, 0),
    ]
    assert data["api"] == [bucket(at(9)), bucket(at(10), 1, 0, 1000), bucket(at(11))]


async def test_timeseries_of_an_empty_window_is_all_zeros(api: Api, seeded: None) -> None:
    data = await gql(
        api,
        f'{{ timeseries(resolution: HOUR, filter: {{startTime: "2026-01-01T00:00:00Z", '
        f'endTime: "2026-01-01T02:00:00Z"}}) {{ {BUCKET} }} }}',
    )
    hours = [datetime(2026, 1, 1, h, tzinfo=UTC) for h in range(3)]
    assert data["timeseries"] == [bucket(h) for h in hours]


async def test_timeseries_takes_exactly_ten_thousand_buckets(api: Api) -> None:
    start = at(0, day=1)
    end = start + timedelta(minutes=9_999)
    data = await gql(
        api,
        "query($s: DateTime, $e: DateTime) { timeseries(resolution: MINUTE, "
        "filter: {startTime: $s, endTime: $e}) { bucket count } }",
        {"s": start.isoformat(), "e": end.isoformat()},
    )
    assert len(data["timeseries"]) == 10_000
    assert data["timeseries"][-1] == {"bucket": end.isoformat(), "count": 0}


# --- breakdown -----------------------------------------------------------------------

ENTRY = "dimension count successRate avgDurationMs"


def entry(dimension: str, count: int, success_rate: float, avg: float) -> dict[str, Any]:
    return {
        "dimension": dimension,
        "count": count,
        "successRate": pytest.approx(success_rate),
        "avgDurationMs": pytest.approx(avg),
    }


@pytest.mark.parametrize(
    ("dimension", "expected"),
    [
        (
            "TOOL_NAME",
            [
                entry("run_query", 3, 2 / 3, (300 + 200 + 500) / 3),
                entry("search_datasets", 2, 1.0, (100 + 0) / 2),
                entry("get_schema", 1, 1.0, 400),
                entry("invoke_api", 1, 0.0, 1000),
            ],
        ),
        (
            # Labelled by email where the user has one (alice's greatest, per the README).
            "USER_ID",
            [
                entry("alice@old.example", 3, 2 / 3, (100 + 300 + 0) / 3),
                entry("bob@example.com", 2, 1.0, (200 + 400) / 2),
                entry("carol", 1, 0.0, 1000),
                entry("dave", 1, 1.0, 500),
            ],
        ),
        (
            # e5's '' and e7's NULL persona are one group, ''.
            "PERSONA",
            [
                entry("analyst", 3, 2 / 3, (100 + 300 + 0) / 3),
                entry("", 2, 1 / 2, (1000 + 500) / 2),
                entry("engineer", 2, 1.0, (200 + 400) / 2),
            ],
        ),
        (
            "TOOLKIT_KIND",
            [
                entry("datahub", 3, 1.0, (100 + 400 + 0) / 3),
                entry("trino", 3, 2 / 3, (300 + 200 + 500) / 3),
                entry("api", 1, 0.0, 1000),
            ],
        ),
        (
            "CONNECTION",
            [
                entry("prod-dh", 3, 1.0, (100 + 400 + 0) / 3),
                entry("prod-trino", 3, 2 / 3, (300 + 200 + 500) / 3),
                entry("", 1, 0.0, 1000),
            ],
        ),
    ],
)
async def test_breakdown_by_each_dimension(
    api: Api, seeded: None, dimension: str, expected: list[dict[str, Any]]
) -> None:
    data = await gql(api, f"{{ breakdown(groupBy: {dimension}) {{ {ENTRY} }} }}")
    assert data["breakdown"] == expected


async def test_breakdown_scoped_by_tool_name_user_and_window(api: Api, seeded: None) -> None:
    data = await gql(
        api,
        f'{{ persona: breakdown(groupBy: PERSONA, toolName: "run_query") {{ {ENTRY} }} '
        f'  user: breakdown(groupBy: USER_ID, toolName: "get_schema") {{ {ENTRY} }} '
        f'  alice: breakdown(groupBy: TOOL_NAME, filter: {{userId: "alice"}}) {{ {ENTRY} }} '
        f"  week: breakdown(groupBy: TOOLKIT_KIND, "
        f'filter: {{startTime: "2026-03-08T00:00:00Z"}}) {{ {ENTRY} }} }}',
    )
    assert data["persona"] == [
        entry("", 1, 1.0, 500),
        entry("analyst", 1, 0.0, 300),
        entry("engineer", 1, 1.0, 200),
    ]
    assert data["user"] == [entry("bob@example.com", 1, 1.0, 400)]
    assert data["alice"] == [
        entry("search_datasets", 2, 1.0, 50),
        entry("run_query", 1, 0.0, 300),
    ]
    assert data["week"] == [
        entry("datahub", 3, 1.0, 500 / 3),
        entry("trino", 3, 2 / 3, 1000 / 3),
        entry("api", 1, 0.0, 1000),
        entry("s3", 1, 1.0, 50),
    ]


@pytest.fixture
def many_tools(db: psycopg.Connection) -> None:
    """105 tools in the window: tool_000 .. tool_104, tool_104 and tool_050 called twice."""
    for n in range(105):
        insert(db, **row(f"t{n}", at(9), tool_name=f"tool_{n:03d}"))
    insert(db, **row("t104b", at(9), tool_name="tool_104"))
    insert(db, **row("t050b", at(9), tool_name="tool_050"))


async def test_breakdown_limit_defaults_to_ten_and_clamps_to_a_hundred(
    api: Api, many_tools: None
) -> None:
    query = "query($n: Int) { breakdown(groupBy: TOOL_NAME, limit: $n) { dimension count } }"
    # Count first (the two called twice), then name.
    order = ["tool_050", "tool_104", *(f"tool_{n:03d}" for n in range(105) if n not in (50, 104))]

    default = await gql(api, "{ breakdown(groupBy: TOOL_NAME) { dimension count } }")
    assert [e["dimension"] for e in default["breakdown"]] == order[:10]
    assert [e["count"] for e in default["breakdown"]] == [2, 2] + [1] * 8
    cases = [(None, 10), (0, 10), (-5, 10), (3, 3), (100, 100), (101, 100), (1000, 100)]
    for limit, expected in cases:
        data = await gql(api, query, {"n": limit})
        assert [e["dimension"] for e in data["breakdown"]] == order[:expected], limit


# --- overview, performance, enrichment, discovery ------------------------------------

OVERVIEW = "totalCalls successRate avgDurationMs uniqueUsers uniqueTools enrichmentRate errorCount"
PERFORMANCE = "p50Ms p95Ms p99Ms avgMs maxMs avgResponseChars avgRequestChars"
ENRICHMENT = (
    "totalCalls enrichedCalls enrichmentRate fullCount summaryCount referenceCount noneCount "
    "totalTokensFull totalTokensDedup tokensSaved avgTokensFull avgTokensDedup uniqueSessions"
)
DISCOVERY = (
    "totalSessions discoverySessions querySessions discoveryBeforeQuery discoveryRate "
    f"queryWithoutDiscovery topDiscoveryTools {{ {ENTRY} }}"
)
EMPTY_WINDOW = '{startTime: "2026-01-01T00:00:00Z", endTime: "2026-01-02T00:00:00Z"}'


def approx(values: dict[str, Any]) -> dict[str, Any]:
    return {k: pytest.approx(v) if isinstance(v, float) else v for k, v in values.items()}


async def test_overview_of_the_default_window(api: Api, seeded: None) -> None:
    data = await gql(api, f"{{ overview {{ {OVERVIEW} }} }}")
    assert data["overview"] == approx(
        {
            "totalCalls": 7,
            "successRate": 5 / 7,
            "avgDurationMs": (100 + 300 + 200 + 400 + 1000 + 0 + 500) / 7,
            "uniqueUsers": 4,
            "uniqueTools": 4,
            "enrichmentRate": 3 / 7,
            "errorCount": 2,
        }
    )


async def test_overview_scoped_and_empty(api: Api, seeded: None) -> None:
    data = await gql(
        api,
        f'{{ alice: overview(filter: {{userId: "alice"}}) {{ {OVERVIEW} }} '
        f'  api: overview(filter: {{eventKind: "apigateway_invoke"}}) {{ {OVERVIEW} }} '
        f'  week: overview(filter: {{startTime: "2026-03-10T08:00:00Z"}}) {{ {OVERVIEW} }} '
        f"  empty: overview(filter: {EMPTY_WINDOW}) {{ {OVERVIEW} }} }}",
    )
    assert data["alice"] == approx(
        {
            "totalCalls": 3,
            "successRate": 2 / 3,
            "avgDurationMs": 400 / 3,
            "uniqueUsers": 1,
            "uniqueTools": 2,
            "enrichmentRate": 1 / 3,
            "errorCount": 1,
        }
    )
    assert data["api"] == approx(
        {
            "totalCalls": 1,
            "successRate": 0.0,
            "avgDurationMs": 1000.0,
            "uniqueUsers": 1,
            "uniqueTools": 1,
            "enrichmentRate": 1.0,
            "errorCount": 1,
        }
    )
    # The start is inclusive: e8 at exactly 08:00 is in.
    assert data["week"] == approx(
        {
            "totalCalls": 8,
            "successRate": 6 / 8,
            "avgDurationMs": 2550 / 8,
            "uniqueUsers": 5,
            "uniqueTools": 5,
            "enrichmentRate": 3 / 8,
            "errorCount": 2,
        }
    )
    assert data["empty"] == {
        "totalCalls": 0,
        "successRate": 0.0,
        "avgDurationMs": 0.0,
        "uniqueUsers": 0,
        "uniqueTools": 0,
        "enrichmentRate": 0.0,
        "errorCount": 0,
    }


async def test_performance_percentiles_are_continuous(api: Api, seeded: None) -> None:
    data = await gql(
        api,
        f"{{ all: performance {{ {PERFORMANCE} }} "
        f'  alice: performance(filter: {{userId: "alice"}}) {{ {PERFORMANCE} }} '
        f"  empty: performance(filter: {EMPTY_WINDOW}) {{ {PERFORMANCE} }} }}",
    )
    # Sorted durations 0 100 200 300 400 500 1000; rank p * (n - 1) = p * 6, interpolated.
    assert data["all"] == approx(
        {
            "p50Ms": 300.0,  # rank 3
            "p95Ms": 500 + 0.7 * 500,  # rank 5.7
            "p99Ms": 500 + 0.94 * 500,  # rank 5.94
            "avgMs": 2500 / 7,
            "maxMs": 1000.0,
            "avgResponseChars": (1000 + 500 + 300 + 200) / 7,
            "avgRequestChars": (10 + 20 + 30 + 40) / 7,
        }
    )
    # alice: 0 100 300; rank p * 2.
    assert data["alice"] == approx(
        {
            "p50Ms": 100.0,
            "p95Ms": 100 + 0.9 * 200,
            "p99Ms": 100 + 0.98 * 200,
            "avgMs": 400 / 3,
            "maxMs": 300.0,
            "avgResponseChars": 1200 / 3,
            "avgRequestChars": 30 / 3,
        }
    )
    assert data["empty"] == dict.fromkeys(PERFORMANCE.split(), 0.0)


async def test_enrichment_counts_modes_and_tokens(api: Api, seeded: None) -> None:
    data = await gql(
        api,
        f"{{ all: enrichment {{ {ENRICHMENT} }} "
        f'  api: enrichment(filter: {{eventKind: "apigateway_invoke"}}) {{ {ENRICHMENT} }} '
        f"  empty: enrichment(filter: {EMPTY_WINDOW}) {{ {ENRICHMENT} }} }}",
    )
    assert data["all"] == approx(
        {
            "totalCalls": 7,
            "enrichedCalls": 3,
            "enrichmentRate": 3 / 7,
            "fullCount": 1,
            "summaryCount": 1,
            "referenceCount": 1,
            "noneCount": 1,
            "totalTokensFull": 300 + 200 + 50,
            "totalTokensDedup": 100 + 200,
            "tokensSaved": 550 - 300,
            "avgTokensFull": 550 / 3,  # over the three non-zero values
            "avgTokensDedup": 300 / 2,  # over the two non-zero values
            "uniqueSessions": 4,  # s1..s4; e6's empty session is not one
        }
    )
    assert data["api"] == approx(
        {
            "totalCalls": 1,
            "enrichedCalls": 1,
            "enrichmentRate": 1.0,
            "fullCount": 0,
            "summaryCount": 0,
            "referenceCount": 1,
            "noneCount": 0,
            "totalTokensFull": 50,
            "totalTokensDedup": 0,
            "tokensSaved": 50,
            "avgTokensFull": 50.0,
            "avgTokensDedup": 0.0,
            "uniqueSessions": 1,
        }
    )
    assert data["empty"] == {k: 0.0 if "Rate" in k or "avg" in k else 0 for k in ENRICHMENT.split()}


async def test_discovery_sessions_and_top_tools(api: Api, seeded: None) -> None:
    data = await gql(
        api,
        f"{{ day: discovery {{ {DISCOVERY} }} "
        f'  week: discovery(filter: {{startTime: "2026-03-10T00:00:00Z"}}) {{ {DISCOVERY} }} '
        f"  empty: discovery(filter: {EMPTY_WINDOW}) {{ {DISCOVERY} }} }}",
    )
    # s1: datahub 09:00 then trino 09:30 (discovers first); s2: trino 10:00 then datahub
    # 10:05; s3: api only; s4: trino only. e6 has no session and counts nowhere, not even
    # in topDiscoveryTools (SPEC 3: "over sessions with a non-empty session_id").
    assert data["day"] == {
        "totalSessions": 4,
        "discoverySessions": 2,
        "querySessions": 3,
        "discoveryBeforeQuery": 1,
        "discoveryRate": pytest.approx(0.5),
        "queryWithoutDiscovery": 1,
        "topDiscoveryTools": [
            entry("get_schema", 1, 1.0, 400),
            entry("search_datasets", 1, 1.0, 100),
        ],
    }
    # s5 (Erin, s3 toolkit) joins as a session that neither discovers nor queries.
    assert data["week"]["totalSessions"] == 5
    assert data["week"]["discoveryRate"] == pytest.approx(2 / 5)
    assert data["empty"] == {
        "totalSessions": 0,
        "discoverySessions": 0,
        "querySessions": 0,
        "discoveryBeforeQuery": 0,
        "discoveryRate": 0.0,
        "queryWithoutDiscovery": 0,
        "topDiscoveryTools": [],
    }


async def test_discovery_ignores_user_filter_but_scopes_event_kind(api: Api, seeded: None) -> None:
    data = await gql(
        api,
        f"{{ all: discovery {{ {DISCOVERY} }} "
        f'  alice: discovery(filter: {{userId: "alice"}}) {{ {DISCOVERY} }} '
        f'  api: discovery(filter: {{eventKind: "apigateway_invoke"}}) '
        "{ totalSessions discoverySessions querySessions } }",
    )
    assert data["alice"] == data["all"]
    assert data["api"] == {"totalSessions": 1, "discoverySessions": 0, "querySessions": 0}


async def test_discovery_top_tools_are_the_top_ten_discovery_calls(
    api: Api, db: psycopg.Connection
) -> None:
    for n in range(12):
        for k in range(n + 1):
            insert(db, **row(f"d{n}-{k}", at(9), tool_name=f"dh_{n:02d}",
                             toolkit_kind="datahub", session_id=f"s{k}"))  # fmt: skip
    insert(db, **row("q", at(9), tool_name="sql", toolkit_kind="trino", session_id="s0"))
    data = await gql(api, "{ discovery { totalSessions topDiscoveryTools { dimension count } } }")
    assert data["discovery"]["totalSessions"] == 12
    assert data["discovery"]["topDiscoveryTools"] == [
        {"dimension": f"dh_{n:02d}", "count": n + 1} for n in range(11, 1, -1)
    ]


# --- partitions --------------------------------------------------------------------


async def test_partitions_list_default_and_monthly(api: Api, db: psycopg.Connection) -> None:
    db.execute(
        "CREATE TABLE audit_logs_2026_04 PARTITION OF audit_logs "
        "FOR VALUES FROM ('2026-04-01') TO ('2026-05-01')"
    )
    for n in range(3):
        insert(db, **row(f"apr{n}", datetime(2026, 4, 2, n, tzinfo=UTC), tool_name="t"))
    insert(db, **row("mar", at(9), tool_name="t"))
    db.execute("ANALYZE audit_logs")
    data = await gql(api, "{ partitions { name rangeStart rangeEnd isDefault approxRows } }")
    assert sorted(data["partitions"], key=lambda p: p["name"]) == [
        {
            "name": "audit_logs_2026_04",
            "rangeStart": "2026-04-01T00:00:00+00:00",
            "rangeEnd": "2026-05-01T00:00:00+00:00",
            "isDefault": False,
            "approxRows": 3,
        },
        {
            "name": "audit_logs_default",
            "rangeStart": None,
            "rangeEnd": None,
            "isDefault": True,
            "approxRows": 1,
        },
    ]


# --- scalars -------------------------------------------------------------------------


async def test_datetime_input_without_offset_is_utc(api: Api, seeded: None) -> None:
    data = await gql(
        api,
        '{ naive: eventCount(filter: {startTime: "2026-03-10T08:00:00", '
        'endTime: "2026-03-10T08:00:00"}) '
        ' zulu: eventCount(filter: {startTime: "2026-03-10T08:00:00Z", '
        'endTime: "2026-03-10T08:00:00Z"}) }',
    )
    assert data == {"naive": 1, "zulu": 1}


async def test_datetime_input_with_an_offset_is_converted(api: Api, seeded: None) -> None:
    data = await gql(
        api,
        # 10:00+02:00 is e8's 08:00Z; 08:00+02:00 is 06:00Z, when nothing happened.
        '{ converted: events(filter: {startTime: "2026-03-10T10:00:00+02:00", '
        'endTime: "2026-03-10T10:00:00+02:00"}) { items { id timestamp } } '
        ' shifted: eventCount(filter: {startTime: "2026-03-10T08:00:00+02:00", '
        'endTime: "2026-03-10T08:00:00+02:00"}) '
        ' west: timeseries(resolution: HOUR, filter: {startTime: "2026-03-15T04:30:00-05:00", '
        'endTime: "2026-03-15T05:00:00-05:00"}) { bucket count } }',
    )
    assert data["converted"]["items"] == [{"id": "e8", "timestamp": "2026-03-10T08:00:00+00:00"}]
    assert data["shifted"] == 0
    # 04:30-05:00 is 09:30Z and 05:00-05:00 is 10:00Z: e2 and e3, in UTC buckets.
    assert data["west"] == [
        {"bucket": "2026-03-15T09:00:00+00:00", "count": 1},
        {"bucket": "2026-03-15T10:00:00+00:00", "count": 1},
    ]


UTC_OUTPUT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?\+00:00$")


async def test_datetime_outputs_always_end_in_utc_offset(api: Api, seeded: None) -> None:
    data = await gql(
        api,
        "{ events { items { timestamp } } timeseries(resolution: HOUR) { bucket } }",
    )
    stamps = [i["timestamp"] for i in data["events"]["items"]]
    stamps += [b["bucket"] for b in data["timeseries"]]
    assert len(stamps) == 8 + 25
    for stamp in stamps:
        assert UTC_OUTPUT.match(stamp), stamp


async def test_long_fields_are_json_numbers(api: Api, seeded: None) -> None:
    await gql(
        api,
        "{ eventCount events(limit: 1) { totalCount } overview { totalCalls uniqueUsers } "
        "timeseries(resolution: DAY) { count } breakdown(groupBy: TOOL_NAME) { count } "
        "enrichment { totalTokensFull tokensSaved } partitions { approxRows } }",
    )
    body = json.loads(api.responses[-1])["data"]
    longs = [
        body["eventCount"],
        body["events"]["totalCount"],
        body["overview"]["totalCalls"],
        body["overview"]["uniqueUsers"],
        *(b["count"] for b in body["timeseries"]),
        *(e["count"] for e in body["breakdown"]),
        body["enrichment"]["totalTokensFull"],
        body["enrichment"]["tokensSaved"],
        *(p["approxRows"] for p in body["partitions"]),
    ]
    assert all(type(value) is int for value in longs), longs
    assert '"eventCount":8' in api.responses[-1].replace(" ", "")


# --- concurrency ---------------------------------------------------------------------

DASHBOARD = f"""{{
  overview {{ totalCalls errorCount }}
  timeseries(resolution: HOUR, filter: {{startTime: "2026-03-15T09:00:00Z",
                                         endTime: "2026-03-15T11:00:00Z"}}) {{ bucket count }}
  tools: breakdown(groupBy: TOOL_NAME, limit: 2) {{ {ENTRY} }}
  users: breakdown(groupBy: USER_ID, limit: 2) {{ {ENTRY} }}
}}"""


async def test_dashboard_request_answers_all_four_statistics(api: Api, seeded: None) -> None:
    data = await gql(api, DASHBOARD)
    assert data == {
        "overview": {"totalCalls": 7, "errorCount": 2},
        "timeseries": [
            {"bucket": "2026-03-15T09:00:00+00:00", "count": 2},
            {"bucket": "2026-03-15T10:00:00+00:00", "count": 3},
            # e6 at 11:00 is on the inclusive end; e7 at 11:30 is past it.
            {"bucket": "2026-03-15T11:00:00+00:00", "count": 1},
        ],
        "tools": [entry("run_query", 3, 2 / 3, 1000 / 3), entry("search_datasets", 2, 1.0, 50)],
        "users": [
            entry("alice@old.example", 3, 2 / 3, 400 / 3),
            entry("bob@example.com", 2, 1.0, 300),
        ],
    }


async def test_dashboard_root_fields_hold_pool_connections_at_the_same_time(
    recording: Recording, seeded: None
) -> None:
    """Each of the four reads waits, holding its pooled connection, until all four hold one.

    Run one after another, the first would wait alone until the guard lets it
    go and `most_held` would stay 1; only concurrent root fields reach 4.
    """
    recording.store.parties = 4
    data = await recording.api.gql(DASHBOARD)
    assert data["overview"] == {"totalCalls": 7, "errorCount": 2}
    assert [b["count"] for b in data["timeseries"]] == [2, 3, 1]
    assert [e["dimension"] for e in data["tools"]] == ["run_query", "search_datasets"]
    assert [e["dimension"] for e in data["users"]] == ["alice@old.example", "bob@example.com"]

    assert recording.store.most_held == 4
    assert len(recording.store.backends) == 4
    calls = recording.store.calls
    entered = [name for kind, name in calls if kind == "enter"]
    assert sorted(entered) == ["breakdown", "breakdown", "overview", "timeseries"]
    # Every call entered before any of them finished: the four intervals overlap.
    assert [kind for kind, _ in calls[:4]] == ["enter"] * 4
    assert [kind for kind, _ in calls[4:]] == ["exit"] * 4


# --- a larger data set against the plain-Python reference ----------------------------


def generated_events(count: int) -> list[dict[str, Any]]:
    """Deterministic, varied AuditEventInputs over the three days before the clock."""
    rng = random.Random(20260315)
    users = [(f"user-{n}", f"user{n}@example.com" if n % 3 else "") for n in range(8)]
    kinds = [("datahub", ["search", "get_schema", "lineage"]), ("trino", ["run_query"]),
             ("s3", ["list", "get_object"]), ("api", ["invoke"])]  # fmt: skip
    start = at(12, day=12)
    inputs = []
    for n in range(count):
        user, email = rng.choice(users)
        kind, tools = rng.choice(kinds)
        # Whole minutes, so several events share a timestamp.
        moment = start + timedelta(minutes=rng.randrange(3 * 24 * 60 + 1))
        mode = rng.choice(["", "", "full", "summary", "reference", "none"])
        inputs.append(
            {
                "id": f"g{n:04d}",
                "timestamp": moment.isoformat(),
                "durationMs": int(rng.paretovariate(1.5) * 20),
                "userId": user,
                "userEmail": email if rng.random() < 0.8 else "",
                "persona": rng.choice(["", "analyst", "engineer"]),
                "toolName": rng.choice(tools),
                "toolkitKind": kind,
                "connection": rng.choice(["", "prod", "staging"]),
                "sessionId": rng.choice(["", *(f"s{k}" for k in range(25))]),
                "success": rng.random() < 0.85,
                "errorMessage": "",
                "responseChars": rng.randrange(5000),
                "requestChars": rng.randrange(500),
                "enrichmentApplied": mode not in ("", "none"),
                "enrichmentMode": mode,
                "enrichmentTokensFull": rng.choice([0, rng.randrange(1, 900)]),
                "enrichmentTokensDedup": rng.choice([0, rng.randrange(1, 300)]),
                "source": rng.choice(["mcp", "gateway"]),
            }
        )
    return inputs


def as_expected(value: Any) -> Any:
    """A reference result in the API's shape: camelCase keys, ISO instants, approx floats."""
    if isinstance(value, dict):
        return {camel(k): as_expected(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_expected(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float):
        return pytest.approx(value, rel=1e-9, abs=1e-9)
    return value


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


@pytest.fixture
async def generated(api: Api) -> list[dict[str, Any]]:
    """400 events written with one logEvents call, read back as stored (reference shape)."""
    inputs = generated_events(400)
    await gql(
        api,
        "mutation($e: [AuditEventInput!]!) { logEvents(inputs: $e) { accepted } }",
        {"e": inputs},
    )
    data = await gql(api, f"{{ events(limit: 1000) {{ items {{ {EVENT_FIELDS} }} }} }}")
    return [reference.from_graphql(item) for item in data["events"]["items"]]


METRICS_SCOPES: list[dict[str, Any]] = [
    {},
    {"start": at(0, day=13), "end": at(6, day=15)},
    {"user_id": "user-1"},
    {"event_kind": "apigateway_invoke", "start": at(12, day=12)},
]


def metrics_filter(scope: dict[str, Any]) -> dict[str, Any]:
    names = {"start": "startTime", "end": "endTime", "user_id": "userId", "event_kind": "eventKind"}
    return {names[k]: v.isoformat() if isinstance(v, datetime) else v for k, v in scope.items()}


@pytest.mark.parametrize("scope", METRICS_SCOPES)
async def test_statistics_agree_with_the_reference(
    api: Api, generated: list[dict[str, Any]], scope: dict[str, Any]
) -> None:
    now = at(12)
    dimensions = ["TOOL_NAME", "USER_ID", "PERSONA", "TOOLKIT_KIND", "CONNECTION"]
    breakdowns = " ".join(
        f"{d}: breakdown(groupBy: {d}, limit: 100, filter: $f) {{ {ENTRY} }}" for d in dimensions
    )
    data = await gql(
        api,
        f"query($f: MetricsFilter) {{ overview(filter: $f) {{ {OVERVIEW} }} "
        f"performance(filter: $f) {{ {PERFORMANCE} }} enrichment(filter: $f) {{ {ENRICHMENT} }} "
        f"discovery(filter: $f) {{ {DISCOVERY} }} "
        f"timeseries(resolution: HOUR, filter: $f) {{ {BUCKET} }} {breakdowns} }}",
        {"f": metrics_filter(scope)},
    )
    without_user = {k: v for k, v in scope.items() if k != "user_id"}
    assert data["overview"] == as_expected(reference.overview(generated, now, **scope))
    assert data["performance"] == as_expected(reference.performance(generated, now, **scope))
    assert data["enrichment"] == as_expected(reference.enrichment(generated, now, **scope))
    assert data["discovery"] == as_expected(reference.discovery(generated, now, **without_user))
    assert data["timeseries"] == as_expected(reference.timeseries(generated, "hour", now, **scope))
    for d in dimensions:
        expected = reference.breakdown(generated, d.lower(), 100, now, **scope)
        assert data[d] == as_expected(expected), d
    assert data["overview"]["totalCalls"] > 0


@pytest.mark.parametrize(
    ("sort_by", "order"), [("TIMESTAMP", "DESC"), ("USER_ID", "ASC"), ("DURATION_MS", "DESC")]
)
async def test_cursor_paging_over_the_larger_set_agrees_with_the_reference(
    api: Api, generated: list[dict[str, Any]], sort_by: str, order: str
) -> None:
    flt = '{source: "mcp"}'
    seen: list[str] = []
    after: str | None = None
    query = (
        f"query($after: String) {{ events(filter: {flt}, sortBy: {sort_by}, "
        f"sortOrder: {order}, limit: 37, after: $after) "
        "{ items { id } hasNextPage endCursor } }"
    )
    while True:
        page = (await gql(api, query, {"after": after}))["events"]
        seen += ids(page)
        if not page["hasNextPage"]:
            break
        after = page["endCursor"]
    expected = reference.query(generated, {"source": "mcp"}, sort_by.lower(), order.lower())
    assert seen == [event["id"] for event in expected]
    assert len(set(seen)) == len(seen) > 37
