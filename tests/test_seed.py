"""`audit-graph seed` (SPEC 6) and the COPY write path under it, on real PostgreSQL.

The variety checks read the stored rows back and work the expected shapes out
in plain Python (sessions, failures, redaction), not with the statistics SQL.
No timing is asserted here: shared test machines make timings flaky, so the
throughput of `audit-graph seed` is measured by hand, on a quiet machine.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from conftest import FakeClock
from live_server import run_cli
from psycopg.rows import dict_row

from graph.cli import main
from graph.seed import SyntheticEvents, seed_events
from graph.store import InvalidArgument, NewEvent, Store
from graph.store.events import WRITE_COLUMNS, prepare_row

SENSITIVE = {"password", "secret", "token", "api_key", "authorization", "credentials"}
ALL_COLUMNS = ", ".join(f'"{column}"' for column in WRITE_COLUMNS)


def stored_rows(db: psycopg.Connection) -> list[dict[str, Any]]:
    with db.cursor(row_factory=dict_row) as cur:
        return cur.execute(f"SELECT {ALL_COLUMNS} FROM audit_logs ORDER BY timestamp").fetchall()


def without_ids(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Rows comparable across runs: ids are random by design, everything else is seeded."""
    return sorted(
        tuple(json.dumps(row[c], sort_keys=True, default=str) for c in WRITE_COLUMNS if c != "id")
        for row in rows
    )


def redacted_keys(value: Any) -> list[str]:
    """Every sensitive key at any depth; fails if one of them kept its value."""
    found = []
    if isinstance(value, dict):
        for key, child in value.items():
            if key.lower() in SENSITIVE:
                assert child == "[REDACTED]", (key, child)
                found.append(key)
            else:
                found += redacted_keys(child)
    elif isinstance(value, list):
        for child in value:
            found += redacted_keys(child)
    return found


# --- seeding ------------------------------------------------------------------------


async def test_seed_writes_exactly_n_events_within_the_last_d_days(
    store: Store, db: psycopg.Connection, clock: FakeClock
) -> None:
    written = await seed_events(store, 2_345, 3, progress=False)

    assert written == 2_345
    rows = stored_rows(db)
    assert len(rows) == 2_345
    start = clock.current - timedelta(days=3)
    assert all(start <= row["timestamp"] <= clock.current for row in rows)
    assert all(row["created_date"] == row["timestamp"].astimezone(UTC).date() for row in rows)
    # Spread over the whole window, not bunched at one end.
    days = Counter(row["created_date"] for row in rows)
    assert len(days) == 4  # 12:00 three days ago .. 12:00 today touches four dates
    assert rows[0]["timestamp"] < start + timedelta(hours=12)
    assert rows[-1]["timestamp"] > clock.current - timedelta(hours=12)


async def test_seed_in_small_chunks_writes_every_event_once(
    store: Store, db: psycopg.Connection
) -> None:
    written = await seed_events(store, 100, 1, progress=False, chunk_size=7)

    assert written == 100
    ids = [row[0] for row in db.execute("SELECT id FROM audit_logs").fetchall()]
    assert len(ids) == len(set(ids)) == 100


async def test_seed_of_zero_events_writes_nothing(store: Store, db: psycopg.Connection) -> None:
    assert await seed_events(store, 0, 5, progress=False) == 0
    assert db.execute("SELECT count(*) FROM audit_logs").fetchone() == (0,)


async def test_seed_is_deterministic_for_a_seed(store: Store, db: psycopg.Connection) -> None:
    await seed_events(store, 600, 2, seed=7, progress=False)
    first = without_ids(stored_rows(db))
    db.execute("TRUNCATE audit_logs")
    await seed_events(store, 600, 2, seed=7, progress=False)
    again = without_ids(stored_rows(db))
    db.execute("TRUNCATE audit_logs")
    await seed_events(store, 600, 2, seed=8, progress=False)
    other = without_ids(stored_rows(db))

    assert first == again
    assert first != other


def test_generator_is_deterministic_and_follows_a_daily_rhythm() -> None:
    now = datetime(2026, 3, 13, 0, 0, tzinfo=UTC)  # a Friday midnight: Mon..Thu + Fri before
    events = list(SyntheticEvents(6_000, 4, now, seed=3))

    assert events == list(SyntheticEvents(6_000, 4, now, seed=3))
    assert all(event.id is None for event in events)  # left to the store: random
    hours = Counter(event.timestamp.hour for event in events if event.timestamp)
    afternoon = sum(hours[h] for h in range(12, 17))
    night = sum(hours[h] for h in range(0, 5))
    assert afternoon > 4 * night > 0


async def test_seed_covers_the_variety_of_spec_6(store: Store, db: psycopg.Connection) -> None:
    await seed_events(store, 4_000, 7, progress=False)
    rows = stored_rows(db)

    # Users: several, each with exactly one email of its own.
    emails: defaultdict[str, set[str]] = defaultdict(set)
    for row in rows:
        emails[row["user_id"]].add(row["user_email"])
    assert len(emails) >= 10
    assert all(len(addresses) == 1 for addresses in emails.values())
    flat = [next(iter(addresses)) for addresses in emails.values()]
    assert len(set(flat)) == len(flat)
    assert all(email.endswith("@example.com") and "." in email.split("@")[0] for email in flat)
    assert all(user_id.startswith("u-") for user_id in emails)
    assert len({row["persona"] for row in rows}) >= 4

    # Toolkits, with the event kind the store derives for API calls.
    assert {row["toolkit_kind"] for row in rows} == {"datahub", "trino", "s3", "api"}
    for row in rows:
        expected = "apigateway_invoke" if row["toolkit_kind"] == "api" else "mcp_tool_call"
        assert row["event_kind"] == expected
    tools = {row["tool_name"] for row in rows}
    assert {"search_datasets", "get_schema", "get_lineage", "run_query", "explain_query"} <= tools
    assert {"list_objects", "get_object"} <= tools
    assert len({(row["toolkit_kind"], row["connection"]) for row in rows}) >= 8
    assert {row["transport"] for row in rows} == {"stdio", "http", "sse"}
    assert {row["source"] for row in rows} == {"mcp", "api"}

    # Sessions: several calls of one user; discovery before query, query alone, discovery alone.
    sessions: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row["session_id"]:
            sessions[row["session_id"]].append(row)
    assert all(len({call["user_id"] for call in calls}) == 1 for calls in sessions.values())
    assert sum(len(calls) >= 3 for calls in sessions.values()) >= 20
    shapes: Counter[str] = Counter()
    for calls in sessions.values():
        first = {}
        for call in calls:  # rows are in timestamp order
            first.setdefault(call["toolkit_kind"], call["timestamp"])
        discovery, query = first.get("datahub"), first.get("trino")
        if discovery and query:
            shapes["discovery_before_query" if discovery < query else "query_first"] += 1
        elif query:
            shapes["query_without_discovery"] += 1
        elif discovery:
            shapes["discovery_only"] += 1
    assert min(shapes.values()) > 0 and len(shapes) == 4, shapes
    assert shapes["discovery_before_query"] > shapes["query_first"]

    # Failures: a few percent, each with a message; successes have none.
    failures = [row for row in rows if not row["success"]]
    assert 0.02 * len(rows) <= len(failures) <= 0.15 * len(rows)
    assert all(row["error_message"] for row in failures)
    assert not any(row["error_message"] for row in rows if row["success"])
    assert len({row["error_message"] for row in failures}) >= 8
    assert any(not row["authorized"] for row in failures)

    # Long-tailed durations and sizes.
    durations = sorted(row["duration_ms"] for row in rows)
    median = durations[len(durations) // 2]
    assert durations[0] > 0 and durations[-1] > 20 * median
    assert sum(d > 5_000 for d in durations) >= 10
    assert all(row["request_chars"] > 0 and row["response_chars"] > 0 for row in rows)
    assert all(row["content_blocks"] >= 1 for row in rows)
    assert max(row["content_blocks"] for row in rows) > 1

    # Enrichment: every mode, token counts that deduplicate.
    modes = Counter(row["enrichment_mode"] for row in rows)
    assert {"full", "summary", "reference", "none", ""} == set(modes)
    for row in rows:
        applied = row["enrichment_mode"] in ("full", "summary", "reference")
        assert row["enrichment_applied"] == applied
        assert 0 <= row["enrichment_tokens_dedup"] <= row["enrichment_tokens_full"]
        assert (row["enrichment_tokens_full"] > 0) == applied
        assert bool(row["enrichment_match_kind"]) == applied
    assert 0.1 * len(rows) < sum(row["enrichment_applied"] for row in rows) < 0.7 * len(rows)

    # Sensitive parameters are stored redacted, and no secret survives anywhere.
    redacted = [key for row in rows for key in redacted_keys(row["parameters"])]
    assert len(redacted) >= 20
    assert {key.lower() for key in redacted} >= {"authorization", "api_key"}
    assert {key.lower() for key in redacted} & {"password", "credentials"}
    text = json.dumps([row["parameters"] for row in rows])
    for secret_prefix in ("Bearer ", "ak_live_", '"pw-'):
        assert secret_prefix not in text


# --- the CLI --------------------------------------------------------------------------


def test_cli_seed_writes_the_events_and_reports(schema_url: str, db: psycopg.Connection) -> None:
    result = run_cli("seed", "--events", "500", "--days", "2", "--database-url", schema_url)

    assert result.returncode == 0, result.stderr
    assert db.execute("SELECT count(*) FROM audit_logs").fetchone() == (500,)
    # It applied the migrations itself, into the empty schema.
    assert db.execute("SELECT count(*) FROM audit_graph_migrations").fetchone()[0] >= 1
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("seeded 500 events over 2 days in ")
    assert last.endswith(" events/s)")
    # No terminal: no progress bar drawn into the captured output.
    assert "━" not in result.stderr


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--events", "-1"], "argument --events: must be 0 or more, not -1"),
        (["--events", "many"], "argument --events: must be a whole number, not 'many'"),
        (["--days", "0"], "argument --days: must be between 1 and 3650, not 0"),
        (["--days", "-3"], "argument --days: must be between 1 and 3650, not -3"),
    ],
)
def test_cli_seed_rejects_bad_counts(
    flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["seed", *flags, "--database-url", "postgresql://unused.invalid/x"])

    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


# --- copy_events ----------------------------------------------------------------------


async def test_copy_events_stores_what_prepare_row_makes(
    store: Store, db: psycopg.Connection, clock: FakeClock
) -> None:
    when = datetime(2026, 3, 10, 23, 59, 59, 123456, tzinfo=UTC)
    batch = [
        NewEvent(
            tool_name="run_query",
            success=False,
            id="copy-explicit",
            timestamp=when,
            duration_ms=1234,
            request_id="req-1",
            session_id="sess-1",
            user_id="u-0001",
            user_email="ada.costa@example.com",
            persona="analyst",
            toolkit_kind="trino",
            toolkit_name="trino",
            connection="trino-analytics",
            parameters={"sql": "SELECT 1", "auth": {"Password": "hunter2"}},
            error_message="Query exceeded maximum time limit of 300.00s",
            response_chars=10,
            request_chars=20,
            content_blocks=2,
            transport="sse",
            source="mcp",
            enrichment_applied=True,
            enrichment_tokens_full=900,
            enrichment_tokens_dedup=300,
            enrichment_mode="summary",
            enrichment_match_kind="table",
            authorized=False,
        ),
        NewEvent(tool_name="get_invoice", success=True, toolkit_kind="api"),
        NewEvent(tool_name="x", success=True, toolkit_kind="api", event_kind="custom_kind"),
    ]

    # A generator: copy_events streams, it does not need a sequence.
    assert await store.copy_events(event for event in batch) == 3

    rows = {row["tool_name"]: row for row in stored_rows(db)}
    assert len(rows) == 3
    for event in batch:
        expected = dict(zip(WRITE_COLUMNS, prepare_row(event, clock.current), strict=True))
        stored = rows[event.tool_name]
        if event.id is None:
            assert len(stored["id"]) == 22  # 16 random bytes, base64url, no padding
            expected["id"] = stored["id"]
        if expected["parameters"] is not None:
            expected["parameters"] = expected["parameters"].obj
        assert stored == expected

    # Worked out by hand from SPEC 3, independently of prepare_row.
    explicit = rows["run_query"]
    assert explicit["id"] == "copy-explicit"
    assert explicit["timestamp"] == when
    assert str(explicit["created_date"]) == "2026-03-10"
    assert explicit["parameters"] == {"sql": "SELECT 1", "auth": {"Password": "[REDACTED]"}}
    assert explicit["event_kind"] == "mcp_tool_call"
    assert explicit["authorized"] is False
    defaults = rows["get_invoice"]
    assert defaults["timestamp"] == clock.current
    assert defaults["event_kind"] == "apigateway_invoke"
    assert (defaults["transport"], defaults["source"], defaults["enrichment_mode"]) == (
        "stdio",
        "mcp",
        "",
    )
    assert rows["x"]["event_kind"] == "custom_kind"
    # Not one NULL but in parameters, which two of the events did not give.
    not_parameters = ", ".join(f'"{c}"' for c in WRITE_COLUMNS if c != "parameters")
    query = f"SELECT count(*) FROM audit_logs WHERE num_nulls({not_parameters}) > 0"
    assert db.execute(query).fetchone() == (0,)


async def test_copy_events_writes_nothing_when_an_event_is_invalid(
    store: Store, db: psycopg.Connection
) -> None:
    batch = [NewEvent(tool_name="ok", success=True) for _ in range(5)]
    batch.insert(3, NewEvent(tool_name="bad", success=True, duration_ms=-1))

    with pytest.raises(InvalidArgument, match="event 3: duration_ms must not be negative"):
        await store.copy_events(batch)

    assert db.execute("SELECT count(*) FROM audit_logs").fetchone() == (0,)


async def test_copy_events_does_not_deduplicate(store: Store, db: psycopg.Connection) -> None:
    when = datetime(2026, 3, 14, 8, 0, tzinfo=UTC)
    await store.copy_events([NewEvent(id="dup", timestamp=when, tool_name="t", success=True)])

    again = [
        NewEvent(tool_name="other", success=True),
        NewEvent(id="dup", timestamp=when + timedelta(hours=1), tool_name="t", success=True),
    ]
    with pytest.raises(InvalidArgument, match="does not deduplicate"):
        await store.copy_events(again)

    # The failed batch left nothing behind; the same id on another day is a new row.
    assert db.execute("SELECT count(*) FROM audit_logs").fetchone() == (1,)
    next_day = NewEvent(id="dup", timestamp=when + timedelta(days=1), tool_name="t", success=True)
    assert await store.copy_events([next_day]) == 1
    assert await store.copy_events([]) == 0
    assert db.execute("SELECT count(*) FROM audit_logs").fetchone() == (2,)
