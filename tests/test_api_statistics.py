"""The statistics queries: timeseries, breakdown, overview, performance, enrichment, discovery."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from api_client import Api, gql, insert
from api_dataset import BUCKET, DISCOVERY, ENRICHMENT, ENTRY, OVERVIEW, PERFORMANCE, at, entry, row

# --- timeseries --------------------------------------------------------------------


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
    # 10:05; s3: api only; s4: trino only. e6 has no session: it is in no session
    # statistic, but its datahub call counts in topDiscoveryTools (SPEC 3).
    assert data["day"] == {
        "totalSessions": 4,
        "discoverySessions": 2,
        "querySessions": 3,
        "discoveryBeforeQuery": 1,
        "discoveryRate": pytest.approx(0.5),
        "queryWithoutDiscovery": 1,
        "topDiscoveryTools": [
            entry("search_datasets", 2, 1.0, 50),  # s1's (100 ms) and e6 (0 ms)
            entry("get_schema", 1, 1.0, 400),
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
