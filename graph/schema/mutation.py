"""Mutation root: writes, and one maintenance tick on demand."""

from __future__ import annotations

import strawberry

from graph.auth import CanWrite, IsAdmin

from .inputs import AuditEventInput
from .types import AuditEvent, LogEventsResult, MaintenanceReport


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Record one event; answered after it is committed. Scope: write.",
        permission_classes=[CanWrite],
    )
    async def log_event(self, info: strawberry.Info, input: AuditEventInput) -> AuditEvent:
        return await info.context.store.log(input.to_store())

    @strawberry.mutation(
        description="Record 1..1000 events in one transaction: all or nothing. Scope: write.",
        permission_classes=[CanWrite],
    )
    async def log_events(
        self, info: strawberry.Info, inputs: list[AuditEventInput]
    ) -> LogEventsResult:
        ids = await info.context.store.log_many([item.to_store() for item in inputs])
        return LogEventsResult(accepted=len(ids), ids=ids)

    @strawberry.mutation(
        description="One full maintenance tick now, under the lock. Scope: admin.",
        permission_classes=[IsAdmin],
    )
    async def run_maintenance(self, info: strawberry.Info) -> MaintenanceReport:
        return await info.context.store.run_maintenance()
