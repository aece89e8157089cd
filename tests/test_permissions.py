"""Field permissions answer each caller by its own scopes, whoever asked before."""

from __future__ import annotations

import psycopg

from graph.schema import Context, schema
from graph.store import Store

WRITE = 'mutation { logEvent(input: {toolName: "t", success: true}) { id } }'


async def code_for(store: Store, scopes: frozenset[str] | None) -> str:
    result = await schema.execute(
        WRITE, context_value=Context(store=store, request_id="r", scopes=scopes)
    )
    assert result.errors, result
    return str(result.errors[0].extensions["code"])


async def test_forbidden_stays_forbidden_after_an_unauthenticated_request(
    store: Store, db: psycopg.Connection
) -> None:
    reader = frozenset({"read"})
    assert await code_for(store, reader) == "FORBIDDEN"
    assert await code_for(store, None) == "UNAUTHENTICATED"
    assert await code_for(store, reader) == "FORBIDDEN"
    assert await code_for(store, None) == "UNAUTHENTICATED"
    assert db.execute("SELECT count(*) FROM audit_logs").fetchone() == (0,)
