"""Output types of the contract.

Resolvers return the store's own dataclasses; strawberry reads each field by
its snake_case name, so these classes only declare the GraphQL shape.
AuditEvent is derived from the columns (graph/store/columns.py).
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from typing import Any

import strawberry
from strawberry import UNSET

from graph.store import EventFilter, events, models
from graph.store.columns import INPUT_COLUMNS, Column

from .enums import SessionKind
from .inputs import given, graphql_type
from .scalars import Long


def output_type(column: Column) -> Any:
    """A column's GraphQL type as read: never null (NULL reads as ''), but for parameters."""
    type_ = graphql_type(column)
    return type_ | None if column.kind == "jsonb" else type_


def event_cursor(root: models.Event) -> str:
    return events.event_cursor(root)


AuditEvent = strawberry.type(
    type(
        "AuditEvent",
        (),
        {
            "__module__": __name__,
            "__annotations__": {column.name: output_type(column) for column in INPUT_COLUMNS},
            "cursor": strawberry.field(
                resolver=event_cursor,
                description="This event's place in (timestamp, id) order: "
                "`after` for events (default sort) and for eventLogged.",
            ),
        },
    ),
    description="One tool call as stored; NULL text reads as an empty string.",
)


@strawberry.type
class EventPage:
    items: list[AuditEvent]
    has_next_page: bool
    end_cursor: str | None = strawberry.field(
        description="Pass as `after` for the next page (keyset, fast at any depth)."
    )
    filter: strawberry.Private[EventFilter]

    @strawberry.field(description="Matching events in all pages; counted only when selected.")
    async def total_count(self, info: strawberry.Info) -> Long:
        return await info.context.store.count(self.filter)

    @classmethod
    def of(cls, page: models.EventPage, flt: EventFilter) -> EventPage:
        """The store's page, with the filter its totalCount counts."""
        return cls(
            items=page.items,
            has_next_page=page.has_next_page,
            end_cursor=page.end_cursor,
            filter=flt,
        )


def graphql_of(hint: Any) -> Any:
    """A store field's GraphQL type: counts are Long, lists of store values their mirrors."""
    if hint is int:
        return Long
    if typing.get_origin(hint) is list:
        (item,) = typing.get_args(hint)
        return list[MIRRORS.get(item) or graphql_of(item)]  # type: ignore[misc]
    return hint


def mirror(
    model: type,
    types: Mapping[str, Any] | None = None,
    members: Mapping[str, Any] | None = None,
) -> Any:
    """The GraphQL type of a store dataclass, with the same name and fields.

    `types` overrides or adds fields' types (for a value the store computes
    as a property); `members` adds resolvers.
    """
    hints = typing.get_type_hints(model)
    annotations = {field.name: graphql_of(hints[field.name]) for field in dataclasses.fields(model)}
    annotations.update(types or {})
    namespace = {"__module__": __name__, "__annotations__": annotations, **(members or {})}
    graphql_type = strawberry.type(type(model.__name__, (), namespace))
    MIRRORS[model] = graphql_type
    return graphql_type


MIRRORS: dict[type, Any] = {}
# The statistics and reports are the store's own values (graph/store/models.py).
UserLabel = mirror(models.UserLabel)
FilterOptions = mirror(models.FilterOptions)
TimeseriesBucket = mirror(models.TimeseriesBucket)
BreakdownEntry = mirror(models.BreakdownEntry)
Overview = mirror(models.Overview)
PerformanceStats = mirror(models.PerformanceStats)
EnrichmentStats = mirror(models.EnrichmentStats)
DiscoveryStats = mirror(models.DiscoveryStats)
PartitionInfo = mirror(models.PartitionInfo)
MaintenanceReport = mirror(models.MaintenanceReport)


@strawberry.field(description="Its events, oldest first (timestamp, id); first 1..1000.")
async def timeline(
    root: models.Session, info: strawberry.Info, first: int | None = 50, after: str | None = UNSET
) -> EventPage:
    page = await info.context.store.timeline(
        root.session_id, given(first, 50), given(after) or None
    )
    return EventPage.of(page, EventFilter(session_id=root.session_id))


Session = mirror(
    models.Session,
    types={"session_id": strawberry.ID, "kind": SessionKind},
    members={"timeline": timeline},
)


@strawberry.type
class SessionPage:
    items: list[Session]  # type: ignore[valid-type]
    has_next_page: bool
    end_cursor: str | None = strawberry.field(
        description="Pass as `after` for the next page of the same filter."
    )
    filter: strawberry.Private[models.SessionFilter]

    @strawberry.field(description="Sessions in all pages; counted only when selected.")
    async def total_count(self, info: strawberry.Info) -> Long:
        return await info.context.store.count_sessions(self.filter)

    @classmethod
    def of(cls, page: models.SessionPage) -> SessionPage:
        return cls(
            items=page.items,
            has_next_page=page.has_next_page,
            end_cursor=page.end_cursor,
            filter=page.filter,
        )


@strawberry.type
class LogEventsResult:
    accepted: int
    ids: list[strawberry.ID]
