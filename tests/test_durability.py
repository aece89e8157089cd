"""Every acknowledged write survives a kill -9 of the server, or a SIGTERM, exactly once.

64 clients send logEvent with ids of their own; the server is killed with
SIGKILL mid-load (group commit batches in flight), or stopped with SIGTERM,
restarted on the same data directory, and the stored ids are compared with
the acknowledged ones.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from live_server import ServerProcess

pytestmark = pytest.mark.slow

CLIENTS = 64
LOG_EVENT = "mutation($e: AuditEventInput!) { logEvent(input: $e) { id } }"
PAGE = """query($after: String) {
  events(filter: {toolName: "durability"}, limit: 1000, after: $after, sortOrder: ASC) {
    items { id } endCursor hasNextPage
  }
}"""


async def load_until_killed(
    server: ServerProcess, acknowledged: set[str], end: Callable[[], None] | None = None
) -> int:
    """Run 64 writers; kill the server (or `end` it) once enough writes were acknowledged."""
    sent = 0

    async def writer(client: httpx.AsyncClient, number: int) -> None:
        nonlocal sent
        for sequence in range(100_000):
            event_id = f"d{number:02d}-{sequence:05d}"
            variables = {"e": {"id": event_id, "toolName": "durability", "success": True}}
            sent += 1
            try:
                response = await client.post(
                    "/graphql", json={"query": LOG_EVENT, "variables": variables}
                )
            except httpx.TransportError:
                return  # the server is gone: this write was never acknowledged
            body = response.json()
            if body.get("data") and body["data"]["logEvent"]["id"] == event_id:
                acknowledged.add(event_id)

    async def killer() -> None:
        deadline = time.monotonic() + 60
        while len(acknowledged) < 2_000 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        (end or server.kill)()

    limits = httpx.Limits(max_connections=CLIENTS)
    async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=30) as client:
        await asyncio.gather(killer(), *(writer(client, n) for n in range(CLIENTS)))
    return sent


def stored_ids(server: ServerProcess) -> list[str]:
    ids: list[str] = []
    after = None
    while True:
        body = server.post(PAGE, {"after": after}).json()
        page = body["data"]["events"]
        ids.extend(item["id"] for item in page["items"])
        if not page["hasNextPage"]:
            return ids
        after = page["endCursor"]


def assert_stored_once(data_dir: Path, acknowledged: set[str], sent: int) -> None:
    """After a restart on `data_dir`: every acknowledged event, each once."""
    restarted = ServerProcess(data_dir)
    try:
        ids = stored_ids(restarted)
    finally:
        restarted.stop()
    assert len(ids) == len(set(ids)), "an event was stored twice"
    assert acknowledged <= set(ids), f"lost {len(acknowledged - set(ids))} acknowledged events"
    # Unacknowledged writes may or may not have committed, but never more than were sent.
    assert len(ids) <= sent


def test_acknowledged_writes_survive_kill_9_exactly_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = ServerProcess(data_dir)
    acknowledged: set[str] = set()
    try:
        sent = asyncio.run(load_until_killed(server, acknowledged))
    finally:
        server.kill()
    assert server.process.returncode == -9
    assert len(acknowledged) >= 2_000, "the load did not get going before the kill"

    assert_stored_once(data_dir, acknowledged, sent)


def test_sigterm_under_load_answers_in_flight_writes_and_exits_soon(tmp_path: Path) -> None:
    """SIGTERM mid-load: in-flight writes finish and are stored, and the server exits in 10 s."""
    data_dir = tmp_path / "data"
    server = ServerProcess(data_dir)
    acknowledged: set[str] = set()
    stopped_at: list[float] = []

    def terminate() -> None:
        stopped_at.append(time.monotonic())
        server.process.send_signal(signal.SIGTERM)

    try:
        sent = asyncio.run(load_until_killed(server, acknowledged, terminate))
        exit_code = server.process.wait(timeout=30)
        exited_after = time.monotonic() - stopped_at[0]
    finally:
        server.kill()
    assert exit_code == 0, server.output()
    assert exited_after <= 10, f"exited {exited_after:.1f} s after SIGTERM"
    assert len(acknowledged) >= 2_000, "the load did not get going before the SIGTERM"

    assert_stored_once(data_dir, acknowledged, sent)
