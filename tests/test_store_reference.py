"""Every read operation of the store against the plain-Python reference (tests/reference.py).

A few thousand seeded random events, spread over about three days around the
clock, go in through `Store.log_many`; the rows are read back with plain SQL
and checked against what was sent; then each operation is asked over several
windows, filters, resolutions and sorts and compared with the reference over
the same rows. Paging walks the whole result with cursors and with offsets.
"""

from __future__ import annotations

import dataclasses
import random
import string
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import msgspec
import psycopg
import pytest
import reference
from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row

from graph.store import EventFilter, MetricsFilter, NewEvent, Store

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
SEED = 20260315
EVENT_COUNT = 3400
BATCH = 1000

# An explicit window whose endpoints carry microseconds; events sit exactly on them.
W_START = datetime(2026, 3, 13, 6, 30, 0, 250000, tzinfo=UTC)
W_END = datetime(2026, 3, 14, 18, 45, 10, 500000, tzinfo=UTC)
DAY_BOUNDARIES = [datetime(2026, 3, d, tzinfo=UTC) for d in (12, 13, 14, 15, 16)]
SPECIAL_MOMENTS = [
    NOW,
    NOW - timedelta(hours=24),
    NOW - timedelta(hours=36),
    NOW - timedelta(hours=20),
    W_START,
    W_END,
    *DAY_BOUNDARIES,
    datetime(2026, 3, 14, 23, 59, 59, 999999, tzinfo=UTC),
]

USERS = [
    ("alice", "alice@example.com"),
    ("bob", "bob@example.com"),
    ("Carol", "carol@example.com"),
    ("dave", "dave@corp.example"),
    ("erin", "erin@example.com"),  # some of erin's rows carry no email
    ("svc-bot", ""),  # never has an email: labelled by user_id
    ("", ""),  # anonymous calls
]
TOOLS = {
    "datahub": ["search_datasets", "get_schema", "list_tags", "lineage"],
    "trino": ["run_query", "explain_query", "Describe_Table"],
    "api": ["invoke_endpoint", "GET /v1/items"],
    "s3": ["list_objects", "get_object"],
    "": ["echo", "café_lookup"],
}
TOOLKIT_NAMES = {
    "datahub": "datahub-prod",
    "trino": "trino-main",
    "api": "gateway",
    "s3": "s3",
    "": "",
}
PERSONAS = ["analyst", "Engineer", "", "data_scientist", "ops%lead"]
CONNECTIONS = ["prod", "staging", "", "Warehouse_1", "dev\\local", "Zeta"]
SOURCES = ["mcp", "mcp", "api", "cli"]
ERRORS = [
    "timeout after 30s",
    "Permission denied for table ORDERS",
    "100% of quota used",
    "bad path C:\\tmp\\x",
    "column snake_case missing",
    "",
]
MODES = ["full", "summary", "reference", "none", ""]
# Each session uses only some toolkit kinds, so every discovery outcome occurs:
# both (in either order), discovery only, query only, neither.
SESSION_PROFILES = [
    {"datahub", "trino", "s3"},
    {"datahub", "trino"},
    {"trino", "api"},
    {"datahub"},
    {"trino", ""},
    {"api", "s3", ""},
]
SESSIONS = [(f"sess-{n:03d}", SESSION_PROFILES[n % len(SESSION_PROFILES)]) for n in range(360)]
ID_ALPHABET = string.ascii_letters + string.digits + "-_"
SENSITIVE = ["password", "Api_Key", "AUTHORIZATION", "token", "Secret", "credentials"]


def random_moment(rng: random.Random) -> datetime:
    roll = rng.random()
    if roll < 0.06:
        return rng.choice(SPECIAL_MOMENTS)
    if roll < 0.12:
        # exact minute / hour boundaries
        base = NOW - timedelta(hours=rng.randint(0, 70))
        return base.replace(minute=rng.choice([0, 0, 15, 59]), second=0, microsecond=0)
    span = timedelta(hours=72).total_seconds()
    offset = rng.uniform(0, span)
    return NOW - timedelta(hours=60) + timedelta(seconds=round(offset, 6))


def pick_session(rng: random.Random, kind: str) -> str:
    if rng.random() < 0.25:
        return ""
    return rng.choice([name for name, kinds in SESSIONS if kind in kinds])


def tie_events() -> tuple[list[NewEvent], list[dict[str, Any]]]:
    """Sessions whose first discovery and first query are at the same instant, or 1 µs apart."""
    at = datetime(2026, 3, 14, 9, 0, 0, 123456, tzinfo=UTC)
    calls = [
        ("sess-tie", "datahub", "get_schema", at),
        ("sess-tie", "trino", "run_query", at),
        ("sess-tie", "datahub", "lineage", at + timedelta(minutes=5)),
        ("sess-1us", "datahub", "search_datasets", at),
        ("sess-1us", "trino", "run_query", at + timedelta(microseconds=1)),
        ("sess-1us-late", "trino", "run_query", at),
        ("sess-1us-late", "datahub", "search_datasets", at + timedelta(microseconds=1)),
    ]
    sent = [
        NewEvent(
            tool_name=tool,
            success=True,
            id=f"tie-{n}",
            timestamp=moment,
            session_id=session,
            user_id="dave",
            user_email="dave@corp.example",
            toolkit_kind=kind,
        )
        for n, (session, kind, tool, moment) in enumerate(calls)
    ]
    derived = [
        {"timestamp": e.timestamp, "created_date": e.timestamp.date(), "parameters": None,
         "event_kind": "mcp_tool_call"}
        for e in sent
    ]  # fmt: skip
    return sent, derived


def reused_id_events(rng: random.Random) -> tuple[list[NewEvent], list[dict[str, Any]]]:
    """Pairs of otherwise equal events sharing an id on two UTC days: two rows each."""
    sent: list[NewEvent] = []
    derived: list[dict[str, Any]] = []
    for n in range(12):
        first = NOW - timedelta(hours=rng.randint(30, 58), seconds=rng.randint(0, 3599))
        for moment in (first, first + timedelta(days=1)):
            sent.append(
                NewEvent(
                    tool_name="run_query",
                    success=n % 3 != 0,
                    id=f"reused-{n:02d}",
                    timestamp=moment,
                    duration_ms=100 * (n % 4),
                    session_id=f"sess-{n:03d}",
                    user_id="bob",
                    user_email="bob@example.com",
                    toolkit_kind="trino",
                    connection="prod",
                )
            )
            derived.append(
                {"timestamp": moment, "created_date": moment.date(), "parameters": None,
                 "event_kind": "mcp_tool_call"}
            )  # fmt: skip
    return sent, derived


def random_parameters(rng: random.Random) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Parameters to send and the redacted parameters expected back."""
    if rng.random() < 0.3:
        return None, None
    sent: dict[str, Any] = {
        "query": rng.choice(["select 1", "orders", "x"]),
        "n": rng.randint(0, 9),
    }
    expected = dict(sent)
    if rng.random() < 0.4:
        key = rng.choice(SENSITIVE)
        sent[key] = "s3cr3t"
        expected[key] = "[REDACTED]"
    if rng.random() < 0.3:
        sent["nested"] = [{"Token": "abc", "keep": "yes"}, 1]
        expected["nested"] = [{"Token": "[REDACTED]", "keep": "yes"}, 1]
    return sent, expected


def generate(rng: random.Random, count: int) -> tuple[list[NewEvent], list[dict[str, Any]]]:
    """Events to send, and per event the fields expected back that the store derives."""
    sent: list[NewEvent] = []
    derived: list[dict[str, Any]] = []
    used_ids: set[str] = set()
    for _ in range(count):
        user_id, email = rng.choice(USERS)
        if user_id == "erin" and rng.random() < 0.4:
            email = ""
        kind = rng.choice(["datahub", "datahub", "trino", "trino", "api", "s3", ""])
        success = rng.random() < 0.8
        moment = random_moment(rng)
        sent_moment = moment
        if rng.random() < 0.1:
            sent_moment = moment.astimezone(timezone(timedelta(hours=rng.choice([-8, 5, 14]))))
        event_id: str | None = None
        if rng.random() < 0.9:
            while event_id is None or event_id in used_ids:
                event_id = "".join(rng.choices(ID_ALPHABET, k=rng.randint(6, 22)))
            used_ids.add(event_id)
        explicit_kind = rng.choice([None] * 8 + ["custom_kind", "mcp_tool_call"])
        full_tokens = rng.choice([0, 0, rng.randint(1, 5000)])
        dedup_tokens = rng.choice([0, rng.randint(0, full_tokens)]) if full_tokens else 0
        parameters, expected_parameters = random_parameters(rng)
        duration = rng.choice([0, int(rng.expovariate(1 / 250)), rng.randint(5000, 90000)])
        event = NewEvent(
            tool_name=rng.choice(TOOLS[kind]),
            success=success,
            id=event_id,
            timestamp=sent_moment,
            duration_ms=duration,
            request_id=f"req-{rng.randint(0, 10**6)}",
            session_id=pick_session(rng, kind),
            user_id=user_id,
            user_email=email,
            persona=rng.choice(PERSONAS),
            toolkit_kind=kind,
            toolkit_name=TOOLKIT_NAMES[kind],
            connection=rng.choice(CONNECTIONS),
            parameters=parameters,
            error_message="" if success else rng.choice(ERRORS),
            response_chars=rng.randint(0, 20000),
            request_chars=rng.randint(0, 2000),
            content_blocks=rng.randint(0, 5),
            transport=rng.choice(["stdio", "http"]),
            source=rng.choice(SOURCES),
            enrichment_applied=rng.random() < 0.4,
            enrichment_tokens_full=full_tokens,
            enrichment_tokens_dedup=dedup_tokens,
            enrichment_mode=rng.choice(MODES),
            enrichment_match_kind=rng.choice(["", "exact", "fuzzy"]),
            authorized=rng.random() < 0.95,
            event_kind=explicit_kind,
        )
        sent.append(event)
        derived.append(
            {
                "timestamp": moment,
                "created_date": moment.date(),
                "parameters": expected_parameters,
                "event_kind": explicit_kind
                or ("apigateway_invoke" if kind == "api" else "mcp_tool_call"),
            }
        )
    return sent, derived


def expected_row(event: NewEvent, derived: dict[str, Any], event_id: str) -> dict[str, Any]:
    row = {field.name: getattr(event, field.name) for field in msgspec.structs.fields(NewEvent)}
    row.update(derived)
    row["id"] = event_id
    return row


def read_rows(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Every row as stored, NULL text as '', timestamps in UTC."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute("SELECT * FROM audit_logs").fetchall()
    for row in rows:
        row["timestamp"] = row["timestamp"].astimezone(UTC)
        for key, value in row.items():
            if value is None and key != "parameters":
                row[key] = ""
    return rows


class Seeded:
    def __init__(self, store: Store, events: list[dict[str, Any]]) -> None:
        self.store = store
        self.events = events


@pytest.fixture(scope="module")
def module_schema_url(database_url: str) -> Iterator[str]:
    schema = f"t_ref_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield make_conninfo(database_url, options=f"-c search_path={schema}")
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(scope="module")
async def seeded(module_schema_url: str) -> AsyncIterator[Seeded]:
    store = Store(module_schema_url, clock=lambda: NOW, pool_max_size=4)
    store.migrate()
    rng = random.Random(SEED)
    extra_sent, extra_derived = tie_events()
    reused_sent, reused_derived = reused_id_events(rng)
    sent, derived = generate(rng, EVENT_COUNT - len(extra_sent) - len(reused_sent))
    sent += extra_sent + reused_sent
    derived += extra_derived + reused_derived
    async with store:
        ids: list[str] = []
        for first in range(0, len(sent), BATCH):
            ids += await store.log_many(sent[first : first + BATCH])
        with psycopg.connect(module_schema_url, autocommit=True) as conn:
            rows = read_rows(conn)
        # The rows are what was sent, with the derived fields the SPEC describes.
        expected = [expected_row(e, d, i) for e, d, i in zip(sent, derived, ids, strict=True)]
        by_key = {(row["id"], row["created_date"]): row for row in rows}
        assert len(rows) == len(by_key) == EVENT_COUNT
        for want in expected:
            assert by_key[want["id"], want["created_date"]] == want
        yield Seeded(store, rows)


def as_dict(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name: as_dict(getattr(value, field.name)) for field in dataclasses.fields(value)
        }
    if isinstance(value, list):
        return [as_dict(item) for item in value]
    return value


def assert_matches(actual: Any, expected: Any, path: str = "") -> None:
    """Equal, with floats compared approximately, at any depth."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), path
        assert set(actual) == set(expected), path
        for key in expected:
            assert_matches(actual[key], expected[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list), path
        assert len(actual) == len(expected), f"{path}: {len(actual)} != {len(expected)}"
        for index, (got, want) in enumerate(zip(actual, expected, strict=True)):
            assert_matches(got, want, f"{path}[{index}]")
    elif isinstance(expected, float):
        assert actual == pytest.approx(expected, rel=1e-9, abs=1e-9), path
    else:
        assert actual == expected, path


def event_dicts(events: list[Any]) -> list[dict[str, Any]]:
    return [dataclasses.asdict(event) for event in events]


# --- windows and filters ----------------------------------------------------------

WINDOWS: dict[str, tuple[datetime | None, datetime | None]] = {
    "default": (None, None),
    "start-only": (NOW - timedelta(hours=36), None),
    "end-only": (None, NOW - timedelta(hours=20)),
    "explicit-microseconds": (W_START, W_END),
    "whole-day-boundaries": (DAY_BOUNDARIES[1], DAY_BOUNDARIES[3]),
    "everything": (NOW - timedelta(days=4), NOW + timedelta(days=1)),
    "single-instant": (W_END, W_END),
    "empty": (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)),
}
SCOPES = {
    "all": ("", ""),
    "user": ("alice", ""),
    "no-email-user": ("svc-bot", ""),
    "kind": ("", "apigateway_invoke"),
    "user-and-kind": ("bob", "custom_kind"),
    "unknown-user": ("nobody", ""),
}
METRIC_CASES = [
    pytest.param(window, scope, id=f"{window}/{scope}")
    for window in WINDOWS
    for scope in SCOPES
    if scope == "all" or window in ("default", "explicit-microseconds", "everything")
]


def metrics_filter(window: str, scope: str) -> tuple[MetricsFilter, dict[str, Any]]:
    start, end = WINDOWS[window]
    user_id, event_kind = SCOPES[scope]
    args = {"now": NOW, "start": start, "end": end, "user_id": user_id, "event_kind": event_kind}
    return MetricsFilter(start=start, end=end, user_id=user_id, event_kind=event_kind), args


@pytest.mark.parametrize(("window", "scope"), METRIC_CASES)
@pytest.mark.parametrize("resolution", ["minute", "hour", "day"])
async def test_timeseries_matches_reference(
    seeded: Seeded, window: str, scope: str, resolution: str
) -> None:
    flt, args = metrics_filter(window, scope)
    actual = await seeded.store.timeseries(resolution, flt)
    expected = reference.timeseries(seeded.events, resolution, **args)
    assert_matches(as_dict(actual), expected)


@pytest.mark.parametrize(("window", "scope"), METRIC_CASES)
async def test_overview_matches_reference(seeded: Seeded, window: str, scope: str) -> None:
    flt, args = metrics_filter(window, scope)
    actual = await seeded.store.overview(flt)
    assert_matches(as_dict(actual), reference.overview(seeded.events, **args))


@pytest.mark.parametrize(("window", "scope"), METRIC_CASES)
async def test_performance_matches_reference(seeded: Seeded, window: str, scope: str) -> None:
    flt, args = metrics_filter(window, scope)
    actual = await seeded.store.performance(flt)
    assert_matches(as_dict(actual), reference.performance(seeded.events, **args))


@pytest.mark.parametrize(("window", "scope"), METRIC_CASES)
async def test_enrichment_matches_reference(seeded: Seeded, window: str, scope: str) -> None:
    flt, args = metrics_filter(window, scope)
    actual = await seeded.store.enrichment(flt)
    assert_matches(as_dict(actual), reference.enrichment(seeded.events, **args))


@pytest.mark.parametrize("window", list(WINDOWS))
@pytest.mark.parametrize("event_kind", ["", "mcp_tool_call", "custom_kind"])
async def test_discovery_matches_reference(seeded: Seeded, window: str, event_kind: str) -> None:
    start, end = WINDOWS[window]
    actual = await seeded.store.discovery(
        MetricsFilter(start=start, end=end, event_kind=event_kind)
    )
    expected = reference.discovery(seeded.events, NOW, start, end, event_kind)
    assert_matches(as_dict(actual), expected)


def test_seeded_data_exercises_every_discovery_outcome(seeded: Seeded) -> None:
    """Guard for the test data itself: each outcome the statistic counts does occur."""
    stats = reference.discovery(seeded.events, NOW, *WINDOWS["everything"])
    assert (
        stats["total_sessions"] > stats["discovery_sessions"] > stats["discovery_before_query"] > 0
    )
    assert 0 < stats["query_without_discovery"] < stats["query_sessions"]
    assert len(stats["top_discovery_tools"]) == len(TOOLS["datahub"])
    # first discovery and first query at the same instant: both, but not "before"
    tie = [e for e in seeded.events if e["session_id"] == "sess-tie"]
    assert reference.discovery(tie, NOW, *WINDOWS["everything"])["discovery_before_query"] == 0
    one = [e for e in seeded.events if e["session_id"] == "sess-1us"]
    assert reference.discovery(one, NOW, *WINDOWS["everything"])["discovery_before_query"] == 1


@pytest.mark.parametrize(("window", "scope"), METRIC_CASES)
@pytest.mark.parametrize("group_by", reference.BREAKDOWN_DIMENSIONS)
@pytest.mark.parametrize("limit", [0, 3, 10, 500])
async def test_breakdown_matches_reference(
    seeded: Seeded, window: str, scope: str, group_by: str, limit: int
) -> None:
    flt, args = metrics_filter(window, scope)
    actual = await seeded.store.breakdown(group_by, limit, flt)
    expected = reference.breakdown(seeded.events, group_by, limit, **args)
    assert_matches(as_dict(actual), expected)


@pytest.mark.parametrize("tool_name", ["run_query", "café_lookup", "missing"])
@pytest.mark.parametrize("group_by", reference.BREAKDOWN_DIMENSIONS)
async def test_breakdown_with_tool_name_matches_reference(
    seeded: Seeded, tool_name: str, group_by: str
) -> None:
    start, end = WINDOWS["everything"]
    flt = MetricsFilter(start=start, end=end)
    actual = await seeded.store.breakdown(group_by, 100, flt, tool_name=tool_name)
    expected = reference.breakdown(
        seeded.events, group_by, 100, NOW, start, end, tool_name=tool_name
    )
    assert_matches(as_dict(actual), expected)


# --- events -------------------------------------------------------------------------

FILTERS: dict[str, dict[str, Any]] = {
    "none": {},
    "window": {"start": W_START, "end": W_END},
    "start-only": {"start": NOW - timedelta(hours=24)},
    "end-only": {"end": DAY_BOUNDARIES[2]},
    "single-instant": {"start": NOW, "end": NOW},
    "user": {"user_id": "Carol"},
    "bob": {"user_id": "bob"},
    "empty-strings-mean-no-filter": {"user_id": "", "tool_name": "", "search": "", "source": ""},
    "session": {"session_id": "sess-007"},
    "tool": {"tool_name": "run_query"},
    "kind-and-failed": {"toolkit_kind": "trino", "success": False},
    "succeeded": {"success": True},
    "source": {"source": "cli"},
    "event-kind": {"event_kind": "apigateway_invoke"},
    "search-case": {"search": "QUERY"},
    "search-percent": {"search": "%"},
    "search-underscore": {"search": "_"},
    "search-backslash": {"search": "\\"},
    "search-pattern-like": {"search": "d_s"},
    "search-persona": {"search": "ENGINEER"},
    "search-connection": {"search": "warehouse"},
    "search-error": {"search": "denied"},
    "combined": {"user_id": "alice", "toolkit_kind": "datahub", "search": "get", "start": W_START},
    "nothing": {"user_id": "nobody"},
}


def event_filter(name: str) -> EventFilter:
    return EventFilter(**FILTERS[name])


def some_id(seeded: Seeded) -> str:
    unique = [e["id"] for e in seeded.events if not e["id"].startswith("reused-")]
    return sorted(unique)[len(unique) // 2]


@pytest.mark.parametrize("name", list(FILTERS))
async def test_count_matches_reference(seeded: Seeded, name: str) -> None:
    actual = await seeded.store.count(event_filter(name))
    assert actual == reference.count(seeded.events, FILTERS[name])


def test_seeded_data_has_literal_metacharacters_and_pattern_lookalikes(seeded: Seeded) -> None:
    """Guard for the test data: searches for %, _ and \\ each match some rows but not all."""
    for name in ("search-percent", "search-underscore", "search-backslash"):
        assert 0 < reference.count(seeded.events, FILTERS[name]) < len(seeded.events)
    # "d_s" as a LIKE pattern would match "Describe_Table"; taken literally it matches nothing.
    assert reference.count(seeded.events, {"tool_name": "Describe_Table"}) > 0
    assert reference.count(seeded.events, FILTERS["search-pattern-like"]) == 0


async def test_filter_by_id_matches_reference(seeded: Seeded) -> None:
    wanted = some_id(seeded)
    actual = await seeded.store.query(EventFilter(id=wanted))
    assert event_dicts(actual) == reference.query(seeded.events, {"id": wanted})
    assert len(actual) == 1


async def test_filter_by_reused_id_returns_both_days(seeded: Seeded) -> None:
    actual = await seeded.store.query(EventFilter(id="reused-03"), order="asc")
    assert event_dicts(actual) == reference.query(seeded.events, {"id": "reused-03"}, order="asc")
    assert [event.created_date for event in actual] == sorted({e.created_date for e in actual})
    assert len(actual) == 2


@pytest.mark.parametrize("name", list(FILTERS))
@pytest.mark.parametrize("order", ["asc", "desc"])
async def test_query_first_page_matches_reference(seeded: Seeded, name: str, order: str) -> None:
    actual = await seeded.store.query(event_filter(name), "timestamp", order, limit=1000)
    expected = reference.query(seeded.events, FILTERS[name], "timestamp", order, limit=1000)
    assert event_dicts(actual) == expected


async def walk_with_cursor(
    store: Store, flt: EventFilter, sort: str, order: str, limit: int
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        page = await store.page(flt, sort, order, limit=limit, after=after)
        items += event_dicts(page.items)
        assert len(page.items) <= limit
        if not page.has_next_page:
            return items
        assert len(page.items) == limit
        assert page.end_cursor is not None
        after = page.end_cursor


PAGING_FILTERS = ["none", "window", "search-case", "bob"]


@pytest.mark.parametrize("sort", reference.SORT_FIELDS)
@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("name", PAGING_FILTERS)
async def test_cursor_paging_walks_whole_result_in_reference_order(
    seeded: Seeded, sort: str, order: str, name: str
) -> None:
    walked = await walk_with_cursor(seeded.store, event_filter(name), sort, order, limit=293)
    expected = reference.query(seeded.events, FILTERS[name], sort, order)
    assert [e["id"] for e in walked] == [e["id"] for e in expected]
    assert walked == expected


@pytest.mark.parametrize("sort", reference.SORT_FIELDS)
@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("name", PAGING_FILTERS)
async def test_offset_paging_walks_whole_result_in_reference_order(
    seeded: Seeded, sort: str, order: str, name: str
) -> None:
    flt = event_filter(name)
    expected = reference.query(seeded.events, FILTERS[name], sort, order)
    walked: list[dict[str, Any]] = []
    limit = 347
    for offset in range(0, len(expected) + limit, limit):
        page = await seeded.store.page(flt, sort, order, limit=limit, offset=offset)
        assert event_dicts(page.items) == reference.query(
            seeded.events, FILTERS[name], sort, order, limit=limit, offset=offset
        )
        assert page.has_next_page == (offset + limit < len(expected))
        walked += event_dicts(page.items)
    assert len({(e["id"], e["created_date"]) for e in walked}) == len(walked) == len(expected)
    assert walked == expected


# --- distinct ---------------------------------------------------------------------

RANGES: dict[str, tuple[datetime | None, datetime | None]] = {
    "unbounded": (None, None),
    "start-only": (NOW, None),
    "end-only": (None, W_START),
    "window": (W_START, W_END),
    "single-instant": (DAY_BOUNDARIES[2], DAY_BOUNDARIES[2]),
    "empty": (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)),
}


@pytest.mark.parametrize("column", reference.DISTINCT_COLUMNS)
@pytest.mark.parametrize("name", list(RANGES))
async def test_distinct_matches_reference(seeded: Seeded, column: str, name: str) -> None:
    start, end = RANGES[name]
    actual = await seeded.store.distinct(column, start, end)
    assert actual == reference.distinct(seeded.events, column, start, end)


@pytest.mark.parametrize("name", list(RANGES))
async def test_distinct_pairs_matches_reference(seeded: Seeded, name: str) -> None:
    start, end = RANGES[name]
    actual = await seeded.store.distinct_pairs("user_id", "user_email", start, end)
    assert actual == reference.distinct_pairs(seeded.events, "user_id", "user_email", start, end)
