"""The ASGI app in-process, and the checks every response of the security tests must pass.

httpx's ASGITransport does not run the lifespan, so the app is built over a
store that is already migrated and open (the `store` fixture). `assert_safe`
is the rule of SPEC 4 for anything a client may see: no traceback, no SQL, no
driver name, no connection string, and every error coded.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from graph.app import create_app
from graph.config import Settings
from graph.store import Store

ERROR_CODES = frozenset(
    {
        "BAD_USER_INPUT",
        "UNAUTHENTICATED",
        "FORBIDDEN",
        "SERVICE_UNAVAILABLE",
        "INTERNAL_SERVER_ERROR",
    }
)

# Fragments of our own statements, of the driver's messages and of connection
# strings; none belongs in a response.
LEAK_MARKERS = (
    "Traceback",
    'File "',
    "psycopg",
    "SELECT ",
    "INSERT ",
    "INSERT INTO",
    "DELETE FROM",
    "WHERE ",
    "ON CONFLICT",
    "unnest(",
    "strpos(",
    "COALESCE(",
    "postgresql://",
    "host=",
    "password=",
    "dbname=",
    "search_path",
)
# Inside an error message; as data a table or partition name is fine (partitions returns them).
MESSAGE_LEAK_MARKERS = ("audit_logs", "relation ", "column ", "syntax error at or near")

# Every field of AuditEvent, for selections.
EVENT_FIELDS = """
    id timestamp durationMs requestId sessionId userId userEmail persona toolName
    toolkitKind toolkitName connection parameters success errorMessage responseChars
    requestChars contentBlocks transport source enrichmentApplied enrichmentTokensFull
    enrichmentTokensDedup enrichmentMode enrichmentMatchKind authorized eventKind purpose
"""


def app_client(store: Store, **settings: Any) -> httpx.AsyncClient:
    """A client of create_app over `store`; `settings` are Settings fields (tokens, limits)."""
    app = create_app(Settings(database_url="unused", **settings), store=store)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@asynccontextmanager
async def open_client(store: Store, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(store, **settings) as client:
        yield client


def assert_safe(text: str, *secrets: str, request: str = "") -> None:
    """Nothing internal in a response body: markers of code, SQL and the connection.

    A marker the request itself carried (a search for "SELECT ", a tool named
    "audit_logs") may come back as data or quoted in a message; that is no leak.
    """
    for marker in LEAK_MARKERS:
        if marker not in request:
            assert marker not in text, f"{marker!r} leaked into a response: {text[:2000]}"
    for secret in secrets:
        assert secret not in text, f"a secret leaked into a response: {text[:2000]}"
    try:
        body = json.loads(text)
    except ValueError:
        return
    if not isinstance(body, dict):
        return
    for error in body.get("errors") or []:
        code = (error.get("extensions") or {}).get("code")
        assert code in ERROR_CODES, error
        message = str(error.get("message"))
        for marker in MESSAGE_LEAK_MARKERS:
            if marker not in request:
                assert marker not in message, f"{marker!r} in an error message: {error}"


async def post(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    secrets: tuple[str, ...] = (),
    echoes: str = "",
) -> dict[str, Any]:
    """POST one operation; the body after checking it is safe and answered with 200.

    echoes: text written earlier that may come back as data (see assert_safe).
    """
    request, response = await send(client, query, variables, headers)
    return checked(response, *secrets, request=request + echoes)


async def send(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[str, httpx.Response]:
    """POST one operation unchecked: the request body sent and the response."""
    # json.dumps escapes non-ASCII, so even a lone surrogate travels (as \ud800).
    request = json.dumps({"query": query, "variables": variables or {}})
    response = await client.post(
        "/graphql",
        content=request,
        headers={"content-type": "application/json", **(headers or {})},
    )
    return request, response


def checked(response: httpx.Response, *secrets: str, request: str = "") -> dict[str, Any]:
    """The body of a response that is safe (assert_safe) and answered with 200.

    Every error must carry extensions.requestId as well as a known code.
    """
    assert_safe(response.text, *secrets, request=request)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    for error in body.get("errors") or []:
        assert error["extensions"].get("requestId"), error
    return body


async def data_of(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    echoes: str = "",
) -> dict[str, Any]:
    """`data` of an operation that must succeed."""
    body = await post(client, query, variables, headers, echoes=echoes)
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


async def error_of(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    echoes: str = "",
) -> dict[str, Any]:
    """The only error of an operation that must fail."""
    body = await post(client, query, variables, headers, echoes=echoes)
    errors = body.get("errors") or []
    assert len(errors) == 1, body
    error: dict[str, Any] = errors[0]
    return error


def codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors") or []]


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))
