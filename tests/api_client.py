"""The Api client behind the `api` fixture (conftest.py), and helpers to arrange rows directly.

The app, the client and the response checks come from graphql_client:
`Api.post` sends every request through `send` and checks every response with
`checked`, without the request exemption of `post` (nothing the request
carried may come back as a marker either): no traceback, SQL or connection
details (the DSN included) in any response, and every error carries a known
extensions.code and extensions.requestId and no table or column name.

The `api` fixture of conftest.py is `serving(store, schema_url)`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
from graphql_client import checked, open_client, send

from graph.store import Store


@dataclass
class Api:
    """A client of /graphql that checks every response it receives."""

    client: httpx.AsyncClient
    dsn: str
    responses: list[str] = field(default_factory=list)

    async def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """The whole response body, after checking nothing internal leaked."""
        _, response = await send(self.client, query, variables, headers)
        self.responses.append(response.text)
        return checked(response, self.dsn)

    async def gql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """`data` of a request that must succeed."""
        body = await self.post(query, variables)
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data

    async def error(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The first error of a request that must fail."""
        body = await self.post(query, variables)
        assert body.get("errors"), body
        error: dict[str, Any] = body["errors"][0]
        return error

    async def bad_input(self, query: str, variables: dict[str, Any] | None = None) -> str:
        """The message of a request that must fail with BAD_USER_INPUT."""
        error = await self.error(query, variables)
        assert error["extensions"]["code"] == "BAD_USER_INPUT", error
        return str(error["message"])


@asynccontextmanager
async def serving(store: Store, dsn: str) -> AsyncIterator[Api]:
    """An Api over the app built on an open store (the `api` fixture of conftest.py)."""
    async with open_client(store) as client:
        yield Api(client=client, dsn=dsn)


async def gql(api: Api, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    """`data` of a request that must succeed (the helper form of Api.gql)."""
    return await api.gql(query, variables)


# --- arranging and checking rows directly -------------------------------------


def count_rows(db: psycopg.Connection, where: str = "true", *params: Any) -> int:
    """Rows in audit_logs, counted directly in the database."""
    row = db.execute(f"SELECT count(*) FROM audit_logs WHERE {where}", params).fetchone()
    assert row is not None
    return int(row[0])


def insert(db: psycopg.Connection, **values: Any) -> None:
    """One row written directly; created_date is the UTC date of timestamp."""
    values = dict(values)
    if isinstance(values.get("parameters"), dict | list):
        values["parameters"] = json.dumps(values["parameters"])
    values.setdefault("success", True)
    columns = ", ".join(f'"{name}"' for name in values)
    placeholders = ", ".join(["%s"] * len(values))
    db.execute(
        f"INSERT INTO audit_logs ({columns}, created_date) "
        f"VALUES ({placeholders}, (%s::timestamptz AT TIME ZONE 'UTC')::date)",
        [*values.values(), values["timestamp"]],
    )


# --- a real Store that records how its calls overlap ---------------------------


class RecordingStore(Store):
    """A Store that logs when each public read enters and leaves.

    With `parties` set, every read that takes a pooled connection waits,
    holding it, until `parties` reads hold one at the same moment. Reads that
    run one after another can never all be inside together, so they fall
    through after `guard` seconds and `most_held` stays below `parties`:
    the proof does not depend on how fast anything runs.
    """

    def __init__(self, *args: Any, guard: float = 30.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.guard = guard
        self.parties: int | None = None
        self.calls: list[tuple[str, str]] = []
        self.held = 0
        self.most_held = 0
        self.backends: set[int] = set()
        self._all_held = asyncio.Event()

    @asynccontextmanager
    async def _recorded(self, name: str) -> AsyncIterator[None]:
        self.calls.append(("enter", name))
        try:
            yield
        finally:
            self.calls.append(("exit", name))

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[psycopg.AsyncConnection]:
        async with super()._reading() as conn:
            self.held += 1
            self.most_held = max(self.most_held, self.held)
            self.backends.add(conn.info.backend_pid)
            try:
                if self.parties is not None:
                    if self.held >= self.parties:
                        self._all_held.set()
                    try:
                        async with asyncio.timeout(self.guard):
                            await self._all_held.wait()
                    except TimeoutError:
                        pass  # ran alone: most_held tells the test
                yield conn
            finally:
                self.held -= 1

    async def overview(self, *args: Any, **kwargs: Any) -> Any:
        async with self._recorded("overview"):
            return await super().overview(*args, **kwargs)

    async def timeseries(self, *args: Any, **kwargs: Any) -> Any:
        async with self._recorded("timeseries"):
            return await super().timeseries(*args, **kwargs)

    async def breakdown(self, *args: Any, **kwargs: Any) -> Any:
        async with self._recorded("breakdown"):
            return await super().breakdown(*args, **kwargs)

    async def count(self, *args: Any, **kwargs: Any) -> Any:
        async with self._recorded("count"):
            return await super().count(*args, **kwargs)

    async def page(self, *args: Any, **kwargs: Any) -> Any:
        async with self._recorded("page"):
            return await super().page(*args, **kwargs)


@dataclass
class Recording:
    store: RecordingStore
    api: Api


@asynccontextmanager
async def recording_app(dsn: str, clock: Any) -> AsyncIterator[Recording]:
    """An app over a new RecordingStore on an already migrated schema."""
    recorder = RecordingStore(dsn, clock=clock, pool_max_size=4)
    async with recorder, serving(recorder, dsn) as api:
        yield Recording(store=recorder, api=api)
