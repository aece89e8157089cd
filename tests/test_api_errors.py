"""Bad input (SPEC 4) through the real ASGI app: BAD_USER_INPUT, a message that says
what to fix, and nothing written.

Every response passes through `Api.post`, which asserts that it holds no
traceback, SQL or DSN and that each error carries extensions.code and
extensions.requestId; the tests below add what each case must say.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
from api_client import Api, count_rows, gql, insert, serving
from graphql import GraphQLError

from graph.schema.errors import client_error
from graph.store import FellBehind, Store

LOG_EVENT = "mutation($e: AuditEventInput!) { logEvent(input: $e) { id } }"
LOG_EVENTS = "mutation($e: [AuditEventInput!]!) { logEvents(inputs: $e) { accepted } }"


def event(**fields: Any) -> dict[str, Any]:
    return {"toolName": "t", "success": True, **fields}


def snake(name: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m[1].lower(), name)


def names_field(message: str, field: str) -> bool:
    """The message names the field, as the API spells it or as the column is called."""
    return field in message or snake(field) in message


# --- strings longer than their column ------------------------------------------------

VARCHAR_LIMITS = [
    ("id", 32),
    ("requestId", 255),
    ("userId", 255),
    ("userEmail", 255),
    ("toolName", 255),
    ("persona", 100),
    ("toolkitKind", 100),
    ("toolkitName", 100),
    ("connection", 100),
    ("transport", 30),
    ("source", 30),
    ("enrichmentMode", 20),
    ("enrichmentMatchKind", 20),
    ("eventKind", 64),
]


@pytest.mark.parametrize(("field", "limit"), VARCHAR_LIMITS)
async def test_string_exactly_at_its_column_limit_is_stored(
    api: Api, db: psycopg.Connection, field: str, limit: int
) -> None:
    # Two bytes per character in UTF-8: the limit counts characters, as varchar(n) does.
    value = "é" * limit
    await gql(api, LOG_EVENT, {"e": event(**{field: value})})
    row = db.execute(f"SELECT char_length({snake(field)}) FROM audit_logs").fetchone()
    assert row == (limit,)


@pytest.mark.parametrize(("field", "limit"), VARCHAR_LIMITS)
async def test_string_one_over_its_column_limit_is_bad_input(
    api: Api, db: psycopg.Connection, field: str, limit: int
) -> None:
    message = await api.bad_input(LOG_EVENT, {"e": event(**{field: "x" * (limit + 1)})})
    assert names_field(message, field), message
    assert str(limit) in message
    assert count_rows(db) == 0


async def test_long_text_columns_have_no_limit(api: Api, db: psycopg.Connection) -> None:
    await gql(api, LOG_EVENT, {"e": event(errorMessage="e" * 100_000, sessionId="s" * 1000)})
    row = db.execute("SELECT char_length(error_message), char_length(session_id) FROM audit_logs")
    assert row.fetchone() == (100_000, 1000)


# --- parameters ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parameters", "kind"),
    [
        ([1, 2], "array"),
        ([], "array"),
        ("a string", "string"),
        ('{"looks": "like an object"}', "string"),
        (42, "number"),
        (1.5, "number"),
        (True, "boolean"),
        (False, "boolean"),
    ],
)
async def test_non_object_parameters_are_bad_input(
    api: Api, db: psycopg.Connection, parameters: Any, kind: str
) -> None:
    message = await api.bad_input(LOG_EVENT, {"e": event(parameters=parameters)})
    assert "parameters" in message
    assert "object" in message
    assert kind in message
    assert count_rows(db) == 0


async def test_non_object_parameters_written_inline_are_bad_input(
    api: Api, db: psycopg.Connection
) -> None:
    message = await api.bad_input(
        'mutation { logEvent(input: {toolName: "t", success: true, parameters: [1]}) { id } }'
    )
    assert "object" in message
    assert count_rows(db) == 0


async def test_null_and_empty_object_parameters_are_fine(api: Api, db: psycopg.Connection) -> None:
    await gql(api, LOG_EVENT, {"e": event(id="null", parameters=None)})
    await gql(api, LOG_EVENT, {"e": event(id="empty", parameters={})})
    rows = db.execute("SELECT id, parameters FROM audit_logs ORDER BY id").fetchall()
    assert rows == [("empty", {}), ("null", None)]


KIB_64 = 64 * 1024


def parameters_of_size(size: int, char: str = "x") -> dict[str, str]:
    """An object whose compact UTF-8 JSON, {"v":"..."}, is `size` bytes."""
    overhead = len('{"v":""}')
    width = len(char.encode())
    assert (size - overhead) % width == 0
    value = {"v": char * ((size - overhead) // width)}
    assert len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()) == size
    return value


async def test_parameters_of_exactly_64_kib_are_stored(api: Api, db: psycopg.Connection) -> None:
    await gql(api, LOG_EVENT, {"e": event(parameters=parameters_of_size(KIB_64))})
    await gql(api, LOG_EVENT, {"e": event(parameters=parameters_of_size(KIB_64 - 100))})
    assert count_rows(db) == 2


@pytest.mark.parametrize(("size", "char"), [(KIB_64 + 1, "x"), (KIB_64 + 2, "é"), (200_000, "x")])
async def test_parameters_over_64_kib_are_bad_input(
    api: Api, db: psycopg.Connection, size: int, char: str
) -> None:
    message = await api.bad_input(
        LOG_EVENT, {"e": event(parameters=parameters_of_size(size, char))}
    )
    assert "parameters" in message
    assert "64 KiB" in message
    assert count_rows(db) == 0


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
async def test_parameters_with_nan_or_infinity_are_bad_input(
    api: Api, db: psycopg.Connection, number: float
) -> None:
    # Not JSON, but Python's parser (and so the server's) accepts NaN and Infinity literals.
    message = await api.bad_input(LOG_EVENT, {"e": event(parameters={"v": [number]})})
    assert "NaN" in message
    assert count_rows(db) == 0


async def test_parameters_nested_too_deep_are_bad_input(api: Api, db: psycopg.Connection) -> None:
    deep: dict[str, Any] = {}
    for _ in range(100):
        deep = {"d": deep}
    message = await api.bad_input(LOG_EVENT, {"e": event(parameters=deep)})
    assert "nested" in message
    assert count_rows(db) == 0


# --- start after end -----------------------------------------------------------------

LATE, EARLY = "2026-03-15T11:00:00Z", "2026-03-15T10:00:00Z"
INVERTED = f'startTime: "{LATE}", endTime: "{EARLY}"'


@pytest.mark.parametrize(
    "query",
    [
        f"{{ events(filter: {{ {INVERTED} }}) {{ items {{ id }} }} }}",
        f"{{ events(filter: {{ {INVERTED} }}) {{ totalCount }} }}",
        f"{{ eventCount(filter: {{ {INVERTED} }}) }}",
        f"{{ distinctValues(column: USER_ID, {INVERTED}) }}",
        f"{{ userLabels({INVERTED}) {{ userId }} }}",
        f"{{ filterOptions({INVERTED}) {{ users }} }}",
        f"{{ timeseries(resolution: HOUR, filter: {{ {INVERTED} }}) {{ bucket }} }}",
        f"{{ breakdown(groupBy: TOOL_NAME, filter: {{ {INVERTED} }}) {{ count }} }}",
        f"{{ overview(filter: {{ {INVERTED} }}) {{ totalCalls }} }}",
        f"{{ performance(filter: {{ {INVERTED} }}) {{ p50Ms }} }}",
        f"{{ enrichment(filter: {{ {INVERTED} }}) {{ totalCalls }} }}",
        f"{{ discovery(filter: {{ {INVERTED} }}) {{ totalSessions }} }}",
        # The statistics' end defaults to now (2026-03-15T12:00Z): a later start is after it.
        '{ overview(filter: {startTime: "2026-03-16T00:00:00Z"}) { totalCalls } }',
    ],
)
async def test_start_after_end_is_bad_input(api: Api, query: str) -> None:
    message = await api.bad_input(query)
    assert "start" in message
    assert "after" in message


async def test_start_equal_to_end_is_a_valid_range(api: Api, db: psycopg.Connection) -> None:
    insert(db, id="a", timestamp=EARLY, tool_name="t")
    data = await gql(
        api,
        f'{{ eventCount(filter: {{startTime: "{EARLY}", endTime: "{EARLY}"}}) '
        f'  overview(filter: {{startTime: "{EARLY}", endTime: "{EARLY}"}}) {{ totalCalls }} }}',
    )
    assert data == {"eventCount": 1, "overview": {"totalCalls": 1}}


# --- counts, batches ---------------------------------------------------------------


async def test_negative_duration_is_bad_input(api: Api, db: psycopg.Connection) -> None:
    message = await api.bad_input(LOG_EVENT, {"e": event(durationMs=-1)})
    assert names_field(message, "durationMs")
    assert "negative" in message
    assert count_rows(db) == 0


@pytest.mark.parametrize(
    "field",
    ["responseChars", "requestChars", "contentBlocks", "enrichmentTokensFull",
     "enrichmentTokensDedup"],
)  # fmt: skip
async def test_negative_counts_are_bad_input(api: Api, db: psycopg.Connection, field: str) -> None:
    # Not named by SPEC 4; the README makes every count non-negative.
    message = await api.bad_input(LOG_EVENT, {"e": event(**{field: -5})})
    assert names_field(message, field)
    assert count_rows(db) == 0


async def test_zero_duration_and_the_largest_int_are_fine(api: Api, db: psycopg.Connection) -> None:
    await gql(api, LOG_EVENT, {"e": event(durationMs=0)})
    await gql(api, LOG_EVENT, {"e": event(durationMs=2**31 - 1)})
    assert count_rows(db) == 2


async def test_duration_beyond_32_bits_is_bad_input(api: Api, db: psycopg.Connection) -> None:
    message = await api.bad_input(LOG_EVENT, {"e": event(durationMs=2**31)})
    assert "Int" in message
    assert count_rows(db) == 0


async def test_empty_batch_is_bad_input(api: Api, db: psycopg.Connection) -> None:
    message = await api.bad_input(LOG_EVENTS, {"e": []})
    assert "empty" in message
    assert "1000" in message
    assert count_rows(db) == 0


async def test_batch_of_1001_events_is_bad_input(api: Api, db: psycopg.Connection) -> None:
    message = await api.bad_input(LOG_EVENTS, {"e": [event() for _ in range(1001)]})
    assert "1001" in message
    assert "1000" in message
    assert count_rows(db) == 0


async def test_batch_of_1000_events_is_accepted(api: Api, db: psycopg.Connection) -> None:
    data = await gql(api, LOG_EVENTS, {"e": [event() for _ in range(1000)]})
    assert data["logEvents"]["accepted"] == 1000
    assert count_rows(db) == 1000


# --- NUL and other text PostgreSQL cannot hold ----------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"toolName": "a\u0000b"},
        {"id": "\u0000"},
        {"userId": "u\u0000"},
        {"sessionId": "s\u0000"},
        {"errorMessage": "boom\u0000"},
        {"eventKind": "k\u0000"},
        {"parameters": {"key": "va\u0000lue"}},
        {"parameters": {"ke\u0000y": "value"}},
        {"parameters": {"list": [["deep\u0000"]]}},
        {"toolName": "lone \ud800 surrogate"},
        {"parameters": {"v": "\udfff"}},
    ],
)
async def test_nul_and_lone_surrogates_in_an_event_are_bad_input(
    api: Api, db: psycopg.Connection, fields: dict[str, Any]
) -> None:
    message = await api.bad_input(LOG_EVENT, {"e": event(**fields)})
    assert "NUL" in message or "surrogate" in message
    assert count_rows(db) == 0
    await api.bad_input(LOG_EVENTS, {"e": [event(), event(**fields)]})
    assert count_rows(db) == 0


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ("query($v: String) { events(filter: {search: $v}) { items { id } } }", {"v": "a\u0000"}),
        ("query($v: String) { eventCount(filter: {userId: $v}) }", {"v": "\u0000"}),
        ("query($v: String) { eventCount(filter: {sessionId: $v}) }", {"v": "\u0000"}),
        ("query($v: ID!) { event(id: $v) { id } }", {"v": "e\u0000"}),
        ("query($v: String) { overview(filter: {userId: $v}) { totalCalls } }", {"v": "\u0000"}),
        (
            "query($v: String) { timeseries(resolution: DAY, filter: {eventKind: $v}) { count } }",
            {"v": "\u0000"},
        ),
        (
            "query($v: String) { breakdown(groupBy: USER_ID, toolName: $v) { count } }",
            {"v": "\u0000"},
        ),
        ("query($v: String) { discovery(filter: {eventKind: $v}) { totalSessions } }", {"v": "\0"}),
        ("query($v: String) { eventCount(filter: {toolName: $v}) }", {"v": "\ud800"}),
    ],
)
async def test_nul_or_lone_surrogate_in_a_filter_is_bad_input(
    api: Api, query: str, variables: dict[str, Any]
) -> None:
    message = await api.bad_input(query, variables)
    assert "NUL" in message or "surrogate" in message


# --- DateTime ----------------------------------------------------------------------

BAD_DATETIMES: list[Any] = [
    "not a date",
    "",
    "2026-13-01T00:00:00Z",
    "2026-02-30T00:00:00Z",
    "2026-03-15T25:00:00Z",
    "2026-03-15T12:00:00+25:00",
    "15/03/2026 12:00",
    1773576000,
    True,
    "0001-01-01T00:00:00+01:00",  # before year 1 once in UTC
    "9999-12-31T23:00:00-05:00",  # after year 9999 once in UTC
]


@pytest.mark.parametrize("value", BAD_DATETIMES)
async def test_invalid_datetime_in_log_event_is_bad_input(
    api: Api, db: psycopg.Connection, value: Any
) -> None:
    message = await api.bad_input(LOG_EVENT, {"e": event(timestamp=value)})
    assert "DateTime" in message
    assert count_rows(db) == 0


@pytest.mark.parametrize("value", BAD_DATETIMES)
@pytest.mark.parametrize(
    "query",
    [
        "query($t: DateTime) { events(filter: {startTime: $t}) { items { id } } }",
        "query($t: DateTime) { eventCount(filter: {endTime: $t}) }",
        "query($t: DateTime) { distinctValues(column: SOURCE, startTime: $t) }",
        "query($t: DateTime) { overview(filter: {endTime: $t}) { totalCalls } }",
    ],
)
async def test_invalid_datetime_in_a_filter_is_bad_input(api: Api, query: str, value: Any) -> None:
    message = await api.bad_input(query, {"t": value})
    assert "DateTime" in message


@pytest.mark.parametrize("value", ["not a date", "2026-13-01T00:00:00Z", ""])
async def test_invalid_datetime_literal_is_bad_input(api: Api, value: str) -> None:
    message = await api.bad_input(f'{{ eventCount(filter: {{startTime: "{value}"}}) }}')
    assert "DateTime" in message
    assert "ISO 8601" in message


async def test_end_time_without_room_for_the_default_window_is_bad_input(api: Api) -> None:
    """The default start, end minus 24 hours, would fall before year 1."""
    message = await api.bad_input(
        '{ overview(filter: {endTime: "0001-01-01T12:00:00Z"}) { totalCalls } }'
    )
    assert "start" in message


# --- events paging ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "hint"),
    [
        ("limit: 0", "limit"),
        ("limit: -1", "limit"),
        ("limit: 1001", "limit"),
        ("offset: -1", "offset"),
        ("offset: 100001", "offset"),
    ],
)
async def test_out_of_range_paging_is_bad_input(api: Api, arguments: str, hint: str) -> None:
    message = await api.bad_input(f"{{ events({arguments}) {{ items {{ id }} }} }}")
    assert hint in message
    assert "between" in message


async def end_cursor(api: Api, db: psycopg.Connection) -> str:
    """The endCursor of the first page (TIMESTAMP DESC, limit 1) over two rows."""
    insert(db, id="a", timestamp="2026-03-15T09:00:00Z", tool_name="t")
    insert(db, id="b", timestamp="2026-03-15T10:00:00Z", tool_name="t")
    data = await gql(api, "{ events(limit: 1) { endCursor } }")
    cursor: str = data["events"]["endCursor"]
    return cursor


async def test_after_with_an_offset_is_bad_input(api: Api, db: psycopg.Connection) -> None:
    cursor = await end_cursor(api, db)
    message = await api.bad_input(
        "query($c: String) { events(after: $c, offset: 1) { items { id } } }", {"c": cursor}
    )
    assert "offset" in message
    assert "after" in message
    # The same cursor with offset 0 works.
    data = await gql(
        api, "query($c: String) { events(after: $c, offset: 0) { items { id } } }", {"c": cursor}
    )
    assert data["events"]["items"] == [{"id": "a"}]


def encoded(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "!!!!",
        "e30",  # base64 of {}
        encoded([1, 2]),
        encoded(["timestamp", "desc", "not a time", "x"]),
        encoded(["timestamp", "desc", "2026-03-15T09:00:00+00:00", 7]),
        encoded(["timestamp", "desc", None, "a"]),
        encoded("just a string"),
        base64.urlsafe_b64encode(b"\xff\xfe\x00").decode(),
    ],
)
async def test_garbage_cursor_is_bad_input(api: Api, cursor: str) -> None:
    message = await api.bad_input(
        "query($c: String) { events(after: $c) { items { id } } }", {"c": cursor}
    )
    assert "after" in message
    assert "cursor" in message


async def test_cursor_from_another_sort_is_bad_input(api: Api, db: psycopg.Connection) -> None:
    cursor = await end_cursor(api, db)  # from TIMESTAMP DESC
    for sort in ("sortOrder: ASC", "sortBy: USER_ID", "sortBy: DURATION_MS, sortOrder: DESC"):
        message = await api.bad_input(
            f"query($c: String) {{ events(after: $c, {sort}) {{ items {{ id }} }} }}",
            {"c": cursor},
        )
        assert "sort" in message


# --- enums -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "{ timeseries(resolution: SECOND) { bucket } }",
        "{ breakdown(groupBy: EMAIL) { count } }",
        "{ events(sortBy: PARAMETERS) { items { id } } }",
        "{ events(sortOrder: UP) { items { id } } }",
        "{ distinctValues(column: PERSONA) }",
        '{ timeseries(resolution: "HOUR") { bucket } }',
    ],
)
async def test_unknown_enum_literal_is_bad_input(api: Api, query: str) -> None:
    await api.bad_input(query)


@pytest.mark.parametrize(
    ("query", "value"),
    [
        ("query($v: Resolution!) { timeseries(resolution: $v) { bucket } }", "hour"),
        ("query($v: Resolution!) { timeseries(resolution: $v) { bucket } }", "WEEK"),
        ("query($v: BreakdownDimension!) { breakdown(groupBy: $v) { count } }", "SESSION_ID"),
        ("query($v: EventSortField) { events(sortBy: $v) { items { id } } }", "ID"),
        ("query($v: SortOrder) { events(sortOrder: $v) { items { id } } }", "asc"),
        ("query($v: DistinctColumn!) { distinctValues(column: $v) }", "CONNECTION"),
    ],
)
async def test_unknown_enum_variable_is_bad_input(api: Api, query: str, value: str) -> None:
    message = await api.bad_input(query, {"v": value})
    assert value in message


# --- timeseries size -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("resolution", "start", "end", "advice"),
    [
        # 10,001 minutes, inclusive of both truncated ends.
        ("MINUTE", "2026-03-01T00:00:00Z", "2026-03-07T22:40:00Z", "HOUR"),
        ("HOUR", "2025-01-01T00:00:00Z", "2026-02-21T16:00:00Z", "DAY"),
        ("DAY", "1990-01-01T00:00:00Z", "2026-03-15T00:00:00Z", "narrow"),
    ],
)
async def test_timeseries_over_ten_thousand_buckets_is_bad_input(
    api: Api, resolution: str, start: str, end: str, advice: str
) -> None:
    message = await api.bad_input(
        f'{{ timeseries(resolution: {resolution}, filter: {{startTime: "{start}", '
        f'endTime: "{end}"}}) {{ bucket }} }}'
    )
    assert "10000" in message or "10,000" in message
    assert advice in message


async def test_default_window_by_minute_fits(api: Api) -> None:
    # 24 hours of minutes, both ends included.
    data = await gql(api, "{ timeseries(resolution: MINUTE) { bucket } }")
    assert len(data["timeseries"]) == 24 * 60 + 1


# --- malformed documents and wrong types -----------------------------------------------


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ("{ events { items { id } ", None),  # syntax error
        ("{ nope }", None),
        ("{ events { items { nope } } }", None),
        ("{ breakdown { count } }", None),  # required argument missing
        ("mutation { logEvent(input: {success: true}) { id } }", None),
        ("mutation { logEvent(input: {toolName: null, success: true}) { id } }", None),
        ('mutation { logEvent(input: {toolName: "t", success: true, nope: 1}) { id } }', None),
        (LOG_EVENT, {"e": {"toolName": "t", "success": "yes"}}),
        (LOG_EVENT, {"e": {"toolName": "t", "success": True, "durationMs": "5"}}),
        (LOG_EVENT, {"e": {"toolName": "t", "success": True, "durationMs": 1.5}}),
        (LOG_EVENT, {"e": {"toolName": 5, "success": True}}),
        (LOG_EVENT, None),
        (LOG_EVENTS, {"e": [{"toolName": "t"}]}),
        ("query($n: Int) { events(limit: $n) { items { id } } }", {"n": "ten"}),
    ],
)
async def test_malformed_requests_are_bad_input(
    api: Api, db: psycopg.Connection, query: str, variables: dict[str, Any] | None
) -> None:
    await api.bad_input(query, variables)
    assert count_rows(db) == 0


async def test_document_over_the_token_limit_is_bad_input(api: Api) -> None:
    fields = " ".join(f"a{n}: eventCount" for n in range(2_000))
    message = await api.bad_input(f"{{ {fields} }}")
    assert "token" in message.lower()


# --- request ids and masking ---------------------------------------------------------


async def test_error_carries_the_callers_request_id(api: Api) -> None:
    body = await api.post("{ events(limit: 0) { items { id } } }", headers={"X-Request-ID": "r-42"})
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "requestId": "r-42"}


async def test_unusable_request_id_header_is_replaced(api: Api) -> None:
    response = await api.client.post(
        "/graphql",
        json={"query": "{ events(limit: 0) { items { id } } }"},
        headers={"X-Request-ID": "no spaces allowed"},
    )
    request_id = response.json()["errors"][0]["extensions"]["requestId"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert response.headers["x-request-id"] == request_id


async def test_each_error_of_a_request_has_a_code_and_the_rest_is_answered(api: Api) -> None:
    # event is the one nullable root field, so its errors leave the others standing.
    body = await api.post(
        '{ a: event(id: "\\u0000") { id } b: eventCount c: event(id: "x\\u0000") { id } }'
    )
    assert body["data"] == {"a": None, "b": 0, "c": None}
    codes = {e["path"][0]: e["extensions"]["code"] for e in body["errors"]}
    assert codes == {"a": "BAD_USER_INPUT", "c": "BAD_USER_INPUT"}
    assert len({e["extensions"]["requestId"] for e in body["errors"]}) == 1


async def test_unexpected_database_error_is_masked(api: Api, db: psycopg.Connection) -> None:
    # A real failure, no mock: the table the query reads is gone.
    db.execute("DROP TABLE audit_logs")
    error = await api.error("{ overview { totalCalls } }")
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert error["extensions"]["requestId"] in error["message"]
    assert "does not exist" not in api.responses[-1]
    assert "relation" not in api.responses[-1]


@pytest.fixture
async def impatient_api(store: Store, schema_url: str, clock: Any) -> AsyncIterator[Api]:
    """An app whose reads give up after 200 ms (statement_timeout)."""
    impatient = Store(schema_url, clock=clock, pool_max_size=2, statement_timeout=0.2)
    async with impatient, serving(impatient, schema_url) as client:
        yield client


async def test_read_that_times_out_is_service_unavailable(
    impatient_api: Api, schema_url: str
) -> None:
    # Hold a lock every reader waits for, until the response is in: the read can only time out.
    with psycopg.connect(schema_url) as holder:
        holder.execute("LOCK TABLE audit_logs IN ACCESS EXCLUSIVE MODE")
        error = await impatient_api.error("{ overview { totalCalls } }")
        holder.rollback()
    assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    assert "narrow" in error["message"]
    assert "statement timeout" not in impatient_api.responses[-1]


def test_a_tail_that_fell_behind_tells_where_to_resume() -> None:
    """SERVICE_UNAVAILABLE, with the cursor the store handed over in extensions.cursor."""
    fell = FellBehind("CURSOR")
    error = client_error(GraphQLError(str(fell), original_error=fell), "req-1")
    assert error.extensions == {
        "code": "SERVICE_UNAVAILABLE",
        "requestId": "req-1",
        "cursor": "CURSOR",
    }
    assert "after" in error.message
