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

    def time_range(self, start: datetime | None, end: datetime | None, prefix: str = "") -> None:
        """Inclusive bounds on timestamp, repeated on created_date for partition pruning.

        The created_date bounds allow one day more on each side: other writers
        (the Go service) store the local date of the timestamp, which is at
        most a day off the UTC date (offsets run from -12 h to +14 h).
        `prefix` names the parameters, for several ranges in one statement.
        """

        def bound(clause: str, name: str, value: Any) -> None:
            self.add(
                sql.SQL(clause).format(sql.Placeholder(prefix + name)), **{prefix + name: value}
            )

        if start is not None:
            bound("timestamp >= {}", "start", start)
            bound("created_date >= {}", "start_date", day_beside(start, -1))
        if end is not None:
            bound("timestamp <= {}", "end", end)
            bound("created_date <= {}", "end_date", day_beside(end, 1))

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

    def predicate(self) -> sql.Composable | None:
        """The conditions joined by AND, without WHERE; None when there are none."""
        return sql.SQL(" AND ").join(self.clauses) if self.clauses else None

    def sql(self) -> sql.Composable:
        predicate = self.predicate()
        return sql.SQL("") if predicate is None else sql.SQL("WHERE ") + predicate


def day_beside(moment: datetime, days: int) -> date:
    """The UTC date of `moment`, moved by `days` where the calendar allows."""
    day = as_utc(moment).date()
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return day
