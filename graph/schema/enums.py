"""The contract's enums, each backed by the store's own enum so no mapping table is needed."""

from __future__ import annotations

import strawberry

from graph.store import models

Resolution = strawberry.enum(models.Resolution, name="Resolution")
BreakdownDimension = strawberry.enum(models.Dimension, name="BreakdownDimension")
EventSortField = strawberry.enum(models.SortField, name="EventSortField")
SortOrder = strawberry.enum(models.SortOrder, name="SortOrder")
DistinctColumn = strawberry.enum(models.DistinctColumn, name="DistinctColumn")
SessionKind = strawberry.enum(models.SessionKind, name="SessionKind")
