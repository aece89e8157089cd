"""Mutation root: writes, and one maintenance tick on demand."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import strawberry

from graph.auth import CanWrite, IsAdmin
from graph.store import Event, Store

from .inputs import AuditEventInput
from .types import AuditEvent, LogEventsResult, MaintenanceReport


async def record_event(store: Store, input: AuditEventInput) -> Event:
    return await store.log(input.to_store())


async def record_events(store: Store, inputs: list[AuditEventInput]) -> LogEventsResult:
    ids = await store.log_many([item.to_store() for item in inputs])
    return LogEventsResult(accepted=len(ids), ids=ids)


# The write fields by GraphQL name, with the store call each one makes: the
# resolvers below run them, and so does a prepared write (prepared.py).
WRITES: dict[str, Callable[..., Awaitable[Any]]] = {
    "logEvent": record_event,
    "logEvents": record_events,
}


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Record one event; answered after it is committed. Scope: write.",
        permission_classes=[CanWrite],
    )
    async def log_event(self, info: strawberry.Info, input: AuditEventInput) -> AuditEvent:
        return await record_event(info.context.store, input)

    @strawberry.mutation(
        description="Record 1..1000 events in one transaction: all or nothing. Scope: write.",
        permission_classes=[CanWrite],
    )
    async def log_events(
        self, info: strawberry.Info, inputs: list[AuditEventInput]
    ) -> LogEventsResult:
        return await record_events(info.context.store, inputs)

    @strawberry.mutation(
        description="One full maintenance tick now, under the lock. Scope: admin.",
        permission_classes=[IsAdmin],
    )
    async def run_maintenance(self, info: strawberry.Info) -> MaintenanceReport:
        return await info.context.store.run_maintenance()
