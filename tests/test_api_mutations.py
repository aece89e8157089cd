"""Every Mutation through the real ASGI app: what is stored, checked in the table itself.

The FakeClock stands at 2026-03-15T12:00Z, so "now" is that instant.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, date, datetime
from typing import Any

import psycopg
import pytest
from api_client import Api, count_rows, gql, insert
from api_dataset import row as table_row
from graphql_client import EVENT_FIELDS

from graph.constants import DEFAULT_MAINTENANCE_LOCK_KEY

NOW = "2026-03-15T12:00:00+00:00"
LOG_EVENT = f"mutation($e: AuditEventInput!) {{ logEvent(input: $e) {{ {EVENT_FIELDS} }} }}"
LOG_EVENTS = "mutation($e: [AuditEventInput!]!) { logEvents(inputs: $e) { accepted ids } }"
ID_SHAPE = re.compile(r"^[A-Za-z0-9_-]{22}$")

# What logEvent stores for {toolName: "t", success: true}, field by field (SPEC 4 defaults).
DEFAULTS: dict[str, Any] = {
    "timestamp": NOW,
    "durationMs": 0,
    "requestId": "",
    "sessionId": "",
    "userId": "",
    "userEmail": "",
    "persona": "",
    "toolName": "t",
    "toolkitKind": "",
    "toolkitName": "",
    "connection": "",
    "parameters": None,
    "success": True,
    "errorMessage": "",
    "responseChars": 0,
    "requestChars": 0,
    "contentBlocks": 0,
    "transport": "stdio",
    "source": "mcp",
    "enrichmentApplied": False,
    "enrichmentTokensFull": 0,
    "enrichmentTokensDedup": 0,
    "enrichmentMode": "",
    "enrichmentMatchKind": "",
    "authorized": True,
    "eventKind": "mcp_tool_call",
    "purpose": "",
}


async def log_event(api: Api, event: dict[str, Any]) -> dict[str, Any]:
    data = await gql(api, LOG_EVENT, {"e": event})
    logged: dict[str, Any] = data["logEvent"]
    return logged


def stored(db: psycopg.Connection, id_: str) -> list[dict[str, Any]]:
    """The raw rows with this id, every column as PostgreSQL holds it."""
    cur = db.cursor(row_factory=psycopg.rows.dict_row)
    return cur.execute(
        "SELECT * FROM audit_logs WHERE id = %s ORDER BY created_date", (id_,)
    ).fetchall()


def is_generated_id(value: str) -> bool:
    """16 random bytes as base64url without padding."""
    return bool(ID_SHAPE.match(value)) and len(base64.urlsafe_b64decode(value + "==")) == 16


# --- logEvent: defaults ------------------------------------------------------------


async def test_log_event_applies_every_default(api: Api, db: psycopg.Connection) -> None:
    event = await log_event(api, {"toolName": "t", "success": True})
    assert is_generated_id(event.pop("id"))
    assert event == DEFAULTS


async def test_log_event_stores_the_defaults_not_nulls(api: Api, db: psycopg.Connection) -> None:
    event = await log_event(api, {"toolName": "t", "success": True})
    [stored_row] = stored(db, event["id"])
    # The table's defaults (api_dataset.row), none of them NULL.
    assert stored_row == table_row(
        event["id"],
        datetime(2026, 3, 15, 12, tzinfo=UTC),
        created_date=date(2026, 3, 15),
        request_id="",
        tool_name="t",
    )


async def test_log_event_explicit_nulls_take_the_defaults(api: Api) -> None:
    nulls = {
        name: None
        for name in DEFAULTS
        if name not in ("toolName", "success", "eventKind", "timestamp", "parameters")
    }
    event = await log_event(
        api,
        {**nulls, "id": None, "timestamp": None, "parameters": None, "eventKind": None,
         "toolName": "t", "success": True},
    )  # fmt: skip
    assert is_generated_id(event.pop("id"))
    assert event == DEFAULTS


async def test_log_event_generates_a_new_id_each_time(api: Api, db: psycopg.Connection) -> None:
    first = await log_event(api, {"toolName": "t", "success": True})
    second = await log_event(api, {"toolName": "t", "success": True})
    assert first["id"] != second["id"]
    assert is_generated_id(first["id"])
    assert is_generated_id(second["id"])
    assert count_rows(db) == 2


@pytest.mark.parametrize(
    ("given", "kind"),
    [
        ({"toolkitKind": "api"}, "apigateway_invoke"),
        ({"toolkitKind": "datahub"}, "mcp_tool_call"),
        ({"toolkitKind": "API"}, "mcp_tool_call"),  # the match is exact
        ({"toolkitKind": "api", "eventKind": "batch_job"}, "batch_job"),
        ({"toolkitKind": "trino", "eventKind": "apigateway_invoke"}, "apigateway_invoke"),
    ],
)
async def test_log_event_event_kind_is_kept_or_derived(
    api: Api, db: psycopg.Connection, given: dict[str, str], kind: str
) -> None:
    event = await log_event(api, {"toolName": "t", "success": True, **given})
    assert event["eventKind"] == kind
    assert stored(db, event["id"])[0]["event_kind"] == kind


# --- logEvent: given values ----------------------------------------------------------


async def test_log_event_stores_every_given_field(api: Api, db: psycopg.Connection) -> None:
    given = {
        "id": "evt-1",
        "timestamp": "2026-03-14T18:30:15.250000+00:00",
        "durationMs": 1234,
        "requestId": "req-9",
        "sessionId": "sess-3",
        "userId": "u-1",
        "userEmail": "ada@example.com",
        "persona": "analyst",
        "toolName": "search_datasets",
        "toolkitKind": "datahub",
        "toolkitName": "dh-main",
        "connection": "prod",
        "parameters": {"query": "orders", "limit": 10, "exact": False, "tags": ["a", None]},
        "success": False,
        "errorMessage": "timeout after 30s",
        "responseChars": 5,
        "requestChars": 6,
        "contentBlocks": 7,
        "transport": "http",
        "source": "gateway",
        "enrichmentApplied": True,
        "enrichmentTokensFull": 900,
        "enrichmentTokensDedup": 300,
        "enrichmentMode": "summary",
        "enrichmentMatchKind": "fuzzy",
        "authorized": False,
        "eventKind": "custom_kind",
        "purpose": "Find last month's orders",
    }
    assert await log_event(api, given) == given
    [row] = stored(db, "evt-1")
    assert row["timestamp"] == datetime(2026, 3, 14, 18, 30, 15, 250000, tzinfo=UTC)
    assert row["created_date"] == date(2026, 3, 14)
    assert row["parameters"] == given["parameters"]
    assert (row["user_email"], row["enrichment_match_kind"], row["authorized"]) == (
        "ada@example.com",
        "fuzzy",
        False,
    )
    # What logEvent answered is what a later read finds.
    found = await gql(api, f'{{ event(id: "evt-1") {{ {EVENT_FIELDS} }} }}')
    assert found["event"] == given


@pytest.mark.parametrize(
    ("timestamp", "utc", "day"),
    [
        # An offset is converted; created_date is the UTC day, not the local one.
        ("2026-03-15T02:00:00+05:30", "2026-03-14T20:30:00+00:00", date(2026, 3, 14)),
        ("2026-03-01T22:00:00-05:00", "2026-03-02T03:00:00+00:00", date(2026, 3, 2)),
        # Without an offset the time is UTC.
        ("2026-03-01T23:30:00", "2026-03-01T23:30:00+00:00", date(2026, 3, 1)),
        ("2026-03-01T23:30:00Z", "2026-03-01T23:30:00+00:00", date(2026, 3, 1)),
    ],
)
async def test_log_event_timestamp_is_stored_in_utc(
    api: Api, db: psycopg.Connection, timestamp: str, utc: str, day: date
) -> None:
    event = await log_event(api, {"toolName": "t", "success": True, "timestamp": timestamp})
    assert event["timestamp"] == utc
    [row] = stored(db, event["id"])
    assert row["timestamp"] == datetime.fromisoformat(utc)
    assert row["created_date"] == day


async def test_log_event_without_timestamp_takes_the_clock(
    api: Api, db: psycopg.Connection, clock: Any
) -> None:
    clock.set(datetime(2026, 4, 1, 0, 0, 5, tzinfo=UTC))
    event = await log_event(api, {"toolName": "t", "success": True})
    assert event["timestamp"] == "2026-04-01T00:00:05+00:00"
    assert stored(db, event["id"])[0]["created_date"] == date(2026, 4, 1)


# --- logEvent: idempotent retry --------------------------------------------------------


async def test_log_event_retry_returns_the_first_copy(api: Api, db: psycopg.Connection) -> None:
    first = await log_event(
        api,
        {"id": "retry-1", "timestamp": "2026-03-15T08:00:00Z", "toolName": "first",
         "success": True, "userId": "u1"},
    )  # fmt: skip
    # The retry differs in everything but the key (id, UTC day).
    again = await log_event(
        api,
        {"id": "retry-1", "timestamp": "2026-03-15T23:59:59Z", "toolName": "second",
         "success": False, "userId": "u2"},
    )  # fmt: skip
    assert again == first
    assert again["toolName"] == "first"
    assert again["timestamp"] == "2026-03-15T08:00:00+00:00"
    rows = stored(db, "retry-1")
    assert [(r["tool_name"], r["user_id"]) for r in rows] == [("first", "u1")]


async def test_log_event_retry_without_timestamp_on_the_same_day(
    api: Api, db: psycopg.Connection
) -> None:
    first = await log_event(api, {"id": "retry-2", "toolName": "t", "success": True})
    again = await log_event(api, {"id": "retry-2", "toolName": "t", "success": True})
    assert again == first
    assert count_rows(db) == 1


async def test_log_event_same_id_on_another_day_is_another_row(
    api: Api, db: psycopg.Connection
) -> None:
    await log_event(
        api, {"id": "twice", "timestamp": "2026-03-14T10:00:00Z", "toolName": "a", "success": True}
    )
    await log_event(
        api, {"id": "twice", "timestamp": "2026-03-15T10:00:00Z", "toolName": "b", "success": True}
    )
    assert [r["created_date"] for r in stored(db, "twice")] == [
        date(2026, 3, 14),
        date(2026, 3, 15),
    ]
    # event(id) answers with the most recent one.
    found = await gql(api, '{ event(id: "twice") { toolName } }')
    assert found["event"] == {"toolName": "b"}


# --- logEvent: redaction -------------------------------------------------------------


async def test_log_event_redacts_sensitive_keys_at_any_depth(
    api: Api, db: psycopg.Connection
) -> None:
    parameters = {
        "query": "orders",
        "Password": "hunter2",
        "nested": {
            "API_KEY": "k-123",
            "list": [{"token": "t-1", "keep": 1}, "token", {"deeper": {"Secret": [1, 2]}}],
            "Authorization": {"scheme": "Bearer", "value": "abc"},
        },
        "credentials": None,
        # Only whole key names match: these stay.
        "secretive": "visible",
        "tokens": 3,
        "my_password": "visible too",
        "api-key": "different spelling",
    }
    redacted = {
        "query": "orders",
        "Password": "[REDACTED]",
        "nested": {
            "API_KEY": "[REDACTED]",
            "list": [
                {"token": "[REDACTED]", "keep": 1},
                "token",
                {"deeper": {"Secret": "[REDACTED]"}},
            ],
            "Authorization": "[REDACTED]",
        },
        "credentials": "[REDACTED]",
        "secretive": "visible",
        "tokens": 3,
        "my_password": "visible too",
        "api-key": "different spelling",
    }
    event = await log_event(api, {"toolName": "t", "success": True, "parameters": parameters})
    assert event["parameters"] == redacted
    assert stored(db, event["id"])[0]["parameters"] == redacted
    for secret in ("hunter2", "k-123", "t-1", "Bearer", "abc"):
        assert secret not in api.responses[-1]


async def test_log_events_redacts_too(api: Api, db: psycopg.Connection) -> None:
    data = await gql(
        api,
        LOG_EVENTS,
        {"e": [{"toolName": "t", "success": True, "parameters": {"token": "x", "n": 1}}]},
    )
    [row] = stored(db, data["logEvents"]["ids"][0])
    assert row["parameters"] == {"token": "[REDACTED]", "n": 1}


# --- logEvents -------------------------------------------------------------------


async def test_log_events_accepts_all_and_returns_ids_in_order(
    api: Api, db: psycopg.Connection
) -> None:
    batch = [
        {"id": "b-1", "toolName": "one", "success": True, "timestamp": "2026-03-15T09:00:00Z"},
        {"toolName": "two", "success": False, "toolkitKind": "api"},
        {"id": "b-3", "toolName": "three", "success": True, "durationMs": 7},
    ]
    result = (await gql(api, LOG_EVENTS, {"e": batch}))["logEvents"]
    assert result["accepted"] == 3
    first, generated, third = result["ids"]
    assert (first, third) == ("b-1", "b-3")
    assert is_generated_id(generated)
    assert count_rows(db) == 3
    rows = {i: stored(db, i)[0] for i in result["ids"]}
    assert rows["b-1"]["tool_name"] == "one"
    assert rows["b-1"]["timestamp"] == datetime(2026, 3, 15, 9, tzinfo=UTC)
    # Defaults apply to each event of a batch as to logEvent.
    assert rows[generated]["tool_name"] == "two"
    assert rows[generated]["event_kind"] == "apigateway_invoke"
    assert rows[generated]["timestamp"] == datetime(2026, 3, 15, 12, tzinfo=UTC)
    assert (rows["b-3"]["duration_ms"], rows["b-3"]["transport"], rows["b-3"]["source"]) == (
        7,
        "stdio",
        "mcp",
    )


async def test_log_events_retry_of_a_batch_stores_each_event_once(
    api: Api, db: psycopg.Connection
) -> None:
    batch = [{"id": f"r-{n}", "toolName": "t", "success": True} for n in range(5)]
    first = (await gql(api, LOG_EVENTS, {"e": batch}))["logEvents"]
    again = (await gql(api, LOG_EVENTS, {"e": batch}))["logEvents"]
    assert first == again == {"accepted": 5, "ids": [f"r-{n}" for n in range(5)]}
    assert count_rows(db) == 5


@pytest.mark.parametrize(
    "bad",
    [
        {"toolName": "x" * 256},
        {"parameters": ["not", "an", "object"]},
        {"durationMs": -1},
        {"userId": "nul\u0000"},
    ],
)
async def test_log_events_is_all_or_nothing(
    api: Api, db: psycopg.Connection, bad: dict[str, Any]
) -> None:
    batch: list[dict[str, Any]] = [
        {"id": f"ok-{n}", "toolName": "t", "success": True} for n in range(5)
    ]
    batch[3] = {**batch[3], **bad}
    message = await api.bad_input(LOG_EVENTS, {"e": batch})
    assert "event 3" in message
    assert count_rows(db) == 0


async def test_log_events_all_or_nothing_in_a_large_batch(api: Api, db: psycopg.Connection) -> None:
    batch: list[dict[str, Any]] = [{"toolName": "t", "success": True} for _ in range(600)]
    batch[599] = {"toolName": "t", "success": True, "persona": "p" * 101}
    message = await api.bad_input(LOG_EVENTS, {"e": batch})
    assert "event 599" in message
    assert "persona" in message
    assert count_rows(db) == 0


# --- runMaintenance -------------------------------------------------------------------

MAINTENANCE = (
    "mutation { runMaintenance { ranAt lockAcquired partitionsCreated rowsDeleted "
    "partitionsDropped errors } }"
)


def partition_names(db: psycopg.Connection) -> list[str]:
    rows = db.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'audit_logs'::regclass ORDER BY c.relname"
    ).fetchall()
    return [r[0] for r in rows]


def month_partition(db: psycopg.Connection, name: str, start: str, end: str) -> None:
    db.execute(
        f"CREATE TABLE {name} PARTITION OF audit_logs FOR VALUES FROM ('{start}') TO ('{end}')"
    )


@pytest.fixture
def aged(db: psycopg.Connection) -> None:
    """Now 2026-03-15T12:00Z, retention 90 days: the cutoff is 2025-12-15T12:00Z.

    audit_logs_2025_11 ends (exclusive) on 2025-12-01, before the cutoff: dropped.
    audit_logs_2025_12 ends on 2026-01-01, after it: kept. The default partition
    holds a March row, so the current month is not created; April and May are.
    """
    month_partition(db, "audit_logs_2025_11", "2025-11-01", "2025-12-01")
    month_partition(db, "audit_logs_2025_12", "2025-12-01", "2026-01-01")
    for id_, moment in [
        ("nov", "2025-11-20T10:00:00Z"),  # deleted, then its partition dropped
        ("dec", "2025-12-15T11:59:59Z"),  # a second before the cutoff: deleted
        ("dec-late", "2025-12-15T12:00:00Z"),  # on the cutoff: kept
        ("jan", "2026-01-10T00:00:00Z"),
        ("mar", "2026-03-01T00:00:00Z"),
    ]:
        insert(db, id=id_, timestamp=moment, tool_name="t")


async def test_run_maintenance_runs_a_full_tick_and_reports_it(
    api: Api, db: psycopg.Connection, aged: None
) -> None:
    report = (await gql(api, MAINTENANCE))["runMaintenance"]
    assert report == {
        "ranAt": NOW,
        "lockAcquired": True,
        "partitionsCreated": ["audit_logs_2026_04", "audit_logs_2026_05"],
        "rowsDeleted": 2,
        "partitionsDropped": ["audit_logs_2025_11"],
        "errors": [],
    }
    assert partition_names(db) == [
        "audit_logs_2025_12",
        "audit_logs_2026_04",
        "audit_logs_2026_05",
        "audit_logs_default",
    ]
    remaining = db.execute("SELECT id FROM audit_logs ORDER BY timestamp").fetchall()
    assert [r[0] for r in remaining] == ["dec-late", "jan", "mar"]


async def test_run_maintenance_twice_has_nothing_left_to_do(
    api: Api, db: psycopg.Connection, aged: None
) -> None:
    await gql(api, MAINTENANCE)
    report = (await gql(api, MAINTENANCE))["runMaintenance"]
    assert report == {
        "ranAt": NOW,
        "lockAcquired": True,
        "partitionsCreated": [],
        "rowsDeleted": 0,
        "partitionsDropped": [],
        "errors": [],
    }


async def test_run_maintenance_skips_when_another_process_holds_the_lock(
    api: Api, db: psycopg.Connection, aged: None, database_url: str
) -> None:
    with psycopg.connect(database_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (DEFAULT_MAINTENANCE_LOCK_KEY,))
        report = (await gql(api, MAINTENANCE))["runMaintenance"]
        holder.execute("SELECT pg_advisory_unlock(%s)", (DEFAULT_MAINTENANCE_LOCK_KEY,))
    assert report == {
        "ranAt": NOW,
        "lockAcquired": False,
        "partitionsCreated": [],
        "rowsDeleted": 0,
        "partitionsDropped": [],
        "errors": [],
    }
    assert count_rows(db) == 5
    assert "audit_logs_2025_11" in partition_names(db)
