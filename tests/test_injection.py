"""Injection: every string argument is data, stored and matched literally, never SQL.

Each attempt goes through the API into every string field of AuditEventInput,
every EventFilter and MetricsFilter field, search, and the breakdown and
distinct arguments. What was written reads back byte for byte; a filter
matches only rows holding exactly that text; search matches only literal
occurrences of %, _ and \\; and the table is still there, with every row.
"""

from __future__ import annotations

from typing import Any

import graphql_client
import httpx
import psycopg
import pytest
from graphql_client import EVENT_FIELDS

DROP = "x'; DROP TABLE audit_logs; --"
PAYLOADS = [
    DROP,
    "' OR 1=1 --",
    "' OR '1'='1",
    '"; DROP TABLE audit_logs; --',
    "1); DELETE FROM audit_logs; --",
    "' UNION SELECT id FROM audit_logs --",
    "$1 $$x$$ %s %(id)s {} ?",
    "%_\\%",
    "\\'; --",
    "E'\\x27' || chr(39)",
    "/* */ SELECT pg_sleep(10); --",
]
# varchar limits of the string fields (SPEC 2); a payload longer than one is cut to fit.
STRING_FIELDS = {
    "requestId": 255, "sessionId": None, "userId": 255, "userEmail": 255, "persona": 100,
    "toolName": 255, "toolkitKind": 100, "toolkitName": 100, "connection": 100,
    "errorMessage": None, "transport": 30, "source": 30, "enrichmentMode": 20,
    "enrichmentMatchKind": 20, "eventKind": 64,
}  # fmt: skip
WHEN = "2026-03-15T10:00:00+00:00"  # inside the default window of the FakeClock (12:00Z)
LOG_EVENT = f"mutation($e: AuditEventInput!) {{ logEvent(input: $e) {{ {EVENT_FIELDS} }} }}"
GET_EVENT = f"query($id: ID!) {{ event(id: $id) {{ {EVENT_FIELDS} }} }}"
FILTERED = """query($f: EventFilter) {
  events(filter: $f, sortOrder: ASC) { items { id } }
  eventCount(filter: $f)
}"""


# Stored payloads come back as data in later responses; they are no leak there.
ECHOES = "\n".join(PAYLOADS)


async def data_of(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    return await graphql_client.data_of(client, query, variables, echoes=ECHOES)


async def error_of(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    return await graphql_client.error_of(client, query, variables, echoes=ECHOES)


def fit(text: str, limit: int | None) -> str:
    return text if limit is None else text[:limit]


def hostile_event(index: int, payload: str) -> dict[str, Any]:
    """An event whose every string field holds `payload` (cut to the field's length)."""
    event: dict[str, Any] = {name: fit(payload, limit) for name, limit in STRING_FIELDS.items()}
    event.update(
        id=f"inj-{index}",
        timestamp=WHEN,
        success=True,
        parameters={"q": payload, payload: [payload, {"nested": payload}]},
    )
    return event


@pytest.fixture
async def hostile(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    """One event per payload, written through the API."""
    events = [hostile_event(i, payload) for i, payload in enumerate(PAYLOADS)]
    for event in events:
        await data_of(client, LOG_EVENT, {"e": event})
    return events


def row_count(db: psycopg.Connection) -> int:
    row = db.execute("SELECT count(*) FROM audit_logs").fetchone()
    assert row is not None
    return int(row[0])


def expected_output(event: dict[str, Any]) -> dict[str, Any]:
    return {name: event[name] for name in (*STRING_FIELDS, "id", "parameters")}


async def test_every_string_field_is_stored_literally(
    client: httpx.AsyncClient, db: psycopg.Connection, hostile: list[dict[str, Any]]
) -> None:
    for event in hostile:
        stored = (await data_of(client, GET_EVENT, {"id": event["id"]}))["event"]
        assert {name: stored[name] for name in expected_output(event)} == expected_output(event)
    assert row_count(db) == len(PAYLOADS)


async def test_the_database_holds_exactly_what_was_sent(
    db: psycopg.Connection, hostile: list[dict[str, Any]]
) -> None:
    """Read back past the API too: the row itself holds the payload, not an escaped form."""
    for event in hostile:
        row = db.execute(
            "SELECT tool_name, error_message, transport, enrichment_mode, parameters "
            "FROM audit_logs WHERE id = %s",
            (event["id"],),
        ).fetchone()
        assert row == (
            event["toolName"],
            event["errorMessage"],
            event["transport"],
            event["enrichmentMode"],
            event["parameters"],
        )


async def test_an_injected_id_is_just_an_id(
    client: httpx.AsyncClient, db: psycopg.Connection
) -> None:
    for payload in (DROP, "' OR 1=1 --", "a\\'b"):
        event = {"id": payload, "toolName": payload, "success": False, "timestamp": WHEN}
        assert (await data_of(client, LOG_EVENT, {"e": event}))["logEvent"]["id"] == payload
        assert (await data_of(client, GET_EVENT, {"id": payload}))["event"]["toolName"] == payload
    assert row_count(db) == 3
    # An id that matches nothing by SQL logic ("' OR 1=1 --" would match all) finds nothing.
    assert (await data_of(client, GET_EVENT, {"id": "nope' OR '1'='1"}))["event"] is None


EXACT_FILTERS = {
    "userId": "userId",
    "sessionId": "sessionId",
    "toolName": "toolName",
    "toolkitKind": "toolkitKind",
    "source": "source",
    "eventKind": "eventKind",
}


@pytest.mark.parametrize("name", [*EXACT_FILTERS, "id"])
async def test_each_event_filter_matches_literally(
    client: httpx.AsyncClient, hostile: list[dict[str, Any]], name: str
) -> None:
    for event in hostile:
        value = event[name]
        data = await data_of(client, FILTERED, {"f": {name: value}})
        holders = [e["id"] for e in hostile if e[name] == value]
        assert [item["id"] for item in data["events"]["items"]] == holders
        assert data["eventCount"] == len(holders)
    # The classic always-true clause, as a value, matches nothing.
    data = await data_of(client, FILTERED, {"f": {name: "nothing' OR '1'='1"}})
    assert data == {"events": {"items": []}, "eventCount": 0}


SEARCH_ROWS = {
    "pct": "100% done",
    "pct-free": "100 done",
    "under": "a_b",
    "under-free": "axb",
    "slash": "back\\slash",
    "slash-free": "backslash",
    "always": "' OR 1=1 --",
    "always-free": " OR 11 ",
    "drop": DROP.upper(),
}


@pytest.fixture
async def searchable(client: httpx.AsyncClient) -> None:
    for key, tool in SEARCH_ROWS.items():
        event = {"id": key, "toolName": tool, "success": True, "timestamp": WHEN}
        await data_of(client, LOG_EVENT, {"e": event})


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("%", {"pct"}),
        ("_", {"under", "drop"}),  # AUDIT_LOGS holds one too
        ("\\", {"slash"}),
        ("' OR 1=1 --", {"always"}),
        ("%%", set()),
        ("a_b", {"under"}),
        ("0%", {"pct"}),
        ("drop table audit_logs", {"drop"}),  # case-insensitive, still literal
        ("' OR '1'='1", set()),
        ("*", set()),
        (".*", set()),
    ],
)
async def test_search_matches_only_literal_occurrences(
    client: httpx.AsyncClient, searchable: None, search: str, expected: set[str]
) -> None:
    data = await data_of(client, FILTERED, {"f": {"search": search}})
    assert {item["id"] for item in data["events"]["items"]} == expected
    assert data["eventCount"] == len(expected)


async def test_search_in_every_searched_column(
    client: httpx.AsyncClient, db: psycopg.Connection
) -> None:
    columns = ("userId", "toolName", "toolkitKind", "connection", "persona", "errorMessage")
    for column in columns:
        event = {"id": column, "toolName": "t", "success": True, "timestamp": WHEN}
        event[column] = "p_%\\q"
        await data_of(client, LOG_EVENT, {"e": event})
    await data_of(client, LOG_EVENT, {"e": {"id": "none", "toolName": "pxq", "success": True}})
    data = await data_of(client, FILTERED, {"f": {"search": "_%\\"}})
    assert {item["id"] for item in data["events"]["items"]} == set(columns)


async def test_distinct_values_and_labels_are_literal(
    client: httpx.AsyncClient, hostile: list[dict[str, Any]]
) -> None:
    data = await data_of(
        client,
        "{ tools: distinctValues(column: TOOL_NAME) sources: distinctValues(column: SOURCE) "
        "  userLabels { userId email } "
        "  filterOptions { users eventKinds toolkitKinds } }",
    )
    assert sorted(data["tools"]) == sorted(e["toolName"] for e in hostile)
    assert sorted(data["sources"]) == sorted({e["source"] for e in hostile})
    assert sorted(data["filterOptions"]["users"]) == sorted(e["userId"] for e in hostile)
    assert sorted(data["filterOptions"]["eventKinds"]) == sorted(e["eventKind"] for e in hostile)
    assert {(label["userId"], label["email"]) for label in data["userLabels"]} == {
        (e["userId"], e["userEmail"]) for e in hostile
    }


METRICS = """query($m: MetricsFilter, $tool: String) {
  overview(filter: $m) { totalCalls }
  byUser: breakdown(groupBy: USER_ID, filter: $m, toolName: $tool) { dimension count }
  byKind: breakdown(groupBy: TOOLKIT_KIND, filter: $m) { dimension count }
  timeseries(resolution: DAY, filter: $m) { count }
  performance(filter: $m) { maxMs }
  enrichment(filter: $m) { totalCalls }
  discovery(filter: $m) { totalSessions }
}"""


async def test_metrics_filters_and_breakdown_arguments_are_literal(
    client: httpx.AsyncClient, hostile: list[dict[str, Any]]
) -> None:
    for event in hostile:
        for flt, tool in (
            ({"userId": event["userId"]}, None),
            ({"eventKind": event["eventKind"]}, None),
            ({}, event["toolName"]),
        ):
            data = await data_of(client, METRICS, {"m": flt, "tool": tool})
            if tool is None:
                assert data["overview"]["totalCalls"] == 1
                assert data["byKind"] == [{"dimension": event["toolkitKind"], "count": 1}]
                assert sum(bucket["count"] for bucket in data["timeseries"]) == 1
            # Grouping by user labels each group with its email (non-empty here).
            assert data["byUser"] == [{"dimension": event["userEmail"], "count": 1}]
    data = await data_of(client, METRICS, {"m": {"userId": "x' OR '1'='1"}, "tool": "x' OR '1'='1"})
    assert data["overview"]["totalCalls"] == 0
    assert data["byUser"] == data["byKind"] == []


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ("query($t: DateTime) { overview(filter: {startTime: $t}) { totalCalls } }",
         {"t": "2026-01-01'; DROP TABLE audit_logs; --"}),
        ("query($t: DateTime) { distinctValues(column: USER_ID, endTime: $t) }",
         {"t": "now() OR 1=1"}),
        ("{ distinctValues(column: USER_ID_OR_1) }", None),
        ('{ events(sortBy: "timestamp; DROP TABLE audit_logs") { items { id } } }', None),
        ("query($a: String) { events(after: $a) { items { id } } }", {"a": DROP}),
        ("query($r: Resolution!) { timeseries(resolution: $r) { count } }",
         {"r": "DAY'); DROP TABLE audit_logs; --"}),
    ],
)  # fmt: skip
async def test_typed_arguments_refuse_sql(
    client: httpx.AsyncClient,
    db: psycopg.Connection,
    hostile: list[dict[str, Any]],
    query: str,
    variables: dict[str, Any] | None,
) -> None:
    error = await error_of(client, query, variables)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert row_count(db) == len(hostile)


async def test_the_table_survives_every_attempt(
    client: httpx.AsyncClient, db: psycopg.Connection, hostile: list[dict[str, Any]]
) -> None:
    for payload in PAYLOADS:
        await data_of(client, FILTERED, {"f": {"search": payload, "toolName": payload}})
        await data_of(client, METRICS, {"m": {"userId": payload}, "tool": payload})
    assert row_count(db) == len(PAYLOADS)
    tables = db.execute(
        "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'audit_logs%%' "
        "AND schemaname = current_schema()"
    ).fetchone()
    assert tables is not None and tables[0] >= 2  # the parent and its default partition
