"""A plain-Python reference for the read operations of SPEC 3.

Written from the words of SPEC 3, not from the store's SQL, so tests can
compare what the store (or the GraphQL API over it) answers with what the
specification says it should answer over the same rows.

Every function takes a list of events as stored: dicts with the snake_case
field names of `graph.store.Event` (id, timestamp, duration_ms, user_id,
user_email, tool_name, toolkit_kind, ..., event_kind), text as strings (NULL
already read as ''), `timestamp` an aware datetime. `from_graphql` turns an
`AuditEvent` selected over GraphQL (camelCase, ISO strings) into that shape.

Results are plain dicts (and lists of dicts) keyed by the snake_case field
names of the store's result types, so a test can compare them with
`dataclasses.asdict(result)`. Nothing here touches a database.

Conventions, all from SPEC 3 (and the brief of the issue):
- every time range is inclusive at both ends;
- the statistics "window": end defaults to now, start to end minus 24 hours;
  `query`, `count`, `distinct` and `distinct_pairs` have no default window;
- an empty-string filter means "no filter";
- strings order by code point (the store sorts in the "C" collation);
- ties in `query` ordering are broken by id, in the same direction (and,
  for an id reused on another day, by timestamp: see `sort_key`).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

Event = Mapping[str, Any]

DEFAULT_WINDOW = timedelta(hours=24)
SEARCHED_COLUMNS = (
    "user_id",
    "tool_name",
    "toolkit_kind",
    "connection",
    "persona",
    "error_message",
    "purpose",
)
EXACT_FILTERS = ("id", "user_id", "session_id", "tool_name", "toolkit_kind", "source", "event_kind")
SORT_FIELDS = (
    "timestamp", "user_id", "tool_name", "toolkit_kind", "source", "connection",
    "duration_ms", "success", "enrichment_applied", "enrichment_mode",
)  # fmt: skip
DISTINCT_COLUMNS = ("user_id", "tool_name", "toolkit_kind", "source", "event_kind")
BREAKDOWN_DIMENSIONS = (
    "tool_name", "user_id", "persona", "toolkit_kind", "connection", "source", "event_kind",
)  # fmt: skip
RESOLUTIONS = {
    "minute": timedelta(minutes=1),
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
}
ENRICHMENT_MODES = ("full", "summary", "reference", "none")


# --- time ---------------------------------------------------------------------


def utc(moment: datetime) -> datetime:
    """A naive datetime is UTC; an aware one is converted to UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def window(
    start: datetime | None, end: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    """The statistics window: end defaults to now, start to end minus 24 hours."""
    end = utc(end) if end is not None else utc(now)
    start = utc(start) if start is not None else end - DEFAULT_WINDOW
    if start > end:
        raise ValueError("start after end")
    return start, end


def in_range(event: Event, start: datetime | None, end: datetime | None) -> bool:
    """Inclusive at both ends; an absent bound is unbounded."""
    moment = utc(event["timestamp"])
    if start is not None and moment < utc(start):
        return False
    return not (end is not None and moment > utc(end))


def truncate(moment: datetime, resolution: str) -> datetime:
    """The UTC bucket a moment falls in."""
    moment = utc(moment).replace(second=0, microsecond=0)
    if resolution == "minute":
        return moment
    moment = moment.replace(minute=0)
    if resolution == "hour":
        return moment
    if resolution == "day":
        return moment.replace(hour=0)
    raise ValueError(f"unknown resolution {resolution!r}")


def bucket_count(start: datetime, end: datetime, resolution: str) -> int:
    first, last = truncate(start, resolution), truncate(end, resolution)
    return (last - first) // RESOLUTIONS[resolution] + 1


# --- events ---------------------------------------------------------------------


def matches(event: Event, flt: Mapping[str, Any] | None = None) -> bool:
    """Does an event pass an event filter (keys of `graph.store.EventFilter`)?"""
    flt = flt or {}
    if not in_range(event, flt.get("start"), flt.get("end")):
        return False
    for name in EXACT_FILTERS:
        wanted = flt.get(name) or ""
        if wanted and event[name] != wanted:
            return False
    success = flt.get("success")
    if success is not None and event["success"] != success:
        return False
    ids = flt.get("ids")
    if ids is not None and event["id"] not in ids:
        return False
    search = flt.get("search") or ""
    if search:
        needle = search.lower()
        if not any(needle in (event[column] or "").lower() for column in SEARCHED_COLUMNS):
            return False
    return True


def sort_key(sort: str) -> Callable[[Event], tuple[Any, ...]]:
    """(sort value, id), then the timestamp.

    SPEC 3 breaks ties by id; an id may be stored once per UTC day, though, so
    rows sharing both sort value and id are finally ordered by their timestamp
    (equivalently by created_date: equal id and day would be the same row).
    """
    if sort not in SORT_FIELDS:
        raise ValueError(f"unknown sort field {sort!r}")
    if sort == "timestamp":
        return lambda event: (utc(event["timestamp"]), event["id"])
    return lambda event: (event[sort], event["id"], utc(event["timestamp"]))


def query(
    events: Iterable[Event],
    flt: Mapping[str, Any] | None = None,
    sort: str = "timestamp",
    order: str = "desc",
    limit: int | None = None,
    offset: int = 0,
) -> list[Event]:
    """Matching events in (sort value, id) order, both in the same direction, then paged."""
    if order not in ("asc", "desc"):
        raise ValueError(f"unknown order {order!r}")
    found = sorted(
        (event for event in events if matches(event, flt)),
        key=sort_key(sort),
        reverse=order == "desc",
    )
    found = found[offset:]
    return found if limit is None else found[:limit]


def count(events: Iterable[Event], flt: Mapping[str, Any] | None = None) -> int:
    return sum(1 for event in events if matches(event, flt))


def distinct(
    events: Iterable[Event],
    column: str,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[str]:
    """Sorted unique non-empty values in the range; absent bounds are unbounded."""
    if column not in DISTINCT_COLUMNS:
        raise ValueError(f"unknown distinct column {column!r}")
    return sorted({e[column] for e in events if e[column] and in_range(e, start, end)})


def distinct_pairs(
    events: Iterable[Event],
    col1: str = "user_id",
    col2: str = "user_email",
    start: datetime | None = None,
    end: datetime | None = None,
) -> dict[str, str]:
    """Each non-empty col1 value -> the col2 value of its most recent row with a non-empty col2.

    Rows at the same instant are ordered by id (the greater id counts as more recent).
    """
    if (col1, col2) != ("user_id", "user_email"):
        raise ValueError("only (user_id, user_email)")
    latest: dict[str, tuple[datetime, str, str]] = {}
    for event in events:
        if not event[col1] or not event[col2] or not in_range(event, start, end):
            continue
        candidate = (utc(event["timestamp"]), event["id"], event[col2])
        current = latest.get(event[col1])
        if current is None or candidate[:2] > current[:2]:
            latest[event[col1]] = candidate
    return {key: value[2] for key, value in latest.items()}


# --- statistics -------------------------------------------------------------------


def scoped(
    events: Iterable[Event],
    now: datetime,
    start: datetime | None = None,
    end: datetime | None = None,
    user_id: str = "",
    event_kind: str = "",
    tool_name: str = "",
    source: str = "",
) -> list[Event]:
    """The events a statistic looks at: in the window and matching the non-empty filters."""
    low, high = window(start, end, now)
    return [
        event
        for event in events
        if in_range(event, low, high)
        and (not user_id or event["user_id"] == user_id)
        and (not event_kind or event["event_kind"] == event_kind)
        and (not tool_name or event["tool_name"] == tool_name)
        and (not source or event["source"] == source)
    ]


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def percentile_cont(values: Iterable[float], fraction: float) -> float:
    """PostgreSQL's percentile_cont: interpolate linearly at position fraction * (n - 1)."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    position = fraction * (len(ordered) - 1)
    lower = int(position)
    upper = min(lower + 1, len(ordered) - 1)
    weight = position - lower
    return ordered[lower] + (ordered[upper] - ordered[lower]) * weight


def timeseries(
    events: Iterable[Event],
    resolution: str,
    now: datetime,
    start: datetime | None = None,
    end: datetime | None = None,
    user_id: str = "",
    event_kind: str = "",
    source: str = "",
) -> list[dict[str, Any]]:
    """Every bucket from trunc(start) to trunc(end) inclusive, ascending, zero-filled."""
    step = RESOLUTIONS[resolution]
    low, high = window(start, end, now)
    groups: dict[datetime, list[Event]] = defaultdict(list)
    for event in scoped(events, now, start, end, user_id, event_kind, source=source):
        groups[truncate(event["timestamp"], resolution)].append(event)
    buckets = []
    bucket, last = truncate(low, resolution), truncate(high, resolution)
    while bucket <= last:
        rows = groups.get(bucket, [])
        successes = sum(1 for row in rows if row["success"])
        buckets.append(
            {
                "bucket": bucket,
                "count": len(rows),
                "success_count": successes,
                "error_count": len(rows) - successes,
                "avg_duration_ms": mean([row["duration_ms"] for row in rows]),
            }
        )
        bucket += step
    return buckets


def clamp_breakdown_limit(limit: int) -> int:
    """limit <= 0 means 10; above 100 means 100."""
    if limit <= 0:
        return 10
    return min(limit, 100)


def group_entries(rows: Iterable[Event], group_by: str, limit: int) -> list[dict[str, Any]]:
    """Breakdown entries of rows already scoped: count desc, then dimension asc."""
    groups: dict[str, list[Event]] = defaultdict(list)
    for row in rows:
        groups[row[group_by]].append(row)
    entries = []
    for value, members in groups.items():
        label = value
        if group_by == "user_id":
            emails = [row["user_email"] for row in members if row["user_email"]]
            if emails:
                label = max(emails)
        entries.append(
            {
                "dimension": label,
                "count": len(members),
                "success_rate": sum(1 for row in members if row["success"]) / len(members),
                "avg_duration_ms": mean([row["duration_ms"] for row in members]),
            }
        )
    entries.sort(key=lambda entry: (-entry["count"], entry["dimension"]))
    return entries[:limit]


def breakdown(
    events: Iterable[Event],
    group_by: str,
    limit: int,
    now: datetime,
    start: datetime | None = None,
    end: datetime | None = None,
    user_id: str = "",
    tool_name: str = "",
    event_kind: str = "",
    source: str = "",
) -> list[dict[str, Any]]:
    if group_by not in BREAKDOWN_DIMENSIONS:
        raise ValueError(f"unknown group_by {group_by!r}")
    rows = scoped(events, now, start, end, user_id, event_kind, tool_name, source)
    return group_entries(rows, group_by, clamp_breakdown_limit(limit))


def overview(
    events: Iterable[Event],
    now: datetime,
    start: datetime | None = None,
    end: datetime | None = None,
    user_id: str = "",
    event_kind: str = "",
    source: str = "",
) -> dict[str, Any]:
    rows = scoped(events, now, start, end, user_id, event_kind, source=source)
    total = len(rows)
    successes = sum(1 for row in rows if row["success"])
    return {
        "total_calls": total,
        "success_rate": successes / total if total else 0.0,
        "avg_duration_ms": mean([row["duration_ms"] for row in rows]),
        "unique_users": len({row["user_id"] for row in rows if row["user_id"]}),
        "unique_tools": len({row["tool_name"] for row in rows if row["tool_name"]}),
        "enrichment_rate": (
            sum(1 for row in rows if row["enrichment_applied"]) / total if total else 0.0
        ),
        "error_count": total - successes,
    }


def performance(
    events: Iterable[Event],
    now: datetime,
    start: datetime | None = None,
    end: datetime | None = None,
    user_id: str = "",
    event_kind: str = "",
    source: str = "",
) -> dict[str, Any]:
    rows = scoped(events, now, start, end, user_id, event_kind, source=source)
    durations = [row["duration_ms"] for row in rows]
    return {
        "p50_ms": percentile_cont(durations, 0.5),
        "p95_ms": percentile_cont(durations, 0.95),
        "p99_ms": percentile_cont(durations, 0.99),
        "avg_ms": mean(durations),
        "max_ms": float(max(durations, default=0)),
        "avg_response_chars": mean([row["response_chars"] for row in rows]),
        "avg_request_chars": mean([row["request_chars"] for row in rows]),
    }


def enrichment(
    events: Iterable[Event],
    now: datetime,
    start: datetime | None = None,
    end: datetime | None = None,
    user_id: str = "",
    event_kind: str = "",
    source: str = "",
) -> dict[str, Any]:
    rows = scoped(events, now, start, end, user_id, event_kind, source=source)
    total = len(rows)
    enriched = sum(1 for row in rows if row["enrichment_applied"])
    full = [row["enrichment_tokens_full"] for row in rows]
    dedup = [row["enrichment_tokens_dedup"] for row in rows]
    modes = {
        mode: sum(1 for row in rows if row["enrichment_mode"] == mode) for mode in ENRICHMENT_MODES
    }
    return {
        "total_calls": total,
        "enriched_calls": enriched,
        "enrichment_rate": enriched / total if total else 0.0,
        "full_count": modes["full"],
        "summary_count": modes["summary"],
        "reference_count": modes["reference"],
        "none_count": modes["none"],
        "total_tokens_full": sum(full),
        "total_tokens_dedup": sum(dedup),
        "tokens_saved": sum(full) - sum(dedup),
        "avg_tokens_full": mean([value for value in full if value != 0]),
        "avg_tokens_dedup": mean([value for value in dedup if value != 0]),
        "unique_sessions": len({row["session_id"] for row in rows if row["session_id"]}),
    }


def discovery(
    events: Iterable[Event],
    now: datetime,
    start: datetime | None = None,
    end: datetime | None = None,
    event_kind: str = "",
    discovery_kind: str = "datahub",
    query_kind: str = "trino",
    source: str = "",
) -> dict[str, Any]:
    """Sessions (non-empty session_id) in the window: who discovers before they query.

    The top discovery tools count every discovery call, in a session or not.
    """
    in_scope = scoped(events, now, start, end, "", event_kind, source=source)
    rows = [row for row in in_scope if row["session_id"]]
    sessions: dict[str, list[Event]] = defaultdict(list)
    for row in rows:
        sessions[row["session_id"]].append(row)
    discovering = querying = before = without = 0
    for calls in sessions.values():
        discoveries = [utc(c["timestamp"]) for c in calls if c["toolkit_kind"] == discovery_kind]
        queries = [utc(c["timestamp"]) for c in calls if c["toolkit_kind"] == query_kind]
        discovering += bool(discoveries)
        querying += bool(queries)
        if discoveries and queries and min(discoveries) < min(queries):
            before += 1
        if queries and not discoveries:
            without += 1
    total = len(sessions)
    discovery_calls = [row for row in in_scope if row["toolkit_kind"] == discovery_kind]
    return {
        "total_sessions": total,
        "discovery_sessions": discovering,
        "query_sessions": querying,
        "discovery_before_query": before,
        "discovery_rate": discovering / total if total else 0.0,
        "query_without_discovery": without,
        "top_discovery_tools": group_entries(discovery_calls, "tool_name", 10),
    }


# --- adapters ---------------------------------------------------------------------


SESSION_PREFIXES = {"dps_": "AGENT", "dpp_": "PORTAL", "dpx_": "SCRIPT"}


def session_kind(session_id: str) -> str:
    return SESSION_PREFIXES.get(session_id[:4], "TRANSPORT")


def session_summary(
    session_id: str, calls: list[Event], discovery_kind: str = "datahub", query_kind: str = "trino"
) -> dict[str, Any]:
    """What the SPEC says a session is, over `calls` (its calls in scope)."""
    ordered = sorted(calls, key=lambda c: (utc(c["timestamp"]), c["id"].encode()))
    emails = [c["user_email"] for c in ordered if c["user_email"]]
    discoveries = [utc(c["timestamp"]) for c in calls if c["toolkit_kind"] == discovery_kind]
    queries = [utc(c["timestamp"]) for c in calls if c["toolkit_kind"] == query_kind]
    return {
        "session_id": session_id,
        "user_id": ordered[0]["user_id"],
        "user_email": emails[-1] if emails else "",
        "persona": ordered[0]["persona"],
        "started_at": utc(ordered[0]["timestamp"]),
        "last_active_at": utc(ordered[-1]["timestamp"]),
        "call_count": len(calls),
        "failure_count": sum(not c["success"] for c in calls),
        "total_duration_ms": sum(c["duration_ms"] for c in calls),
        "tools": sorted({c["tool_name"] for c in calls if c["tool_name"]}, key=str.encode),
        "connections": sorted({c["connection"] for c in calls if c["connection"]}, key=str.encode),
        "discovered_before_query": bool(
            discoveries and queries and min(discoveries) < min(queries)
        ),
    }


def sessions(
    events: Iterable[Event],
    now: datetime,
    start: datetime | None = None,
    end: datetime | None = None,
    user_id: str = "",
    kind: str | None = None,
    has_failures: bool | None = None,
    search: str = "",
) -> list[dict[str, Any]]:
    """Every listed session, in order: last activity newest first, then session id."""
    lo, hi = window(start, end, now)
    calls: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        if event["session_id"] and lo <= utc(event["timestamp"]) <= hi:
            calls[event["session_id"]].append(event)
    listed = []
    for session_id, its_calls in calls.items():
        summary = session_summary(session_id, its_calls)
        if kind is not None and session_kind(session_id) != kind:
            continue
        if user_id and summary["user_id"] != user_id:
            continue
        if has_failures is not None and (summary["failure_count"] > 0) != has_failures:
            continue
        needle = search.lower()
        if (
            search
            and needle not in session_id.lower()
            and not any(needle in c["purpose"].lower() for c in its_calls)
        ):
            continue
        listed.append(summary)
    listed.sort(key=lambda s: s["session_id"].encode())
    listed.sort(key=lambda s: s["last_active_at"], reverse=True)
    return listed


def session(events: Iterable[Event], session_id: str) -> dict[str, Any] | None:
    calls = [event for event in events if session_id and event["session_id"] == session_id]
    return session_summary(session_id, calls) if calls else None


def snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def from_graphql(event: Mapping[str, Any]) -> dict[str, Any]:
    """An `AuditEvent` as GraphQL returns it (camelCase, ISO 8601) in the shape used here."""
    converted = {snake_case(key): value for key, value in event.items()}
    if isinstance(converted.get("timestamp"), str):
        converted["timestamp"] = utc(datetime.fromisoformat(converted["timestamp"]))
    return converted
