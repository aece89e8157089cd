"""The domain rules `log` applies to an event: its id, its kind, its redacted parameters.

Each rule is stated once, here; where SQL needs the same rule (a migration
that fills in rows written without it), its SQL twin sits next to it and a
test holds the two equal.
"""

from __future__ import annotations

import base64
import secrets
from typing import Any

REDACTED = "[REDACTED]"
SENSITIVE_KEYS = frozenset(
    {"password", "secret", "token", "api_key", "authorization", "credentials"}
)


def new_event_id() -> str:
    """16 random bytes, base64url without padding: 22 characters."""
    return base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode()


def default_event_kind(toolkit_kind: str) -> str:
    """The kind of an event sent without one: API-gateway calls, else MCP tool calls."""
    return "apigateway_invoke" if toolkit_kind == "api" else "mcp_tool_call"


# `default_event_kind` over a row's toolkit_kind column.
DEFAULT_EVENT_KIND_SQL = (
    "CASE WHEN toolkit_kind = 'api' THEN 'apigateway_invoke' ELSE 'mcp_tool_call' END"
)


def redact(value: Any) -> Any:
    """A copy of a JSON value with every sensitive key's value replaced, at any depth."""
    if isinstance(value, dict):
        return {
            key: REDACTED if key.lower() in SENSITIVE_KEYS else redact(child)
            for key, child in value.items()
        }
    if isinstance(value, list):
        return [redact(child) for child in value]
    return value
