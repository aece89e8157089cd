"""Subscription root: a live tail of newly logged events."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator

import strawberry
from strawberry import UNSET

from graph.auth import CanRead

from .inputs import EventFilter, event_filter, given
from .types import AuditEvent


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Each event logged from now on (by any writer) that matches the filter; "
        "with `after` (an event's cursor, or endCursor of events by timestamp), first the "
        "stored events after it in (timestamp, id) order, with no gap or repeat. One that "
        "falls behind ends with SERVICE_UNAVAILABLE and extensions.cursor to resume from. "
        "Scope: read.",
        permission_classes=[CanRead],
    )
    async def event_logged(
        self,
        info: strawberry.Info,
        filter: EventFilter | None = UNSET,
        after: str | None = UNSET,
    ) -> AsyncGenerator[AuditEvent, None]:
        tail = info.context.store.tail(event_filter(filter), given(after) or None)
        async with contextlib.aclosing(tail):  # unsubscribing closes its connections now
            async for event in tail:
                yield event
