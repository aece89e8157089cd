"""The GraphQL layer's CPU per write, by the ways a write document can be run.

In-process, one event loop, no HTTP and no database: the store is replaced by
one that only checks and prepares the rows as the real store does, so what is
measured is what each way of running the document adds. Used to choose the
design of graph/schema/writes.py (bench/README.md, "One GraphQL engine").

    python -m bench.engines [--repeats 7]
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import graphql
import strawberry
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.schema.config import StrawberryConfig

from graph.schema import AuditSchema, Context
from graph.schema.mutation import Mutation
from graph.schema.query import Query
from graph.schema.scalars import SCALARS
from graph.store import NewEvent, events
from graph.store.validation import check_event

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ONE = "mutation Log($e: AuditEventInput!) { logEvent(input: $e) { id timestamp eventKind } }"
MANY = "mutation LogMany($es: [AuditEventInput!]!) { logEvents(inputs: $es) { accepted ids } }"


class RowsOnly:
    """The store's per-event work (checks, the row) without the database."""

    async def log(self, event: NewEvent) -> Any:
        check_event(event)
        return events.stored_event(events.prepare_row(event, NOW), event.parameters)

    async def log_many(self, batch: list[NewEvent]) -> list[str]:
        ids = []
        for event in batch:
            check_event(event)
            ids.append(events.prepare_row(event, NOW)[0])
        return ids


def event(index: int) -> dict[str, Any]:
    return {
        "id": f"e{index}", "toolName": "search_datasets", "success": True, "durationMs": 42,
        "userId": "u-1", "userEmail": "ada@example.com", "toolkitKind": "datahub",
        "sessionId": "s-1", "timestamp": "2026-01-01T00:00:00Z",
        "parameters": {"query": "orders", "api_key": "x"},
    }  # fmt: skip


async def per_call(call: Callable[[], Awaitable[Any]], calls: int, repeats: int) -> float:
    """Median seconds per call over `repeats` rounds of `calls` calls (after a warm-up)."""
    for _ in range(max(3, calls // 10)):
        await call()
    rounds = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            await call()
        rounds.append((time.perf_counter() - start) / calls)
    return statistics.median(rounds)


async def measure(
    schemas: tuple[AuditSchema, Any],
    name: str,
    query: str,
    variables: Any,
    calls: int,
    repeats: int,
) -> None:
    schema, bare = schemas
    context = Context(store=RowsOnly(), request_id="r", scopes=frozenset({"write"}))  # type: ignore[arg-type]
    body = json.dumps({"query": query, "variables": variables}).encode()

    async def executor(on: Any = schema) -> None:
        # The variables decoded per request, as the HTTP view does.
        variable_values = json.loads(body)["variables"]
        result = await on.execute(query, variable_values=variable_values, context_value=context)
        assert not result.errors, result.errors

    async def bare_executor() -> None:
        await executor(bare)

    # graphql-core's executor on the parsed, validated document with strawberry's
    # resolvers: reaching the GraphQLSchema needs strawberry's private `_schema`,
    # one reason this way was not taken.
    document = graphql.parse(query)
    assert not graphql.validate(schema._schema, document)

    async def graphql_core() -> None:
        variable_values = json.loads(body)["variables"]
        result = graphql.execute(
            schema._schema, document, variable_values=variable_values, context_value=context
        )
        if inspect.isawaitable(result):
            result = await result
        assert not result.errors, result.errors

    async def short_path() -> None:
        answer = await schema.write_documents.answer(body, context)
        assert answer is not None and "errors" not in answer, answer

    await executor()  # makes the document known to the short path
    ways = [
        ("strawberry's executor, the schema's extensions", executor),
        ("strawberry's executor, only the parser and validation caches", bare_executor),
        ("graphql-core's execute on the validated document", graphql_core),
        ("known write document (writes.py)", short_path),
    ]
    for way, call in ways:
        seconds = await per_call(call, calls, repeats)
        print(f"| {name} | {way} | {seconds * 1e6:,.0f} us |")


async def main(repeats: int) -> None:
    bare = strawberry.Schema(
        query=Query,
        mutation=Mutation,
        config=StrawberryConfig(scalar_map=SCALARS),
        extensions=[ParserCache, ValidationCache],
    )
    schemas = (AuditSchema(), bare)
    print("| write | way | CPU per request |\n|---|---|---:|")
    await measure(schemas, "logEvent", ONE, {"e": event(0)}, 2000, repeats)
    many = {"es": [event(i) for i in range(1000)]}
    await measure(schemas, "logEvents of 1000", MANY, many, 20, repeats)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    asyncio.run(main(parser.parse_args().repeats))
