"""Every cost limit: a request just over it is refused with BAD_USER_INPUT (413 for the body),
one at it passes.

Document limits (depth, aliases, tokens, root fields, body size) are set small
through Settings, so each test states its own numbers; the data limits (batch
size, page size, offset, timeseries buckets) are the contract's own (SPEC 3, 4).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from graphql import get_introspection_query
from graphql_client import app_client, assert_safe, data_of, error_of

from graph.store import Store


def row_count(db: psycopg.Connection) -> int:
    row = db.execute("SELECT count(*) FROM audit_logs").fetchone()
    assert row is not None
    return int(row[0])


async def bad_input(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None
) -> str:
    """The message of a request refused as bad input."""
    error = await error_of(client, query, variables)
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    return str(error["message"])


# --- limits on the document -------------------------------------------------------------


async def test_depth(store: Store) -> None:
    # Root fields are depth 0: overview { totalCalls } is 1, events { items { id } } is 2.
    async with app_client(store, max_query_depth=1) as client:
        await data_of(client, "{ overview { totalCalls } }")
        message = await bad_input(client, "{ events { items { id } } }")
        assert "exceeds maximum operation depth of 1" in message
        # Depth through a fragment counts the same.
        message = await bad_input(
            client, "{ events { ...page } } fragment page on EventPage { items { id } }"
        )
        assert "depth" in message


async def test_default_depth_leaves_room_for_graphiql_introspection(
    client: httpx.AsyncClient,
) -> None:
    data = await data_of(client, get_introspection_query(descriptions=True))
    assert data["__schema"]["queryType"]["name"] == "Query"


async def test_aliases(store: Store) -> None:
    async with app_client(store, max_aliases=2) as client:
        await data_of(client, "{ a: overview { totalCalls } b: overview { totalCalls } }")
        await data_of(client, "{ a: overview { x: totalCalls } }")
        message = await bad_input(
            client, "{ a: overview { totalCalls } b: overview { totalCalls } c: eventCount }"
        )
        assert message == "3 aliases found. Allowed: 2"
        # Aliases on nested fields count too.
        message = await bad_input(client, "{ a: overview { x: totalCalls y: errorCount } }")
        assert message == "3 aliases found. Allowed: 2"


async def test_tokens_per_document(store: Store) -> None:
    # { overview { totalCalls } } is six tokens: { overview { totalCalls } }
    async with app_client(store, max_tokens=6) as client:
        await data_of(client, "{ overview { totalCalls } }")
        # Whitespace and commas are not tokens.
        await data_of(client, "\n{ overview  , { totalCalls } ,}\n")
        message = await bad_input(client, "{ overview { totalCalls errorCount } }")
        assert "more than 6 tokens" in message


async def test_root_fields_per_request(store: Store) -> None:
    async with app_client(store, max_root_fields=3) as client:
        await data_of(client, "{ overview { totalCalls } performance { p50Ms } eventCount }")
        message = await bad_input(
            client,
            "{ overview { totalCalls } performance { p50Ms } eventCount "
            "discovery { totalSessions } }",
        )
        assert message == (
            "This operation asks for 4 root fields; the limit is 3. Split it into several requests."
        )
        # Fragments and __typename: fragments count what they select, introspection is free.
        message = await bad_input(
            client,
            "{ __typename ...a ...b } fragment a on Query { overview { totalCalls } eventCount } "
            "fragment b on Query { performance { p50Ms } discovery { totalSessions } }",
        )
        assert "4 root fields" in message
        await data_of(
            client, "{ __typename ...a } fragment a on Query { eventCount overview { totalCalls } }"
        )


async def test_request_body_size(store: Store) -> None:
    limit = 2048
    async with app_client(store, max_body_bytes=limit) as client:

        def body_of(size: int) -> bytes:
            base = json.dumps({"query": "{ eventCount }"})
            # Spaces inside the query string: the document stays one field.
            padded = json.dumps({"query": "{ eventCount }" + " " * (size - len(base))})
            assert len(padded) == size
            return padded.encode()

        at_limit = await client.post(
            "/graphql", content=body_of(limit), headers={"content-type": "application/json"}
        )
        assert at_limit.status_code == 200, at_limit.text
        assert at_limit.json() == {"data": {"eventCount": 0}}
        over = await client.post(
            "/graphql", content=body_of(limit + 1), headers={"content-type": "application/json"}
        )
        assert over.status_code == 413
        assert_safe(over.text)


async def test_body_without_content_length_is_limited_too(store: Store) -> None:
    limit = 2048

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"query": "{ eventCount }'
        for _ in range(10):
            yield b" " * 500
        yield b'"}'

    async with app_client(store, max_body_bytes=limit) as client:
        response = await client.post(
            "/graphql", content=chunks(), headers={"content-type": "application/json"}
        )
        assert response.status_code == 413


# --- limits on the data ------------------------------------------------------------------

LOG_EVENTS = "mutation($es: [AuditEventInput!]!) { logEvents(inputs: $es) { accepted ids } }"


def batch(size: int) -> list[dict[str, Any]]:
    return [{"id": f"b{i}", "toolName": "t", "success": True} for i in range(size)]


async def test_batch_of_1000_is_accepted(client: httpx.AsyncClient, db: psycopg.Connection) -> None:
    data = await data_of(client, LOG_EVENTS, {"es": batch(1000)})
    assert data["logEvents"]["accepted"] == 1000
    assert data["logEvents"]["ids"] == [f"b{i}" for i in range(1000)]
    assert row_count(db) == 1000


async def test_batch_of_1001_is_refused_whole(
    client: httpx.AsyncClient, db: psycopg.Connection
) -> None:
    message = await bad_input(client, LOG_EVENTS, {"es": batch(1001)})
    assert "1001" in message and "1000" in message and "Split" in message
    assert row_count(db) == 0


async def test_empty_batch_is_refused(client: httpx.AsyncClient) -> None:
    message = await bad_input(client, LOG_EVENTS, {"es": []})
    assert "empty" in message


PAGE = (
    "query($limit: Int, $offset: Int) { events(limit: $limit, offset: $offset) { items { id } } }"
)


@pytest.mark.parametrize(("limit", "offset"), [(1, 0), (1000, 0), (50, 100_000)])
async def test_page_within_limits(client: httpx.AsyncClient, limit: int, offset: int) -> None:
    data = await data_of(client, PAGE, {"limit": limit, "offset": offset})
    assert data == {"events": {"items": []}}


@pytest.mark.parametrize(
    ("limit", "offset", "expected"),
    [
        (1001, 0, "limit must be between 1 and 1000; got 1001."),
        (0, 0, "limit must be between 1 and 1000; got 0."),
        (-1, 0, "limit must be between 1 and 1000; got -1."),
        (50, 100_001, "offset must be between 0 and 100000; got 100001."),
        (50, -1, "offset must be between 0 and 100000; got -1."),
    ],
)
async def test_page_over_limits(
    client: httpx.AsyncClient, limit: int, offset: int, expected: str
) -> None:
    message = await bad_input(client, PAGE, {"limit": limit, "offset": offset})
    assert message.startswith(expected)


async def test_deep_offset_message_points_to_the_cursor(client: httpx.AsyncClient) -> None:
    message = await bad_input(client, PAGE, {"limit": 10, "offset": 100_001})
    assert "endCursor" in message


async def test_page_size_outside_32_bits_is_bad_input(client: httpx.AsyncClient) -> None:
    await bad_input(client, PAGE, {"limit": 2**31, "offset": 0})
    await bad_input(client, "{ events(offset: 99999999999) { items { id } } }")


SERIES = """query($r: Resolution!, $f: MetricsFilter) {
  timeseries(resolution: $r, filter: $f) { bucket count }
}"""
START = datetime(2026, 3, 1, tzinfo=UTC)
STEPS = {"MINUTE": timedelta(minutes=1), "HOUR": timedelta(hours=1), "DAY": timedelta(days=1)}


def window(resolution: str, buckets: int) -> dict[str, str]:
    """A window whose first and last buckets are `buckets - 1` steps apart."""
    end = START + STEPS[resolution] * (buckets - 1)
    return {"startTime": START.isoformat(), "endTime": end.isoformat()}


async def test_timeseries_of_10000_buckets_passes(client: httpx.AsyncClient) -> None:
    data = await data_of(client, SERIES, {"r": "MINUTE", "f": window("MINUTE", 10_000)})
    buckets = data["timeseries"]
    assert len(buckets) == 10_000
    assert buckets[0]["bucket"] == "2026-03-01T00:00:00+00:00"
    assert buckets[-1]["bucket"] == "2026-03-07T22:39:00+00:00"  # 9999 minutes later


@pytest.mark.parametrize(
    ("resolution", "advice"),
    [("MINUTE", "coarser resolution (HOUR or DAY)"), ("HOUR", "coarser resolution (DAY)"),
     ("DAY", "narrow the time window")],
)  # fmt: skip
async def test_timeseries_of_10001_buckets_is_refused(
    client: httpx.AsyncClient, resolution: str, advice: str
) -> None:
    message = await bad_input(client, SERIES, {"r": resolution, "f": window(resolution, 10_001)})
    assert "10001" in message and "10000" in message
    assert advice in message


async def test_timeseries_counts_buckets_by_truncation(client: httpx.AsyncClient) -> None:
    """A window of 9999 minutes and 2 seconds that straddles minute edges has 10,001 buckets."""
    flt = {"startTime": "2026-03-01T00:00:59Z", "endTime": "2026-03-07T22:40:01Z"}
    await bad_input(client, SERIES, {"r": "MINUTE", "f": flt})
