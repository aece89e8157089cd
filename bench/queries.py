"""What each statistics case sends: the GraphQL document, and the floor SQL beside it.

The floor is the straightforward SQL for the same statistic over the same
rows, the way the original Go store would ask it: one aggregate over
`timestamp BETWEEN %(start)s AND %(end)s`, percentile_cont for latencies,
GROUP BY for breakdowns and buckets, a sessions CTE for discovery. It does
not zero-fill buckets, prune partitions by created_date, or label users in
SQL: that is work the API does on top, and what the ratio prices.

`agree` compares the API's answer with the floor's rows on the numbers both
must share, so a fast wrong answer cannot pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Rows = list[tuple[Any, ...]]
Agreement = Callable[[dict[str, Any], list[Rows]], str | None]

FILTER = "filter: {startTime: $start, endTime: $end}"
VARS = "$start: DateTime, $end: DateTime"
WINDOW = "timestamp BETWEEN %(start)s AND %(end)s"

OVERVIEW_FIELDS = (
    "totalCalls successRate avgDurationMs uniqueUsers uniqueTools enrichmentRate errorCount"
)
TIMESERIES_FIELDS = "bucket count successCount errorCount avgDurationMs"
BREAKDOWN_FIELDS = "dimension count successRate avgDurationMs"

OVERVIEW_SQL = f"""
SELECT count(*), avg(success::int), avg(duration_ms),
       count(DISTINCT user_id), count(DISTINCT tool_name),
       avg(enrichment_applied::int), count(*) FILTER (WHERE NOT success)
FROM audit_logs WHERE {WINDOW}
"""
PERFORMANCE_SQL = f"""
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms),
       percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_ms),
       avg(duration_ms), max(duration_ms), avg(response_chars), avg(request_chars)
FROM audit_logs WHERE {WINDOW}
"""
ENRICHMENT_SQL = f"""
SELECT count(*), count(*) FILTER (WHERE enrichment_applied),
       count(*) FILTER (WHERE enrichment_mode = 'full'),
       count(*) FILTER (WHERE enrichment_mode = 'summary'),
       count(*) FILTER (WHERE enrichment_mode = 'reference'),
       count(*) FILTER (WHERE enrichment_mode = 'none'),
       sum(enrichment_tokens_full), sum(enrichment_tokens_dedup),
       avg(NULLIF(enrichment_tokens_full, 0)), avg(NULLIF(enrichment_tokens_dedup, 0)),
       count(DISTINCT session_id)
FROM audit_logs WHERE {WINDOW}
"""
DISCOVERY_SESSIONS_SQL = f"""
WITH sessions AS (
    SELECT session_id,
           min(timestamp) FILTER (WHERE toolkit_kind = 'datahub') AS first_discovery,
           min(timestamp) FILTER (WHERE toolkit_kind = 'trino') AS first_query
    FROM audit_logs WHERE {WINDOW} AND session_id <> ''
    GROUP BY session_id
)
SELECT count(*), count(first_discovery), count(first_query),
       count(*) FILTER (WHERE first_discovery < first_query),
       count(*) FILTER (WHERE first_query IS NOT NULL AND first_discovery IS NULL)
FROM sessions
"""
DISCOVERY_TOOLS_SQL = f"""
SELECT tool_name, count(*), avg(success::int), avg(duration_ms)
FROM audit_logs WHERE {WINDOW} AND session_id <> '' AND toolkit_kind = 'datahub'
GROUP BY tool_name ORDER BY count(*) DESC, tool_name LIMIT 10
"""


def timeseries_sql(unit: str) -> str:
    return f"""
SELECT date_trunc('{unit}', timestamp), count(*), count(*) FILTER (WHERE success),
       count(*) FILTER (WHERE NOT success), avg(duration_ms)
FROM audit_logs WHERE {WINDOW}
GROUP BY 1 ORDER BY 1
"""


def breakdown_sql(column: str) -> str:
    return f"""
SELECT {column}, count(*), avg(success::int), avg(duration_ms)
FROM audit_logs WHERE {WINDOW}
GROUP BY {column} ORDER BY count(*) DESC, {column} LIMIT 10
"""


TIMESERIES_SQL = timeseries_sql("hour")
BREAKDOWN_TOOL_SQL = breakdown_sql("tool_name")
BREAKDOWN_USER_SQL = f"""
SELECT user_id, max(user_email), count(*), avg(success::int), avg(duration_ms)
FROM audit_logs WHERE {WINDOW}
GROUP BY user_id ORDER BY count(*) DESC, user_id LIMIT 10
"""
# Every BreakdownDimension of the schema, and the column it groups.
DIMENSIONS = ("TOOL_NAME", "USER_ID", "PERSONA", "TOOLKIT_KIND", "CONNECTION", "SOURCE",
              "EVENT_KIND")  # fmt: skip


@dataclass(frozen=True)
class StatisticCase:
    """One statistic as a GraphQL request and as floor SQL (run one after another).

    target: issue #6's ceiling, at any size; at_scale: issue #14's, which
    applies from `SCALE_EVENTS` seeded events on (the 10M run).
    """

    name: str
    graphql: str
    floor: tuple[str, ...]
    agree: Agreement
    target: float
    at_scale: float
    days: int = 7


SCALE_EVENTS = 10_000_000
# The windows every statistic is measured over, in days before the newest event.
WINDOW_DAYS = (7, 30)


def close(a: float, b: float) -> bool:
    return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-6)


def differs(what: str, api: Any, floor: Any) -> str:
    return f"{what}: API {api!r} vs floor {floor!r}"


def agree_overview(data: dict[str, Any], rows: list[Rows]) -> str | None:
    api, (total, _, avg_ms, *_, errors) = data["overview"], rows[0][0]
    if api["totalCalls"] != total:
        return differs("totalCalls", api["totalCalls"], total)
    if api["errorCount"] != errors:
        return differs("errorCount", api["errorCount"], errors)
    if not close(api["avgDurationMs"], avg_ms or 0):
        return differs("avgDurationMs", api["avgDurationMs"], avg_ms)
    return None


def agree_performance(data: dict[str, Any], rows: list[Rows]) -> str | None:
    api, row = data["performance"], rows[0][0]
    for name, value in zip(("p50Ms", "p95Ms", "p99Ms", "avgMs", "maxMs"), row, strict=False):
        if not close(api[name], value or 0):
            return differs(name, api[name], value)
    return None


def agree_enrichment(data: dict[str, Any], rows: list[Rows]) -> str | None:
    api, row = data["enrichment"], rows[0][0]
    names = ("totalCalls", "enrichedCalls", "fullCount", "summaryCount", "referenceCount")
    for name, value in zip(names, row, strict=False):
        if api[name] != value:
            return differs(name, api[name], value)
    return None


def agree_discovery(data: dict[str, Any], rows: list[Rows]) -> str | None:
    api, row = data["discovery"], rows[0][0]
    names = ("totalSessions", "discoverySessions", "querySessions", "discoveryBeforeQuery")
    for name, value in zip(names, row, strict=False):
        if api[name] != value:
            return differs(name, api[name], value)
    tools = [entry["count"] for entry in api["topDiscoveryTools"]]
    floor_tools = [count for _, count, *_ in rows[1]]
    return None if tools == floor_tools else differs("topDiscoveryTools counts", tools, floor_tools)


def agree_timeseries(data: dict[str, Any], rows: list[Rows]) -> str | None:
    buckets = [b for b in data["timeseries"] if b["count"]]
    if len(buckets) != len(rows[0]):
        return differs("non-empty buckets", len(buckets), len(rows[0]))
    for bucket, (_, count, successes, *_) in zip(buckets, rows[0], strict=True):
        if (bucket["count"], bucket["successCount"]) != (count, successes):
            return differs(f"bucket {bucket['bucket']}", bucket, (count, successes))
    return None


def agree_breakdown(key: str, count_column: int | None = None) -> Agreement:
    """Counts in order; labels may differ (the API labels users by email) and ties may swap."""
    if count_column is None:
        count_column = 2 if key == "byUser" else 1

    def agree(data: dict[str, Any], rows: list[Rows]) -> str | None:
        api = [entry["count"] for entry in data[key]]
        floor = [row[count_column] for row in rows[0]]
        return None if api == floor else differs(f"{key} counts", api, floor)

    return agree


def agree_dashboard(data: dict[str, Any], rows: list[Rows]) -> str | None:
    return (
        agree_overview(data, rows[0:1])
        or agree_timeseries(data, rows[1:2])
        or agree_breakdown("byTool")(data, rows[2:3])
        or agree_breakdown("byUser")(data, rows[3:4])
    )


DASHBOARD = f"""query Dashboard({VARS}) {{
  overview({FILTER}) {{ {OVERVIEW_FIELDS} }}
  timeseries(resolution: HOUR, {FILTER}) {{ {TIMESERIES_FIELDS} }}
  byTool: breakdown(groupBy: TOOL_NAME, {FILTER}) {{ {BREAKDOWN_FIELDS} }}
  byUser: breakdown(groupBy: USER_ID, {FILTER}) {{ {BREAKDOWN_FIELDS} }}
}}"""
DASHBOARD_FLOOR = (OVERVIEW_SQL, TIMESERIES_SQL, BREAKDOWN_TOOL_SQL, BREAKDOWN_USER_SQL)


def statistics(days: int) -> list[StatisticCase]:
    """Every statistics case over a window of `days`."""
    over = f"{days} days"
    cases = [
        StatisticCase(
            f"overview, {over}",
            f"query({VARS}) {{ overview({FILTER}) {{ {OVERVIEW_FIELDS} }} }}",
            (OVERVIEW_SQL,),
            agree_overview,
            1.0,
            0.05,
            days=days,
        ),
        StatisticCase(
            f"performance, {over}",
            f"query({VARS}) {{ performance({FILTER}) {{ p50Ms p95Ms p99Ms avgMs maxMs "
            "avgResponseChars avgRequestChars } }",
            (PERFORMANCE_SQL,),
            agree_performance,
            1.0,
            0.25,
            days=days,
        ),
        StatisticCase(
            f"enrichment, {over}",
            f"query({VARS}) {{ enrichment({FILTER}) {{ totalCalls enrichedCalls enrichmentRate "
            "fullCount summaryCount referenceCount noneCount totalTokensFull totalTokensDedup "
            "tokensSaved avgTokensFull avgTokensDedup uniqueSessions } }",
            (ENRICHMENT_SQL,),
            agree_enrichment,
            1.0,
            0.25,
            days=days,
        ),
        StatisticCase(
            f"discovery, {over}",
            f"query({VARS}) {{ discovery({FILTER}) {{ totalSessions discoverySessions "
            "querySessions discoveryBeforeQuery discoveryRate queryWithoutDiscovery "
            f"topDiscoveryTools {{ {BREAKDOWN_FIELDS} }} }} }}",
            (DISCOVERY_SESSIONS_SQL, DISCOVERY_TOOLS_SQL),
            agree_discovery,
            1.0,
            0.25,
            days=days,
        ),
    ]
    for resolution in ("HOUR", "DAY"):
        cases.append(
            StatisticCase(
                f"timeseries ({resolution.lower()}), {over}",
                f"query({VARS}) {{ timeseries(resolution: {resolution}, {FILTER}) "
                f"{{ {TIMESERIES_FIELDS} }} }}",
                (timeseries_sql(resolution.lower()),),
                agree_timeseries,
                1.0,
                0.05,
                days=days,
            )
        )
    for dimension in DIMENSIONS:
        by_user = dimension == "USER_ID"
        cases.append(
            StatisticCase(
                f"breakdown ({dimension.lower()}), {over}",
                f"query({VARS}) {{ breakdown(groupBy: {dimension}, {FILTER}) "
                f"{{ {BREAKDOWN_FIELDS} }} }}",
                (BREAKDOWN_USER_SQL if by_user else breakdown_sql(dimension.lower()),),
                agree_breakdown("breakdown", count_column=2 if by_user else 1),
                1.0,
                0.05,
                days=days,
            )
        )
    cases.append(
        StatisticCase(
            f"dashboard: overview + timeseries + 2 breakdowns, {over}",
            DASHBOARD,
            DASHBOARD_FLOOR,
            agree_dashboard,
            0.6,
            0.05,
            days=days,
        )
    )
    return cases


STATISTICS = tuple(case for days in WINDOW_DAYS for case in statistics(days))

EVENTS_PAGE = """query($after: String, $limit: Int) {
  events(limit: $limit, after: $after) {
    items { id timestamp userId toolName toolkitKind success durationMs }
    endCursor hasNextPage
  }
}"""

SESSIONS_PAGE = """query($start: DateTime, $end: DateTime) {
  sessions(filter: {startTime: $start, endTime: $end}, first: 25) {
    items { sessionId userId callCount failureCount lastActiveAt tools discoveredBeforeQuery }
    endCursor hasNextPage
  }
}"""
TIMELINE_PAGE = """query($id: ID!) {
  session(id: $id) {
    timeline(first: 50) {
      items { id timestamp userId toolName toolkitKind success durationMs }
      endCursor hasNextPage
    }
  }
}"""
