"""Input types of the contract, each knowing how to become the store's value.

Fields default to UNSET so the SDL shows them exactly as the contract does
(no `= null`); an absent or null field means "not given".
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from operator import attrgetter
from typing import Any

import msgspec
import strawberry
from strawberry import UNSET
from strawberry.scalars import JSON
from strawberry.utils.str_converters import to_camel_case

from graph.store import models


def given(value: Any) -> Any:
    """None for both UNSET and an explicit null."""
    return None if value is UNSET else value


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

    def to_store(self) -> models.EventFilter:
        return models.EventFilter(
            id=given(self.id) or "",
            start=given(self.start_time),
            end=given(self.end_time),
            user_id=given(self.user_id) or "",
            session_id=given(self.session_id) or "",
            tool_name=given(self.tool_name) or "",
            toolkit_kind=given(self.toolkit_kind) or "",
            source=given(self.source) or "",
            event_kind=given(self.event_kind) or "",
            search=given(self.search) or "",
            success=given(self.success),
        )


@strawberry.input
class MetricsFilter:
    start_time: datetime | None = UNSET
    end_time: datetime | None = UNSET
    user_id: str | None = UNSET
    event_kind: str | None = UNSET

    def to_store(self) -> models.MetricsFilter:
        return models.MetricsFilter(
            start=given(self.start_time),
            end=given(self.end_time),
            user_id=given(self.user_id) or "",
            event_kind=given(self.event_kind) or "",
        )


def event_filter(value: EventFilter | None) -> models.EventFilter:
    return value.to_store() if value else models.EventFilter()


def metrics_filter(value: MetricsFilter | None) -> models.MetricsFilter:
    return value.to_store() if value else models.MetricsFilter()


# NewEvent's fields in order, and the default of each (None for the two the
# schema makes non-null, tool_name and success).
NEW_EVENT_VALUES = attrgetter(*models.NewEvent.__struct_fields__)
NEW_EVENT_DEFAULTS = tuple(
    None if f.default is msgspec.NODEFAULT else f.default
    for f in msgspec.structs.fields(models.NewEvent)
)


@strawberry.input(description="One tool call to record; omitted fields take the defaults shown.")
class AuditEventInput:
    id: strawberry.ID | None = UNSET
    timestamp: datetime | None = UNSET
    duration_ms: int | None = 0
    request_id: str | None = ""
    session_id: str | None = ""
    user_id: str | None = ""
    user_email: str | None = ""
    persona: str | None = ""
    tool_name: str
    toolkit_kind: str | None = ""
    toolkit_name: str | None = ""
    connection: str | None = ""
    parameters: JSON | None = UNSET
    success: bool
    error_message: str | None = ""
    response_chars: int | None = 0
    request_chars: int | None = 0
    content_blocks: int | None = 0
    transport: str | None = "stdio"
    source: str | None = "mcp"
    enrichment_applied: bool | None = False
    enrichment_tokens_full: int | None = 0
    enrichment_tokens_dedup: int | None = 0
    enrichment_mode: str | None = ""
    enrichment_match_kind: str | None = ""
    authorized: bool | None = True
    event_kind: str | None = UNSET

    def to_store(self) -> models.NewEvent:
        """An explicit null takes the field's default, like an omitted field."""
        return models.NewEvent(
            *[
                default if value is None or value is UNSET else value
                for value, default in zip(NEW_EVENT_VALUES(self), NEW_EVENT_DEFAULTS, strict=True)
            ]
        )


def audit_event_input_from_graphql(
    cls: type[AuditEventInput], value: Mapping[str, Any], context: Any
) -> AuditEventInput:
    """Build the input from graphql-core's already-coerced value: only names change.

    Every field is a scalar, which graphql-core has parsed and defaulted
    already; strawberry's generic conversion would inspect each field's type
    again for every event, and that was most of logEvent's CPU time.
    """
    return cls(**{PYTHON_NAMES[name]: field for name, field in value.items()})


PYTHON_NAMES = {
    to_camel_case(field.python_name): field.python_name
    for field in AuditEventInput.__strawberry_definition__.fields
}
# strawberry's documented hook for types that build their own value from input.
AuditEventInput.__strawberry_definition__.from_input = audit_event_input_from_graphql
