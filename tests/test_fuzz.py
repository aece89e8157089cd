"""Schema fuzzing: operations generated from schema.graphql, with hostile values, through the app.

hypothesis-graphql writes queries and mutations (valid ones, and ones with one
schema violation) whose literals are nulls, huge and unicode strings, NUL, SQL
fragments, extreme numbers and dates; other strategies send the same kinds of
values as variables, and raw bodies the JSON layer must survive (escaped lone
surrogates, wrong shapes, bytes). For every response:

- never HTTP 500, and a JSON POST is always answered 200 (errors in the body);
- nothing internal: no traceback, driver name, SQL of ours, or the DSN;
- every error has extensions.code, one of the five of SPEC 4.

After each run the table itself is checked: every row is a valid event, and
the rows are exactly the acknowledged writes, one per distinct (id, UTC day).
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

import graphql
import httpx
import psycopg
import pytest
from graphql_client import LEAK_MARKERS, MESSAGE_LEAK_MARKERS, assert_safe
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, mutations, nodes, queries

SDL = (Path(__file__).resolve().parent.parent / "schema.graphql").read_text()
QUERY_FIELDS = [
    "event", "events", "eventCount", "distinctValues", "userLabels", "filterOptions",
    "timeseries", "breakdown", "overview", "performance", "enrichment", "discovery", "partitions",
]  # fmt: skip
# runMaintenance is left out: its retention DELETE removes old acknowledged rows on purpose.
WRITE_FIELDS = ["logEvent", "logEvents"]
FUZZ_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
# Hypothesis draws in a worker thread while the pool's tasks run on the test's loop, and
# psycopg_pool jitters its timers with the global `random`: hypothesis sees the state
# move during a draw and warns, though no strategy of ours uses it.
pytestmark = pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies")

# The FakeClock's day: a write without a timestamp is stored on it.
TODAY = date(2026, 3, 15)
T = TypeVar("T")

# --- hostile values ------------------------------------------------------------------

INJECTIONS = [
    "x'; DROP TABLE audit_logs; --",
    "' OR 1=1 --",
    "' OR '1'='1",
    '"; DROP TABLE audit_logs; --',
    "1; SELECT pg_sleep(10)",
    "'); DELETE FROM audit_logs; --",
    "%",
    "_",
    "\\",
    "%_\\%",
    "$1",
    "%(search)s",
    "%s",
    "{}",
    "E'\\x00'",
    "\x00",
    "a\x00b",
    "🙂👩‍💻",
    "\U0001d54f",
    "ß" * 40,
    "İ",
    "\u202e",
    "\r\n\t",
    "",
    " ",
    "null",
    "NaN",
]
BIG_LENGTHS = [20, 21, 30, 31, 32, 33, 64, 65, 100, 101, 255, 256, 70_000]
# Any code point a UTF-8 JSON text can carry (surrogates cannot; see the raw-body test).
UNICODE = st.characters(codec="utf-8")
TEXT = st.one_of(
    st.text(max_size=40),
    st.text(UNICODE, max_size=40),
    st.sampled_from(INJECTIONS),
    st.builds(lambda n, c: c * n, st.sampled_from(BIG_LENGTHS), st.sampled_from("xé🙂")),
)
INTS = st.one_of(
    st.integers(-(2**31), 2**31 - 1),
    st.sampled_from([0, -1, 1, 10, 1000, 1001, 100_000, 100_001, 2**31 - 1, -(2**31)]),
    st.integers(2**31, 2**70),
    st.integers(-(2**70), -(2**31) - 1),
)
OFFSETS = ["", "Z", "+00:00", "+14:00", "-12:00", "+05:30", "-00:01"]
DATETIMES = st.builds(
    lambda moment, offset: moment.isoformat() + offset,
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)),
    st.sampled_from(OFFSETS),
)
NEAR_NOW = st.builds(
    lambda moment, offset: moment.isoformat() + offset,
    st.datetimes(min_value=datetime(2026, 3, 1), max_value=datetime(2026, 3, 31)),
    st.sampled_from(OFFSETS),
)
DATETIME_TEXT = st.one_of(
    DATETIMES,
    NEAR_NOW,
    st.sampled_from(
        ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00", "0001-01-01", "9999-12-31",
         "2026-02-30T00:00:00Z", "2026-03-15T25:00:00Z", "2026-03-15T12:00:00+24:00", "now"]
    ),
    TEXT,
)  # fmt: skip
SENSITIVE = ["password", "Password", "TOKEN", "api_key", "authorization", "credentials", "secret"]
JSON_KEYS = st.one_of(st.from_regex(r"\A[_A-Za-z][_0-9A-Za-z]{0,12}\Z"), st.sampled_from(SENSITIVE))
JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    INTS,
    st.sampled_from([10**30, -(10**30), 2**63, 2**64]),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(JSON_KEYS, children, max_size=4)
    ),
    max_leaves=12,
)


def literal(value: Any) -> graphql.ValueNode:
    """A GraphQL literal for a Python JSON value (object keys are GraphQL names)."""
    if value is None:
        return nodes.Null
    if isinstance(value, bool):
        return nodes.Boolean(value)
    if isinstance(value, int):
        return graphql.IntValueNode(value=str(value))
    if isinstance(value, float):
        return nodes.Float(value)
    if isinstance(value, str):
        return nodes.String(value)
    if isinstance(value, list):
        return nodes.List([literal(item) for item in value])
    return nodes.Object(
        [
            graphql.ObjectFieldNode(name=graphql.NameNode(value=key), value=literal(item))
            for key, item in value.items()
        ]
    )


# Custom scalar strategies: the built-in String, ID and Int are replaced too, so
# every argument of those types gets the hostile values above.
SCALARS: dict[str, st.SearchStrategy[graphql.ValueNode]] = {
    "String": TEXT.map(nodes.String),
    "ID": st.one_of(TEXT.map(nodes.String), INTS.map(nodes.Int)),
    "Int": INTS.map(nodes.Int),
    "DateTime": st.one_of(DATETIME_TEXT.map(nodes.String), INTS.map(nodes.Int)),
    "Long": INTS.map(nodes.Int),
    "JSON": st.one_of(
        st.dictionaries(JSON_KEYS, JSON_VALUES, max_size=5).map(literal),
        JSON_VALUES.map(literal),
        # 5000 digits: more than Python converts to int by default (4300).
        st.just(
            nodes.Object(
                [
                    graphql.ObjectFieldNode(
                        name=graphql.NameNode(value="n"),
                        value=graphql.IntValueNode(value="9" * 5000),
                    )
                ]
            )
        ),
    ),
}


def keep(document: graphql.DocumentNode) -> graphql.DocumentNode:
    return document


def documents(mode: Mode) -> st.SearchStrategy[graphql.DocumentNode]:
    return st.one_of(
        queries(SDL, fields=QUERY_FIELDS, custom_scalars=SCALARS, print_ast=keep, mode=mode),
        mutations(SDL, fields=WRITE_FIELDS, custom_scalars=SCALARS, print_ast=keep, mode=mode),
    )


# --- what the writes acknowledged ------------------------------------------------------------


def utc_day(text: Any) -> date | None:
    """The UTC calendar day of a DateTime input (no offset means UTC); None if unparsable."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return moment.date()
    try:
        return moment.astimezone(UTC).date()
    except OverflowError:
        return None


@dataclass
class Ledger:
    """Keys of the writes the API acknowledged; generated ids stand for themselves."""

    keys: set[tuple[str, date]] = field(default_factory=set, repr=False)
    generated: int = 0
    acknowledged: int = 0
    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    codes: dict[str, int] = field(default_factory=dict)
    # Leak markers some request of this test carried: a later read may return
    # them as stored data (an id "'); DELETE FROM audit_logs; --"), no leak.
    markers_sent: set[str] = field(default_factory=set)

    def add(self, event: dict[str, Any]) -> None:
        """One acknowledged event, as its input (plain values)."""
        self.acknowledged += 1
        given_id = event.get("id")
        day = utc_day(event.get("timestamp")) if event.get("timestamp") is not None else TODAY
        assert day is not None, f"an event with an unusable timestamp was accepted: {event}"
        if given_id is None or given_id == "":
            self.generated += 1
            self.keys.add((f"<generated {self.generated}>", day))
        else:
            self.keys.add((str(given_id), day))


def inputs_of(field_node: graphql.FieldNode, variables: dict[str, Any]) -> list[dict[str, Any]]:
    """The events a logEvent/logEvents field sends, as plain values."""
    for argument in field_node.arguments:
        value = graphql.value_from_ast_untyped(argument.value, variables)
        if field_node.name.value == "logEvent":
            return [value]
        # A single object where a list is expected is a list of one (input coercion).
        return value if isinstance(value, list) else [value]
    return []


def write_fields(document: graphql.DocumentNode) -> Iterable[graphql.FieldNode]:
    for definition in document.definitions:
        if isinstance(definition, graphql.OperationDefinitionNode):
            for selection in definition.selection_set.selections:
                if (
                    isinstance(selection, graphql.FieldNode)
                    and selection.name.value in WRITE_FIELDS
                ):
                    yield selection


def one_field_documents(document: graphql.DocumentNode) -> list[graphql.DocumentNode]:
    """A mutation split into one document per root field, so each answer is exact.

    In one document, a failed non-null mutation field nulls `data` and hides the
    fields before it that did commit; alone, each write is acknowledged or not.
    """
    operation = document.definitions[0]
    assert isinstance(operation, graphql.OperationDefinitionNode)
    if operation.operation is not graphql.OperationType.MUTATION:
        return [document]
    return [
        graphql.DocumentNode(
            definitions=(
                graphql.OperationDefinitionNode(
                    operation=graphql.OperationType.MUTATION,
                    selection_set=graphql.SelectionSetNode(selections=(selection,)),
                    variable_definitions=(),
                    directives=(),
                ),
            )
        )
        for selection in operation.selection_set.selections
    ]


# --- sending ---------------------------------------------------------------------------------


async def exchange(
    client: httpx.AsyncClient,
    ledger: Ledger,
    dsn: str,
    body: str | bytes,
    content_type: str = "application/json",
) -> httpx.Response:
    response = await client.post("/graphql", content=body, headers={"content-type": content_type})
    ledger.requests += 1
    ledger.statuses[response.status_code] = ledger.statuses.get(response.status_code, 0) + 1
    assert response.status_code != 500, response.text
    request = body if isinstance(body, str) else body.decode("utf-8", "replace")
    ledger.markers_sent.update(m for m in (*LEAK_MARKERS, *MESSAGE_LEAK_MARKERS) if m in request)
    assert_safe(response.text, dsn, request=" ".join([request, *ledger.markers_sent]))
    assert "Traceback" not in response.text
    if response.headers.get("content-type", "").startswith("application/json"):
        payload = response.json()
        if isinstance(payload, dict):
            for error in payload.get("errors") or []:
                code = error["extensions"]["code"]
                ledger.codes[code] = ledger.codes.get(code, 0) + 1
                assert code != "INTERNAL_SERVER_ERROR", error
    return response


async def send_operation(
    client: httpx.AsyncClient,
    ledger: Ledger,
    dsn: str,
    document: graphql.DocumentNode,
    variables: dict[str, Any] | None = None,
) -> None:
    """POST one document; record the writes it acknowledged."""
    text = graphql.print_ast(document)
    body = json.dumps({"query": text, "variables": variables or {}})
    response = await exchange(client, ledger, dsn, body)
    assert response.status_code == 200, response.text
    payload = response.json()
    data = payload.get("data") or {}
    for field_node in write_fields(document):
        key = field_node.alias.value if field_node.alias else field_node.name.value
        if data.get(key) is not None:
            for event in inputs_of(field_node, variables or {}):
                ledger.add(event)


def run_in(loop: asyncio.AbstractEventLoop) -> Callable[[Coroutine[Any, Any, T]], T]:
    """Run a coroutine on the test's loop from hypothesis's worker thread, and wait for it."""

    def run(coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout=120)

    return run


async def fuzz(body: Callable[[Callable[[Coroutine[Any, Any, Any]], Any]], None]) -> None:
    """Hypothesis drives from a thread; requests run on this loop, where the store lives."""
    await asyncio.to_thread(body, run_in(asyncio.get_running_loop()))


# --- the table afterwards ------------------------------------------------------------------------

TEXT_LIMITS = {
    "id": 32, "request_id": 255, "user_id": 255, "user_email": 255, "persona": 100,
    "tool_name": 255, "toolkit_kind": 100, "toolkit_name": 100, "connection": 100,
    "transport": 30, "source": 30, "enrichment_mode": 20, "enrichment_match_kind": 20,
    "event_kind": 64, "purpose": 1000,
}  # fmt: skip
COUNTS = (
    "duration_ms", "response_chars", "request_chars", "content_blocks",
    "enrichment_tokens_full", "enrichment_tokens_dedup",
)  # fmt: skip
SENSITIVE_KEYS = {"password", "secret", "token", "api_key", "authorization", "credentials"}


def sensitive_values(value: Any) -> Iterable[Any]:
    """Values stored under a sensitive key, at any depth."""
    if isinstance(value, dict):
        for key, child in value.items():
            if key.lower() in SENSITIVE_KEYS:
                yield child
            else:
                yield from sensitive_values(child)
    elif isinstance(value, list):
        for child in value:
            yield from sensitive_values(child)


def check_table(db: psycopg.Connection, ledger: Ledger) -> None:
    """Every row is a valid event, and the rows are exactly the acknowledged keys."""
    columns = ["timestamp", "created_date", "parameters", *TEXT_LIMITS, *COUNTS]
    rows = [
        dict(zip(columns, values, strict=True))
        for values in db.execute(f"SELECT {', '.join(columns)} FROM audit_logs").fetchall()
    ]
    for row in rows:
        assert row["id"] and row["tool_name"] is not None and row["event_kind"], row
        assert row["created_date"] == row["timestamp"].astimezone(UTC).date(), row
        for name, limit in TEXT_LIMITS.items():
            text = row[name]
            assert text is None or (len(text) <= limit and "\x00" not in text), (name, row)
        for name in COUNTS:
            assert row[name] is None or 0 <= row[name] <= 2**31 - 1, (name, row)
        parameters = row["parameters"]
        assert parameters is None or isinstance(parameters, dict), row
        # 64 KiB as sent; "[REDACTED]" may have lengthened a short secret a little.
        size = len(json.dumps(parameters, ensure_ascii=False, separators=(",", ":")).encode())
        assert size <= 2 * 64 * 1024, row
        for secret in sensitive_values(parameters):
            assert secret == "[REDACTED]", row
    assert len(rows) == len(ledger.keys), (len(rows), ledger)
    stored = {(row["id"], row["created_date"]) for row in rows}
    given = {key for key in ledger.keys if not key[0].startswith("<generated")}
    assert given <= stored, given - stored


# --- the tests ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [Mode.POSITIVE, Mode.NEGATIVE], ids=["valid", "one-violation"])
async def test_generated_operations(
    client: httpx.AsyncClient, db: psycopg.Connection, schema_url: str, mode: Mode
) -> None:
    ledger = Ledger()

    def body(run: Callable[[Coroutine[Any, Any, Any]], Any]) -> None:
        @FUZZ_SETTINGS
        @given(documents(mode))
        def send(document: graphql.DocumentNode) -> None:
            for single in one_field_documents(document):
                run(send_operation(client, ledger, schema_url, single))

        send()

    await fuzz(body)
    check_table(db, ledger)
    assert ledger.requests >= 150


# Every AuditEventInput field, with values of the right JSON type and of wrong ones.
EVENT_FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    name: st.one_of(TEXT, st.none()) if kind == "text" else st.one_of(INTS, st.none())
    for name, kind in [
        ("requestId", "text"), ("sessionId", "text"), ("userId", "text"),
        ("userEmail", "text"), ("persona", "text"), ("toolkitKind", "text"),
        ("toolkitName", "text"), ("connection", "text"), ("errorMessage", "text"),
        ("transport", "text"), ("source", "text"), ("enrichmentMode", "text"),
        ("enrichmentMatchKind", "text"), ("eventKind", "text"),
        ("durationMs", "int"), ("responseChars", "int"), ("requestChars", "int"),
        ("contentBlocks", "int"), ("enrichmentTokensFull", "int"),
        ("enrichmentTokensDedup", "int"),
    ]
}  # fmt: skip
EVENT_FIELD_VALUES.update(
    id=st.one_of(TEXT, st.sampled_from(["dup-1", "dup-2"]), st.none()),
    timestamp=st.one_of(NEAR_NOW, DATETIME_TEXT, st.none()),
    parameters=st.one_of(st.dictionaries(JSON_KEYS, JSON_VALUES, max_size=5), JSON_VALUES),
    enrichmentApplied=st.one_of(st.booleans(), st.none()),
    authorized=st.one_of(st.booleans(), st.none()),
)
EVENTS = st.fixed_dictionaries(
    {"toolName": TEXT, "success": st.booleans()}, optional=EVENT_FIELD_VALUES
)
# Now and then a value of the wrong JSON type anywhere: coercion must refuse it cleanly.
ANY_JSON = st.one_of(JSON_VALUES, st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=3))
WRONG_EVENTS = st.dictionaries(
    st.sampled_from([*EVENT_FIELD_VALUES, "toolName", "success", "nope"]), ANY_JSON, max_size=6
)
WRITES_BY_VARIABLE = st.one_of(
    st.tuples(st.just("logEvent"), st.one_of(EVENTS, EVENTS, WRONG_EVENTS)),
    st.tuples(
        st.just("logEvents"),
        st.lists(st.one_of(EVENTS, EVENTS, EVENTS, WRONG_EVENTS), max_size=5),
    ),
)
FILTER_VALUES = st.fixed_dictionaries(
    {},
    optional={
        name: TEXT
        for name in ("id", "userId", "sessionId", "toolName", "toolkitKind", "source",
                     "eventKind", "search")
    }
    | {"startTime": DATETIME_TEXT, "endTime": DATETIME_TEXT, "success": st.booleans()},
)  # fmt: skip
READS_BY_VARIABLE = st.fixed_dictionaries(
    {
        "f": st.one_of(FILTER_VALUES, ANY_JSON),
        "m": st.one_of(
            st.fixed_dictionaries(
                {},
                optional={
                    "startTime": DATETIME_TEXT,
                    "endTime": DATETIME_TEXT,
                    "userId": TEXT,
                    "eventKind": TEXT,
                },
            ),
            ANY_JSON,
        ),
        "limit": st.one_of(INTS, st.none()),
        "offset": st.one_of(INTS, st.none()),
        "after": st.one_of(TEXT, st.none()),
        "tool": st.one_of(TEXT, st.none()),
        "r": st.sampled_from(["MINUTE", "HOUR", "DAY", "WEEK", "minute"]),
    }
)
READS = """
query($f: EventFilter, $m: MetricsFilter, $limit: Int, $offset: Int, $after: String,
      $tool: String, $r: Resolution!) {
  events(filter: $f, limit: $limit, offset: $offset, after: $after) {
    items { id parameters } totalCount hasNextPage endCursor
  }
  eventCount(filter: $f)
  timeseries(resolution: $r, filter: $m) { bucket count }
  breakdown(groupBy: USER_ID, limit: $limit, filter: $m, toolName: $tool) { dimension count }
  overview(filter: $m) { totalCalls }
  performance(filter: $m) { p99Ms }
  enrichment(filter: $m) { tokensSaved }
  discovery(filter: $m) { discoveryRate }
}
"""


async def test_writes_and_reads_by_variables(
    client: httpx.AsyncClient, db: psycopg.Connection, schema_url: str
) -> None:
    ledger = Ledger()
    write_documents = {
        "logEvent": graphql.parse(
            "mutation($v: AuditEventInput!) { logEvent(input: $v) { id timestamp } }"
        ),
        "logEvents": graphql.parse(
            "mutation($v: [AuditEventInput!]!) { logEvents(inputs: $v) { accepted ids } }"
        ),
    }
    read_document = graphql.parse(READS)

    def body(run: Callable[[Coroutine[Any, Any, Any]], Any]) -> None:
        @FUZZ_SETTINGS
        @given(WRITES_BY_VARIABLE, READS_BY_VARIABLE)
        def send(write: tuple[str, Any], read: dict[str, Any]) -> None:
            name, value = write
            run(send_operation(client, ledger, schema_url, write_documents[name], {"v": value}))
            run(send_operation(client, ledger, schema_url, read_document, read))

        send()

    await fuzz(body)
    check_table(db, ledger)
    assert ledger.acknowledged > 0, ledger


# Raw request bodies: what json.dumps can never produce.
RAW_BODIES = [
    # Lone surrogates are legal JSON escapes, and not text PostgreSQL (or UTF-8) can hold.
    '{"query": "mutation($e: AuditEventInput!) { logEvent(input: $e) { id } }", '
    '"variables": {"e": {"toolName": "\\ud800", "success": true}}}',
    '{"query": "mutation($e: AuditEventInput!) { logEvent(input: $e) { id } }", '
    '"variables": {"e": {"toolName": "t", "success": true, "parameters": {"\\udfff": 1}}}}',
    '{"query": "mutation($e: AuditEventInput!) { logEvent(input: $e) { id } }", '
    '"variables": {"e": {"toolName": "t", "success": true, "parameters": {"k": ["\\ud83d"]}}}}',
    '{"query": "query($f: EventFilter) { eventCount(filter: $f) }", '
    '"variables": {"f": {"search": "\\udc00x"}}}',
    '{"query": "query($f: EventFilter) { eventCount(filter: $f) }", '
    '"variables": {"f": {"id": "\\ud800"}}}',
    '{"query": "{ eventCount(filter: {userId: \\"\\ud800\\"}) }"}',
    '{"query": "{ event(id: \\"\\udbff\\udbff\\") { id } }"}',
    '{"query": "{ breakdown(groupBy: TOOL_NAME, toolName: \\"\\ud800\\") { count } }"}',
    '{"query": "{ events(after: \\"\\ud800\\") { items { id } } }"}',
    '{"query": "{ timeseries(resolution: DAY, filter: {startTime: \\"\\ud800\\"}) { count } }"}',
    '{"query": "\\ud800"}',
    '{"query": "{ eventCount }", "variables": {"\\ud800": "\\ud800"}}',
    '{"query": "{ eventCount }", "operationName": "\\ud800"}',
    # Numbers JSON allows and GraphQL's types do not.
    '{"query": "query($l: Int) { events(limit: $l) { items { id } } }", "variables": {"l": 1e400}}',
    '{"query": "query($l: Int) { events(limit: $l) { items { id } } }", "variables": {"l": 1.5}}',
    '{"query": "query($l: Int) { events(limit: $l) { items { id } } }", '
    '"variables": {"l": 123456789012345678901234567890}}',
    '{"query": "mutation($e: AuditEventInput!) { logEvent(input: $e) { id } }", '
    '"variables": {"e": {"toolName": "t", "success": true, "parameters": {"n": 1e400}}}}',
    '{"query": "mutation($e: AuditEventInput!) { logEvent(input: $e) { id } }", '
    '"variables": {"e": {"toolName": "t", "success": true, "parameters": {"n": NaN}}}}',
    '{"query": "mutation($e: AuditEventInput!) { logEvent(input: $e) { id } }", '
    '"variables": {"e": {"toolName": "t", "success": true, "parameters": {"n": '
    + "9" * 5000
    + "}}}}",
    '{"query": "mutation { logEvent(input: {toolName: \\"t\\", success: true, parameters: {n: '
    + "9" * 5000
    + '}}) { id } }"}',
    '{"query": "mutation { logEvent(input: {toolName: \\"t\\", success: true, '
    'parameters: {n: 1e400}}) { id } }"}',
    # Deeply nested parameters, as variables and as a literal.
    '{"query": "mutation($e: AuditEventInput!) { logEvent(input: $e) { id } }", '
    '"variables": {"e": {"toolName": "t", "success": true, "parameters": {"a": '
    + "[" * 5000
    + "]" * 5000
    + "}}}}",
    '{"query": "mutation { logEvent(input: {toolName: \\"t\\", success: true, parameters: {a: '
    + "[" * 3000
    + "]" * 3000
    + '}}) { id } }"}',
    # Nesting deep enough to exhaust a recursive parser, within the token limit.
    '{"query": "mutation { logEvent(input: {toolName: \\"t\\", success: true, parameters: {a: '
    + "[" * 1500
    + "]" * 1500
    + '}}) { id } }"}',
    '{"query": "{ eventCount(filter: ' + "{" * 1500 + "}" * 1500 + ') }"}',
    '{"query": "' + "{ " * 2000 + "eventCount" + " }" * 2000 + '"}',
    '{"query": "query($f: EventFilter) { eventCount(filter: $f) }", "variables": {"f": '
    + "[" * 900
    + "]" * 900
    + "}}",
    # Shapes that are not a GraphQL request.
    "",
    "{",
    "null",
    "[]",
    "[1, 2]",
    '"query"',
    "12",
    '{"query": null}',
    '{"query": 12}',
    '{"query": ["{ eventCount }"]}',
    '{"query": "{ eventCount }", "variables": []}',
    '{"query": "{ eventCount }", "variables": "x"}',
    '{"query": "{ eventCount }", "extensions": 5}',
    '{"query": "{ eventCount }", "operationName": 5}',
    '{"query": "{ eventCount }", "operationName": ""}',
    '{"query": "query A { eventCount }", "operationName": "A\\u0000"}',
    '{"query": "query A { eventCount } query B { eventCount }"}',
    '{"query": "query A { eventCount }", "operationName": "B"}',
    '{"query": "subscription { eventLogged { id } }"}',
    '{"query": "{ eventCount }"}{"query": "{ eventCount }"}',
]


@pytest.mark.parametrize("body", RAW_BODIES, ids=[f"raw-{i}" for i in range(len(RAW_BODIES))])
async def test_raw_bodies(
    client: httpx.AsyncClient, db: psycopg.Connection, schema_url: str, body: str
) -> None:
    ledger = Ledger()
    response = await exchange(client, ledger, schema_url, body)
    assert response.status_code in (200, 400), response.text
    # None of these bodies is a write the API may accept.
    check_table(db, Ledger())


GET_PARAMS = [
    {"query": "{ eventCount }", "variables": "5"},
    {"query": "{ eventCount }", "variables": "["},
    {"query": "{ eventCount }", "variables": "NaN"},
    {"query": "{ eventCount }", "variables": "9" * 5000},
    {"query": "{ eventCount }", "variables": "[" * 5000 + "]" * 5000},
    {"query": "{ eventCount }", "variables": '{"a": "\\ud800"}'},
    {"query": "{ eventCount }", "extensions": "[]"},
    {"query": 'mutation { logEvent(input: {toolName: "t", success: true}) { id } }'},
    {"query": "subscription { eventLogged { id } }"},
    {"query": '{ eventCount(filter: {search: "\u0000"}) }'},
    {"query": ""},
    {},
]


@pytest.mark.parametrize("params", GET_PARAMS, ids=[f"get-{i}" for i in range(len(GET_PARAMS))])
async def test_get_requests(
    client: httpx.AsyncClient, db: psycopg.Connection, schema_url: str, params: dict[str, str]
) -> None:
    response = await client.get("/graphql", params=params, headers={"accept": "application/json"})
    assert response.status_code in (200, 400, 405), response.text
    request = json.dumps(params)
    assert_safe(response.text, schema_url, request=request)
    check_table(db, Ledger())


async def test_get_with_bytes_that_are_not_utf8(client: httpx.AsyncClient) -> None:
    for query in (
        "query=%7B%20eventCount%20%7D&operationName=%ED%A0%80",
        "query=%FF%FE",
        "query=%7B%20eventCount%20%7D&variables=%7B%22a%22%3A%22%ff%22%7D",
    ):
        response = await client.get(f"/graphql?{query}", headers={"accept": "application/json"})
        assert response.status_code in (200, 400), response.text
        assert_safe(response.text)


# Forged `after` cursors: base64 of any JSON, shaped like ours or not.
CURSOR_PAYLOADS = st.one_of(
    st.tuples(
        st.sampled_from(["timestamp", "user_id", "duration_ms", "success", "connection", "x"]),
        st.sampled_from(["asc", "desc", "up"]),
        st.one_of(JSON_VALUES, DATETIME_TEXT),
        st.one_of(TEXT, JSON_VALUES),
        st.one_of(st.none(), DATETIME_TEXT, JSON_VALUES),
    ).map(list),
    JSON_VALUES,
)
SORTS = {"timestamp": "TIMESTAMP", "user_id": "USER_ID", "duration_ms": "DURATION_MS",
         "success": "SUCCESS", "connection": "CONNECTION"}  # fmt: skip


def encode_cursor(payload: Any) -> str:
    raw = json.dumps(payload).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


async def test_forged_cursors(
    client: httpx.AsyncClient, db: psycopg.Connection, schema_url: str
) -> None:
    ledger = Ledger()
    document = graphql.parse(
        "query($after: String, $sort: EventSortField, $order: SortOrder) {"
        " events(after: $after, sortBy: $sort, sortOrder: $order) { items { id } endCursor } }"
    )

    def body(run: Callable[[Coroutine[Any, Any, Any]], Any]) -> None:
        @FUZZ_SETTINGS
        @given(CURSOR_PAYLOADS, st.booleans())
        def send(payload: Any, same_sort: bool) -> None:
            sort, order = "TIMESTAMP", "DESC"
            shaped = isinstance(payload, list) and len(payload) >= 2
            if same_sort and shaped and isinstance(payload[0], str) and payload[0] in SORTS:
                # Past the sort check, so the value, id and day are what is tested.
                sort = SORTS[payload[0]]
                order = "ASC" if payload[1] == "asc" else "DESC"
                payload = [payload[0], order.lower(), *payload[2:]]
            variables = {"after": encode_cursor(payload), "sort": sort, "order": order}
            run(send_operation(client, ledger, schema_url, document, variables))

        send()

    await fuzz(body)


def b64(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


# Cursors a client could forge by hand, each a bad input; the sort matches the cursor's.
FORGED_CURSORS = {
    "nul-in-value": ("USER_ID", b64('["user_id","desc","a\\u0000b","x",null]')),
    "nul-in-id": ("TIMESTAMP", b64('["timestamp","desc","2026-03-15T00:00:00Z","\\u0000",null]')),
    "surrogate-in-value": ("CONNECTION", b64('["connection","desc","\\ud800","x",null]')),
    "surrogate-in-id": ("DURATION_MS", b64('["duration_ms","desc",5,"\\udfff",null]')),
    "deep-nesting": ("TIMESTAMP", b64("[" * 100_000 + "]" * 100_000)),
    "5000-digits": ("DURATION_MS", b64('["duration_ms","desc",' + "9" * 5000 + ',"x",null]')),
    "nan": ("DURATION_MS", b64('["duration_ms","desc",NaN,"x",null]')),
    "bad-day": ("USER_ID", b64('["user_id","desc","a","x","2026-02-30"]')),
    "not-utf8": ("USER_ID", base64.b64encode(b'["user_id","desc","\xff","x",null]').decode()),
    "not-base64": ("TIMESTAMP", "%%%"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(FORGED_CURSORS))
async def test_forged_cursor_is_bad_input(
    client: httpx.AsyncClient, schema_url: str, name: str
) -> None:
    sort, after = FORGED_CURSORS[name]
    response = await exchange(
        client,
        Ledger(),
        schema_url,
        json.dumps(
            {
                "query": "query($a: String, $s: EventSortField) "
                "{ events(after: $a, sortBy: $s) { items { id } } }",
                "variables": {"a": after, "s": sort},
            }
        ),
    )
    errors = response.json()["errors"]
    assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"]
    assert errors[0]["message"].startswith("after is not a cursor this API issued")


RAW_BYTES = st.one_of(
    st.binary(max_size=200),
    st.builds(
        lambda prefix, junk: prefix + junk,
        st.sampled_from([b'{"query": "', b'{"query": "{ eventCount(filter: {search: \\"']),
        st.binary(max_size=60),
    ),
)


async def test_raw_bytes_and_content_types(
    client: httpx.AsyncClient, db: psycopg.Connection, schema_url: str
) -> None:
    ledger = Ledger()
    content_types = [
        "application/json",
        "text/plain",
        "application/graphql",
        "multipart/form-data; boundary=x",
        "application/x-www-form-urlencoded",
    ]

    def body(run: Callable[[Coroutine[Any, Any, Any]], Any]) -> None:
        @FUZZ_SETTINGS
        @given(RAW_BYTES, st.sampled_from(content_types))
        def send(raw: bytes, content_type: str) -> None:
            response = run(exchange(client, ledger, schema_url, raw, content_type))
            assert response.status_code < 500, response.text

        send()

    await fuzz(body)
    check_table(db, Ledger())


def test_ledger_counts_one_row_per_id_and_utc_day() -> None:
    ledger = Ledger()
    for event in [
        {"id": "a", "timestamp": "2026-03-14T23:30:00-01:00"},  # 03-15 00:30 UTC
        {"id": "a", "timestamp": "2026-03-15T00:00:00Z"},
        {"id": "a", "timestamp": "2026-03-15T23:59:59"},
        {"id": "a", "timestamp": "2026-03-16T00:00:00+00:00"},
        {"id": "a"},  # today, 2026-03-15
        {},
        {"id": ""},
    ]:
        ledger.add(event)
    assert ledger.keys == {
        ("a", date(2026, 3, 15)),
        ("a", date(2026, 3, 16)),
        ("<generated 1>", TODAY),
        ("<generated 2>", TODAY),
    }
