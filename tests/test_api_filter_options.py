"""The distinctValues, userLabels and filterOptions queries: the lists a filter UI offers."""

from __future__ import annotations

import psycopg
import pytest
from api_client import Api, gql, insert
from api_dataset import at, row


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
