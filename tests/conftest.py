"""Fixtures: a real PostgreSQL for every test, a fresh schema per test, and the app over it.

The database is the embedded PostgreSQL by default, or the server named by
AUDIT_GRAPH_TEST_DATABASE_URL. Each test gets its own schema (through
search_path), so tests never see each other's rows and need no cleanup SQL.

`api` and `client` are the in-process app over the `store` fixture, both with
the default settings (no tokens): `api` checks every response (api_client),
`client` is the plain httpx client (graphql_client). A test module that needs
other settings builds its own client with a name of its own (test_auth's
`token_client`).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg
import pytest
from api_client import Api, Recording, insert, recording_app, serving
from api_dataset import EVENTS
from graphql_client import app_client
from psycopg.conninfo import make_conninfo

from graph.embedded import EmbeddedPostgres
from graph.store import Store


class FakeClock:
    """A clock the test sets; the store reads it wherever it needs "now"."""

    def __init__(self, now: datetime) -> None:
        self.current = now

    def __call__(self) -> datetime:
        return self.current

    def set(self, now: datetime) -> None:
        self.current = now


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    configured = os.environ.get("AUDIT_GRAPH_TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    embedded = EmbeddedPostgres(tmp_path_factory.mktemp("embedded"))
    url = embedded.start()
    try:
        yield url
    finally:
        embedded.stop()


@pytest.fixture
def schema_url(database_url: str) -> Iterator[str]:
    """A connection string whose search_path is a new, empty schema."""
    schema = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield make_conninfo(database_url, options=f"-c search_path={schema}")
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 15, 12, 0, tzinfo=UTC))


@pytest.fixture
async def store(schema_url: str, clock: FakeClock) -> AsyncIterator[Store]:
    store = Store(schema_url, clock=clock, pool_max_size=4)
    store.migrate()
    async with store:
        yield store


@pytest.fixture
def db(schema_url: str) -> Iterator[psycopg.Connection]:
    """A plain connection to the test's schema, for arranging rows and checking them."""
    with psycopg.connect(schema_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
async def api(store: Store, schema_url: str) -> AsyncIterator[Api]:
    """The app over `store`, through an Api that checks every response."""
    async with serving(store, schema_url) as client:
        yield client


@pytest.fixture
async def client(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    """The app over `store` with the default settings: no tokens, the default limits."""
    async with app_client(store) as client:
        yield client


@pytest.fixture
async def recording(store: Store, schema_url: str, clock: Any) -> AsyncIterator[Recording]:
    """The app over a RecordingStore (see api_client) on the schema `store` migrated."""
    async with recording_app(schema_url, clock) as app:
        yield app


@pytest.fixture
def seeded(db: psycopg.Connection) -> None:
    """The eight events of api_dataset, written directly."""
    for event in EVENTS:
        insert(db, **event)
