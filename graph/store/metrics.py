"""SQL for the statistics: timeseries, breakdown, overview, performance, enrichment, discovery.

Each function takes an open async connection and a resolved, validated window;
one statement per statistic (two for discovery), NULLs folded to zero so an
empty window answers with zeros.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection, sql
from psycopg.rows import class_row

from .events import Conditions
from .models import (
    BreakdownEntry,
    Dimension,
    DiscoveryStats,
    EnrichmentStats,
    Overview,
    PerformanceStats,
    Resolution,
    TimeseriesBucket,
    Window,
)
from .validation import BUCKET_STEP, bucket_floor


def scope(
    window: Window, user_id: str = "", event_kind: str = "", tool_name: str = ""
) -> Conditions:
    where = Conditions()
    where.time_range(window.start, window.end)
    for column, value in (
        ("user_id", user_id),
        ("event_kind", event_kind),
        ("tool_name", tool_name),
    ):
        if value:
            where.equals(column, value)
    return where


async def fetch_one(conn: AsyncConnection, row_type: type, query: sql.Composable, params: Any):
    cur = conn.cursor(row_factory=class_row(row_type))
    await cur.execute(query, params)
    row = await cur.fetchone()
    assert row is not None, "aggregates without GROUP BY always return one row"
    return row


async def timeseries(
    conn: AsyncConnection, window: Window, resolution: Resolution, where: Conditions
) -> list[TimeseriesBucket]:
    # The session runs in UTC (see pool.configure), so generate_series steps
    # and date_trunc both work on UTC calendar boundaries.
    query = sql.SQL("""
        WITH counts AS (
            SELECT date_trunc(%(unit)s, timestamp) AS bucket,
                   count(*) AS count,
                   count(*) FILTER (WHERE success) AS success_count,
                   avg(duration_ms) AS avg_duration_ms
            FROM audit_logs {where}
            GROUP BY 1
        )
        SELECT b.bucket,
               COALESCE(c.count, 0) AS count,
               COALESCE(c.success_count, 0) AS success_count,
               COALESCE(c.count - c.success_count, 0) AS error_count,
               COALESCE(c.avg_duration_ms, 0)::float8 AS avg_duration_ms
        FROM generate_series(%(first)s::timestamptz, %(last)s::timestamptz, %(step)s) AS b(bucket)
        LEFT JOIN counts c USING (bucket)
        ORDER BY b.bucket
    """).format(where=where.sql())
    params = {
        **where.params,
        "unit": resolution.value,
        "first": bucket_floor(window.start, resolution),
        "last": bucket_floor(window.end, resolution),
        "step": BUCKET_STEP[resolution],
    }
    cur = conn.cursor(row_factory=class_row(TimeseriesBucket))
    await cur.execute(query, params)
    return await cur.fetchall()


async def breakdown(
    conn: AsyncConnection, dimension: Dimension, limit: int, where: Conditions
) -> list[BreakdownEntry]:
    column = sql.Identifier(dimension.value)
    if dimension is Dimension.USER_ID:
        # Groups stay per user_id; the label is the user's email when there is one.
        label = sql.SQL("COALESCE(max(NULLIF(user_email, '')), {})").format(column)
    else:
        label = column
    query = sql.SQL("""
        SELECT {label} AS dimension,
               count(*) AS count,
               avg(success::int)::float8 AS success_rate,
               COALESCE(avg(duration_ms), 0)::float8 AS avg_duration_ms
        FROM (SELECT COALESCE({column}, '') AS {column}, user_email, success, duration_ms
              FROM audit_logs {where}) AS scoped
        GROUP BY {column}
        ORDER BY count(*) DESC, {label} COLLATE "C" ASC
        LIMIT %(limit)s
    """).format(label=label, column=column, where=where.sql())
    cur = conn.cursor(row_factory=class_row(BreakdownEntry))
    await cur.execute(query, {**where.params, "limit": limit})
    return await cur.fetchall()


async def overview(conn: AsyncConnection, where: Conditions) -> Overview:
    query = sql.SQL("""
        SELECT count(*) AS total_calls,
               COALESCE(avg(success::int), 0)::float8 AS success_rate,
               COALESCE(avg(duration_ms), 0)::float8 AS avg_duration_ms,
               count(DISTINCT NULLIF(user_id, '')) AS unique_users,
               count(DISTINCT NULLIF(tool_name, '')) AS unique_tools,
               COALESCE(avg(COALESCE(enrichment_applied, false)::int), 0)::float8
                   AS enrichment_rate,
               count(*) FILTER (WHERE NOT success) AS error_count
        FROM audit_logs {where}
    """).format(where=where.sql())
    return await fetch_one(conn, Overview, query, where.params)


async def performance(conn: AsyncConnection, where: Conditions) -> PerformanceStats:
    query = sql.SQL("""
        SELECT COALESCE(p[1], 0) AS p50_ms, COALESCE(p[2], 0) AS p95_ms,
               COALESCE(p[3], 0) AS p99_ms, avg_ms, max_ms,
               avg_response_chars, avg_request_chars
        FROM (
            SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99])
                       WITHIN GROUP (ORDER BY duration_ms) AS p,
                   COALESCE(avg(duration_ms), 0)::float8 AS avg_ms,
                   COALESCE(max(duration_ms), 0)::float8 AS max_ms,
                   COALESCE(avg(response_chars), 0)::float8 AS avg_response_chars,
                   COALESCE(avg(request_chars), 0)::float8 AS avg_request_chars
            FROM audit_logs {where}
        ) AS stats
    """).format(where=where.sql())
    return await fetch_one(conn, PerformanceStats, query, where.params)


async def enrichment(conn: AsyncConnection, where: Conditions) -> EnrichmentStats:
    query = sql.SQL("""
        SELECT total_calls, enriched_calls,
               CASE WHEN total_calls = 0 THEN 0
                    ELSE enriched_calls::float8 / total_calls END AS enrichment_rate,
               full_count, summary_count, reference_count, none_count,
               total_tokens_full, total_tokens_dedup,
               total_tokens_full - total_tokens_dedup AS tokens_saved,
               avg_tokens_full, avg_tokens_dedup, unique_sessions
        FROM (
            SELECT count(*) AS total_calls,
                   count(*) FILTER (WHERE enrichment_applied) AS enriched_calls,
                   count(*) FILTER (WHERE enrichment_mode = 'full') AS full_count,
                   count(*) FILTER (WHERE enrichment_mode = 'summary') AS summary_count,
                   count(*) FILTER (WHERE enrichment_mode = 'reference') AS reference_count,
                   count(*) FILTER (WHERE enrichment_mode = 'none') AS none_count,
                   COALESCE(sum(enrichment_tokens_full), 0)::int8 AS total_tokens_full,
                   COALESCE(sum(enrichment_tokens_dedup), 0)::int8 AS total_tokens_dedup,
                   -- averages over the calls that spent tokens at all
                   COALESCE(avg(NULLIF(enrichment_tokens_full, 0)), 0)::float8 AS avg_tokens_full,
                   COALESCE(avg(NULLIF(enrichment_tokens_dedup, 0)), 0)::float8
                       AS avg_tokens_dedup,
                   count(DISTINCT NULLIF(session_id, '')) AS unique_sessions
            FROM audit_logs {where}
        ) AS totals
    """).format(where=where.sql())
    return await fetch_one(conn, EnrichmentStats, query, where.params)


async def discovery(
    conn: AsyncConnection, where: Conditions, discovery_kind: str, query_kind: str
) -> DiscoveryStats:
    where.add("session_id <> ''")
    params = {**where.params, "discovery_kind": discovery_kind, "query_kind": query_kind}
    sessions_query = sql.SQL("""
        WITH sessions AS (
            SELECT min(timestamp) FILTER (WHERE toolkit_kind = %(discovery_kind)s)
                       AS first_discovery,
                   min(timestamp) FILTER (WHERE toolkit_kind = %(query_kind)s) AS first_query
            FROM audit_logs {where}
            GROUP BY session_id
        )
        SELECT count(*) AS total_sessions,
               count(first_discovery) AS discovery_sessions,
               count(first_query) AS query_sessions,
               count(*) FILTER (WHERE first_discovery < first_query) AS discovery_before_query,
               count(*) FILTER (WHERE first_query IS NOT NULL AND first_discovery IS NULL)
                   AS query_without_discovery
        FROM sessions
    """).format(where=where.sql())
    cur = await conn.execute(sessions_query, params)
    total, discovering, querying, before, without = await cur.fetchone()  # type: ignore[misc]
    where.add("toolkit_kind = %(discovery_kind)s", discovery_kind=discovery_kind)
    top_tools = await breakdown(conn, Dimension.TOOL_NAME, 10, where)
    return DiscoveryStats(
        total_sessions=total,
        discovery_sessions=discovering,
        query_sessions=querying,
        discovery_before_query=before,
        discovery_rate=discovering / total if total else 0.0,
        query_without_discovery=without,
        top_discovery_tools=top_tools,
    )
