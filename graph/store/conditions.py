"""WHERE clauses built from fixed SQL fragments, their values kept as parameters.

Shared by the event reads (events.py) and the statistics (metrics.py).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from psycopg import sql

from graph.values import as_utc


class Conditions:
    """A WHERE clause built from fixed SQL fragments, its values kept as parameters."""

    def __init__(self) -> None:
        self.clauses: list[sql.Composable] = []
        self.params: dict[str, Any] = {}

    def add(self, clause: str | sql.Composable, **params: Any) -> None:
        self.clauses.append(sql.SQL(clause) if isinstance(clause, str) else clause)
        self.params.update(params)

    def time_range(self, start: datetime | None, end: datetime | None) -> None:
        """Inclusive bounds on timestamp, repeated on created_date for partition pruning.

        The created_date bounds allow one day more on each side: other writers
        (the Go service) store the local date of the timestamp, which is at
        most a day off the UTC date (offsets run from -12 h to +14 h).
        """
        if start is not None:
            self.add("timestamp >= %(start)s", start=start)
            self.add("created_date >= %(start_date)s", start_date=day_beside(start, -1))
        if end is not None:
            self.add("timestamp <= %(end)s", end=end)
            self.add("created_date <= %(end_date)s", end_date=day_beside(end, 1))

    def copy(self) -> Conditions:
        """These conditions, to add more to without changing these."""
        copied = Conditions()
        copied.clauses = list(self.clauses)
        copied.params = dict(self.params)
        return copied

    def equals(self, column: str, value: Any) -> None:
        self.add(
            sql.SQL("{} = {}").format(sql.Identifier(column), sql.Placeholder(column)),
            **{column: value},
        )

    def sql(self) -> sql.Composable:
        if not self.clauses:
            return sql.SQL("")
        return sql.SQL("WHERE ") + sql.SQL(" AND ").join(self.clauses)


def day_beside(moment: datetime, days: int) -> date:
    """The UTC date of `moment`, moved by `days` where the calendar allows."""
    day = as_utc(moment).date()
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return day
