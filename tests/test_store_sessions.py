"""Sessions read back from the log, against the plain-Python reference (tests/reference.py).

A random log of sessions of every kind (ids minted as the Go service does,
and others), several users and emails per session, failures, purposes with
`%` and `_`, tools and connections with empty values, a row of another writer
with NULLs; then every listing (windows, filters, pages walked to the end),
every single session and its timeline are compared field by field.
"""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import psycopg
import pytest
import reference

from graph.store import EventFilter, InvalidArgument, NewEvent, SessionFilter, SessionKind, Store

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)  # the `clock` fixture's "now"
SESSION_IDS = [
    "dps_agent1", "dps_agent2", "dpp_portal", "dpx_script", "transport-1", "DPS_upper",
    "dps", "mixed_users", "Search%Me_1",
]  # fmt: skip
PURPOSES = ["", "find the revenue table", "100% sure", "a_b literal", "Revenue by REGION"]


def random_log(seed: int) -> list[NewEvent]:
    rng = random.Random(seed)
    events = []
    for n in range(400):
        session_id = rng.choice([*SESSION_IDS, ""])
        events.append(
            NewEvent(
                id=f"e{n:04d}",
                timestamp=NOW - timedelta(minutes=rng.randrange(0, 3 * 24 * 60), seconds=n % 7),
                session_id=session_id,
                user_id=rng.choice(["alice", "bob", ""]),
                user_email=rng.choice(["", "a@example.com", "b@example.com"]),
                persona=rng.choice(["", "analyst", "admin"]),
                tool_name=rng.choice(["search", "describe", "query", "zeta", "Éclair"]),
                toolkit_kind=rng.choice(["datahub", "trino", "s3", ""]),
                connection=rng.choice(["", "warehouse", "lake"]),
                success=rng.random() > 0.2,
                duration_ms=rng.randrange(0, 5000),
                purpose=rng.choice(PURPOSES),
            )
        )
    # Two calls at the same instant, so last activity ties between sessions.
    tie = NOW - timedelta(hours=2)
    events.append(NewEvent(id="tie-a", timestamp=tie, session_id="tie_b", tool_name="t",
                           success=True))  # fmt: skip
    events.append(NewEvent(id="tie-b", timestamp=tie, session_id="tie_a", tool_name="t",
                           success=True))  # fmt: skip
    return events


def as_rows(events: list[NewEvent]) -> list[dict[str, Any]]:
    return [msgspec.structs.asdict(event) for event in events]


LEGACY = {
    "id": "legacy", "timestamp": NOW - timedelta(hours=3), "session_id": "dps_agent1",
    "user_id": "", "user_email": "", "persona": "", "tool_name": "legacy_tool",
    "toolkit_kind": "", "connection": "", "success": False, "duration_ms": 0, "purpose": "",
}  # fmt: skip


def insert_legacy_row(db: psycopg.Connection) -> None:
    """Another writer's row: NULL in every nullable column the summary reads."""
    db.execute(
        "INSERT INTO audit_logs (id, timestamp, created_date, session_id, tool_name, success) "
        "VALUES (%s, %s, %s, %s, %s, false)",
        (LEGACY["id"], LEGACY["timestamp"], LEGACY["timestamp"].date(), LEGACY["session_id"],
         LEGACY["tool_name"]),
    )  # fmt: skip


@pytest.fixture
async def logged(store: Store, db: psycopg.Connection) -> list[dict[str, Any]]:
    events = random_log(14)
    await store.log_many(events[:200])
    await store.log_many(events[200:])
    insert_legacy_row(db)
    return [*as_rows(events), LEGACY]


async def walk(store: Store, flt: SessionFilter, first: int) -> list[dict[str, Any]]:
    """Every page of a listing, in order; each page's end cursor leads to the next."""
    listed: list[dict[str, Any]] = []
    after = None
    for _ in range(len(SESSION_IDS) + 4):  # more pages than sessions: the walk went wrong
        page = await store.sessions(flt, first, after)
        assert len(page.items) <= first
        listed += [{**dataclasses.asdict(item), "kind": item.kind} for item in page.items]
        if not page.has_next_page:
            return listed
        after = page.end_cursor
    raise AssertionError(f"the pages never end: {[s['session_id'] for s in listed]}")


FILTERS = [
    SessionFilter(),
    SessionFilter(start=NOW - timedelta(days=3), end=NOW),
    SessionFilter(start=NOW - timedelta(days=2, minutes=17), end=NOW - timedelta(hours=5)),
    SessionFilter(start=NOW - timedelta(days=3), kind=SessionKind.AGENT),
    SessionFilter(start=NOW - timedelta(days=3), kind=SessionKind.TRANSPORT),
    SessionFilter(start=NOW - timedelta(days=3), kind=SessionKind.PORTAL, has_failures=True),
    SessionFilter(start=NOW - timedelta(days=3), has_failures=False),
    SessionFilter(start=NOW - timedelta(days=3), user_id="alice"),
    SessionFilter(start=NOW - timedelta(days=3), search="REVENUE"),
    SessionFilter(start=NOW - timedelta(days=3), search="%"),
    SessionFilter(start=NOW - timedelta(days=3), search="a_b"),
    SessionFilter(start=NOW - timedelta(days=3), search="agent"),
    SessionFilter(start=NOW - timedelta(days=3), search="_"),
]


@pytest.mark.parametrize("flt", FILTERS)
async def test_sessions_are_listed_and_summed_as_the_reference_says(
    store: Store, logged: list[dict[str, Any]], flt: SessionFilter
) -> None:
    expected = reference.sessions(
        logged, NOW, flt.start, flt.end, flt.user_id,
        flt.kind.name if flt.kind else None, flt.has_failures, flt.search,
    )  # fmt: skip
    for summary in expected:
        summary["kind"] = SessionKind[reference.session_kind(summary["session_id"])]
    assert expected, "each filter selects some sessions"
    for first in (1, 3, 200):
        assert await walk(store, flt, first) == expected
    assert await store.count_sessions(flt) == len(expected)


async def test_the_kinds_follow_the_prefixes_the_go_service_mints(
    store: Store, logged: list[dict[str, Any]]
) -> None:
    listed = await walk(store, SessionFilter(start=NOW - timedelta(days=3)), 200)
    kinds = {summary["session_id"]: summary["kind"].name for summary in listed}
    assert kinds["dps_agent1"] == "AGENT"
    assert kinds["dpp_portal"] == "PORTAL"
    assert kinds["dpx_script"] == "SCRIPT"
    for other in ("transport-1", "DPS_upper", "dps", "mixed_users", "tie_a"):
        assert kinds[other] == "TRANSPORT"


async def test_ties_in_last_activity_go_by_session_id(
    store: Store, logged: list[dict[str, Any]]
) -> None:
    tie = NOW - timedelta(hours=2)
    page = await store.sessions(SessionFilter(start=tie, end=tie), 25)
    assert [item.session_id for item in page.items] == ["tie_a", "tie_b"]
    first = await store.sessions(SessionFilter(start=tie, end=tie), 1)
    second = await store.sessions(SessionFilter(start=tie, end=tie), 1, first.end_cursor)
    assert [first.items[0].session_id, second.items[0].session_id] == ["tie_a", "tie_b"]
    assert not second.has_next_page


@pytest.mark.parametrize("session_id", [*SESSION_IDS, "tie_a"])
async def test_a_session_sums_all_its_calls_and_pages_its_timeline(
    store: Store, logged: list[dict[str, Any]], session_id: str
) -> None:
    found = await store.session(session_id)
    assert found is not None
    assert dataclasses.asdict(found) == reference.session(logged, session_id)
    expected = [
        row["id"]
        for row in sorted(
            (row for row in logged if row["session_id"] == session_id),
            key=lambda row: (row["timestamp"], row["id"].encode()),
        )
    ]
    timeline, after = [], None
    while True:
        page = await store.timeline(session_id, 7, after)
        timeline += [event.id for event in page.items]
        if not page.has_next_page:
            break
        after = page.end_cursor
    assert timeline == expected
    assert await store.count(EventFilter(session_id=session_id)) == len(expected)


async def test_a_session_without_calls_is_none(store: Store, logged: list[dict[str, Any]]) -> None:
    assert await store.session("no-such-session") is None
    assert await store.session("") is None


async def test_bad_arguments_are_refused_before_any_sql(store: Store) -> None:
    for first in (0, 201, -1):
        with pytest.raises(InvalidArgument, match="first must be between 1 and 200"):
            await store.sessions(SessionFilter(), first)
    with pytest.raises(InvalidArgument, match="first must be between 1 and 1000"):
        await store.timeline("s", 1001)
    with pytest.raises(InvalidArgument, match="start time"):
        await store.sessions(SessionFilter(start=NOW, end=NOW - timedelta(hours=1)))
    with pytest.raises(InvalidArgument, match="not a cursor"):
        await store.sessions(SessionFilter(), 5, "garbage")
    events_cursor = (await store.page()).end_cursor or "eyJ4Ijoxfq"
    with pytest.raises(InvalidArgument):
        await store.sessions(SessionFilter(), 5, events_cursor)
    with pytest.raises(InvalidArgument):
        await store.sessions(SessionFilter(search="bad\x00text"))


async def test_a_page_carries_its_resolved_window_for_its_total_count(
    store: Store, logged: list[dict[str, Any]]
) -> None:
    """totalCount counts the window the page was read in, not a later "last 24 hours"."""
    page = await store.sessions(SessionFilter(kind=SessionKind.AGENT))
    assert page.filter == SessionFilter(start=NOW - timedelta(hours=24), end=NOW,
                                        kind=SessionKind.AGENT)  # fmt: skip
