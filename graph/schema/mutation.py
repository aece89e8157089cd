"""Mutation root: writes, and one maintenance tick on demand."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import strawberry

from graph.auth import CanWrite, IsAdmin
from graph.store import Event, NewEvent, Store

from .inputs import AuditEventInput
from .types import AuditEvent, LogEventsResult, MaintenanceReport


async def record_event(store: Store, event: NewEvent) -> Event:
    return await store.log(event)


async def record_events(store: Store, events: list[NewEvent]) -> LogEventsResult:
    ids = await store.log_many(events)
    return LogEventsResult(accepted=len(ids), ids=ids)


@dataclass(frozen=True, slots=True)
class Write:
    """A write field's store call, given its argument as store values (one or a list)."""

    call: Callable[[Store, Any], Awaitable[Any]]
    many: bool


# The write fields by GraphQL name: the resolvers below run them, and so does
# a known write document (writes.py).
WRITES = {
    "logEvent": Write(record_event, many=False),
    "logEvents": Write(record_events, many=True),
}


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Record one event; answered after it is committed. Scope: write.",
        permission_classes=[CanWrite],
    )
    async def log_event(self, info: strawberry.Info, input: AuditEventInput) -> AuditEvent:
        return await record_event(info.context.store, input.to_store())

    @strawberry.mutation(
        description="Record 1..1000 events in one transaction: all or nothing. Scope: write.",
        permission_classes=[CanWrite],
    )
    async def log_events(
        self, info: strawberry.Info, inputs: list[AuditEventInput]
    ) -> LogEventsResult:
        return await record_events(info.context.store, [item.to_store() for item in inputs])

    @strawberry.mutation(
        description="One full maintenance tick now, under the lock. Scope: admin.",
        permission_classes=[IsAdmin],
    )
    async def run_maintenance(self, info: strawberry.Info) -> MaintenanceReport:
        return await info.context.store.run_maintenance()
