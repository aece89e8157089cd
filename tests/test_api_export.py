"""GET /export/events: CSV and NDJSON read back equal the events query, bad input is a 400.

The events hold what breaks naive CSV and JSON: quotes, commas, newlines,
backslashes, non-ASCII text and parameters, NULLs from another writer.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from graphql_client import EVENT_FIELDS, app_client, assert_safe

from graph.store import NewEvent, Store

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
TRICKY = ['say "hi"', "a,b", "line\nbreak\r\nthere", "back\\slash", "Ünïcødé ✓ 日本", ""]


@pytest.fixture
async def logged(store: Store, db: psycopg.Connection) -> None:
    events = [
        NewEvent(
            id=f"x{n:02d}",
            timestamp=NOW - timedelta(hours=30 - n, microseconds=n * 7),
            tool_name=f"tool {text}" if text else "plain",
            user_id=["alice", "bob"][n % 2],
            error_message=text,
            purpose=TRICKY[(n + 1) % len(TRICKY)],
            parameters={"q": text, "nested": {"list": [1, 2.5, None, True]}} if n % 3 else None,
            success=n % 4 != 0,
            duration_ms=n * 11,
            session_id="s1" if n % 2 else "",
        )
        for n, text in enumerate(TRICKY * 3)
    ]
    await store.log_many(events)
    # Another writer's row: NULL wherever the table allows it.
    db.execute(
        "INSERT INTO audit_logs (id, timestamp, created_date, tool_name, success) "
        "VALUES ('legacy', %s, %s, 'legacy_tool', true)",
        (NOW - timedelta(hours=1), (NOW - timedelta(hours=1)).date()),
    )


@pytest.fixture
async def http(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(store) as client:
        yield client


def snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name)


async def expected_events(http: httpx.AsyncClient, flt: dict[str, Any]) -> list[dict[str, Any]]:
    """The same filter through the events query, oldest first, with snake_case names."""
    query = f"""query($f: EventFilter) {{ events(filter: $f, sortOrder: ASC, limit: 1000)
                {{ items {{ {EVENT_FIELDS} }} }} }}"""
    body = (await http.post("/graphql", json={"query": query, "variables": {"f": flt}})).json()
    assert "errors" not in body, body
    return [{snake(k): v for k, v in item.items()} for item in body["data"]["events"]["items"]]


def same_moment(exported: str, queried: str) -> bool:
    return datetime.fromisoformat(exported) == datetime.fromisoformat(queried)


def from_csv(text: str) -> list[dict[str, Any]]:
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    typed = []
    for row in rows:
        event: dict[str, Any] = dict(row)
        for name in ("duration_ms", "response_chars", "request_chars", "content_blocks",
                     "enrichment_tokens_full", "enrichment_tokens_dedup"):  # fmt: skip
            event[name] = int(event[name])
        for name in ("success", "enrichment_applied", "authorized"):
            assert event[name] in ("true", "false")
            event[name] = event[name] == "true"
        event["parameters"] = json.loads(event["parameters"]) if event["parameters"] else None
        typed.append(event)
    return typed


def assert_equal_events(exported: list[dict[str, Any]], queried: list[dict[str, Any]]) -> None:
    assert [e["id"] for e in exported] == [e["id"] for e in queried]
    for mine, theirs in zip(exported, queried, strict=True):
        assert mine.keys() == theirs.keys() - {"cursor"} or mine.keys() == theirs.keys()
        assert same_moment(mine["timestamp"], theirs["timestamp"])
        assert mine["timestamp"].endswith("Z")
        assert {k: v for k, v in mine.items() if k != "timestamp"} == {
            k: v for k, v in theirs.items() if k != "timestamp"
        }


FILTERS: list[dict[str, Any]] = [
    {},
    {"userId": "alice"},
    {"success": False, "startTime": (NOW - timedelta(hours=20)).isoformat()},
    {"search": 'say "hi"'},
    {"ids": ["x01", "x05", "legacy"]},
]


def query_string(flt: dict[str, Any]) -> list[tuple[str, str]]:
    params: list[tuple[str, str]] = []
    for name, value in flt.items():
        values = value if isinstance(value, list) else [value]
        for one in values:
            text = str(one).lower() if isinstance(one, bool) else str(one)
            params.append((snake(name), text))
    return params


@pytest.mark.parametrize("flt", FILTERS)
async def test_csv_reads_back_as_the_events_query(
    http: httpx.AsyncClient, logged: None, flt: dict[str, Any]
) -> None:
    response = await http.get("/export/events", params=query_string(flt))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith('attachment; filename="audit-events-')
    header = response.text.split("\r\n" if "\r\n" in response.text[:400] else "\n", 1)[0]
    assert header.split(",")[:3] == ["id", "timestamp", "duration_ms"]
    exported = from_csv(response.text)
    expected = await expected_events(http, {"startTime": "2000-01-01T00:00:00Z", **flt})
    assert expected, "the filter selects events"
    assert_equal_events(exported, [{k: v for k, v in e.items() if k != "cursor"} for e in expected])


@pytest.mark.parametrize("flt", FILTERS)
async def test_ndjson_reads_back_as_the_events_query(
    http: httpx.AsyncClient, logged: None, flt: dict[str, Any]
) -> None:
    params = [*query_string(flt), ("format", "ndjson")]
    response = await http.get("/export/events", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    assert response.text.endswith("\n")
    exported = [json.loads(line) for line in response.text.splitlines()]
    expected = await expected_events(http, {"startTime": "2000-01-01T00:00:00Z", **flt})
    assert_equal_events(exported, [{k: v for k, v in e.items() if k != "cursor"} for e in expected])


async def test_the_file_name_names_the_range(http: httpx.AsyncClient, logged: None) -> None:
    params = {"start_time": "2026-03-14T00:00:00Z", "end_time": "2026-03-15T06:30:00+02:00",
              "format": "ndjson"}  # fmt: skip
    response = await http.get("/export/events", params=params)
    assert response.headers["content-disposition"] == (
        'attachment; filename="audit-events-20260314T000000Z-20260315T043000Z.ndjson"'
    )
    everything = await http.get("/export/events")
    assert everything.headers["content-disposition"] == (
        'attachment; filename="audit-events-beginning-now.csv"'
    )


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"colour": "red"}, "colour"),
        ({"start_time": "yesterday"}, "start_time"),
        ({"format": "xml"}, "format"),
        ({"success": "maybe"}, "success"),
        ({"start_time": "2026-03-15T00:00:00Z", "start_time ": "x"}, "start_time "),
        ({"start_time": "2026-03-15T00:00:00Z", "end_time": "2026-03-14T00:00:00Z"}, None),
        ({"user_id": "nul\x00"}, None),
    ],
)
async def test_a_bad_parameter_is_a_400_naming_it(
    http: httpx.AsyncClient, logged: None, params: dict[str, str], named: str | None
) -> None:
    response = await http.get("/export/events", params=params)
    assert response.status_code == 400, response.text
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    if named is not None:
        assert error["extensions"]["parameter"] == named
        assert named in error["message"]
    assert_safe(response.text)


async def test_an_export_needs_the_read_scope(store: Store, logged: None) -> None:
    tokens = {"reader": frozenset({"read"}), "writer": frozenset({"write"})}
    async with app_client(store, tokens=tokens) as http:
        assert (await http.get("/export/events")).status_code == 401
        wrong = await http.get("/export/events", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        writer = await http.get("/export/events", headers={"Authorization": "Bearer writer"})
        assert writer.status_code == 403
        assert writer.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        reader = await http.get("/export/events", headers={"X-API-Key": "reader"})
        assert reader.status_code == 200
        assert len(from_csv(reader.text)) == 19
