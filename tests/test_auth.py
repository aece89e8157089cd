"""Tokens and scopes (SPEC 6, Auth): who may reach what, over HTTP and over the websocket.

Scopes: read runs every query field, write runs logEvent/logEvents, admin
runs everything (partitions and runMaintenance only with admin). With no
token configured, everyone is anonymous with every scope. A request without
a valid token gets HTTP 401 before GraphQL runs; a valid token without the
scope a field needs gets FORBIDDEN on that field.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from graphql_client import app_client, assert_safe, codes, data_of, post
from live_server import ServerProcess, run_cli
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from graph.config import ConfigError, load_settings
from graph.store import Store

READ, WRITE, ADMIN, READ_WRITE = "read-tok-3f9a", "write-tok-71c2", "admin-tok-c0de", "rw-tok-55e1"
TOKENS = {
    READ: frozenset({"read"}),
    WRITE: frozenset({"write"}),
    ADMIN: frozenset({"admin"}),
    READ_WRITE: frozenset({"read", "write"}),
}
ALL_TOKENS = tuple(TOKENS)


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


# Every root field of the contract, each in a minimal operation.
QUERY_FIELDS = {
    "event": '{ event(id: "nope") { id } }',
    "events": "{ events(limit: 1) { items { id } totalCount hasNextPage endCursor } }",
    "eventCount": "{ eventCount }",
    "distinctValues": "{ distinctValues(column: TOOL_NAME) }",
    "userLabels": "{ userLabels { userId email } }",
    "filterOptions": "{ filterOptions { users tools userLabels { userId } } }",
    "timeseries": "{ timeseries(resolution: HOUR) { bucket count } }",
    "breakdown": "{ breakdown(groupBy: TOOL_NAME) { dimension count } }",
    "overview": "{ overview { totalCalls } }",
    "performance": "{ performance { p50Ms } }",
    "enrichment": "{ enrichment { totalCalls } }",
    "discovery": "{ discovery { totalSessions topDiscoveryTools { dimension } } }",
}
ADMIN_QUERY = "{ partitions { name isDefault } }"
LOG_EVENT = 'mutation { logEvent(input: {id: "auth-1", toolName: "t", success: true}) { id } }'
LOG_EVENTS = (
    'mutation { logEvents(inputs: [{id: "auth-2", toolName: "t", success: true}]) { accepted } }'
)
RUN_MAINTENANCE = "mutation { runMaintenance { lockAcquired errors } }"
INTROSPECTION = "{ __schema { queryType { name } types { name } } }"


@pytest.fixture
async def token_client(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    """The app with the four tokens configured."""
    async with app_client(store, tokens=TOKENS) as client:
        yield client


def row_count(db: psycopg.Connection) -> int:
    row = db.execute("SELECT count(*) FROM audit_logs").fetchone()
    assert row is not None
    return int(row[0])


async def field_codes(client: httpx.AsyncClient, query: str, headers: dict[str, str]) -> list[str]:
    body = await post(client, query, headers=headers, secrets=ALL_TOKENS)
    return codes(body)


# --- authentication over HTTP -------------------------------------------------------


async def test_no_token_is_401_with_unauthenticated_in_the_body(
    token_client: httpx.AsyncClient,
) -> None:
    response = await token_client.post("/graphql", json={"query": "{ overview { totalCalls } }"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    body = response.json()
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]
    assert "Authorization: Bearer" in body["errors"][0]["message"]


@pytest.mark.parametrize(
    "headers",
    [
        {"authorization": "Bearer not-a-token"},
        {"x-api-key": "not-a-token"},
        {"authorization": f"Bearer {READ}x"},
        {"authorization": f"Bearer {READ[:-1]}"},
        {"authorization": f"Basic {READ}"},
        {"authorization": "Bearer "},
        {"x-api-key": ""},
    ],
    ids=["bearer", "api-key", "longer", "prefix", "basic-scheme", "empty-bearer", "empty-key"],
)
async def test_unknown_token_is_401(
    token_client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await token_client.post(
        "/graphql", json={"query": "{ overview { totalCalls } }"}, headers=headers
    )
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert_safe(response.text, *ALL_TOKENS)


@pytest.mark.parametrize(
    "headers",
    [bearer(READ), {"authorization": f"bearer {READ}"}, {"x-api-key": READ}],
    ids=["bearer", "bearer-lowercase", "x-api-key"],
)
async def test_bearer_and_x_api_key_both_authenticate(
    token_client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    data = await data_of(token_client, "{ eventCount }", headers=headers)
    assert data == {"eventCount": 0}


async def test_a_401_is_refused_before_graphql_runs(
    token_client: httpx.AsyncClient, db: psycopg.Connection
) -> None:
    response = await token_client.post("/graphql", json={"query": LOG_EVENT})
    assert response.status_code == 401
    assert row_count(db) == 0


# --- scopes --------------------------------------------------------------------------


@pytest.mark.parametrize("field", sorted(QUERY_FIELDS))
async def test_read_token_runs_every_query_field(
    token_client: httpx.AsyncClient, field: str
) -> None:
    data = await data_of(token_client, QUERY_FIELDS[field], headers=bearer(READ))
    assert field in data


@pytest.mark.parametrize("mutation", [LOG_EVENT, LOG_EVENTS], ids=["logEvent", "logEvents"])
async def test_read_token_cannot_write_and_nothing_is_written(
    token_client: httpx.AsyncClient, db: psycopg.Connection, mutation: str
) -> None:
    body = await post(token_client, mutation, headers=bearer(READ), secrets=ALL_TOKENS)
    assert body["data"] is None
    assert codes(body) == ["FORBIDDEN"]
    assert "'write' scope" in body["errors"][0]["message"]
    assert row_count(db) == 0


@pytest.mark.parametrize("token", [READ, WRITE, READ_WRITE])
async def test_admin_fields_need_admin(token_client: httpx.AsyncClient, token: str) -> None:
    assert await field_codes(token_client, ADMIN_QUERY, bearer(token)) == ["FORBIDDEN"]
    assert await field_codes(token_client, RUN_MAINTENANCE, bearer(token)) == ["FORBIDDEN"]


async def test_write_token_can_log(token_client: httpx.AsyncClient, db: psycopg.Connection) -> None:
    assert await data_of(token_client, LOG_EVENT, headers=bearer(WRITE)) == {
        "logEvent": {"id": "auth-1"}
    }
    assert await data_of(token_client, LOG_EVENTS, headers={"x-api-key": WRITE}) == {
        "logEvents": {"accepted": 1}
    }
    assert row_count(db) == 2


@pytest.mark.parametrize("field", sorted(QUERY_FIELDS))
async def test_write_token_cannot_query(token_client: httpx.AsyncClient, field: str) -> None:
    body = await post(token_client, QUERY_FIELDS[field], headers=bearer(WRITE), secrets=ALL_TOKENS)
    assert codes(body) == ["FORBIDDEN"]
    assert "'read' scope" in body["errors"][0]["message"]


async def test_forbidden_is_per_field(token_client: httpx.AsyncClient) -> None:
    """A field the token may not see is null with FORBIDDEN; the rest of the query answers."""
    body = await post(
        token_client,
        '{ __typename event(id: "x") { id } }',
        headers=bearer(WRITE),
        secrets=ALL_TOKENS,
    )
    assert body["data"] == {"__typename": "Query", "event": None}
    assert codes(body) == ["FORBIDDEN"]
    assert body["errors"][0]["path"] == ["event"]


async def test_read_and_write_scopes_combine(token_client: httpx.AsyncClient) -> None:
    headers = bearer(READ_WRITE)
    await data_of(token_client, LOG_EVENT, headers=headers)
    assert await data_of(token_client, '{ event(id: "auth-1") { id } }', headers=headers) == {
        "event": {"id": "auth-1"}
    }


async def test_admin_reaches_everything(
    token_client: httpx.AsyncClient, db: psycopg.Connection
) -> None:
    headers = bearer(ADMIN)
    for query in QUERY_FIELDS.values():
        await data_of(token_client, query, headers=headers)
    partitions = (await data_of(token_client, ADMIN_QUERY, headers=headers))["partitions"]
    assert {"name": "audit_logs_default", "isDefault": True} in partitions
    await data_of(token_client, LOG_EVENT, headers=headers)
    await data_of(token_client, LOG_EVENTS, headers=headers)
    assert row_count(db) == 2
    report = (await data_of(token_client, RUN_MAINTENANCE, headers=headers))["runMaintenance"]
    assert report["errors"] == []


# --- GraphiQL and introspection ---------------------------------------------------------


async def test_graphiql_needs_a_token(token_client: httpx.AsyncClient) -> None:
    page = await token_client.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 401
    assert "graphiql" not in page.text.lower()
    page = await token_client.get("/graphql", headers={"accept": "text/html", **bearer(READ)})
    assert page.status_code == 200
    assert "graphiql" in page.text.lower()


async def test_introspection_needs_a_token(token_client: httpx.AsyncClient) -> None:
    response = await token_client.post("/graphql", json={"query": INTROSPECTION})
    assert response.status_code == 401
    assert "__schema" not in response.text
    for token in ALL_TOKENS:
        data = await data_of(token_client, INTROSPECTION, headers=bearer(token))
        assert data["__schema"]["queryType"] == {"name": "Query"}


# --- no tokens configured: anonymous with all scopes ----------------------------------------


async def test_without_tokens_everyone_has_every_scope(
    client: httpx.AsyncClient, db: psycopg.Connection
) -> None:
    for query in QUERY_FIELDS.values():
        await data_of(client, query)
    await data_of(client, ADMIN_QUERY)
    await data_of(client, LOG_EVENT)
    await data_of(client, LOG_EVENTS)
    assert row_count(db) == 2
    await data_of(client, RUN_MAINTENANCE)
    page = await client.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert "graphiql" in page.text.lower()


async def test_without_tokens_a_token_sent_anyway_is_ignored(
    client: httpx.AsyncClient,
) -> None:
    assert await data_of(client, "{ eventCount }", headers=bearer("anything")) == {"eventCount": 0}


# --- probes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
async def test_probes_need_no_token(token_client: httpx.AsyncClient, path: str) -> None:
    response = await token_client.get(path)
    assert response.status_code == 200, response.text


# --- configuration ----------------------------------------------------------------------------


def test_tokens_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text("file-read-tok:read\nfile-admin-tok:admin\n\n")
    settings = load_settings({"AUDIT_GRAPH_TOKENS_FILE": str(path)})
    assert settings.tokens == {
        "file-read-tok": frozenset({"read"}),
        "file-admin-tok": frozenset({"admin"}),
    }
    combined = load_settings(
        {"AUDIT_GRAPH_TOKENS_FILE": str(path), "AUDIT_GRAPH_TOKENS": "env-tok:write"}
    )
    assert set(combined.tokens) == {"file-read-tok", "file-admin-tok", "env-tok"}


def test_unreadable_tokens_file_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings({"AUDIT_GRAPH_TOKENS_FILE": str(tmp_path / "missing")})
    assert raised.value.setting == "AUDIT_GRAPH_TOKENS_FILE"


def test_settings_repr_hides_tokens() -> None:
    settings = load_settings({"AUDIT_GRAPH_TOKENS": "very-secret-tok:read"})
    assert "very-secret-tok" not in repr(settings)


@pytest.mark.parametrize(
    "spec",
    [
        "s3cret-no-scope",
        "s3cret-empty-scope:",
        "s3cret-bad-scope:superuser",
        ":read",
        "s3cret-ok:read,s3cret-bad:read+root",
    ],
)
def test_malformed_tokens_stop_serve_with_one_line(tmp_path: Path, spec: str) -> None:
    result = run_cli(
        "serve", "--port", "1", "--data-dir", str(tmp_path / "data"),
        env={"AUDIT_GRAPH_TOKENS": spec},
    )  # fmt: skip
    assert result.returncode != 0
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "AUDIT_GRAPH_TOKENS" in lines[0]
    assert "Traceback" not in result.stderr
    # The message points at the entry, never quotes the secret.
    assert "s3cret" not in result.stderr
    assert not (tmp_path / "data").exists(), "serve went on to start the database"


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10"])
def test_serve_refuses_a_public_address_without_tokens(tmp_path: Path, host: str) -> None:
    result = run_cli("serve", "--host", host, "--port", "1", "--data-dir", str(tmp_path / "data"))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "AUDIT_GRAPH_TOKENS" in lines[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists(), "serve went on to start the database"


# --- a real server: tokens from a file, the websocket, and the log ------------------------------


SERVER_TOKENS = f"{READ}:read,{WRITE}:write,{ADMIN}:admin"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the module, tokens in AUDIT_GRAPH_TOKENS; its log has every request."""
    running = ServerProcess(
        tmp_path_factory.mktemp("auth-server") / "data",
        env={"AUDIT_GRAPH_TOKENS": SERVER_TOKENS, "AUDIT_GRAPH_ACCESS_LOG": "true"},
    )
    try:
        yield running
    finally:
        running.stop()  # SIGTERM: serve stops its embedded PostgreSQL too


def ws_connect(server: ServerProcess) -> ClientConnection:
    return connect(server.ws_url, subprotocols=["graphql-transport-ws"], open_timeout=10)  # type: ignore[list-item]


def ws_init(ws: ClientConnection, payload: dict[str, Any]) -> dict[str, Any]:
    ws.send(json.dumps({"type": "connection_init", "payload": payload}))
    message: dict[str, Any] = json.loads(ws.recv(timeout=10))
    return message


SUBSCRIBE = {
    "id": "1",
    "type": "subscribe",
    "payload": {"query": 'subscription { eventLogged(filter: {toolName: "tailed"}) { id } }'},
}


@pytest.mark.slow
def test_server_http_needs_a_token(server: ServerProcess) -> None:
    assert server.post("{ eventCount }").status_code == 401
    assert server.post("{ eventCount }", headers=bearer("wrong-token")).status_code == 401
    response = server.post("{ eventCount }", headers={"x-api-key": READ})
    assert response.status_code == 200
    assert "errors" not in response.json()


@pytest.mark.slow
def test_websocket_without_a_token_is_closed_with_4403(server: ServerProcess) -> None:
    for payload in ({}, {"authorization": "Bearer wrong-token"}, {"token": ""}):
        with ws_connect(server) as ws:
            ws.send(json.dumps({"type": "connection_init", "payload": payload}))
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=10)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4403


@pytest.mark.slow
def test_websocket_with_a_read_token_tails_events(server: ServerProcess) -> None:
    with ws_connect(server) as ws:
        assert ws_init(ws, {"authorization": f"Bearer {READ}"}) == {"type": "connection_ack"}
        ws.send(json.dumps(SUBSCRIBE))
        # The subscription is live once the server listens; write until one is seen.
        deadline = time.monotonic() + 30
        seen: dict[str, Any] | None = None
        attempt = 0
        while seen is None and time.monotonic() < deadline:
            attempt += 1
            response = server.post(
                "mutation($e: AuditEventInput!) { logEvent(input: $e) { id } }",
                {"e": {"id": f"tail-{attempt}", "toolName": "tailed", "success": True}},
                headers=bearer(WRITE),
            )
            assert response.status_code == 200 and "errors" not in response.json()
            try:
                seen = json.loads(ws.recv(timeout=1))
            except TimeoutError:
                continue
        assert seen is not None
        assert seen["type"] == "next"
        assert seen["payload"]["data"]["eventLogged"]["id"].startswith("tail-")


@pytest.mark.slow
def test_websocket_with_a_write_token_cannot_subscribe(server: ServerProcess) -> None:
    with ws_connect(server) as ws:
        assert ws_init(ws, {"authorization": f"Bearer {WRITE}"}) == {"type": "connection_ack"}
        ws.send(json.dumps(SUBSCRIBE))
        message = json.loads(ws.recv(timeout=10))
    assert message["id"] == "1"
    assert message["type"] in ("error", "next")
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    assert [e["extensions"]["code"] for e in errors] == ["FORBIDDEN"]
    assert "'read' scope" in errors[0]["message"]
    assert errors[0]["extensions"]["requestId"]


@pytest.mark.slow
def test_websocket_header_token_works_too(server: ServerProcess) -> None:
    with connect(
        server.ws_url,
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        additional_headers={"X-API-Key": READ},
        open_timeout=10,
    ) as ws:
        assert ws_init(ws, {}) == {"type": "connection_ack"}


@pytest.mark.slow
@pytest.mark.parametrize(
    "message",
    [
        "not json",
        "[" * 100_000 + "]" * 100_000,
        '{"type": "connection_init", "payload": ' + "9" * 5000 + "}",
        '{"type": "connection_init", "payload": {"token": "\\ud800"}}',
    ],
    ids=["not-json", "deep-nesting", "5000-digits", "lone-surrogate-token"],
)
def test_websocket_unreadable_message_closes_the_socket(
    server: ServerProcess, message: str
) -> None:
    """Closed with 4400 (or 4403 for a token that cannot be one), never a crash.

    The log check below finds any traceback these leave behind.
    """
    with ws_connect(server) as ws:
        ws.send(message)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code in (4400, 4403)


@pytest.mark.slow
def test_zz_tokens_never_reach_the_server_log(server: ServerProcess) -> None:
    """Runs last in the module: every request above, good and bad tokens, is in the log."""
    server.post("{ eventCount }", headers=bearer("unknown-token-in-log-test"))
    server.post("{ partitions { name } }", headers=bearer(READ))
    server.post("{ nope }", headers=bearer(ADMIN))
    server.stop()
    output = server.output()
    assert "POST /graphql" in output, output  # the log was captured
    for token in (READ, WRITE, ADMIN, "unknown-token-in-log-test", "wrong-token"):
        assert token not in output, f"a token is in the server log:\n{output}"
    assert "Traceback" not in output, output


@pytest.mark.slow
def test_server_reads_tokens_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text("from-file-tok:read\n")
    running = ServerProcess(tmp_path / "data", env={"AUDIT_GRAPH_TOKENS_FILE": str(path)})
    try:
        assert running.post("{ eventCount }").status_code == 401
        response = running.post("{ eventCount }", headers=bearer("from-file-tok"))
        assert response.status_code == 200
        assert response.json() == {"data": {"eventCount": 0}}
        running.stop()
        assert "from-file-tok" not in running.output()
    finally:
        running.kill()
