"""GET /export/events: the events of a filter as a CSV or NDJSON download.

The query string holds EventFilter's fields in snake_case (`start_time`,
`end_time`, `user_id`, ..., `success=true|false`, `ids` repeated), times in
RFC 3339, and `format=csv` (the default) or `ndjson`. Everything is checked
before the first row is read: a bad parameter is a 400 whose JSON error names
it. The body streams from PostgreSQL (store/export.py); when the client goes
away, Starlette cancels the stream and with it the COPY.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from .auth import RequireScope
from .store import EventFilter, InvalidArgument, Store, StoreUnavailable
from .store.export import ExportFormat
from .values import as_utc


def moment(text: str) -> datetime:
    return as_utc(datetime.fromisoformat(text))


def flag(text: str) -> bool:
    if text not in ("true", "false"):
        raise ValueError("not true or false")
    return text == "true"


# Each parameter: the EventFilter field it sets, and how its text is read.
# Derived from EventFilter, so a new filter is a new parameter; the times
# take GraphQL's names (startTime -> start_time), `ids` repeats (below).
READERS: dict[str, Callable[[str], Any]] = {"start": moment, "end": moment, "success": flag}
RENAMED = {"start": "start_time", "end": "end_time"}
FILTER_PARAMETERS: dict[str, tuple[str, Callable[[str], Any]]] = {
    RENAMED.get(field.name, field.name): (field.name, READERS.get(field.name, str))
    for field in dataclasses.fields(EventFilter)
    if field.name != "ids"
}
MEDIA_TYPES = {
    ExportFormat.CSV: "text/csv; charset=utf-8",
    ExportFormat.NDJSON: "application/x-ndjson",
}


def error(status: int, code: str, message: str, **extensions: Any) -> JSONResponse:
    body = {"errors": [{"message": message, "extensions": {"code": code, **extensions}}]}
    return JSONResponse(body, status_code=status)


def bad_parameter(name: str, message: str) -> JSONResponse:
    return error(400, "BAD_USER_INPUT", message, parameter=name)


def request_filter(request: Request) -> tuple[EventFilter, ExportFormat]:
    """The filter and format of the query string; ValueError naming the bad parameter."""
    values: dict[str, Any] = {}
    fmt = ExportFormat.CSV
    for name, text in request.query_params.multi_items():
        if name == "format":
            try:
                fmt = ExportFormat(text)
            except ValueError:
                raise ParameterError(name, "format must be csv or ndjson.") from None
        elif name == "ids":
            values.setdefault("ids", []).append(text)
        elif name in FILTER_PARAMETERS:
            field, parse = FILTER_PARAMETERS[name]
            if field in values:
                raise ParameterError(name, f"{name} is given more than once.")
            try:
                values[field] = parse(text)
            except (ValueError, OverflowError):  # a time outside the range of datetime
                raise ParameterError(name, f"{name} cannot be read from {text[:64]!r}.") from None
        else:
            known = ", ".join(["format", "ids", *FILTER_PARAMETERS])
            raise ParameterError(name, f"{name} is not a parameter of this export; use {known}.")
    if "ids" in values:
        values["ids"] = tuple(values["ids"])
    return EventFilter(**values), fmt


class ParameterError(ValueError):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


def file_name(flt: EventFilter, fmt: ExportFormat) -> str:
    def stamp(value: datetime | None, absent: str) -> str:
        return value.strftime("%Y%m%dT%H%M%SZ") if value is not None else absent

    return f"audit-events-{stamp(flt.start, 'beginning')}-{stamp(flt.end, 'now')}.{fmt.value}"


def export_endpoint(store: Store) -> Callable[[Request], Any]:
    async def export_events(request: Request) -> Response:
        scopes = request.scope.get("state", {}).get("scopes")
        if not RequireScope.allows(scopes):
            return error(403, "FORBIDDEN", "An export needs a token with the 'read' scope.")
        try:
            flt, fmt = request_filter(request)
            chunks = store.export(flt, fmt)
            first = await anext(chunks, b"")
        except ParameterError as exc:
            return bad_parameter(exc.name, str(exc))
        except InvalidArgument as exc:
            return error(400, "BAD_USER_INPUT", str(exc))
        except StoreUnavailable as exc:
            return error(503, "SERVICE_UNAVAILABLE", str(exc))

        async def body() -> AsyncIterator[bytes]:
            async with contextlib.aclosing(chunks):  # a client gone: the COPY ends now
                yield first
                async for chunk in chunks:
                    yield chunk

        disposition = f'attachment; filename="{file_name(flt, fmt)}"'
        return StreamingResponse(
            body(), media_type=MEDIA_TYPES[fmt], headers={"Content-Disposition": disposition}
        )

    return export_events
