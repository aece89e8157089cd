"""The event, events and eventCount queries: every field, filters, search, sorting, paging."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from api_client import Api, Recording, gql, insert
from api_dataset import EVENTS, at, ids, row, walk_pages
from graphql_client import EVENT_FIELDS

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
        "purpose": "",
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
