"""Output types of the contract.

Resolvers return the store's own dataclasses; strawberry reads each field by
its snake_case name, so these classes only declare the GraphQL shape.
AuditEvent is derived from the columns (graph/store/columns.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from graph.store import EventFilter
from graph.store.columns import INPUT_COLUMNS, Column

from .inputs import graphql_type
from .scalars import Long


def output_type(column: Column) -> Any:
    """A column's GraphQL type as read: never null (NULL reads as ''), but for parameters."""
    type_ = graphql_type(column)
    return type_ | None if column.kind == "jsonb" else type_


AuditEvent = strawberry.type(
    type(
        "AuditEvent",
        (),
        {
            "__module__": __name__,
            "__annotations__": {column.name: output_type(column) for column in INPUT_COLUMNS},
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


@strawberry.type
class UserLabel:
    user_id: str
    email: str


@strawberry.type
class FilterOptions:
    users: list[str]
    tools: list[str]
    toolkit_kinds: list[str]
    sources: list[str]
    event_kinds: list[str]
    user_labels: list[UserLabel]


@strawberry.type
class TimeseriesBucket:
    bucket: datetime
    count: Long
    success_count: Long
    error_count: Long
    avg_duration_ms: float


@strawberry.type
class BreakdownEntry:
    dimension: str
    count: Long
    success_rate: float
    avg_duration_ms: float


@strawberry.type
class Overview:
    total_calls: Long
    success_rate: float
    avg_duration_ms: float
    unique_users: Long
    unique_tools: Long
    enrichment_rate: float
    error_count: Long


@strawberry.type
class PerformanceStats:
    p50_ms: float
    p95_ms: float
    p99_ms: float
    avg_ms: float
    max_ms: float
    avg_response_chars: float
    avg_request_chars: float


@strawberry.type
class EnrichmentStats:
    total_calls: Long
    enriched_calls: Long
    enrichment_rate: float
    full_count: Long
    summary_count: Long
    reference_count: Long
    none_count: Long
    total_tokens_full: Long
    total_tokens_dedup: Long
    tokens_saved: Long
    avg_tokens_full: float
    avg_tokens_dedup: float
    unique_sessions: Long


@strawberry.type
class DiscoveryStats:
    total_sessions: Long
    discovery_sessions: Long
    query_sessions: Long
    discovery_before_query: Long
    discovery_rate: float
    query_without_discovery: Long
    top_discovery_tools: list[BreakdownEntry]


@strawberry.type
class PartitionInfo:
    name: str
    range_start: datetime | None
    range_end: datetime | None
    is_default: bool
    approx_rows: Long


@strawberry.type
class MaintenanceReport:
    ran_at: datetime
    lock_acquired: bool
    partitions_created: list[str]
    rows_deleted: Long
    partitions_dropped: list[str]
    errors: list[str]


@strawberry.type
class LogEventsResult:
    accepted: int
    ids: list[strawberry.ID]
