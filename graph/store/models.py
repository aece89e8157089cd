"""Plain values that cross the store boundary: events, filters and statistics.

The GraphQL layer converts its input types into these and the store's results
back; nothing here knows about HTTP, GraphQL or SQL.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, make_dataclass
from datetime import date, datetime
from typing import Any

import msgspec

from .columns import INPUT_COLUMNS, Column


class SortField(enum.Enum):
    """Columns `query` may sort by; the value is the column name."""

    TIMESTAMP = "timestamp"
    USER_ID = "user_id"
    TOOL_NAME = "tool_name"
    TOOLKIT_KIND = "toolkit_kind"
    SOURCE = "source"
    CONNECTION = "connection"
    DURATION_MS = "duration_ms"
    SUCCESS = "success"
    ENRICHMENT_APPLIED = "enrichment_applied"
    ENRICHMENT_MODE = "enrichment_mode"


class SortOrder(enum.Enum):
    ASC = "asc"
    DESC = "desc"


class Resolution(enum.Enum):
    """Timeseries bucket widths; the value is the `date_trunc` unit."""

    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"


class Dimension(enum.Enum):
    """Columns `breakdown` may group by."""

    TOOL_NAME = "tool_name"
    USER_ID = "user_id"
    PERSONA = "persona"
    TOOLKIT_KIND = "toolkit_kind"
    CONNECTION = "connection"
    SOURCE = "source"
    EVENT_KIND = "event_kind"


class DistinctColumn(enum.Enum):
    """Columns `distinct` may list."""

    USER_ID = "user_id"
    TOOL_NAME = "tool_name"
    TOOLKIT_KIND = "toolkit_kind"
    SOURCE = "source"
    EVENT_KIND = "event_kind"


# The Python type of each column kind, as psycopg reads it.
PYTHON_TYPES: dict[str, Any] = {
    "text": str,
    "varchar": str,
    "integer": int,
    "boolean": bool,
    "timestamptz": datetime,
    "date": date,
    "jsonb": Any,
}


def new_event_field(column: Column) -> tuple[str, Any] | tuple[str, Any, Any]:
    python_type = PYTHON_TYPES[column.kind]
    if column.required:
        return column.name, python_type
    if column.default is None:
        return column.name, python_type | None if python_type is not Any else Any, None
    return column.name, python_type, column.default


# An event as a caller submits it; `log` fills in what is missing. A msgspec
# Struct, so a write request can be decoded straight into one
# (schema/writes.py); like a dataclass, it does not check its values.
NewEvent = msgspec.defstruct(
    "NewEvent",
    [new_event_field(column) for column in INPUT_COLUMNS],
    kw_only=True,
    module=__name__,
)

# An event as stored: every field present, NULL read as `Column.null_reads_as`.
# created_date is the partition key, not part of what an event is.
Event = make_dataclass(
    "Event",
    [(column.name, PYTHON_TYPES[column.kind]) for column in INPUT_COLUMNS]
    + [("created_date", date | None, field(default=None, compare=False))],
    slots=True,
    frozen=True,
)
Event.__module__ = __name__  # pickling and repr find it here


@dataclass(slots=True, frozen=True)
class EventFilter:
    """Filters of `query` and `count`. Empty strings mean "no filter", as in the seed."""

    id: str = ""
    start: datetime | None = None
    end: datetime | None = None
    user_id: str = ""
    session_id: str = ""
    tool_name: str = ""
    toolkit_kind: str = ""
    source: str = ""
    event_kind: str = ""
    search: str = ""
    success: bool | None = None
    ids: tuple[str, ...] | None = None  # events whose id is one of these (1..1000)


@dataclass(slots=True, frozen=True)
class MetricsFilter:
    """The window and scope shared by the statistics operations."""

    start: datetime | None = None
    end: datetime | None = None
    user_id: str = ""
    event_kind: str = ""
    source: str = ""


class SessionKind(enum.Enum):
    """What opened a session, by the prefix the Go service gives its id."""

    AGENT = "dps_"
    PORTAL = "dpp_"
    SCRIPT = "dpx_"
    TRANSPORT = ""  # any other id

    @classmethod
    def of(cls, session_id: str) -> SessionKind:
        return next((kind for kind in PREFIXED_KINDS if session_id.startswith(kind.value)),
                    cls.TRANSPORT)  # fmt: skip


PREFIXED_KINDS = (SessionKind.AGENT, SessionKind.PORTAL, SessionKind.SCRIPT)


@dataclass(slots=True, frozen=True)
class SessionFilter:
    """Filters of `sessions`: a window, and conditions on each session's summary."""

    start: datetime | None = None
    end: datetime | None = None
    user_id: str = ""  # the user of the session's first call in the window
    kind: SessionKind | None = None
    has_failures: bool | None = None
    search: str = ""  # in the session id, or in the purpose of one of its calls


@dataclass(slots=True, frozen=True)
class Session:
    """What the calls of one session (in a window, or all of them) add up to."""

    session_id: str
    user_id: str  # of the first call
    user_email: str  # the most recent non-empty one
    persona: str  # of the first call
    started_at: datetime
    last_active_at: datetime
    call_count: int
    failure_count: int
    total_duration_ms: int
    tools: list[str]  # distinct, non-empty, in code-point order
    connections: list[str]
    discovered_before_query: bool

    @property
    def kind(self) -> SessionKind:
        return SessionKind.of(self.session_id)


@dataclass(slots=True)
class SessionPage:
    items: list[Session]
    has_next_page: bool
    end_cursor: str | None
    # The filter with its window resolved: what totalCount must count, even
    # when the default window ("the last 24 hours") has moved on meanwhile.
    filter: SessionFilter = SessionFilter()


@dataclass(slots=True, frozen=True)
class Window:
    """A resolved, inclusive time range."""

    start: datetime
    end: datetime


@dataclass(slots=True)
class EventPage:
    items: list[Event]
    has_next_page: bool
    end_cursor: str | None


@dataclass(slots=True, frozen=True)
class UserLabel:
    user_id: str
    email: str


@dataclass(slots=True, frozen=True)
class FilterOptions:
    """Everything a filter bar offers: each list sorted, non-empty values only."""

    users: list[str]
    tools: list[str]
    toolkit_kinds: list[str]
    sources: list[str]
    event_kinds: list[str]
    user_labels: list[UserLabel]


@dataclass(slots=True, frozen=True)
class TimeseriesBucket:
    bucket: datetime
    count: int
    success_count: int
    error_count: int
    avg_duration_ms: float


@dataclass(slots=True, frozen=True)
class BreakdownEntry:
    dimension: str
    count: int
    success_rate: float
    avg_duration_ms: float


@dataclass(slots=True, frozen=True)
class Overview:
    total_calls: int
    success_rate: float
    avg_duration_ms: float
    unique_users: int
    unique_tools: int
    enrichment_rate: float
    error_count: int


@dataclass(slots=True, frozen=True)
class PerformanceStats:
    p50_ms: float
    p95_ms: float
    p99_ms: float
    avg_ms: float
    max_ms: float
    avg_response_chars: float
    avg_request_chars: float


@dataclass(slots=True, frozen=True)
class EnrichmentStats:
    total_calls: int
    enriched_calls: int
    enrichment_rate: float
    full_count: int
    summary_count: int
    reference_count: int
    none_count: int
    total_tokens_full: int
    total_tokens_dedup: int
    tokens_saved: int
    avg_tokens_full: float
    avg_tokens_dedup: float
    unique_sessions: int


@dataclass(slots=True, frozen=True)
class DiscoveryStats:
    total_sessions: int
    discovery_sessions: int
    query_sessions: int
    discovery_before_query: int
    discovery_rate: float
    query_without_discovery: int
    top_discovery_tools: list[BreakdownEntry]


@dataclass(slots=True, frozen=True)
class PartitionInfo:
    name: str
    range_start: datetime | None
    range_end: datetime | None
    is_default: bool
    approx_rows: int


@dataclass(slots=True)
class MaintenanceReport:
    """What one maintenance tick did; `errors` names each failed step."""

    ran_at: datetime
    lock_acquired: bool = False
    partitions_created: list[str] = field(default_factory=list)
    rows_deleted: int = 0
    partitions_dropped: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors
