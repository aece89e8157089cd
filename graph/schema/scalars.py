"""The custom scalars of the contract: DateTime, Long (JSON is strawberry's own)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NewType

import strawberry

from graph.values import as_utc

LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1


def serialize_datetime(value: datetime) -> str:
    """Always UTC with an explicit offset."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


def parse_datetime(value: Any) -> datetime:
    """ISO 8601; a value without an offset is taken as UTC."""
    if not isinstance(value, str):
        raise ValueError("DateTime must be an ISO 8601 string such as 2026-03-15T12:00:00Z.")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"{value[:64]!r} is not an ISO 8601 date-time; use e.g. 2026-03-15T12:00:00Z."
        ) from None
    return as_utc(parsed)


def parse_long(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("Long must be an integer.")
    if not LONG_MIN <= value <= LONG_MAX:
        raise ValueError("Long must fit in 64 bits.")
    return value


Long = NewType("Long", int)

# How each custom scalar's Python type is written in a response.
SERIALIZERS = {datetime: serialize_datetime, Long: int}

# Passed to StrawberryConfig.scalar_map: `datetime` fields use our DateTime, `Long` fields Long.
SCALARS = {
    datetime: strawberry.scalar(
        name="DateTime",
        description="ISO 8601; output always UTC with offset; input without offset = UTC",
        serialize=SERIALIZERS[datetime],
        parse_value=parse_datetime,
    ),
    Long: strawberry.scalar(
        name="Long",
        description="64-bit integer as a JSON number",
        serialize=SERIALIZERS[Long],
        parse_value=parse_long,
    ),
}
