"""WHERE clauses built from fixed SQL fragments, their values kept as parameters.

Shared by the event reads (events.py) and the statistics (metrics.py).
"""

from __future__ import annotations

from datetime import datetime
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
        """Inclusive bounds on timestamp, repeated on created_date for partition pruning."""
        if start is not None:
            self.add("timestamp >= %(start)s", start=start)
            self.add("created_date >= %(start_date)s", start_date=as_utc(start).date())
        if end is not None:
            self.add("timestamp <= %(end)s", end=end)
            self.add("created_date <= %(end_date)s", end_date=as_utc(end).date())

    def equals(self, column: str, value: Any) -> None:
        self.add(
            sql.SQL("{} = {}").format(sql.Identifier(column), sql.Placeholder(column)),
            **{column: value},
        )

    def sql(self) -> sql.Composable:
        if not self.clauses:
            return sql.SQL("")
        return sql.SQL("WHERE ") + sql.SQL(" AND ").join(self.clauses)
