"""SQL for the statistics: timeseries, breakdown, overview, performance, enrichment, discovery.

Each function takes an open async connection and a resolved, validated window;
one statement per statistic (two for discovery), NULLs folded to zero so an
empty window answers with zeros.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg.rows import class_row

from .conditions import Conditions
from .models import (
    BreakdownEntry,
    Dimension,
    DiscoveryStats,
    EnrichmentStats,
    Overview,
    PerformanceStats,
    Resolution,
    TimeseriesBucket,
)
from .rollups import HOUR
from .sources import Scope, parts
from .validation import BUCKET_STEP, bucket_floor


async def fetch_one(conn: AsyncConnection, row_type: type, query: sql.Composable, params: Any):
    cur = conn.cursor(row_factory=class_row(row_type))
    await cur.execute(query, params)
    row = await cur.fetchone()
    assert row is not None, "aggregates without GROUP BY always return one row"
    return row


# The width of the raw buckets a timeseries sums: an hour where a rollup may
# answer for whole hours (and DAY sums them), a minute where none can.
RAW_WIDTH = {Resolution.MINUTE: "1 minute", Resolution.HOUR: HOUR, Resolution.DAY: HOUR}


async def timeseries(
    conn: AsyncConnection, scope: Scope, resolution: Resolution, covered: datetime | None
) -> list[TimeseriesBucket]:
    # The session runs in UTC (see pool.configure), so generate_series steps
    # and date_trunc both work on UTC calendar boundaries.
    source = parts(scope, (), covered, RAW_WIDTH[resolution])
    query = sql.SQL("""
        WITH parts AS ({parts}),
        counts AS (
            SELECT date_trunc(%(unit)s, bucket) AS bucket,
                   sum(calls) AS count,
                   sum(successes) AS success_count,
                   sum(duration_sum)::float8 / NULLIF(sum(durations), 0) AS avg_duration_ms
            FROM parts
            GROUP BY 1
        )
        SELECT b.bucket,
               COALESCE(c.count, 0)::int8 AS count,
               COALESCE(c.success_count, 0)::int8 AS success_count,
               COALESCE(c.count - c.success_count, 0)::int8 AS error_count,
               COALESCE(c.avg_duration_ms, 0) AS avg_duration_ms
        FROM generate_series(%(first)s::timestamptz, %(last)s::timestamptz, %(step)s) AS b(bucket)
        LEFT JOIN counts c USING (bucket)
        ORDER BY b.bucket
    """).format(parts=source.relation)
    params = {
        **source.params,
        "unit": resolution.value,
        "first": bucket_floor(scope.window.start, resolution),
        "last": bucket_floor(scope.window.end, resolution),
        "step": BUCKET_STEP[resolution],
    }
    cur = conn.cursor(row_factory=class_row(TimeseriesBucket))
    await cur.execute(query, params)
    return await cur.fetchall()


async def breakdown(
    conn: AsyncConnection,
    dimension: Dimension,
    limit: int,
    scope: Scope,
    covered: datetime | None,
) -> list[BreakdownEntry]:
    # Groups stay per user_id; the label is the user's email when there is one.
    # Only keys with calls name a group or give it a label: a deleted row's
    # partial rows sum to nothing but are still there until compaction.
    by_user = dimension is Dimension.USER_ID
    columns = (dimension.value, "user_email") if by_user else (dimension.value,)
    source = parts(scope, columns, covered, width=None)
    group = sql.Identifier(dimension.value)
    label = sql.SQL("COALESCE(max(NULLIF(user_email, '')), {})").format(group) if by_user else group
    query = sql.SQL("""
        WITH parts AS ({parts}),
        keys AS (
            SELECT {columns}, sum(calls) AS calls, sum(successes) AS successes,
                   sum(duration_sum) AS duration_sum, sum(durations) AS durations
            FROM parts
            GROUP BY {columns}
            HAVING sum(calls) <> 0
        )
        SELECT {label} AS dimension,
               sum(calls)::int8 AS count,
               sum(successes)::float8 / sum(calls) AS success_rate,
               COALESCE(sum(duration_sum)::float8 / NULLIF(sum(durations), 0), 0)
                   AS avg_duration_ms
        FROM keys
        GROUP BY {group}
        ORDER BY sum(calls) DESC, {label} COLLATE "C" ASC
        LIMIT %(limit)s
    """).format(
        parts=source.relation,
        columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
        label=label,
        group=group,
    )
    cur = conn.cursor(row_factory=class_row(BreakdownEntry))
    await cur.execute(query, {**source.params, "limit": limit})
    return await cur.fetchall()


async def overview(conn: AsyncConnection, scope: Scope, covered: datetime | None) -> Overview:
    # Distinct users and tools are the keys with calls. The totals and the
    # tools come from one relation, the users from another when no rollup
    # holds both (they share one when raw rows answer).
    tools = parts(scope, ("tool_name",), covered, width=None)
    users = parts(scope, ("user_id",), covered, width=None)
    if tools.rollup is None or users.rollup is None:
        tools = users = parts(scope, ("user_id", "tool_name"), None, width=None)
        users_relation: sql.Composable = sql.SQL("SELECT * FROM tools")
    else:
        users_relation = users.relation
    query = sql.SQL("""
        WITH tools AS ({tools}), users AS ({users})
        SELECT COALESCE(sum(calls), 0)::int8 AS total_calls,
               COALESCE(sum(successes)::float8 / NULLIF(sum(calls), 0), 0) AS success_rate,
               COALESCE(sum(duration_sum)::float8 / NULLIF(sum(durations), 0), 0)
                   AS avg_duration_ms,
               (SELECT count(*) FROM (
                    SELECT user_id FROM users WHERE user_id <> ''
                    GROUP BY user_id HAVING sum(calls) <> 0) AS named) AS unique_users,
               (SELECT count(*) FROM (
                    SELECT tool_name FROM tools WHERE tool_name <> ''
                    GROUP BY tool_name HAVING sum(calls) <> 0) AS named) AS unique_tools,
               COALESCE(sum(enriched)::float8 / NULLIF(sum(calls), 0), 0) AS enrichment_rate,
               COALESCE(sum(calls - successes), 0)::int8 AS error_count
        FROM tools
    """).format(tools=tools.relation, users=users_relation)
    return await fetch_one(conn, Overview, query, {**tools.params, **users.params})


async def performance(conn: AsyncConnection, where: Conditions) -> PerformanceStats:
    # percentile_cont would sort every row of the window in one process.
    # Durations are integers, so a histogram (a parallel hash aggregate) holds
    # the same information; the percentiles are then read off its running
    # totals with percentile_cont's own arithmetic: position k = p * (n - 1)
    # in float8, linear interpolation between the values at floor(k) and ceil(k).
    query = sql.SQL("""
        WITH histogram AS (
            SELECT duration_ms AS value, count(*) AS calls,
                   sum(response_chars) AS response_sum, count(response_chars) AS responses,
                   sum(request_chars) AS request_sum, count(request_chars) AS requests
            FROM audit_logs {where}
            GROUP BY duration_ms
        ),
        running AS (
            SELECT value, sum(calls) OVER (ORDER BY value) AS upto
            FROM histogram WHERE value IS NOT NULL
        ),
        totals AS (
            SELECT COALESCE(sum(calls) FILTER (WHERE value IS NOT NULL), 0)::float8 AS n,
                   sum(value::int8 * calls) FILTER (WHERE value IS NOT NULL) AS duration_sum,
                   max(value) AS max_ms,
                   sum(response_sum)::float8 / NULLIF(sum(responses), 0) AS avg_response_chars,
                   sum(request_sum)::float8 / NULLIF(sum(requests), 0) AS avg_request_chars
            FROM histogram
        ),
        positions AS (
            SELECT rank, p * (n - 1) AS k
            FROM totals, unnest(ARRAY[0.5, 0.95, 0.99]::float8[]) WITH ORDINALITY AS q(p, rank)
            WHERE n > 0
        ),
        percentiles AS (
            SELECT rank, lo + (hi - lo) * (k - floor(k)) AS value
            FROM (
                SELECT rank, k,
                       (SELECT min(value) FROM running WHERE upto > floor(k))::float8 AS lo,
                       (SELECT min(value) FROM running WHERE upto > ceil(k))::float8 AS hi
                FROM positions
            ) AS neighbours
        )
        SELECT COALESCE((SELECT value FROM percentiles WHERE rank = 1), 0) AS p50_ms,
               COALESCE((SELECT value FROM percentiles WHERE rank = 2), 0) AS p95_ms,
               COALESCE((SELECT value FROM percentiles WHERE rank = 3), 0) AS p99_ms,
               COALESCE(duration_sum::float8 / NULLIF(n, 0), 0) AS avg_ms,
               COALESCE(max_ms, 0)::float8 AS max_ms,
               COALESCE(avg_response_chars, 0) AS avg_response_chars,
               COALESCE(avg_request_chars, 0) AS avg_request_chars
        FROM totals
    """).format(where=where.sql())
    return await fetch_one(conn, PerformanceStats, query, where.params)


async def enrichment(conn: AsyncConnection, where: Conditions) -> EnrichmentStats:
    # Per-session partial sums first, for the same reason as in overview.
    query = sql.SQL("""
        SELECT total_calls, enriched_calls,
               COALESCE(enriched_calls::float8 / NULLIF(total_calls, 0), 0) AS enrichment_rate,
               full_count, summary_count, reference_count, none_count,
               total_tokens_full, total_tokens_dedup,
               total_tokens_full - total_tokens_dedup AS tokens_saved,
               avg_tokens_full, avg_tokens_dedup, unique_sessions
        FROM (
            SELECT COALESCE(sum(calls), 0)::int8 AS total_calls,
                   COALESCE(sum(enriched), 0)::int8 AS enriched_calls,
                   COALESCE(sum(full_count), 0)::int8 AS full_count,
                   COALESCE(sum(summary_count), 0)::int8 AS summary_count,
                   COALESCE(sum(reference_count), 0)::int8 AS reference_count,
                   COALESCE(sum(none_count), 0)::int8 AS none_count,
                   COALESCE(sum(tokens_full), 0)::int8 AS total_tokens_full,
                   COALESCE(sum(tokens_dedup), 0)::int8 AS total_tokens_dedup,
                   -- averages over the calls that spent tokens at all
                   COALESCE(sum(tokens_full)::float8 / NULLIF(sum(spent_full), 0), 0)
                       AS avg_tokens_full,
                   COALESCE(sum(tokens_dedup)::float8 / NULLIF(sum(spent_dedup), 0), 0)
                       AS avg_tokens_dedup,
                   count(*) FILTER (WHERE session_id <> '') AS unique_sessions
            FROM (
                SELECT session_id,
                       count(*) AS calls,
                       count(*) FILTER (WHERE enrichment_applied) AS enriched,
                       count(*) FILTER (WHERE enrichment_mode = 'full') AS full_count,
                       count(*) FILTER (WHERE enrichment_mode = 'summary') AS summary_count,
                       count(*) FILTER (WHERE enrichment_mode = 'reference') AS reference_count,
                       count(*) FILTER (WHERE enrichment_mode = 'none') AS none_count,
                       sum(enrichment_tokens_full) AS tokens_full,
                       sum(enrichment_tokens_dedup) AS tokens_dedup,
                       count(NULLIF(enrichment_tokens_full, 0)) AS spent_full,
                       count(NULLIF(enrichment_tokens_dedup, 0)) AS spent_dedup
                FROM audit_logs {where}
                GROUP BY session_id
            ) AS per_session
        ) AS totals
    """).format(where=where.sql())
    return await fetch_one(conn, EnrichmentStats, query, where.params)


async def discovery(
    conn: AsyncConnection,
    scope: Scope,
    covered: datetime | None,
    discovery_kind: str,
    query_kind: str,
) -> DiscoveryStats:
    # The top tools count every discovery call, with or without a session (as
    # the Go service does); the session statistics only calls in a session.
    where = scope.conditions()
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
    discovering_scope = Scope(scope.window, {**scope.equal, "toolkit_kind": discovery_kind})
    top_tools = await breakdown(conn, Dimension.TOOL_NAME, 10, discovering_scope, covered)
    return DiscoveryStats(
        total_sessions=total,
        discovery_sessions=discovering,
        query_sessions=querying,
        discovery_before_query=before,
        discovery_rate=discovering / total if total else 0.0,
        query_without_discovery=without,
        top_discovery_tools=top_tools,
    )
