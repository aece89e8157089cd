"""Subscription root: a live tail of newly logged events."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry
from strawberry import UNSET

from graph.auth import CanRead

from .inputs import EventFilter, event_filter
from .types import AuditEvent


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Each event logged from now on (by any replica) that matches the filter. "
        "Scope: read.",
        permission_classes=[CanRead],
    )
    async def event_logged(
        self, info: strawberry.Info, filter: EventFilter | None = UNSET
    ) -> AsyncGenerator[AuditEvent, None]:
        async for event in info.context.store.tail(event_filter(filter)):
            yield event
