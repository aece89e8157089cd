"""Input types of the contract, each knowing how to become the store's value.

Fields default to UNSET so the SDL shows them exactly as the contract does
(no `= null`); an absent or null field means "not given".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from operator import attrgetter
from typing import Any

import strawberry
from strawberry import UNSET
from strawberry.scalars import JSON
from strawberry.utils.str_converters import to_camel_case

from graph.store import models
from graph.store.columns import INPUT_COLUMNS, Column

from .enums import SessionKind


def given(value: Any, default: Any = None) -> Any:
    """`default` for both an omitted argument (UNSET) and an explicit null.

    GraphQL lets a client send null for an argument or field that has a
    default; it means the same as leaving it out.
    """
    return default if value is None or value is UNSET else value


@strawberry.input
class EventFilter:
    id: strawberry.ID | None = UNSET
    start_time: datetime | None = UNSET
    end_time: datetime | None = UNSET
    user_id: str | None = UNSET
    session_id: str | None = UNSET
    tool_name: str | None = UNSET
    toolkit_kind: str | None = UNSET
    source: str | None = UNSET
    event_kind: str | None = UNSET
    search: str | None = UNSET
    success: bool | None = UNSET
    ids: list[strawberry.ID] | None = strawberry.field(
        default=UNSET, description="Events whose id is one of these (1..1000 ids)."
    )

    def to_store(self) -> models.EventFilter:
        return models.EventFilter(
            id=given(self.id, ""),
            start=given(self.start_time),
            end=given(self.end_time),
            user_id=given(self.user_id, ""),
            session_id=given(self.session_id, ""),
            tool_name=given(self.tool_name, ""),
            toolkit_kind=given(self.toolkit_kind, ""),
            source=given(self.source, ""),
            event_kind=given(self.event_kind, ""),
            search=given(self.search, ""),
            success=given(self.success),
            ids=None if given(self.ids) is None else tuple(self.ids),
        )


@strawberry.input
class MetricsFilter:
    start_time: datetime | None = UNSET
    end_time: datetime | None = UNSET
    user_id: str | None = UNSET
    event_kind: str | None = UNSET
    source: str | None = UNSET

    def to_store(self) -> models.MetricsFilter:
        return models.MetricsFilter(
            start=given(self.start_time),
            end=given(self.end_time),
            user_id=given(self.user_id, ""),
            event_kind=given(self.event_kind, ""),
            source=given(self.source, ""),
        )


@strawberry.input
class SessionFilter:
    start_time: datetime | None = UNSET
    end_time: datetime | None = UNSET
    user_id: str | None = strawberry.field(
        default=UNSET, description="The user of the session's first call in the window."
    )
    kind: SessionKind | None = UNSET
    has_failures: bool | None = UNSET
    search: str | None = strawberry.field(
        default=UNSET,
        description="In the session id or a call's purpose; literal, case-insensitive.",
    )

    def to_store(self) -> models.SessionFilter:
        return models.SessionFilter(
            start=given(self.start_time),
            end=given(self.end_time),
            user_id=given(self.user_id, ""),
            kind=given(self.kind),
            has_failures=given(self.has_failures),
            search=given(self.search, ""),
        )


def session_filter(value: SessionFilter | None) -> models.SessionFilter:
    return value.to_store() if value else models.SessionFilter()


def event_filter(value: EventFilter | None) -> models.EventFilter:
    return value.to_store() if value else models.EventFilter()


def metrics_filter(value: MetricsFilter | None) -> models.MetricsFilter:
    return value.to_store() if value else models.MetricsFilter()


# The GraphQL type of each column kind.
GRAPHQL_TYPES: dict[str, Any] = {
    "text": str,
    "varchar": str,
    "integer": int,
    "boolean": bool,
    "timestamptz": datetime,
    "jsonb": JSON,
}


def graphql_type(column: Column) -> Any:
    return strawberry.ID if column.name == "id" else GRAPHQL_TYPES[column.kind]


def input_field(column: Column) -> tuple[Any, Any]:
    """A column's input annotation and default: required, filled in by `log`, or a value."""
    type_ = graphql_type(column)
    if column.required:
        return type_, dataclasses.MISSING
    return type_ | None, UNSET if column.default is None else column.default


def to_store(self: Any) -> models.NewEvent:
    """An explicit null takes the field's default, like an omitted field."""
    return models.NewEvent(
        **{
            name: value
            for name, value in zip(INPUT_NAMES, INPUT_VALUES(self), strict=True)
            if value is not None and value is not UNSET
        }
    )


INPUT_NAMES = tuple(column.name for column in INPUT_COLUMNS)
INPUT_VALUES = attrgetter(*INPUT_NAMES)
INPUT_FIELDS = {column.name: input_field(column) for column in INPUT_COLUMNS}

AuditEventInput = strawberry.input(
    type(
        "AuditEventInput",
        (),
        {
            "__module__": __name__,
            "__annotations__": {name: type_ for name, (type_, _) in INPUT_FIELDS.items()},
            **{
                name: default
                for name, (_, default) in INPUT_FIELDS.items()
                if default is not dataclasses.MISSING
            },
            "to_store": to_store,
        },
    ),
    description="One tool call to record; omitted fields take the defaults shown.",
)


def audit_event_input_from_graphql(cls: type, value: Mapping[str, Any], context: Any) -> Any:
    """Build the input from graphql-core's already-coerced value: only names change.

    Every field is a scalar, which graphql-core has parsed and defaulted
    already; strawberry's generic conversion would inspect each field's type
    again for every event.
    """
    return cls(**{PYTHON_NAMES[name]: field for name, field in value.items()})


PYTHON_NAMES = {to_camel_case(name): name for name in INPUT_NAMES}
# strawberry's hook for types that build their own value from input.
AuditEventInput.__strawberry_definition__.from_input = audit_event_input_from_graphql
