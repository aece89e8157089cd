"""The data set of the API query tests, and the GraphQL selections several of them share.

Eight events (seven in the default 24-hour window, which ends at the
FakeClock's 2026-03-15T12:00Z, and one five days earlier), written directly
with `db` by the `seeded` fixture (conftest.py) so NULL columns of older rows
are covered too:

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

from datetime import UTC, datetime
from typing import Any

import pytest
from api_client import Api, gql


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
        "purpose": "",
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


def ids(page: dict[str, Any]) -> list[str]:
    return [item["id"] for item in page["items"]]


# --- selections of the statistics, and an expected breakdown entry ----------------

ENTRY = "dimension count successRate avgDurationMs"
BUCKET = "bucket count successCount errorCount avgDurationMs"
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


def entry(dimension: str, count: int, success_rate: float, avg: float) -> dict[str, Any]:
    return {
        "dimension": dimension,
        "count": count,
        "successRate": pytest.approx(success_rate),
        "avgDurationMs": pytest.approx(avg),
    }


async def walk_pages(
    api: Api, sort_by: str, order: str, limit: int, flt: str = "{}", most: int = len(EVENTS)
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
        assert len(pages) <= most, "paging does not end"
        after = page["endCursor"]
