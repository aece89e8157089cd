"""The database gone, slow or busy: the API answers SERVICE_UNAVAILABLE, never 500, and recovers.

- A real server whose embedded PostgreSQL is stopped under it: queries and
  writes get SERVICE_UNAVAILABLE, /readyz says 503 while /healthz stays 200;
  once the database is back, the same process serves again. A write that
  failed is not in the table; every acknowledged one is.
- A read blocked past the statement timeout is cancelled with a message that
  says how to narrow it.
- A read that cannot get a pooled connection fails after the pool timeout
  instead of waiting for ever.

No timing assertion but generous upper bounds for "answers instead of hanging".
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from graphql_client import app_client, assert_safe, data_of, post
from live_server import ServerProcess

from graph.store import NewEvent, Store

# Far above the configured timeouts (2 s here), far below "hanging".
ANSWER_BOUND = 30.0
RECOVERY_BOUND = 90.0

LOG_EVENT = "mutation($e: AuditEventInput!) { logEvent(input: $e) { id } }"
LOG_EVENTS = "mutation($es: [AuditEventInput!]!) { logEvents(inputs: $es) { accepted } }"
COUNT = "{ eventCount }"
EVENT = "query($id: ID!) { event(id: $id) { id } }"


def event(id: str) -> dict[str, Any]:
    return {"id": id, "toolName": "t", "success": True, "timestamp": "2026-03-10T12:00:00Z"}


def unavailable(response: httpx.Response) -> str:
    """The message of a response that must be SERVICE_UNAVAILABLE (HTTP 200, GraphQL error)."""
    assert response.status_code == 200, response.text
    assert_safe(response.text)
    errors = response.json()["errors"]
    # Two root fields failing at once may both be reported: every error says the same.
    assert errors and {e["extensions"]["code"] for e in errors} == {"SERVICE_UNAVAILABLE"}, errors
    return str(errors[0]["message"])


def succeeded(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


def timed(call: Any) -> tuple[Any, float]:
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


# --- the database stopped under a running server --------------------------------------


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    running = ServerProcess(
        tmp_path / "data",
        env={"AUDIT_GRAPH_POOL_TIMEOUT": "2", "AUDIT_GRAPH_STATEMENT_TIMEOUT": "5"},
    )
    try:
        yield running
    finally:
        running.stop()  # SIGTERM: serve stops its embedded PostgreSQL too


@pytest.mark.slow
def test_database_down_then_back_without_restart(server: ServerProcess) -> None:
    assert succeeded(server.post(LOG_EVENT, {"e": event("before")})) == {
        "logEvent": {"id": "before"}
    }

    server.stop_database()
    try:
        for query, variables in [
            (COUNT, None),
            ("{ overview { totalCalls } timeseries(resolution: HOUR) { count } }", None),
            (LOG_EVENT, {"e": event("during-1")}),
            (LOG_EVENTS, {"es": [event("during-2"), event("during-3")]}),
        ]:
            response, seconds = timed(lambda q=query, v=variables: server.post(q, v))
            message = unavailable(response)
            assert "try again" in message
            assert seconds < ANSWER_BOUND
        ready, seconds = timed(lambda: httpx.get(f"{server.url}/readyz", timeout=60))
        assert ready.status_code == 503
        assert seconds < ANSWER_BOUND
        assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200
    finally:
        server.start_database()

    # The pools reconnect on their own; the process is never restarted.
    deadline = time.monotonic() + RECOVERY_BOUND
    while True:
        response = server.post(COUNT)
        if "errors" not in response.json():
            break
        assert unavailable(response)
        assert time.monotonic() < deadline, "the server did not recover"
        time.sleep(0.5)
    assert server.process.poll() is None
    assert httpx.get(f"{server.url}/readyz", timeout=10).status_code == 200
    assert succeeded(server.post(LOG_EVENT, {"e": event("after")})) == {"logEvent": {"id": "after"}}
    assert succeeded(server.post(LOG_EVENTS, {"es": [event("after-2")]})) == {
        "logEvents": {"accepted": 1}
    }

    # Acknowledged writes are there; refused ones are not.
    for id in ("before", "after", "after-2"):
        assert succeeded(server.post(EVENT, {"id": id})) == {"event": {"id": id}}
    for id in ("during-1", "during-2", "during-3"):
        assert succeeded(server.post(EVENT, {"id": id})) == {"event": None}
    assert succeeded(server.post(COUNT)) == {"eventCount": 3}

    # An outage is an expected condition: warnings in the log, no traceback.
    server.stop()
    assert "Traceback" not in server.output(), server.output()


# --- a slow query: the statement timeout -------------------------------------------------


async def wait_for_blocked_query(database_url: str) -> None:
    """Until some backend waits for a lock (the read under test is stuck behind ours)."""
    deadline = time.monotonic() + ANSWER_BOUND
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            cur = await conn.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
            row = await cur.fetchone()
            if row is not None and row[0] > 0:
                return
            await asyncio.sleep(0.05)
    raise AssertionError("the read never blocked on the lock")


async def test_statement_timeout_cancels_a_slow_read(
    store: Store, schema_url: str, clock: Any, db: psycopg.Connection
) -> None:
    """A read blocked behind an exclusive lock runs past 0.2 s and is cancelled."""
    slow = Store(schema_url, clock=clock, pool_max_size=2, statement_timeout=0.2)
    async with slow, app_client(slow) as client:
        # Plain reads do not wait on row locks; ACCESS EXCLUSIVE on the table blocks them.
        with db.transaction():
            db.execute("LOCK TABLE audit_logs IN ACCESS EXCLUSIVE MODE")
            for query in (
                "{ events { items { id } } }",
                "{ overview { totalCalls } }",
                "{ distinctValues(column: USER_ID) }",
            ):
                started = time.monotonic()
                body = await post(client, query)
                assert time.monotonic() - started < ANSWER_BOUND
                errors = body["errors"]
                assert [e["extensions"]["code"] for e in errors] == ["SERVICE_UNAVAILABLE"]
                message = errors[0]["message"]
                assert "took too long" in message
                assert "narrow the time window or filters" in message
        # The lock released, the same store reads again.
        assert await data_of(client, "{ eventCount }") == {"eventCount": 0}


# --- a busy pool: the acquisition timeout ----------------------------------------------------


async def test_pool_timeout_answers_instead_of_hanging(
    store: Store,
    schema_url: str,
    database_url: str,
    clock: Any,
    db: psycopg.Connection,
) -> None:
    """One read holds the only pooled connection; the next gives up after 0.5 s."""
    busy = Store(schema_url, clock=clock, pool_min_size=1, pool_max_size=1, pool_timeout=0.5)
    async with busy, app_client(busy) as client:
        with db.transaction():
            db.execute("LOCK TABLE audit_logs IN ACCESS EXCLUSIVE MODE")
            holder = asyncio.create_task(post(client, "{ eventCount }"))
            await wait_for_blocked_query(database_url)

            started = time.monotonic()
            body = await post(client, "{ overview { totalCalls } }")
            assert time.monotonic() - started < ANSWER_BOUND
            errors = body["errors"]
            assert [e["extensions"]["code"] for e in errors] == ["SERVICE_UNAVAILABLE"]
            assert "did not hand out a connection in time" in errors[0]["message"]
            assert not holder.done()
        # The lock released: the held read completes normally.
        assert (await asyncio.wait_for(holder, ANSWER_BOUND)) == {"data": {"eventCount": 0}}


# --- a backend the server ended: the pools replace it before use -----------------------------


async def test_connections_the_server_ended_are_replaced_before_use(
    schema_url: str, clock: Any, db: psycopg.Connection
) -> None:
    """Every pooled backend terminated (as a restart or an admin would): the next calls succeed."""
    store = Store(schema_url, clock=clock, pool_min_size=2, pool_max_size=2)
    store.migrate()
    async with store:
        await store.log(NewEvent(id="before", tool_name="t", success=True))
        assert await store.count() == 1
        pids = store_backends(db)
        assert pids
        for pid in pids:
            db.execute("SELECT pg_terminate_backend(%s, 10000)", (pid,))
        assert not set(store_backends(db)) & set(pids)

        # No error reaches the caller: each pool finds its connections dead on checkout.
        for n in range(4):
            await store.log(NewEvent(id=f"after-{n}", tool_name="t", success=True))
            assert await store.count() == n + 2


def store_backends(db: psycopg.Connection) -> list[int]:
    """Client backends on this database other than `db`'s own (the store's pools)."""
    rows = db.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        " AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
    ).fetchall()
    return [pid for (pid,) in rows]
