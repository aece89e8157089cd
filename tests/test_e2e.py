"""End to end: `audit-graph serve` as a real process on its own embedded database.

Writes over HTTP, reads them back, tails them over a websocket, stops with
SIGTERM, and finds the events again after a restart on the same directory.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from live_server import ServerProcess
from websockets.sync.client import connect

pytestmark = pytest.mark.slow


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def server(data_dir: Path) -> Iterator[ServerProcess]:
    running = ServerProcess(data_dir)
    try:
        yield running
    finally:
        running.stop()  # SIGTERM: serve stops its embedded PostgreSQL too


def gql(server: ServerProcess, query: str, variables: dict[str, Any] | None = None) -> Any:
    response = server.post(query, variables)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


LOG_EVENT = """
mutation($e: AuditEventInput!) { logEvent(input: $e) { id toolName timestamp eventKind } }
"""
LOG_EVENTS = "mutation($es: [AuditEventInput!]!) { logEvents(inputs: $es) { accepted ids } }"


def test_serve_writes_reads_survives_restart(server: ServerProcess, data_dir: Path) -> None:
    one = gql(server,
        LOG_EVENT,
        {"e": {"id": "e2e-1", "toolName": "search", "success": True, "durationMs": 10,
               "timestamp": "2026-11-28T10:00:00Z", "userId": "u1", "toolkitKind": "api"}},
    )["logEvent"]  # fmt: skip
    assert one == {
        "id": "e2e-1",
        "toolName": "search",
        "timestamp": "2026-11-28T10:00:00+00:00",
        "eventKind": "apigateway_invoke",
    }
    batch = [
        {"id": f"e2e-b{i}", "toolName": "run_query", "success": i != 2, "durationMs": 20 * i,
         "timestamp": f"2026-11-28T1{i}:30:00Z", "userId": "u2"}
        for i in range(1, 4)
    ]  # fmt: skip
    assert gql(server, LOG_EVENTS, {"es": batch})["logEvents"] == {
        "accepted": 3,
        "ids": ["e2e-b1", "e2e-b2", "e2e-b3"],
    }
    window = {"startTime": "2026-11-28T00:00:00Z", "endTime": "2026-11-28T23:59:59Z"}
    data = gql(
        server,
        """query($w: MetricsFilter, $f: EventFilter) {
             events(filter: $f, sortOrder: ASC) { totalCount items { id } }
             overview(filter: $w) { totalCalls errorCount avgDurationMs uniqueUsers }
             timeseries(resolution: DAY, filter: $w) { bucket count errorCount }
           }""",
        {"w": window, "f": window},
    )
    assert data["events"] == {
        "totalCount": 4,
        "items": [{"id": i} for i in ("e2e-1", "e2e-b1", "e2e-b2", "e2e-b3")],
    }
    # durations 10, 20, 40, 60 -> mean 32.5; one failure; users u1, u2
    assert data["overview"] == {
        "totalCalls": 4,
        "errorCount": 1,
        "avgDurationMs": 32.5,
        "uniqueUsers": 2,
    }
    assert data["timeseries"] == [
        {"bucket": "2026-11-28T00:00:00+00:00", "count": 4, "errorCount": 1}
    ]

    page = httpx.get(f"{server.url}/graphql", headers={"accept": "text/html"}, timeout=10)
    assert page.status_code == 200
    assert "graphiql" in page.text.lower()

    code, output = server.stop(), server.output()
    assert code == 0, output
    assert "Traceback" not in output
    assert "POST /graphql" not in output  # no access log unless asked for
    # serve started the embedded PostgreSQL, so it stopped it too.
    assert not (data_dir / "pgdata" / "postmaster.pid").exists(), output

    restarted = ServerProcess(data_dir)
    try:
        again = gql(restarted, "query($f: EventFilter) { eventCount(filter: $f) }", {"f": window})
        assert again == {"eventCount": 4}
    finally:
        code = restarted.stop()
    assert code == 0, restarted.output()


def test_access_log_is_written_when_asked_for(data_dir: Path) -> None:
    server = ServerProcess(data_dir, env={"AUDIT_GRAPH_ACCESS_LOG": "true"})
    try:
        gql(server, "{ __typename }")
    finally:
        code = server.stop()
    assert code == 0, server.output()
    assert '"POST /graphql HTTP/1.1" 200' in server.output()


def test_websocket_subscription_tails_new_events(server: ServerProcess) -> None:
    with connect(server.ws_url, subprotocols=["graphql-transport-ws"], open_timeout=10) as ws:  # type: ignore[list-item]
        ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(ws.recv(timeout=10))["type"] == "connection_ack"
        ws.send(json.dumps({
            "id": "1",
            "type": "subscribe",
            "payload": {"query": 'subscription { eventLogged(filter: {toolName: "wanted"}) '
                                 "{ id toolName } }"},
        }))  # fmt: skip
        # The subscription is live once the server listens; retry the write until it is seen.
        deadline = time.monotonic() + 20
        seen: dict[str, Any] | None = None
        attempt = 0
        while seen is None and time.monotonic() < deadline:
            attempt += 1
            gql(server, LOG_EVENT, {"e": {"id": f"skip-{attempt}", "toolName": "other",
                                         "success": True}})  # fmt: skip
            gql(server, LOG_EVENT, {"e": {"id": f"ws-{attempt}", "toolName": "wanted",
                                         "success": True}})  # fmt: skip
            try:
                seen = json.loads(ws.recv(timeout=1))
            except TimeoutError:
                continue
        assert seen is not None
        assert seen["type"] == "next"
        assert seen["payload"]["data"]["eventLogged"]["toolName"] == "wanted"
        assert seen["payload"]["data"]["eventLogged"]["id"].startswith("ws-")


def subscribe(ws: Any, after: str | None) -> None:
    ws.send(json.dumps({"type": "connection_init", "payload": {}}))
    assert json.loads(ws.recv(timeout=10))["type"] == "connection_ack"
    query = "subscription($after: String) { eventLogged(after: $after) { id cursor } }"
    ws.send(json.dumps({"id": "tail", "type": "subscribe",
                        "payload": {"query": query, "variables": {"after": after}}}))  # fmt: skip


def test_a_tail_resumed_from_its_cursor_delivers_every_event_exactly_once(
    server: ServerProcess,
) -> None:
    """Disconnect mid-stream while writes go on, resume with the last cursor: no gap, no repeat."""
    first = gql(server, LOG_EVENT, {"e": {"id": "start", "toolName": "t", "success": True}})
    start = gql(server, "{ events(limit: 1) { items { id cursor } } }")["events"]["items"][0]
    assert start["id"] == first["logEvent"]["id"]
    written: list[str] = []
    failed: list[str] = []
    stop = threading.Event()

    def write() -> None:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            while not stop.is_set() and not failed:
                event = {"id": f"e-{len(written):04d}", "toolName": "t", "success": True}
                body = {"query": LOG_EVENT, "variables": {"e": event}}
                response = http.post("/graphql", json=body)
                if response.status_code != 200 or "errors" in response.json():
                    failed.append(response.text)
                written.append(event["id"])
                time.sleep(0.005)

    writer = threading.Thread(target=write)
    writer.start()
    received: list[str] = []
    cursor = start["cursor"]
    try:
        for _ in range(3):  # three connections, each dropped mid-stream
            with connect(
                server.ws_url, subprotocols=["graphql-transport-ws"], open_timeout=10
            ) as ws:  # type: ignore[list-item]
                subscribe(ws, cursor)
                for _ in range(25):
                    message = json.loads(ws.recv(timeout=20))
                    assert message["type"] == "next", message
                    event = message["payload"]["data"]["eventLogged"]
                    received.append(event["id"])
                    cursor = event["cursor"]
    finally:
        stop.set()
        writer.join()
    assert not failed, failed
    with connect(server.ws_url, subprotocols=["graphql-transport-ws"], open_timeout=10) as ws:  # type: ignore[list-item]
        subscribe(ws, cursor)
        while len(received) < len(written):
            message = json.loads(ws.recv(timeout=20))
            assert message["type"] == "next", message
            received.append(message["payload"]["data"]["eventLogged"]["id"])
    assert received == written


def active_exports(db: psycopg.Connection) -> int:
    row = db.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
        "AND backend_type = 'client backend' AND query LIKE 'COPY (SELECT%%' "
        "AND pid <> pg_backend_pid()"
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_an_export_stops_its_query_when_the_client_goes_away(
    tmp_path: Path, schema_url: str
) -> None:
    """The COPY runs while the client reads slowly, and ends soon after it hangs up."""
    server = ServerProcess(tmp_path / "data", env={"AUDIT_GRAPH_DATABASE_URL": schema_url})
    try:
        with psycopg.connect(schema_url, autocommit=True) as db:
            db.execute(
                "INSERT INTO audit_logs (id, timestamp, created_date, tool_name, success, "
                "error_message) SELECT 'big-' || n, now() - n * interval '1 ms', "
                "(now() - n * interval '1 ms')::date, 'tool', true, repeat('x', 200) "
                "FROM generate_series(1, 200000) AS n"
            )
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
                conn.sendall(b"GET /export/events HTTP/1.1\r\nHost: test\r\n\r\n")
                assert conn.recv(65536).startswith(b"HTTP/1.1 200")
                deadline = time.monotonic() + 10
                while active_exports(db) == 0 and time.monotonic() < deadline:
                    time.sleep(0.1)
                assert active_exports(db) == 1, "the COPY runs while the client reads"
            deadline = time.monotonic() + 15
            while active_exports(db) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert active_exports(db) == 0, "the COPY ended with the connection"
    finally:
        assert server.stop() == 0, server.output()


def test_a_tail_that_falls_behind_gets_service_unavailable_and_a_cursor(
    tmp_path: Path, schema_url: str
) -> None:
    """Over a real websocket: a bulk insert too big to announce ends the tail with a cursor.

    The error is SERVICE_UNAVAILABLE with extensions.cursor; resuming from it
    delivers the bulk's rows (stored after the cursor) in (timestamp, id) order.
    """
    server = ServerProcess(tmp_path / "data", env={"AUDIT_GRAPH_DATABASE_URL": schema_url})
    try:
        with connect(server.ws_url, subprotocols=["graphql-transport-ws"], open_timeout=10) as ws:  # type: ignore[list-item]
            subscribe(ws, None)
            deadline, seen = time.monotonic() + 20, None
            while seen is None and time.monotonic() < deadline:
                gql(server, LOG_EVENT, {"e": {"id": f"probe-{time.monotonic_ns()}",
                                             "toolName": "probe", "success": True}})  # fmt: skip
                try:
                    seen = json.loads(ws.recv(timeout=1))
                except TimeoutError:
                    continue
            assert seen is not None and seen["type"] == "next", seen
            with psycopg.connect(schema_url, autocommit=True) as db:
                db.execute(
                    "INSERT INTO audit_logs (id, timestamp, created_date, tool_name, success) "
                    "SELECT 'bulk-' || lpad(n::text, 5, '0'), now() + n * interval '1 us', "
                    "(now() + n * interval '1 us')::date, 'bulk', true "
                    "FROM generate_series(1, 10001) AS n"
                )
            while True:
                message = json.loads(ws.recv(timeout=20))
                if message["type"] != "next" or "errors" in message["payload"]:
                    break
            errors = (
                message["payload"]["errors"] if message["type"] == "next" else message["payload"]
            )
            assert errors[0]["extensions"]["code"] == "SERVICE_UNAVAILABLE", message
            cursor = errors[0]["extensions"]["cursor"]
            assert "after" in errors[0]["message"]
        with connect(server.ws_url, subprotocols=["graphql-transport-ws"], open_timeout=10) as ws:  # type: ignore[list-item]
            subscribe(ws, cursor)
            first = [json.loads(ws.recv(timeout=20)) for _ in range(3)]
        assert [m["payload"]["data"]["eventLogged"]["id"] for m in first] == [
            "bulk-00001", "bulk-00002", "bulk-00003",
        ]  # fmt: skip
    finally:
        assert server.stop() == 0, server.output()
