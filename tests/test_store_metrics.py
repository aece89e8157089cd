"""Store statistics on small hand-worked fixtures: one behaviour per test.

timeseries, breakdown, overview, performance, enrichment and discovery, with
the window rules of SPEC 3 (inclusive ends, 24-hour default, start after end
rejected). Every expected number is worked out by hand in the test.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
from store_helpers import NOW, at, ev

from graph.store import (
    BreakdownEntry,
    DiscoveryStats,
    EnrichmentStats,
    InvalidArgument,
    MetricsFilter,
    NewEvent,
    Overview,
    PerformanceStats,
    Store,
    TimeseriesBucket,
)

MICROSECOND = timedelta(microseconds=1)
EVERYTHING = MetricsFilter(start=datetime(2026, 1, 1, tzinfo=UTC), end=NOW)


def bucket(moment: datetime, count: int = 0, ok: int = 0, avg: float = 0.0) -> TimeseriesBucket:
    return TimeseriesBucket(moment, count, ok, count - ok, avg)


# --- timeseries --------------------------------------------------------------------------


async def test_timeseries_hour_buckets_are_zero_filled_and_ascending(store: Store) -> None:
    await store.log_many(
        [
            ev(timestamp=at(15, 8, 29, 59), duration_ms=999),  # before the window
            ev(timestamp=at(15, 9, 10), duration_ms=100),
            ev(timestamp=at(15, 9, 50), duration_ms=300, success=False),
            ev(timestamp=at(15, 11), duration_ms=50),  # exactly the window end
        ]
    )
    flt = MetricsFilter(start=at(15, 8, 30), end=at(15, 11))
    assert await store.timeseries("hour", flt) == [
        bucket(at(15, 8)),
        bucket(at(15, 9), count=2, ok=1, avg=200.0),
        bucket(at(15, 10)),
        bucket(at(15, 11), count=1, ok=1, avg=50.0),
    ]


async def test_timeseries_minute_buckets_split_at_the_minute(store: Store) -> None:
    await store.log_many(
        [
            ev(timestamp=at(15, 10, 0, 0), duration_ms=10),
            ev(timestamp=at(15, 10, 0, 59, 999999), duration_ms=20),
            ev(timestamp=at(15, 10, 1, 0), duration_ms=30, success=False),
        ]
    )
    flt = MetricsFilter(start=at(15, 10), end=at(15, 10, 2))
    assert await store.timeseries("minute", flt) == [
        bucket(at(15, 10, 0), count=2, ok=2, avg=15.0),
        bucket(at(15, 10, 1), count=1, ok=0, avg=30.0),
        bucket(at(15, 10, 2)),
    ]


async def test_timeseries_window_crossing_midnight_and_month_end(store: Store) -> None:
    feb28 = datetime(2026, 2, 28, tzinfo=UTC)
    await store.log_many(
        [
            ev(timestamp=feb28 + timedelta(hours=23, minutes=59, seconds=59, microseconds=999999)),
            ev(timestamp=at(1), duration_ms=10),
            ev(timestamp=at(1, 1, 15), duration_ms=20),
        ]
    )
    flt = MetricsFilter(start=feb28 + timedelta(hours=22, minutes=30), end=at(1, 1, 15))
    assert await store.timeseries("hour", flt) == [
        bucket(feb28 + timedelta(hours=22)),
        bucket(feb28 + timedelta(hours=23), count=1, ok=1),
        bucket(at(1, 0), count=1, ok=1, avg=10.0),
        bucket(at(1, 1), count=1, ok=1, avg=20.0),
    ]
    assert await store.timeseries("day", flt) == [
        bucket(feb28, count=1, ok=1),
        bucket(at(1), count=2, ok=2, avg=15.0),
    ]


async def test_timeseries_buckets_are_utc_truncations(store: Store) -> None:
    plus2 = timezone(timedelta(hours=2))
    # 00:30 on the 15th at +02:00 is 22:30 UTC on the 14th.
    await store.log(ev(timestamp=datetime(2026, 3, 15, 0, 30, tzinfo=plus2), duration_ms=8))
    flt = MetricsFilter(
        start=datetime(2026, 3, 15, 0, 0, tzinfo=plus2),  # 22:00 UTC on the 14th
        end=datetime(2026, 3, 15, 2, 0, tzinfo=plus2),  # 00:00 UTC on the 15th
    )
    days = await store.timeseries("day", flt)
    assert days == [bucket(at(14), count=1, ok=1, avg=8.0), bucket(at(15))]
    assert all(b.bucket.utcoffset() == timedelta(0) for b in days)
    hours = await store.timeseries("hour", flt)
    assert [b.bucket for b in hours] == [at(14, 22), at(14, 23), at(15, 0)]
    assert [b.count for b in hours] == [1, 0, 0]


async def test_timeseries_default_window_is_the_24_hours_up_to_now_inclusive(
    store: Store,
) -> None:
    await store.log_many(
        [
            ev(timestamp=NOW - timedelta(hours=24) - MICROSECOND),
            ev(timestamp=NOW - timedelta(hours=24), duration_ms=4),
            ev(timestamp=NOW, duration_ms=6),
            ev(timestamp=NOW + MICROSECOND),  # in the last bucket's hour, but after now
        ]
    )
    series = await store.timeseries("hour")
    assert len(series) == 25
    assert series[0] == bucket(at(14, 12), count=1, ok=1, avg=4.0)
    assert series[-1] == bucket(at(15, 12), count=1, ok=1, avg=6.0)
    assert sum(b.count for b in series) == 2


async def test_timeseries_start_only_ends_now(store: Store) -> None:
    series = await store.timeseries("hour", MetricsFilter(start=NOW - timedelta(hours=2)))
    assert [b.bucket for b in series] == [at(15, 10), at(15, 11), at(15, 12)]


async def test_timeseries_end_only_starts_24_hours_before_end(store: Store) -> None:
    series = await store.timeseries("hour", MetricsFilter(end=at(15, 11, 30)))
    assert series[0].bucket == at(14, 11)
    assert series[-1].bucket == at(15, 11)
    assert len(series) == 25


async def test_timeseries_filters_by_user_and_event_kind(store: Store) -> None:
    await store.log_many(
        [
            ev(user_id="alice", toolkit_kind="api", duration_ms=10),
            ev(user_id="alice", toolkit_kind="trino", duration_ms=20),
            ev(user_id="bob", toolkit_kind="api", duration_ms=40),
        ]
    )
    window = {"start": at(15, 11), "end": at(15, 11)}
    by_user = await store.timeseries("hour", MetricsFilter(**window, user_id="alice"))
    assert by_user == [bucket(at(15, 11), count=2, ok=2, avg=15.0)]
    by_kind = await store.timeseries(
        "hour", MetricsFilter(**window, event_kind="apigateway_invoke")
    )
    assert by_kind == [bucket(at(15, 11), count=2, ok=2, avg=25.0)]


async def test_timeseries_of_exactly_10000_buckets_is_allowed(store: Store) -> None:
    start = at(1)
    flt = MetricsFilter(start=start, end=start + timedelta(minutes=9999))
    series = await store.timeseries("minute", flt)
    assert len(series) == 10_000
    assert (series[0].bucket, series[-1].bucket) == (start, start + timedelta(minutes=9999))


async def test_timeseries_bucket_count_uses_truncated_ends(store: Store) -> None:
    # From 00:00:30 to 9999 minutes and 29 s later: the truncated ends are 9999 minutes apart.
    start = at(1, 0, 0, 30)
    flt = MetricsFilter(start=start, end=start + timedelta(minutes=9999, seconds=29))
    assert len(await store.timeseries("minute", flt)) == 10_000
    over = MetricsFilter(start=start, end=start + timedelta(minutes=9999, seconds=30))
    with pytest.raises(InvalidArgument, match="10001"):
        await store.timeseries("minute", over)


async def test_timeseries_of_10001_minute_buckets_suggests_a_coarser_resolution(
    store: Store,
) -> None:
    flt = MetricsFilter(start=at(1), end=at(1) + timedelta(minutes=10_000))
    with pytest.raises(InvalidArgument, match=r"coarser resolution \(HOUR or DAY\)"):
        await store.timeseries("minute", flt)


async def test_timeseries_of_10001_hour_buckets_suggests_day(store: Store) -> None:
    flt = MetricsFilter(start=at(1), end=at(1) + timedelta(hours=10_000))
    with pytest.raises(InvalidArgument, match=r"coarser resolution \(DAY\)"):
        await store.timeseries("hour", flt)


async def test_timeseries_of_10001_day_buckets_is_rejected(store: Store) -> None:
    start = datetime(2000, 1, 1, tzinfo=UTC)
    flt = MetricsFilter(start=start, end=start + timedelta(days=10_000))
    with pytest.raises(InvalidArgument, match="narrow the time window"):
        await store.timeseries("day", flt)


@pytest.mark.parametrize("resolution", ["week", "second", "", "HOURS"])
async def test_timeseries_unknown_resolution_is_rejected(store: Store, resolution: str) -> None:
    with pytest.raises(InvalidArgument, match="resolution"):
        await store.timeseries(resolution)


# --- breakdown -----------------------------------------------------------------------------


async def test_breakdown_counts_success_rate_and_average_per_group(store: Store) -> None:
    await store.log_many(
        [
            ev(tool_name="run_query", duration_ms=100),
            ev(tool_name="run_query", duration_ms=200, success=False),
            ev(tool_name="run_query", duration_ms=600),
            ev(tool_name="get_schema", duration_ms=5, success=False),
        ]
    )
    assert await store.breakdown("tool_name") == [
        BreakdownEntry("run_query", 3, pytest.approx(2 / 3), 300.0),  # type: ignore[arg-type]
        BreakdownEntry("get_schema", 1, 0.0, 5.0),
    ]


async def test_breakdown_ties_in_count_order_by_dimension_in_code_point_order(
    store: Store,
) -> None:
    counts = {"b": 2, "a": 2, "C": 2, "z": 3, "é": 2, "_": 2}
    await store.log_many([ev(tool_name=name) for name, n in counts.items() for _ in range(n)])
    entries = await store.breakdown("tool_name")
    assert [(e.dimension, e.count) for e in entries] == [
        ("z", 3),
        ("C", 2),
        ("_", 2),
        ("a", 2),
        ("b", 2),
        ("é", 2),
    ]


@pytest.mark.parametrize(("limit", "expected"), [(0, 10), (-5, 10), (1, 1), (100, 100), (500, 100)])
async def test_breakdown_limit_is_clamped(store: Store, limit: int, expected: int) -> None:
    await store.log_many([ev(tool_name=f"t{n:03d}") for n in range(150)])
    entries = await store.breakdown("tool_name", limit)
    assert [e.dimension for e in entries] == [f"t{n:03d}" for n in range(expected)]


async def test_breakdown_by_user_labels_groups_with_email_else_user_id(store: Store) -> None:
    await store.log_many(
        [
            ev(user_id="zed", user_email="aaa@example.com"),
            ev(user_id="zed", user_email="aaa@example.com"),
            ev(user_id="svc", user_email=""),
            ev(user_id="svc", user_email=""),
            ev(user_id="mixed", user_email=""),
            ev(user_id="mixed", user_email="m@example.com"),
            ev(user_id="solo", user_email="solo@example.com"),
        ]
    )
    entries = await store.breakdown("user_id")
    # Ties in count order by the label, which is the dimension.
    assert [(e.dimension, e.count) for e in entries] == [
        ("aaa@example.com", 2),
        ("m@example.com", 2),
        ("svc", 2),
        ("solo@example.com", 1),
    ]


async def test_breakdown_by_user_keeps_users_apart_even_with_equal_labels(store: Store) -> None:
    # A user_id that looks like another user's email is still its own group.
    await store.log_many(
        [
            ev(user_id="alice", user_email="alice@example.com", success=False),
            ev(user_id="alice@example.com", user_email=""),
            ev(user_id="alice@example.com", user_email=""),
        ]
    )
    entries = await store.breakdown("user_id")
    assert entries == [
        BreakdownEntry("alice@example.com", 2, 1.0, 0.0),
        BreakdownEntry("alice@example.com", 1, 0.0, 0.0),
    ]


@pytest.mark.parametrize("dimension", ["persona", "toolkit_kind", "connection", "tool_name"])
async def test_breakdown_groups_by_each_dimension(store: Store, dimension: str) -> None:
    await store.log_many(
        [
            ev(**{dimension: "x"}, duration_ms=10),
            ev(**{dimension: "x"}, duration_ms=30, success=False),
            ev(**{dimension: "y"}, duration_ms=7),
        ]
    )
    assert await store.breakdown(dimension) == [
        BreakdownEntry("x", 2, 0.5, 20.0),
        BreakdownEntry("y", 1, 1.0, 7.0),
    ]


async def test_breakdown_rows_without_a_value_form_the_empty_group(
    store: Store, db: psycopg.Connection
) -> None:
    await store.log_many([ev(persona="analyst"), ev(persona="")])
    # A row written by an older writer, persona NULL, joins the '' group.
    moment = NOW - timedelta(hours=1)
    db.execute(
        "INSERT INTO audit_logs (id, timestamp, created_date, tool_name, success, persona, "
        "duration_ms) VALUES ('legacy', %s, %s, 'tool', true, NULL, 4)",
        (moment, moment.date()),
    )
    assert await store.breakdown("persona") == [
        BreakdownEntry("", 2, 1.0, 2.0),
        BreakdownEntry("analyst", 1, 1.0, 0.0),
    ]


async def test_breakdown_filters_by_user_tool_and_event_kind(store: Store) -> None:
    await store.log_many(
        [
            ev(user_id="alice", tool_name="run_query", toolkit_kind="trino", persona="p1"),
            ev(user_id="alice", tool_name="invoke", toolkit_kind="api", persona="p2"),
            ev(user_id="bob", tool_name="run_query", toolkit_kind="trino", persona="p3"),
        ]
    )
    alice = MetricsFilter(user_id="alice")
    assert [e.dimension for e in await store.breakdown("persona", 10, alice)] == ["p1", "p2"]
    by_tool = await store.breakdown("persona", 10, tool_name="run_query")
    assert [e.dimension for e in by_tool] == ["p1", "p3"]
    api = MetricsFilter(event_kind="apigateway_invoke")
    assert [e.dimension for e in await store.breakdown("persona", 10, api)] == ["p2"]


@pytest.mark.parametrize("group_by", ["user_email", "session_id", "id", ""])
async def test_breakdown_unknown_dimension_is_rejected(store: Store, group_by: str) -> None:
    with pytest.raises(InvalidArgument, match="group_by"):
        await store.breakdown(group_by)


# --- overview -------------------------------------------------------------------------------


async def test_overview_on_a_hand_fixture(store: Store) -> None:
    await store.log_many(
        [
            ev(user_id="alice", tool_name="a", duration_ms=100, enrichment_applied=True),
            ev(user_id="alice", tool_name="b", duration_ms=300, success=False),
            ev(user_id="bob", tool_name="a", duration_ms=200, enrichment_applied=True),
            ev(user_id="", tool_name="c", duration_ms=400, success=False),
            ev(user_id="carol", tool_name="", duration_ms=0),
            ev(user_id="old", timestamp=NOW - timedelta(days=2)),  # outside the window
        ]
    )
    assert await store.overview() == Overview(
        total_calls=5,
        success_rate=0.6,
        avg_duration_ms=200.0,
        unique_users=3,  # alice, bob, carol: '' is not a user
        unique_tools=3,  # a, b, c: '' is not a tool
        enrichment_rate=0.4,
        error_count=2,
    )


async def test_overview_default_window_is_inclusive_at_both_ends(store: Store) -> None:
    await store.log_many(
        [
            ev(timestamp=NOW - timedelta(hours=24) - MICROSECOND, duration_ms=1000),
            ev(timestamp=NOW - timedelta(hours=24), duration_ms=10),
            ev(timestamp=NOW, duration_ms=20),
            ev(timestamp=NOW + MICROSECOND, duration_ms=1000),
        ]
    )
    overview = await store.overview()
    assert (overview.total_calls, overview.avg_duration_ms) == (2, 15.0)


async def test_overview_end_only_window_starts_24_hours_before_end(store: Store) -> None:
    end = at(14)
    await store.log_many(
        [
            ev(timestamp=end - timedelta(hours=24) - MICROSECOND),
            ev(timestamp=end - timedelta(hours=24)),
            ev(timestamp=end),
            ev(timestamp=end + MICROSECOND),
        ]
    )
    assert (await store.overview(MetricsFilter(end=end))).total_calls == 2


async def test_overview_start_only_window_ends_now(store: Store) -> None:
    await store.log_many(
        [
            ev(timestamp=at(10)),
            ev(timestamp=at(12)),
            ev(timestamp=NOW),
            ev(timestamp=NOW + MICROSECOND),
        ]
    )
    assert (await store.overview(MetricsFilter(start=at(10)))).total_calls == 3


async def test_overview_filters_by_user_and_event_kind(store: Store) -> None:
    await store.log_many(
        [
            ev(user_id="alice", toolkit_kind="api"),
            ev(user_id="alice", toolkit_kind="trino", success=False),
            ev(user_id="bob", toolkit_kind="api", success=False),
        ]
    )
    alice = await store.overview(MetricsFilter(user_id="alice"))
    assert (alice.total_calls, alice.error_count, alice.unique_users) == (2, 1, 1)
    api = await store.overview(MetricsFilter(event_kind="apigateway_invoke"))
    assert (api.total_calls, api.error_count, api.unique_users) == (2, 1, 2)
    both = await store.overview(MetricsFilter(user_id="alice", event_kind="apigateway_invoke"))
    assert (both.total_calls, both.error_count) == (1, 0)


# --- performance ---------------------------------------------------------------------------


async def test_performance_percentiles_interpolate_like_percentile_cont(store: Store) -> None:
    await store.log_many(
        [ev(duration_ms=d, response_chars=d * 10, request_chars=d // 10) for d in (40, 10, 30, 20)]
    )
    # Positions p*(n-1) over 10,20,30,40: 1.5 -> 25; 2.85 -> 38.5; 2.97 -> 39.7.
    stats = await store.performance()
    assert stats == PerformanceStats(
        p50_ms=25.0,
        p95_ms=pytest.approx(38.5),  # type: ignore[arg-type]
        p99_ms=pytest.approx(39.7),  # type: ignore[arg-type]
        avg_ms=25.0,
        max_ms=40.0,
        avg_response_chars=250.0,
        avg_request_chars=2.5,
    )


async def test_performance_percentiles_of_an_odd_count(store: Store) -> None:
    await store.log_many([ev(duration_ms=d) for d in (5, 1, 3)])
    # Positions over 1,3,5: 1.0 -> 3; 1.9 -> 4.8; 1.98 -> 4.96.
    stats = await store.performance()
    assert (stats.p50_ms, stats.p95_ms, stats.p99_ms) == pytest.approx((3.0, 4.8, 4.96))
    assert (stats.avg_ms, stats.max_ms) == (3.0, 5.0)


async def test_performance_of_one_event_is_that_event(store: Store) -> None:
    await store.log(ev(duration_ms=7, response_chars=3, request_chars=2))
    assert await store.performance() == PerformanceStats(7.0, 7.0, 7.0, 7.0, 7.0, 3.0, 2.0)


async def test_performance_filters_by_user(store: Store) -> None:
    await store.log_many([ev(user_id="alice", duration_ms=10), ev(user_id="bob", duration_ms=90)])
    stats = await store.performance(MetricsFilter(user_id="bob"))
    assert (stats.p50_ms, stats.max_ms) == (90.0, 90.0)


# --- enrichment ----------------------------------------------------------------------------


async def test_enrichment_on_a_hand_fixture(store: Store) -> None:
    rows = [
        ("full", True, 100, 40, "s1"),
        ("summary", True, 0, 0, "s1"),
        ("reference", False, 50, 50, "s2"),
        ("none", False, 0, 10, ""),
        ("", True, 30, 0, "s3"),
    ]
    await store.log_many(
        [
            ev(
                enrichment_mode=mode,
                enrichment_applied=applied,
                enrichment_tokens_full=full,
                enrichment_tokens_dedup=dedup,
                session_id=session,
            )
            for mode, applied, full, dedup, session in rows
        ]
    )
    assert await store.enrichment() == EnrichmentStats(
        total_calls=5,
        enriched_calls=3,
        enrichment_rate=0.6,
        full_count=1,
        summary_count=1,
        reference_count=1,
        none_count=1,
        total_tokens_full=180,
        total_tokens_dedup=100,
        tokens_saved=80,
        avg_tokens_full=60.0,  # (100 + 50 + 30) / 3: zeros left out
        avg_tokens_dedup=pytest.approx(100 / 3),  # type: ignore[arg-type]  # (40 + 50 + 10) / 3
        unique_sessions=3,  # s1, s2, s3: '' is not a session
    )


async def test_enrichment_token_averages_are_zero_when_every_value_is_zero(store: Store) -> None:
    await store.log_many([ev(enrichment_mode="full"), ev(enrichment_mode="none")])
    stats = await store.enrichment()
    assert (stats.avg_tokens_full, stats.avg_tokens_dedup, stats.tokens_saved) == (0.0, 0.0, 0)


async def test_enrichment_tokens_saved_may_be_negative(store: Store) -> None:
    await store.log(ev(enrichment_tokens_full=10, enrichment_tokens_dedup=25))
    assert (await store.enrichment()).tokens_saved == -15


async def test_enrichment_filters_by_event_kind(store: Store) -> None:
    await store.log_many(
        [
            ev(toolkit_kind="api", enrichment_applied=True, session_id="s1"),
            ev(toolkit_kind="trino", enrichment_applied=False, session_id="s2"),
        ]
    )
    stats = await store.enrichment(MetricsFilter(event_kind="apigateway_invoke"))
    assert (stats.total_calls, stats.enriched_calls, stats.unique_sessions) == (1, 1, 1)


# --- discovery -----------------------------------------------------------------------------

T = NOW - timedelta(hours=10)
MINUTE = timedelta(minutes=1)


def call(session: str, kind: str, tool: str, moment: datetime, **fields: Any) -> NewEvent:
    return ev(session_id=session, toolkit_kind=kind, tool_name=tool, timestamp=moment, **fields)


DISCOVERY_FIXTURE = [
    # discovers, then queries: counted as discovery before query
    call("s-before", "datahub", "search_datasets", T, duration_ms=10),
    call("s-before", "trino", "run_query", T + MINUTE),
    call("s-before", "datahub", "get_schema", T + 2 * MINUTE, duration_ms=30, success=False),
    # queries first, discovers later: both, not before
    call("s-after", "trino", "run_query", T),
    call("s-after", "datahub", "search_datasets", T + MINUTE, duration_ms=20),
    # first discovery and first query at the same instant: not strictly earlier
    call("s-tie", "datahub", "get_schema", T, duration_ms=50),
    call("s-tie", "trino", "run_query", T),
    # queries without discovering
    call("s-query", "trino", "run_query", T),
    # discovers without querying
    call("s-disc", "datahub", "list_tags", T, duration_ms=4),
    # neither
    call("s-other", "api", "invoke", T),
    # no session: not a session at all; its discovery call still counts among the top tools
    call("", "datahub", "search_datasets", T),
    call("", "trino", "run_query", T + MINUTE),
    # its discovery fell before the window: inside the window it only queries
    call("s-old", "datahub", "lineage", NOW - timedelta(hours=30)),
    call("s-old", "trino", "run_query", T),
]


async def test_discovery_on_a_hand_fixture(store: Store) -> None:
    await store.log_many(DISCOVERY_FIXTURE)
    assert await store.discovery() == DiscoveryStats(
        total_sessions=7,  # s-before, s-after, s-tie, s-query, s-disc, s-other, s-old
        discovery_sessions=4,  # s-before, s-after, s-tie, s-disc
        query_sessions=5,  # s-before, s-after, s-tie, s-query, s-old
        discovery_before_query=1,  # s-before
        discovery_rate=4 / 7,
        query_without_discovery=2,  # s-query, s-old
        top_discovery_tools=[
            # s-before (10 ms), s-after (20 ms) and the call without a session (0 ms)
            BreakdownEntry("search_datasets", 3, 1.0, 10.0),
            BreakdownEntry("get_schema", 2, 0.5, 40.0),  # s-before (failed), s-tie
            BreakdownEntry("list_tags", 1, 1.0, 4.0),  # s-disc
        ],
    )


async def test_discovery_window_is_inclusive(store: Store) -> None:
    await store.log_many(DISCOVERY_FIXTURE)
    # From exactly the s-old discovery call: s-old now discovers before it queries.
    flt = MetricsFilter(start=NOW - timedelta(hours=30), end=T)
    stats = await store.discovery(flt)
    assert stats.discovery_before_query == 1  # s-old; s-before's query at T + 1 min is outside
    assert stats.total_sessions == 7
    # search_datasets twice at T (s-before and the call without a session), the rest once.
    assert [e.dimension for e in stats.top_discovery_tools] == [
        "search_datasets",
        "get_schema",
        "lineage",
        "list_tags",
    ]


async def test_discovery_filters_by_event_kind(store: Store) -> None:
    await store.log_many(
        [
            call("s1", "datahub", "search_datasets", T, event_kind="custom"),
            call("s1", "trino", "run_query", T + MINUTE),
        ]
    )
    everything = await store.discovery()
    assert (everything.discovery_before_query, everything.query_without_discovery) == (1, 0)
    mcp_only = await store.discovery(MetricsFilter(event_kind="mcp_tool_call"))
    assert (mcp_only.discovery_before_query, mcp_only.query_without_discovery) == (0, 1)
    assert mcp_only.top_discovery_tools == []


async def test_discovery_top_tools_are_at_most_10(store: Store) -> None:
    await store.log_many(
        [call("s1", "datahub", f"tool{n:02d}", T) for n in range(12) for _ in range(1 + n % 2)]
    )
    tools = (await store.discovery()).top_discovery_tools
    # Odd-numbered tools have two calls each and come first, then the even ones by name.
    expected = [f"tool{n:02d}" for n in range(1, 12, 2)] + ["tool00", "tool02", "tool04", "tool06"]
    assert [e.dimension for e in tools] == expected


async def test_discovery_and_query_kinds_are_configurable(
    store: Store, schema_url: str, clock: Any
) -> None:
    await store.log_many(
        [
            call("s1", "glue", "get_table", T),
            call("s1", "athena", "start_query", T + MINUTE),
            call("s2", "athena", "start_query", T),
            call("s3", "datahub", "search_datasets", T),
        ]
    )
    other = Store(schema_url, clock=clock, discovery_kind="glue", query_kind="athena")
    async with other:
        stats = await other.discovery()
    assert (stats.total_sessions, stats.discovery_sessions, stats.query_sessions) == (3, 1, 2)
    assert (stats.discovery_before_query, stats.query_without_discovery) == (1, 1)
    assert stats.top_discovery_tools == [BreakdownEntry("get_table", 1, 1.0, 0.0)]


# --- windows and empty ranges --------------------------------------------------------------

STATISTICS = ["timeseries", "breakdown", "overview", "performance", "enrichment", "discovery"]


async def ask(store: Store, statistic: str, flt: MetricsFilter) -> Any:
    if statistic == "timeseries":
        return await store.timeseries("hour", flt)
    if statistic == "breakdown":
        return await store.breakdown("tool_name", 10, flt)
    return await getattr(store, statistic)(flt)


@pytest.mark.parametrize("statistic", STATISTICS)
async def test_statistic_with_start_after_end_is_rejected(store: Store, statistic: str) -> None:
    with pytest.raises(InvalidArgument, match="after"):
        await ask(store, statistic, MetricsFilter(start=at(15, 1), end=at(15, 1) - MICROSECOND))


@pytest.mark.parametrize("statistic", STATISTICS)
async def test_statistic_with_start_only_after_now_is_rejected(
    store: Store, statistic: str
) -> None:
    # The end defaults to now, so a start in the future is after the end.
    with pytest.raises(InvalidArgument, match="after"):
        await ask(store, statistic, MetricsFilter(start=NOW + MICROSECOND))


async def test_statistics_of_an_empty_range_are_all_zero(store: Store) -> None:
    await store.log(ev(timestamp=at(10)))
    flt = MetricsFilter(start=at(14, 22), end=at(15))
    assert await store.overview(flt) == Overview(0, 0.0, 0.0, 0, 0, 0.0, 0)
    assert await store.performance(flt) == PerformanceStats(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    assert await store.enrichment(flt) == EnrichmentStats(
        0, 0, 0.0, 0, 0, 0, 0, 0, 0, 0, 0.0, 0.0, 0
    )
    assert await store.discovery(flt) == DiscoveryStats(0, 0, 0, 0, 0.0, 0, [])
    assert await store.breakdown("user_id", 10, flt) == []
    assert await store.timeseries("hour", flt) == [
        bucket(at(14, 22)),
        bucket(at(14, 23)),
        bucket(at(15)),
    ]


async def test_statistics_of_an_empty_table_are_all_zero(store: Store) -> None:
    assert await store.overview() == Overview(0, 0.0, 0.0, 0, 0, 0.0, 0)
    assert await store.performance() == PerformanceStats(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    assert (await store.enrichment()).total_calls == 0
    assert (await store.discovery()).total_sessions == 0
    series = await store.timeseries("day")
    assert series == [bucket(at(14)), bucket(at(15))]


async def test_statistics_of_a_single_instant_window(store: Store) -> None:
    await store.log_many(
        [ev(timestamp=at(15, 6), duration_ms=8), ev(timestamp=at(15, 6) + MICROSECOND)]
    )
    flt = MetricsFilter(start=at(15, 6), end=at(15, 6))
    assert (await store.overview(flt)).total_calls == 1
    assert await store.timeseries("minute", flt) == [bucket(at(15, 6), count=1, ok=1, avg=8.0)]


async def test_statistics_window_is_everything_given(store: Store) -> None:
    await store.log_many([ev(timestamp=at(1)), ev(timestamp=NOW)])
    assert (await store.overview(EVERYTHING)).total_calls == 2
