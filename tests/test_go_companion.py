"""Beside the newest Go service: its database migrated in place, its lock, its numbers.

The Go service's table is written out here by hand, as that service creates
it (every column of SPEC 2 and `purpose`, its indexes, monthly partitions,
golang-migrate's `schema_migrations` at version 121), and filled with plain
SQL INSERTs, some rows with a NULL purpose and some whose created_date is the
service's local date rather than the UTC one. Every expected value is worked
out by hand in the comments.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator

import psycopg
import pytest
from api_client import Api, serving
from go_schema import GO_COLUMNS, NEWEST_GO_COLUMNS

from graph.constants import DEFAULT_MAINTENANCE_LOCK_KEY, fnv1a_64
from graph.store import Store

GO_LOCK_KEY = -6762681067540170486  # the Go service's int64(fnv1a64("mcp-data-platform:..."))

# Every column of SPEC 2 and purpose: the original fifteen, then the newer ones.
NEWEST_TABLE = GO_COLUMNS.replace("PRIMARY KEY", NEWEST_GO_COLUMNS + "    PRIMARY KEY")
GO_SCHEMA = f"""
CREATE TABLE audit_logs ({NEWEST_TABLE}) PARTITION BY RANGE (created_date);
CREATE TABLE audit_logs_2026_02 PARTITION OF audit_logs
    FOR VALUES FROM ('2026-02-01') TO ('2026-03-01');
CREATE TABLE audit_logs_2026_03 PARTITION OF audit_logs
    FOR VALUES FROM ('2026-03-01') TO ('2026-04-01');
CREATE TABLE audit_logs_default PARTITION OF audit_logs DEFAULT;
CREATE INDEX idx_audit_logs_timestamp ON audit_logs (timestamp);
CREATE INDEX idx_audit_logs_user_id ON audit_logs (user_id);
CREATE INDEX idx_audit_logs_tool_name ON audit_logs (tool_name);
CREATE INDEX idx_audit_logs_success ON audit_logs (success);
CREATE INDEX idx_audit_logs_created_date ON audit_logs (created_date);
CREATE INDEX idx_audit_logs_session_id ON audit_logs (session_id);
CREATE INDEX idx_audit_logs_purpose_fts ON audit_logs
    USING gin (to_tsvector('english', purpose)) WHERE purpose IS NOT NULL AND purpose <> '';
CREATE INDEX idx_audit_logs_prompt_serve ON audit_logs ((parameters->>'prompt_id'))
    WHERE event_kind = 'prompt_serve';
CREATE INDEX idx_audit_logs_resource_read ON audit_logs ((parameters->>'resource_id'))
    WHERE event_kind = 'resource_read';
CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL);
INSERT INTO schema_migrations (version, dirty) VALUES (121, false);
"""

# The Go service's rows. created_date is its local date: g3 ran at 23:30 UTC
# on 28 February east of UTC (local 1 March), g4 at 00:15 UTC on 14 March
# west of UTC (local 13 March).
GO_ROWS = """
INSERT INTO audit_logs (id, timestamp, duration_ms, user_id, user_email, persona, tool_name,
    toolkit_kind, connection, parameters, success, error_message, created_date, session_id,
    source, event_kind, purpose)
VALUES
 ('g1', '2026-03-15T10:00:00Z', 100, 'u1', 'ada@example.com', 'analyst', 'search_datasets',
  'datahub', 'prod', '{"query": "orders"}', true, NULL, '2026-03-15', 'dps_a',
  'mcp', 'mcp_tool_call', 'Find the table that holds last month''s Orders'),
 ('g2', '2026-03-15T10:05:00Z', 300, 'u1', NULL, 'analyst', 'run_query',
  'trino', 'prod', NULL, false, 'syntax error', '2026-03-15', 'dps_a',
  'mcp', 'mcp_tool_call', NULL),
 ('g3', '2026-02-28T23:30:00Z', 20, 'u2', 'bo@example.com', 'engineer', 'get_prompt',
  'datahub', NULL, '{"prompt_id": "p1"}', true, NULL, '2026-03-01', '',
  'portal', 'prompt_serve', ''),
 ('g4', '2026-03-14T00:15:00Z', 40, 'u2', NULL, NULL, 'read_resource',
  's3', NULL, '{"resource_id": "r9"}', true, NULL, '2026-03-13', 'dpp_b',
  'portal', 'resource_read', 'Read the 100% sample (not 10_000 rows)'),
 ('g5', '2026-03-15T11:00:00Z', 1000, 'u3', NULL, NULL, 'run_script',
  'api', NULL, NULL, true, NULL, '2026-03-15', 'dpx_c',
  'agent', 'script_run', 'Nightly export');
"""

G1_PURPOSE = "Find the table that holds last month's Orders"
G4_PURPOSE = "Read the 100% sample (not 10_000 rows)"
WINDOW = '{startTime: "2026-02-28T00:00:00Z", endTime: "2026-03-15T12:00:00Z"}'


def go_database(db: psycopg.Connection) -> None:
    db.execute(GO_SCHEMA)
    db.execute(GO_ROWS)


@pytest.fixture
async def go_api(schema_url: str, db: psycopg.Connection, clock: object) -> AsyncIterator[Api]:
    """The API over the Go service's database, migrated in place at start-up."""
    go_database(db)
    store = Store(schema_url, clock=clock, pool_max_size=4)  # type: ignore[arg-type]
    store.migrate()
    async with store, serving(store, schema_url) as api:
        yield api


def indexes(db: psycopg.Connection) -> set[str]:
    rows = db.execute(
        "SELECT indexname FROM pg_indexes "
        "WHERE schemaname = current_schema() AND tablename = 'audit_logs'"
    ).fetchall()
    return {name for (name,) in rows}


# --- the lock -----------------------------------------------------------------------------


def test_the_default_lock_key_is_the_go_services() -> None:
    assert fnv1a_64("mcp-data-platform:audit_logs:maintenance") == GO_LOCK_KEY
    assert DEFAULT_MAINTENANCE_LOCK_KEY == GO_LOCK_KEY
    # FNV-1a 64 test vectors, read as signed: "" is 0xcbf29ce484222325, "a" 0xaf63dc4c8601ec8c.
    assert fnv1a_64("") == 0xCBF29CE484222325 - 2**64
    assert fnv1a_64("a") == 0xAF63DC4C8601EC8C - 2**64


def go_holds_the_lock(database_url: str) -> psycopg.Connection:
    conn = psycopg.connect(database_url, autocommit=True)
    assert conn.execute("SELECT pg_try_advisory_lock(%s)", (GO_LOCK_KEY,)).fetchone() == (True,)
    return conn


def test_maintain_once_skips_while_the_go_service_holds_its_lock(
    schema_url: str, database_url: str, db: psycopg.Connection
) -> None:
    go_database(db)
    command = [sys.executable, "-m", "graph.cli", "maintain", "--once", "--database-url"]
    with go_holds_the_lock(database_url):
        held = subprocess.run([*command, schema_url], capture_output=True, text=True, timeout=60)
    assert held.returncode == 3, held.stdout + held.stderr
    free = subprocess.run([*command, schema_url], capture_output=True, text=True, timeout=60)
    assert free.returncode == 0, free.stdout + free.stderr


async def test_run_maintenance_skips_while_the_go_service_holds_its_lock(
    go_api: Api, database_url: str
) -> None:
    query = "mutation { runMaintenance { lockAcquired partitionsCreated } }"
    with go_holds_the_lock(database_url):
        skipped = await go_api.gql(query)
    assert skipped["runMaintenance"] == {"lockAcquired": False, "partitionsCreated": []}
    ran = await go_api.gql(query)
    assert ran["runMaintenance"]["lockAcquired"] is True


async def test_the_go_service_skips_while_a_tick_of_ours_holds_the_lock(
    store: Store, db: psycopg.Connection, schema_url: str, database_url: str
) -> None:
    # A row of an expired month, locked, holds our tick in its retention DELETE.
    db.execute(
        "INSERT INTO audit_logs (id, timestamp, tool_name, success, created_date) "
        "VALUES ('old', '2025-01-01T00:00:00Z', 't', true, '2025-01-01')"
    )
    with psycopg.connect(schema_url) as blocker:
        blocker.execute("SELECT 1 FROM audit_logs WHERE id = 'old' FOR UPDATE")
        tick = asyncio.create_task(store.run_maintenance())
        with psycopg.connect(database_url, autocommit=True) as go:
            for _ in range(200):
                got = go.execute("SELECT pg_try_advisory_lock(%s)", (GO_LOCK_KEY,)).fetchone()
                if got == (False,):
                    break
                go.execute("SELECT pg_advisory_unlock(%s)", (GO_LOCK_KEY,))
                await asyncio.sleep(0.05)
            assert got == (False,), "the tick never held the Go service's key"
        blocker.rollback()
    report = await tick
    assert report.lock_acquired and report.rows_deleted == 1


# --- the newest Go service's database ---------------------------------------------------------


async def test_the_go_database_migrates_in_place_and_twice_is_a_no_op(
    schema_url: str, db: psycopg.Connection, clock: object
) -> None:
    go_database(db)
    before = indexes(db)
    store = Store(schema_url, clock=clock)  # type: ignore[arg-type]
    applied = store.migrate()
    assert applied  # ours were never recorded in this database
    assert store.migrate() == []
    assert db.execute("SELECT version, dirty FROM schema_migrations").fetchall() == [(121, False)]
    assert before <= indexes(db)  # the Go service's indexes are all still there
    assert db.execute("SELECT count(*) FROM audit_logs").fetchone() == (5,)
    # Nothing was rewritten: the NULL purpose and the local dates stay as the service wrote them.
    assert db.execute(
        "SELECT id, purpose, created_date::text FROM audit_logs WHERE id IN ('g2', 'g3', 'g4') "
        "ORDER BY id"
    ).fetchall() == [
        ("g2", None, "2026-03-15"),
        ("g3", "", "2026-03-01"),
        ("g4", G4_PURPOSE, "2026-03-13"),
    ]


async def test_rows_with_a_local_created_date_are_found_by_timestamp(go_api: Api) -> None:
    data = await go_api.gql(
        '{ g3: events(filter: {startTime: "2026-02-28T23:00:00Z", '
        'endTime: "2026-02-28T23:59:59Z"}) { items { id } } '
        '  g4: events(filter: {startTime: "2026-03-14T00:00:00Z", '
        'endTime: "2026-03-14T00:30:00Z"}) { items { id } } '
        '  g4count: eventCount(filter: {startTime: "2026-03-14T00:00:00Z", '
        'endTime: "2026-03-14T00:30:00Z"}) '
        '  feb: overview(filter: {startTime: "2026-02-28T00:00:00Z", '
        'endTime: "2026-02-28T23:59:59Z"}) { totalCalls } }'
    )
    assert data["g3"]["items"] == [{"id": "g3"}]
    assert data["g4"]["items"] == [{"id": "g4"}]
    assert data["g4count"] == 1
    assert data["feb"]["totalCalls"] == 1  # g3 alone, in the March partition


async def test_every_event_kind_round_trips_and_filters(go_api: Api) -> None:
    data = await go_api.gql(
        f"{{ all: events(filter: {WINDOW}, sortBy: TIMESTAMP, sortOrder: ASC) "
        "{ items { id eventKind purpose source } } "
        '  prompt: events(filter: {eventKind: "prompt_serve", '
        'startTime: "2026-02-01T00:00:00Z"}) '
        "{ items { id parameters } } "
        "  kinds: distinctValues(column: EVENT_KIND) }"
    )
    assert data["all"]["items"] == [
        {"id": "g3", "eventKind": "prompt_serve", "purpose": "", "source": "portal"},
        {"id": "g4", "eventKind": "resource_read", "purpose": G4_PURPOSE, "source": "portal"},
        {"id": "g1", "eventKind": "mcp_tool_call", "purpose": G1_PURPOSE, "source": "mcp"},
        {"id": "g2", "eventKind": "mcp_tool_call", "purpose": "", "source": "mcp"},  # NULL
        {"id": "g5", "eventKind": "script_run", "purpose": "Nightly export", "source": "agent"},
    ]
    assert data["prompt"]["items"] == [{"id": "g3", "parameters": {"prompt_id": "p1"}}]
    assert data["kinds"] == ["mcp_tool_call", "prompt_serve", "resource_read", "script_run"]


async def test_statistics_on_the_go_rows(go_api: Api) -> None:
    data = await go_api.gql(
        f"{{ overview(filter: {WINDOW}) {{ totalCalls errorCount uniqueUsers avgDurationMs }} "
        f"  kinds: breakdown(groupBy: EVENT_KIND, filter: {WINDOW}) {{ dimension count }} "
        f"  sources: breakdown(groupBy: SOURCE, filter: {WINDOW}) "
        "{ dimension count successRate } "
        f'  portal: overview(filter: {{startTime: "2026-02-28T00:00:00Z", '
        f'endTime: "2026-03-15T12:00:00Z", source: "portal"}}) {{ totalCalls }} '
        f"  discovery(filter: {WINDOW}) {{ totalSessions discoverySessions querySessions "
        "discoveryBeforeQuery topDiscoveryTools { dimension count } } }"
    )
    # 5 calls, g2 failed; users u1 u2 u3; durations (100+300+20+40+1000)/5 = 292.
    assert data["overview"] == {
        "totalCalls": 5,
        "errorCount": 1,
        "uniqueUsers": 3,
        "avgDurationMs": 292.0,
    }
    assert data["kinds"] == [
        {"dimension": "mcp_tool_call", "count": 2},
        {"dimension": "prompt_serve", "count": 1},
        {"dimension": "resource_read", "count": 1},
        {"dimension": "script_run", "count": 1},
    ]
    assert data["sources"] == [
        {"dimension": "mcp", "count": 2, "successRate": 0.5},
        {"dimension": "portal", "count": 2, "successRate": 1.0},
        {"dimension": "agent", "count": 1, "successRate": 1.0},
    ]
    assert data["portal"] == {"totalCalls": 2}  # g3, g4
    # Sessions dps_a (datahub g1 then trino g2), dpp_b, dpx_c; the datahub calls are g1
    # (in a session) and g3 (without one): both count among the top discovery tools.
    assert data["discovery"] == {
        "totalSessions": 3,
        "discoverySessions": 1,
        "querySessions": 1,
        "discoveryBeforeQuery": 1,
        "topDiscoveryTools": [
            {"dimension": "get_prompt", "count": 1},
            {"dimension": "search_datasets", "count": 1},
        ],
    }


async def test_search_matches_purpose_literally_and_case_insensitively(go_api: Api) -> None:
    def search(text: str) -> str:
        return f'events(filter: {{search: "{text}", startTime: "2026-02-01T00:00:00Z"}}) {{ items {{ id }} }}'  # noqa: E501

    data = await go_api.gql(
        f"{{ orders: {search('ORDERS')} percent: {search('100%')} "
        f"  underscore: {search('10_000')} none: {search('1_%')} }}"
    )
    assert data["orders"]["items"] == [{"id": "g1"}]  # "...last month's Orders"
    assert data["percent"]["items"] == [{"id": "g4"}]
    assert data["underscore"]["items"] == [{"id": "g4"}]
    assert data["none"]["items"] == []  # % and _ match only themselves


async def test_writes_carry_purpose_into_the_go_table(go_api: Api, db: psycopg.Connection) -> None:
    event = await go_api.gql(
        'mutation { logEvent(input: {id: "w1", toolName: "t", success: true, '
        'purpose: "Check the api_key rotation", parameters: {api_key: "s3cret"}}) '
        "{ purpose parameters } }"
    )
    # purpose is text, not an argument value: never redacted.
    assert event["logEvent"] == {
        "purpose": "Check the api_key rotation",
        "parameters": {"api_key": "[REDACTED]"},
    }
    batch = await go_api.gql(
        'mutation { logEvents(inputs: [{id: "w2", toolName: "t", success: true, '
        'purpose: "second"}, {id: "w3", toolName: "t", success: true}]) { accepted } }'
    )
    assert batch["logEvents"]["accepted"] == 2
    rows = db.execute(
        "SELECT id, purpose FROM audit_logs WHERE id LIKE 'w%' ORDER BY id"
    ).fetchall()
    assert rows == [("w1", "Check the api_key rotation"), ("w2", "second"), ("w3", "")]


async def test_the_ids_filter_resolves_the_events_a_report_cites(go_api: Api) -> None:
    data = await go_api.gql(
        '{ cited: events(filter: {ids: ["g1", "g4", "nope"], startTime: "2026-02-01T00:00:00Z"}, '
        "sortOrder: ASC) { items { id } } "
        '  portal: events(filter: {ids: ["g1", "g4"], source: "portal", '
        'startTime: "2026-02-01T00:00:00Z"}) { items { id } } '
        '  count: eventCount(filter: {ids: ["g1", "g2", "g3"], '
        'startTime: "2026-02-01T00:00:00Z"}) }'
    )
    assert data["cited"]["items"] == [{"id": "g4"}, {"id": "g1"}]
    assert data["portal"]["items"] == [{"id": "g4"}]
    assert data["count"] == 3


@pytest.mark.parametrize("count", [0, 1001])
async def test_ids_takes_between_1_and_1000(go_api: Api, count: int) -> None:
    ids = [f"i{n}" for n in range(count)]
    message = await go_api.bad_input(
        "query($ids: [ID!]) { events(filter: {ids: $ids}) { items { id } } }", {"ids": ids}
    )
    assert "between 1 and 1000" in message


async def test_ids_of_1000_are_taken(go_api: Api) -> None:
    ids = ["g1", *(f"i{n}" for n in range(999))]
    data = await go_api.gql(
        'query($ids: [ID!]) { eventCount(filter: {ids: $ids, startTime: "2026-02-01T00:00:00Z"}) }',
        {"ids": ids},
    )
    assert data["eventCount"] == 1


@pytest.mark.parametrize(("length", "ok"), [(1000, True), (1001, False)])
async def test_purpose_holds_at_most_1000_characters(api: Api, length: int, ok: bool) -> None:
    query = 'mutation($p: String) { logEvent(input: {toolName: "t", success: true, purpose: $p}) { purpose } }'  # noqa: E501
    if ok:
        data = await api.gql(query, {"p": "x" * length})
        assert data["logEvent"]["purpose"] == "x" * length
    else:
        message = await api.bad_input(query, {"p": "x" * length})
        assert "purpose is 1001 characters long" in message
