"""End to end: `audit-graph serve` as a real process on its own embedded database.

Writes over HTTP, reads them back, tails them over a websocket, stops with
SIGTERM, and finds the events again after a restart on the same directory.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

STARTUP_TIMEOUT = 90.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A running `audit-graph serve` process."""

    def __init__(self, data_dir: Path, port: int, extra_env: dict[str, str] | None = None) -> None:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("AUDIT_GRAPH_") and k != "DATABASE_URL"
        }
        env.update(extra_env or {})
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "graph.cli", "serve", "--port", str(port), "--workers", "1",
             "--data-dir", str(data_dir)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited early:\n{self.process.stdout.read()}")  # type: ignore[union-attr]
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.process.kill()
        raise AssertionError(f"server not ready:\n{self.process.stdout.read()}")  # type: ignore[union-attr]

    def gql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = httpx.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables or {}}, timeout=30
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body
        return body["data"]

    def stop(self) -> tuple[int, str]:
        self.process.send_signal(signal.SIGTERM)
        output, _ = self.process.communicate(timeout=60)
        return self.process.returncode, output


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def server(data_dir: Path) -> Iterator[Server]:
    running = Server(data_dir, free_port())
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait()


LOG_EVENT = """
mutation($e: AuditEventInput!) { logEvent(input: $e) { id toolName timestamp eventKind } }
"""
LOG_EVENTS = "mutation($es: [AuditEventInput!]!) { logEvents(inputs: $es) { accepted ids } }"


def test_serve_writes_reads_survives_restart(server: Server, data_dir: Path) -> None:
    one = server.gql(
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
    assert server.gql(LOG_EVENTS, {"es": batch})["logEvents"] == {
        "accepted": 3,
        "ids": ["e2e-b1", "e2e-b2", "e2e-b3"],
    }
    window = {"startTime": "2026-11-28T00:00:00Z", "endTime": "2026-11-28T23:59:59Z"}
    data = server.gql(
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

    code, output = server.stop()
    assert code == 0, output
    assert "Traceback" not in output
    # serve started the embedded PostgreSQL, so it stopped it too.
    assert not (data_dir / "pgdata" / "postmaster.pid").exists(), output

    restarted = Server(data_dir, free_port())
    try:
        again = restarted.gql("query($f: EventFilter) { eventCount(filter: $f) }", {"f": window})
        assert again == {"eventCount": 4}
    finally:
        code, output = restarted.stop()
    assert code == 0, output


def test_websocket_subscription_tails_new_events(server: Server) -> None:
    ws_url = f"ws://127.0.0.1:{server.port}/graphql"
    with connect(ws_url, subprotocols=["graphql-transport-ws"], open_timeout=10) as ws:  # type: ignore[list-item]
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
            server.gql(LOG_EVENT, {"e": {"id": f"skip-{attempt}", "toolName": "other",
                                         "success": True}})  # fmt: skip
            server.gql(LOG_EVENT, {"e": {"id": f"ws-{attempt}", "toolName": "wanted",
                                         "success": True}})  # fmt: skip
            try:
                seen = json.loads(ws.recv(timeout=1))
            except TimeoutError:
                continue
        assert seen is not None
        assert seen["type"] == "next"
        assert seen["payload"]["data"]["eventLogged"]["toolName"] == "wanted"
        assert seen["payload"]["data"]["eventLogged"]["id"].startswith("ws-")
