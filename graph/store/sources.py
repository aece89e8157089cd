"""Where a statistic's rows come from: whole hours of a rollup, raw rows for the rest.

A statistic sums partial rows of one shape (bucket, the dimensions it
needs, the rollup measures). `parts` builds that relation for a window and
its equality filters, the way TimescaleDB's real-time aggregates do: the
whole UTC hours inside the window that the rollups cover are read from the
smallest rollup whose dimensions hold every column the statistic groups or
filters by; the partial hours at the two ends, and the days the backfill
has not reached yet, from audit_logs, aggregated into the same shape. When
no rollup has the columns, or the window holds no whole covered hour, every
row comes from audit_logs. Either way the sums are those of the raw rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import psycopg
from psycopg import AsyncConnection, sql

from .conditions import Conditions
from .models import Window
from .rollups import COVERAGE, HOUR, MEASURES, ROLLUPS, Rollup, aggregated

ONE_HOUR = timedelta(hours=1)
# timestamptz resolution: `< moment` is `<= moment - RESOLUTION`.
RESOLUTION = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Scope:
    """A statistic's window and its `column = value` filters (empty values dropped)."""

    window: Window
    equal: Mapping[str, str] = field(default_factory=dict)

    def conditions(self) -> Conditions:
        """The scope as a WHERE clause over audit_logs."""
        return self.between(self.window.start, self.window.end)

    def between(self, start: datetime, end: datetime, prefix: str = "") -> Conditions:
        where = Conditions()
        where.time_range(start, end, prefix)
        self.add_filters(where)
        return where

    def add_filters(self, where: Conditions) -> None:
        for column, value in self.equal.items():
            if value:
                where.equals(column, value)
            else:  # '' matches NULL too, as in the rollups, which keep NULL as ''
                where.add(sql.SQL("COALESCE({}, '') = ''").format(sql.Identifier(column)))


def covering(columns: Iterable[str]) -> Rollup | None:
    """The smallest rollup keyed by every one of `columns`, if any."""
    needed = set(columns)
    for rollup in ROLLUPS:
        if needed <= set(rollup.dimensions):
            return rollup
    return None


async def covered_from(conn: AsyncConnection) -> datetime | None:
    """The first hour from which the rollups hold every row; None when they cannot be read.

    Rows of created_date d are counted once the backfill reached d, and a
    row's created_date is at most a day before its UTC date, so an hour is
    whole when its day is past the coverage's first day.
    """
    try:
        cur = await conn.execute(
            sql.SQL("SELECT covered_from FROM {}").format(sql.Identifier(COVERAGE))
        )
        row = await cur.fetchone()
    except psycopg.errors.UndefinedTable:
        return None  # a database (or a replica) not migrated this far
    except psycopg.DataError:
        return None  # a date Python cannot hold: read raw rows
    if row is None:
        return None
    day: date | None = row[0]
    if day is None:
        return datetime.min.replace(tzinfo=UTC)
    try:
        return datetime.combine(day + timedelta(days=1), time(), UTC)
    except OverflowError:
        return None


def whole_hours(window: Window, covered: datetime | None) -> tuple[datetime, datetime] | None:
    """The covered whole hours [first, stop) inside the window; None when there is none."""
    if covered is None:
        return None
    start, end = window.start, window.end
    first = start.replace(minute=0, second=0, microsecond=0)
    try:
        if first < start:
            first += ONE_HOUR
        stop = (end + RESOLUTION).replace(minute=0, second=0, microsecond=0)
    except OverflowError:  # the last hour of year 9999
        if first < start:
            return None
        stop = end.replace(minute=0, second=0, microsecond=0)
    first = max(first, covered)
    return (first, stop) if first < stop else None


@dataclass(slots=True)
class Parts:
    """A relation of partial rows and its parameters, to use as `WITH parts AS (...)`."""

    relation: sql.Composable
    params: dict[str, Any]
    rollup: Rollup | None  # the rollup read for the whole hours; None: raw rows only


def parts(
    scope: Scope,
    dimensions: tuple[str, ...],
    covered: datetime | None,
    width: str | None = HOUR,
) -> Parts:
    """Partial rows of `dimensions` (and a `width` bucket) that sum to the scope's raw rows.

    A width of None is a statistic without time (bucket NULL in raw rows);
    a width other than an hour or None reads raw rows only.
    """
    rollup = covering([*dimensions, *scope.equal]) if width in (HOUR, None) else None
    hours = whole_hours(scope.window, covered) if rollup is not None else None
    if rollup is None or hours is None:
        where = scope.conditions()
        return Parts(raw(dimensions, where, width), where.params, None)
    first, stop = hours
    # The raw edges come first: a statement locks audit_logs before the
    # rollups, in the order TRUNCATE does, so a reader never deadlocks with it.
    selects, params = [], {}
    for start, end, prefix in edges(scope.window, first, stop):
        where = scope.between(start, end, prefix)
        selects.append(raw(dimensions, where, width))
        params.update(where.params)
    rolled = Conditions()
    rolled.add(
        "bucket >= %(whole_from)s AND bucket < %(whole_to)s", whole_from=first, whole_to=stop
    )
    scope.add_filters(rolled)
    selects.append(
        sql.SQL("SELECT bucket, {columns} FROM {table} {where}").format(
            columns=sql.SQL(", ").join(map(sql.Identifier, [*dimensions, *MEASURES])),
            table=sql.Identifier(rollup.table),
            where=rolled.sql(),
        )
    )
    params.update(rolled.params)
    return Parts(sql.SQL(" UNION ALL ").join(selects), params, rollup)


def edges(window: Window, first: datetime, stop: datetime) -> list[tuple[datetime, datetime, str]]:
    """The window's inclusive ranges before `first` and from `stop` on, each with a prefix."""
    found = []
    if window.start < first:
        found.append((window.start, first - RESOLUTION, "before_"))
    if stop <= window.end:
        found.append((stop, window.end, "after_"))
    return found


def raw(dimensions: tuple[str, ...], where: Conditions, width: str | None) -> sql.Composable:
    return aggregated("audit_logs", dimensions, width=width, where=where.predicate())
