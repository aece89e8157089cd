"""Checks of plain values that every layer needs: UTC instants, text PostgreSQL can hold.

A leaf: the store's validation, the GraphQL scalars and the HTTP layer all
use these, and none of them should have to import the others for it.
"""

from __future__ import annotations

from datetime import UTC, datetime


def as_utc(moment: datetime) -> datetime:
    """A naive datetime is taken as UTC; an aware one is converted to UTC."""
    if moment.tzinfo is None:
        # combine, not replace(tzinfo=UTC): the faster, and it runs once per event written.
        return datetime.combine(moment.date(), moment.time(), UTC)
    return moment.astimezone(UTC)


def text_problem(value: str) -> str | None:
    """Why PostgreSQL could not store this text, or None when it can.

    PostgreSQL text cannot hold NUL, and psycopg cannot encode lone surrogates.
    """
    if "\x00" in value:
        return "must not contain the NUL character (\\u0000)."
    if value.isascii():  # most text, and no surrogate can hide in it
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode (it holds a lone surrogate)."
    return None


def is_storable_text(value: str) -> bool:
    return text_problem(value) is None
