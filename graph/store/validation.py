"""Every check the store makes on its arguments, run before any SQL.

The database's own constraints stay as the last line of defence; these checks
make sure a bad value never gets that far, so it is reported with a message a
caller can act on and nothing is half-written.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Annotated, Any

import msgspec

from graph.constants import DEFAULT_RETENTION_DAYS
from graph.values import as_utc, text_problem

from .columns import COUNT_COLUMNS, INT4_MAX, TEXT_COLUMNS
from .errors import InvalidArgument
from .models import NewEvent, Resolution, Window

DEFAULT_WINDOW = timedelta(hours=24)
MAX_BUCKETS = 10_000
MAX_PARAMETERS_BYTES = 64 * 1024
MAX_PARAMETERS_DEPTH = 64

# The length limit of each text column (None: unlimited), and the count columns.
TEXT_LIMITS: dict[str, int | None] = {column.name: column.max_length for column in TEXT_COLUMNS}
COUNT_FIELDS = tuple(column.name for column in COUNT_COLUMNS)

BUCKET_STEP = {
    Resolution.MINUTE: timedelta(minutes=1),
    Resolution.HOUR: timedelta(hours=1),
    Resolution.DAY: timedelta(days=1),
}


def check_text(name: str, value: str, limit: int | None = None) -> None:
    problem = text_problem(value)
    if problem is not None:
        raise InvalidArgument(f"{name} {problem}")
    if limit is not None and len(value) > limit:
        raise InvalidArgument(
            f"{name} is {len(value)} characters long; the most it can hold is {limit}."
        )


def check_range(start: datetime | None, end: datetime | None) -> None:
    # as_utc: a naive bound is UTC, and comparing it with an aware one must not raise.
    if start is not None and end is not None and as_utc(start) > as_utc(end):
        raise InvalidArgument(
            f"start time {start.isoformat()} is after end time {end.isoformat()}; "
            "swap them or widen the range."
        )


def resolve_window(start: datetime | None, end: datetime | None, now: datetime) -> Window:
    """The statistics window: end defaults to now, start to end minus 24 hours."""
    end = as_utc(end) if end is not None else now
    if start is None:
        try:
            start = end - DEFAULT_WINDOW
        except OverflowError:
            # The default start would fall before year 1, which no datetime can hold.
            raise InvalidArgument(
                f"end time {end.isoformat()} leaves no room for the default 24-hour window; "
                "give a start time too."
            ) from None
    start = as_utc(start)
    check_range(start, end)
    return Window(start, end)


def bucket_floor(moment: datetime, resolution: Resolution) -> datetime:
    """The UTC bucket a moment falls in, as PostgreSQL's date_trunc computes it."""
    moment = as_utc(moment).replace(second=0, microsecond=0)
    if resolution is Resolution.MINUTE:
        return moment
    moment = moment.replace(minute=0)
    if resolution is Resolution.HOUR:
        return moment
    return moment.replace(hour=0)


def check_bucket_count(window: Window, resolution: Resolution) -> int:
    first = bucket_floor(window.start, resolution)
    last = bucket_floor(window.end, resolution)
    buckets = (last - first) // BUCKET_STEP[resolution] + 1
    if buckets > MAX_BUCKETS:
        coarser = {Resolution.MINUTE: "HOUR or DAY", Resolution.HOUR: "DAY"}.get(resolution)
        advice = f"use a coarser resolution ({coarser}) or " if coarser else ""
        raise InvalidArgument(
            f"this timeseries would have {buckets} {resolution.name} buckets, more than the "
            f"limit of {MAX_BUCKETS}; {advice}narrow the time window."
        )
    return buckets


def resolve_retention(days: int) -> int:
    """Retention in days: 0 means the default of 90, a negative number is an error."""
    if days < 0:
        raise InvalidArgument(f"retention_days must be 0 (default 90) or positive, not {days}.")
    return days or DEFAULT_RETENTION_DAYS


def check_event(event: NewEvent) -> None:
    """Reject anything the table could not store faithfully, naming the first problem.

    The usual event passes a few checks done in C (`plain_columns`,
    `plain_parameters`), the write path's hot spot; one that does not is
    checked field by field, which finds what is wrong.
    """
    if isinstance(event, DecodedEvent):
        if not storable_texts(event):
            check_fields(event)
    elif not plain_columns(event):
        check_fields(event)
    if event.parameters is not None and not plain_parameters(event.parameters):
        check_parameters(event.parameters)


def plain_columns(event: NewEvent) -> bool:
    """Whether every text and count column passes `check_fields`, found out in C."""
    try:
        msgspec.convert(event, CHECKED_COLUMNS, from_attributes=True)
    except (msgspec.ValidationError, ValueError):  # ValueError: a lone surrogate in the message
        return False
    return storable_texts(event)


def storable_texts(event: NewEvent) -> bool:
    """Whether every text column is text PostgreSQL can hold (no NUL, no lone surrogate)."""
    return text_problem("".join([text for text in TEXT_VALUES(event) if text is not None])) is None


def plain_parameters(parameters: Any) -> bool:
    """Whether `parameters` pass `check_parameters`, found out in C for the usual document.

    What msgspec writes and reads back equal to the document has string keys
    and no NaN or infinity (written as null); it cannot nest deeper than its
    brackets, and a NUL would be escaped as \\u0000. Its size: msgspec writes
    the JSON json.dumps writes but for floats, of which json writes none more
    than one byte longer ("1e+16", "1e-07"; some shorter), and a float takes 3
    bytes or more, so what msgspec writes in 3/4 of the limit fits. Anything
    else is left to `check_parameters`.
    """
    if type(parameters) is not dict:
        return False
    try:
        text = JSON_ENCODER.encode(parameters)
        return (
            len(text) <= MAX_PARAMETERS_BYTES * 3 // 4
            and text.count(b"[") + text.count(b"{") <= MAX_PARAMETERS_DEPTH
            and b"\\u0000" not in text
            and JSON_DECODER.decode(text) == parameters
        )
    except (msgspec.MsgspecError, TypeError, ValueError):  # ValueError: a lone surrogate
        return False


TEXT_VALUES = attrgetter(*TEXT_LIMITS)
# NewEvent's texts that may be None (none given: log fills them in).
NULLABLE = {field.name for field in msgspec.structs.fields(NewEvent) if field.default is None}
# Each text and count column's type as msgspec checks it: lengths and ranges.
COLUMN_TYPES: dict[str, Any] = {
    **{
        name: str if limit is None else Annotated[str, msgspec.Meta(max_length=limit)]
        for name, limit in TEXT_LIMITS.items()
    },
    **{name: Annotated[int, msgspec.Meta(ge=0, le=INT4_MAX)] for name in COUNT_FIELDS},
}
CHECKED_COLUMNS = msgspec.defstruct(
    "CheckedColumns",
    [(name, type_ | None if name in NULLABLE else type_) for name, type_ in COLUMN_TYPES.items()],
)


class DecodedEvent(NewEvent):
    """A NewEvent that msgspec decoded with COLUMN_TYPES (schema/writes.py).

    Its columns' types, lengths and ranges were checked as it was decoded, so
    `check_event` only looks for what msgspec lets through (NUL). Built any
    other way it would be trusted wrongly: only a decoder makes one.
    """


def check_fields(event: NewEvent) -> None:
    """check_event's checks of the columns, one by one, naming the first problem."""
    for name, limit in TEXT_LIMITS.items():
        value = getattr(event, name)
        if value is not None:
            if not isinstance(value, str):
                raise InvalidArgument(f"{name} must be a string.")
            check_text(name, value, limit)
    for name in COUNT_FIELDS:
        value = getattr(event, name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidArgument(f"{name} must be an integer.")
        if value < 0:
            raise InvalidArgument(f"{name} must not be negative (got {value}).")
        if value > INT4_MAX:
            raise InvalidArgument(f"{name} must be at most {INT4_MAX} (got {value}).")


def check_parameters(parameters: Any) -> None:
    if not isinstance(parameters, dict):
        raise InvalidArgument(
            f"parameters must be a JSON object, not {json_type_name(parameters)}; "
            'wrap the value in an object, e.g. {"value": ...}.'
        )
    for key, value in walk_json(parameters):
        check_text("a parameters key" if key else "a parameters value", value)
    size = len(COMPACT_JSON.encode(parameters).encode())
    if size > MAX_PARAMETERS_BYTES:
        raise InvalidArgument(
            f"parameters are {size} bytes as JSON; the most allowed is {MAX_PARAMETERS_BYTES} "
            "(64 KiB). Drop or truncate large values."
        )


JSON_ENCODER = msgspec.json.Encoder()
JSON_DECODER = msgspec.json.Decoder()
COMPACT_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def walk_json(value: Any) -> Iterable[tuple[bool, str]]:
    """Every string in a JSON value, keys flagged True, without recursion.

    Iterative so a deeply nested value cannot exhaust the Python stack.
    """
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_PARAMETERS_DEPTH:
            raise InvalidArgument(
                f"parameters are nested more than {MAX_PARAMETERS_DEPTH} levels deep; flatten them."
            )
        if isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str):
                    raise InvalidArgument("parameters keys must be strings.")
                yield True, key
                stack.append((child, depth + 1))
        elif isinstance(item, list | tuple):
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, str):
            yield False, item
        elif isinstance(item, float) and not math.isfinite(item):
            raise InvalidArgument("parameters must not contain NaN or Infinity.")
        elif not (item is None or isinstance(item, int | float)):  # bool is an int
            raise InvalidArgument(
                f"parameters must hold JSON values only, not {type(item).__name__}."
            )


def json_type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__
