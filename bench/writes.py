"""The events the write cases send, as GraphQL request bytes and as floor rows.

Both sides write the same event: the same values, the same throwaway day in
January 2000, ids of the form `bw<run><side><client><sequence>` chosen by the
client (unique per run and side, so retries and the floor never collide).
The request body is rendered from a template split around the id and the
timestamp, so building a request costs the client a string join, not a
json.dumps.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta
from typing import Any

from psycopg.types.json import Jsonb

from .client import build_request
from .database import THROWAWAY_START, WRITE_FLOOR_SCHEMA, WRITE_ID_PREFIX

WRITE_DAY = THROWAWAY_START + timedelta(days=14)

# The stored columns, in the order the floor writes them (SPEC 2).
COLUMNS = (
    "id", "timestamp", "duration_ms", "request_id", "user_id", "user_email", "persona",
    "tool_name", "toolkit_kind", "toolkit_name", "connection", "parameters", "success",
    "error_message", "created_date", "response_chars", "request_chars", "content_blocks",
    "session_id", "transport", "source", "enrichment_applied", "authorized",
    "enrichment_tokens_full", "enrichment_tokens_dedup", "enrichment_mode",
    "enrichment_match_kind", "event_kind", "purpose",
)  # fmt: skip

EVENT: dict[str, Any] = {
    "durationMs": 87,
    "requestId": "req-bench",
    "sessionId": "bench-session",
    "userId": "bench-user",
    "userEmail": "bench@example.com",
    "persona": "analyst",
    "toolName": "search_datasets",
    "toolkitKind": "datahub",
    "toolkitName": "datahub-prod",
    "connection": "prod",
    "parameters": {"query": "orders by region", "limit": 10, "api_key": "sk-bench"},
    "success": True,
    "errorMessage": "",
    "responseChars": 1834,
    "requestChars": 96,
    "contentBlocks": 2,
    "transport": "http",
    "source": "mcp",
    "enrichmentApplied": True,
    "enrichmentTokensFull": 420,
    "enrichmentTokensDedup": 180,
    "enrichmentMode": "summary",
    "enrichmentMatchKind": "exact",
    "authorized": True,
    "purpose": "Find the table that holds orders by region for the weekly report",
}
# What the store keeps of EVENT: the sensitive key redacted, the kind derived.
STORED_PARAMETERS = {"query": "orders by region", "limit": 10, "api_key": "[REDACTED]"}
EVENT_KIND = "mcp_tool_call"

LOG_EVENT = "mutation($e: AuditEventInput!) { logEvent(input: $e) { id } }"
LOG_EVENTS = "mutation($es: [AuditEventInput!]!) { logEvents(inputs: $es) { accepted } }"
NOOP_MUTATION = "mutation { __typename }"

ID_MARK = "@@ID@@"
TS_MARK = "@@TS@@"


class WriteIds:
    """Unique ids and increasing throwaway timestamps for one run."""

    def __init__(self) -> None:
        self.run = secrets.token_hex(3)
        self._sequence = 0

    def next(self, side: str, client: int) -> tuple[str, datetime]:
        self._sequence += 1
        event_id = f"{WRITE_ID_PREFIX}{self.run}{side}{client:02d}{self._sequence:08d}"
        return event_id, WRITE_DAY + timedelta(microseconds=self._sequence * 100)


def event_input(event_id: str, timestamp: datetime) -> dict[str, Any]:
    return {"id": event_id, "timestamp": timestamp.isoformat(), **EVENT}


def floor_row(event_id: str, timestamp: datetime) -> tuple[Any, ...]:
    """The row the store would keep for `event_input(event_id, timestamp)`."""
    values = {
        "id": event_id,
        "timestamp": timestamp,
        "duration_ms": EVENT["durationMs"],
        "request_id": EVENT["requestId"],
        "user_id": EVENT["userId"],
        "user_email": EVENT["userEmail"],
        "persona": EVENT["persona"],
        "tool_name": EVENT["toolName"],
        "toolkit_kind": EVENT["toolkitKind"],
        "toolkit_name": EVENT["toolkitName"],
        "connection": EVENT["connection"],
        "parameters": Jsonb(STORED_PARAMETERS),
        "success": EVENT["success"],
        "error_message": EVENT["errorMessage"],
        "created_date": timestamp.date(),
        "response_chars": EVENT["responseChars"],
        "request_chars": EVENT["requestChars"],
        "content_blocks": EVENT["contentBlocks"],
        "session_id": EVENT["sessionId"],
        "transport": EVENT["transport"],
        "source": EVENT["source"],
        "enrichment_applied": EVENT["enrichmentApplied"],
        "authorized": EVENT["authorized"],
        "enrichment_tokens_full": EVENT["enrichmentTokensFull"],
        "enrichment_tokens_dedup": EVENT["enrichmentTokensDedup"],
        "enrichment_mode": EVENT["enrichmentMode"],
        "enrichment_match_kind": EVENT["enrichmentMatchKind"],
        "event_kind": EVENT_KIND,
        "purpose": EVENT["purpose"],
    }
    return tuple(values[column] for column in COLUMNS)


# The floors write into a table of our shape without the rollup triggers
# (database.WRITE_FLOOR_TABLE); OTHER_WRITER_SQL is another writer's INSERT
# into ours, triggers and all.
VALUES_SQL = f"({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))})"
INSERT_SQL = f"INSERT INTO {WRITE_FLOOR_SCHEMA}.audit_logs {VALUES_SQL}"
OTHER_WRITER_SQL = f"INSERT INTO audit_logs {VALUES_SQL}"
COPY_SQL = f"COPY {WRITE_FLOOR_SCHEMA}.audit_logs ({', '.join(COLUMNS)}) FROM STDIN"


class LogEventRequests:
    """logEvent request bytes for a new id each time, from a pre-rendered template."""

    def __init__(self, host: str, port: int, ids: WriteIds) -> None:
        self.host, self.port, self.ids = host, port, ids
        body = json.dumps(
            {"query": LOG_EVENT, "variables": {"e": event_input(ID_MARK, WRITE_DAY)}}
        ).replace(WRITE_DAY.isoformat(), TS_MARK)
        head, rest = body.split(ID_MARK)
        middle, tail = rest.split(TS_MARK)
        self._parts = (head.encode(), middle.encode(), tail.encode())

    def next(self, client: int) -> bytes:
        event_id, timestamp = self.ids.next("a", client)
        head, middle, tail = self._parts
        body = head + event_id.encode() + middle + timestamp.isoformat().encode() + tail
        return build_request(self.host, self.port, "POST", "/graphql", body)


def log_events_request(host: str, port: int, ids: WriteIds, size: int) -> bytes:
    """One logEvents request of `size` new events."""
    inputs = [event_input(*ids.next("a", 0)) for _ in range(size)]
    body = json.dumps({"query": LOG_EVENTS, "variables": {"es": inputs}}).encode()
    return build_request(host, port, "POST", "/graphql", body)


def floor_rows(ids: WriteIds, size: int, client: int = 0) -> list[tuple[Any, ...]]:
    return [floor_row(*ids.next("f", client)) for _ in range(size)]
