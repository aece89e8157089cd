"""Query root: each field turns its arguments into one store call."""

from __future__ import annotations

import asyncio
import functools
from datetime import datetime

import strawberry
from strawberry import UNSET

from graph.auth import CanRead, IsAdmin
from graph.store import models

from .enums import BreakdownDimension, DistinctColumn, EventSortField, Resolution, SortOrder
from .inputs import EventFilter, MetricsFilter, event_filter, metrics_filter
from .scalars import Long
from .types import (
    AuditEvent,
    BreakdownEntry,
    DiscoveryStats,
    EnrichmentStats,
    EventPage,
    FilterOptions,
    Overview,
    PartitionInfo,
    PerformanceStats,
    TimeseriesBucket,
    UserLabel,
)

# Every query field needs the read scope; partitions needs admin.
read_field = functools.partial(strawberry.field, permission_classes=[CanRead])
admin_field = functools.partial(strawberry.field, permission_classes=[IsAdmin])


def user_labels_of(emails: dict[str, str]) -> list[UserLabel]:
    return [UserLabel(user_id=user_id, email=email) for user_id, email in emails.items()]


@strawberry.type
class Query:
    @read_field(description="The event with this id, or null.")
    async def event(self, info: strawberry.Info, id: strawberry.ID) -> AuditEvent | None:
        return await info.context.store.get(id)

    @read_field(
        description="A page of events. limit 1..1000, offset 0..100000; with `after`, offset "
        "must be 0. totalCount is computed only when selected."
    )
    async def events(
        self,
        info: strawberry.Info,
        filter: EventFilter | None = UNSET,
        sort_by: EventSortField | None = models.SortField.TIMESTAMP,
        sort_order: SortOrder | None = models.SortOrder.DESC,
        limit: int | None = 50,
        offset: int | None = 0,
        after: str | None = UNSET,
    ) -> EventPage:
        flt = event_filter(filter)
        page = await info.context.store.page(
            flt,
            sort_by or models.SortField.TIMESTAMP,
            sort_order or models.SortOrder.DESC,
            50 if limit is None else limit,
            offset or 0,
            after or None,
        )
        return EventPage(
            items=page.items,
            has_next_page=page.has_next_page,
            end_cursor=page.end_cursor,
            filter=flt,
        )

    @read_field()
    async def event_count(self, info: strawberry.Info, filter: EventFilter | None = UNSET) -> Long:
        return await info.context.store.count(event_filter(filter))

    @read_field(description="Sorted non-empty values; absent bounds mean all time.")
    async def distinct_values(
        self,
        info: strawberry.Info,
        column: DistinctColumn,
        start_time: datetime | None = UNSET,
        end_time: datetime | None = UNSET,
    ) -> list[str]:
        return await info.context.store.distinct(column, start_time or None, end_time or None)

    @read_field(description="Each user's most recent non-empty email, sorted by user id.")
    async def user_labels(
        self,
        info: strawberry.Info,
        start_time: datetime | None = UNSET,
        end_time: datetime | None = UNSET,
    ) -> list[UserLabel]:
        emails = await info.context.store.distinct_pairs(
            "user_id", "user_email", start_time or None, end_time or None
        )
        return user_labels_of(emails)

    @read_field(description="Everything a filter bar offers, in one round trip.")
    async def filter_options(
        self,
        info: strawberry.Info,
        start_time: datetime | None = UNSET,
        end_time: datetime | None = UNSET,
    ) -> FilterOptions:
        store, start, end = info.context.store, start_time or None, end_time or None
        users, tools, kinds, sources, event_kinds, emails = await asyncio.gather(
            store.distinct(models.DistinctColumn.USER_ID, start, end),
            store.distinct(models.DistinctColumn.TOOL_NAME, start, end),
            store.distinct(models.DistinctColumn.TOOLKIT_KIND, start, end),
            store.distinct(models.DistinctColumn.SOURCE, start, end),
            store.distinct(models.DistinctColumn.EVENT_KIND, start, end),
            store.distinct_pairs("user_id", "user_email", start, end),
        )
        return FilterOptions(
            users=users,
            tools=tools,
            toolkit_kinds=kinds,
            sources=sources,
            event_kinds=event_kinds,
            user_labels=user_labels_of(emails),
        )

    @read_field(description="Zero-filled UTC buckets over the window (default 24 h).")
    async def timeseries(
        self,
        info: strawberry.Info,
        resolution: Resolution,
        filter: MetricsFilter | None = UNSET,
    ) -> list[TimeseriesBucket]:
        return await info.context.store.timeseries(resolution, metrics_filter(filter))

    @read_field(description="Top groups by count; limit <= 0 means 10, above 100 means 100.")
    async def breakdown(
        self,
        info: strawberry.Info,
        group_by: BreakdownDimension,
        limit: int | None = 10,
        filter: MetricsFilter | None = UNSET,
        tool_name: str | None = UNSET,
    ) -> list[BreakdownEntry]:
        return await info.context.store.breakdown(
            group_by, limit or 0, metrics_filter(filter), tool_name or ""
        )

    @read_field()
    async def overview(
        self, info: strawberry.Info, filter: MetricsFilter | None = UNSET
    ) -> Overview:
        return await info.context.store.overview(metrics_filter(filter))

    @read_field()
    async def performance(
        self, info: strawberry.Info, filter: MetricsFilter | None = UNSET
    ) -> PerformanceStats:
        return await info.context.store.performance(metrics_filter(filter))

    @read_field()
    async def enrichment(
        self, info: strawberry.Info, filter: MetricsFilter | None = UNSET
    ) -> EnrichmentStats:
        return await info.context.store.enrichment(metrics_filter(filter))

    @read_field(description="Discovery-before-query sessions; filter.userId does not apply.")
    async def discovery(
        self, info: strawberry.Info, filter: MetricsFilter | None = UNSET
    ) -> DiscoveryStats:
        return await info.context.store.discovery(metrics_filter(filter))

    @admin_field(description="audit_logs partitions. Scope: admin.")
    async def partitions(self, info: strawberry.Info) -> list[PartitionInfo]:
        return await info.context.store.partitions()
