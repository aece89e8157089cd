"""Query root: each field turns its arguments into one store call."""

from __future__ import annotations

import functools
from datetime import datetime

import strawberry
from strawberry import UNSET

from graph.auth import CanRead, IsAdmin
from graph.store import models

from .enums import BreakdownDimension, DistinctColumn, EventSortField, Resolution, SortOrder
from .inputs import (
    EventFilter,
    MetricsFilter,
    SessionFilter,
    event_filter,
    given,
    metrics_filter,
    session_filter,
)
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
    Session,
    SessionPage,
    TimeseriesBucket,
    UserLabel,
)

# Every query field needs the read scope; partitions needs admin.
read_field = functools.partial(strawberry.field, permission_classes=[CanRead])
admin_field = functools.partial(strawberry.field, permission_classes=[IsAdmin])


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
            given(sort_by, models.SortField.TIMESTAMP),
            given(sort_order, models.SortOrder.DESC),
            given(limit, 50),
            given(offset, 0),
            given(after) or None,  # "" is no cursor either
        )
        return EventPage.of(page, flt)

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
        return await info.context.store.distinct(column, given(start_time), given(end_time))

    @read_field(description="Each user's most recent non-empty email, sorted by user id.")
    async def user_labels(
        self,
        info: strawberry.Info,
        start_time: datetime | None = UNSET,
        end_time: datetime | None = UNSET,
    ) -> list[UserLabel]:
        return await info.context.store.user_labels(given(start_time), given(end_time))

    @read_field(description="Everything a filter bar offers, in one round trip.")
    async def filter_options(
        self,
        info: strawberry.Info,
        start_time: datetime | None = UNSET,
        end_time: datetime | None = UNSET,
    ) -> FilterOptions:
        return await info.context.store.filter_options(given(start_time), given(end_time))

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
            group_by, given(limit, 0), metrics_filter(filter), given(tool_name, "")
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

    @read_field(
        description="Sessions with a call in the window, most recently active first, each "
        "summed over its calls in the window; first 1..200, keyset-paged with `after`."
    )
    async def sessions(
        self,
        info: strawberry.Info,
        filter: SessionFilter | None = UNSET,
        first: int | None = 25,
        after: str | None = UNSET,
    ) -> SessionPage:
        page = await info.context.store.sessions(
            session_filter(filter), given(first, 25), given(after) or None
        )
        return SessionPage.of(page)

    @read_field(description="One session summed over all its calls, or null when it has none.")
    async def session(self, info: strawberry.Info, id: strawberry.ID) -> Session | None:
        return await info.context.store.session(id)

    @read_field(description="Discovery-before-query sessions; filter.userId does not apply.")
    async def discovery(
        self, info: strawberry.Info, filter: MetricsFilter | None = UNSET
    ) -> DiscoveryStats:
        return await info.context.store.discovery(metrics_filter(filter))

    @admin_field(description="audit_logs partitions. Scope: admin.")
    async def partitions(self, info: strawberry.Info) -> list[PartitionInfo]:
        return await info.context.store.partitions()
