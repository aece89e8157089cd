"""Realistic synthetic audit events: `audit-graph seed` and `serve --demo`.

Dashboards are only worth looking at with data that behaves like the real
thing, so the generator models what the statistics measure rather than
drawing every column independently:

- a few dozen users, each with one stable email, a persona and a favourite
  transport; a handful of heavy users make a large share of the calls;
- work happens in sessions of consecutive calls by one user: analysts often
  discover datasets in DataHub before querying them in Trino, engineers often
  query straight away, some sessions only browse the catalogue, some query
  first and look the schema up afterwards, others read S3 or call APIs;
- calls follow a daily rhythm (busy UTC working hours, quiet nights and
  weekends) over the last D days up to now, written oldest first;
- durations are long-tailed (lognormal per tool, rare multi-second outliers,
  timeouts that run to the limit); ~6% of calls fail with the message the
  tool would really give;
- enrichment is applied to a share of DataHub/Trino/S3 calls; a dataset
  already enriched in the session is usually sent by reference, so the
  deduplicated token counts are what a real deployment would save;
- a few percent of calls carry credentials in their parameters (password,
  api_key, Authorization headers), which the store redacts.

Everything is drawn from one `random.Random(seed)`, so a seed and a "now"
give the same events every time, except their ids: those are left to the
store, which makes them random, so seeding twice never collides.

Events are produced lazily and written with COPY in chunks, so memory stays
flat however many are asked for.
"""

from __future__ import annotations

import bisect
import logging
import math
import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import accumulate, islice
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .store.columns import INT4_MAX
from .store.models import NewEvent

if TYPE_CHECKING:
    from .store import Store

log = logging.getLogger(__name__)

DEFAULT_SEED = 20_260_315
CHUNK_SIZE = 10_000
MAX_DAYS = 3_650

T = TypeVar("T")


class Weighted(Generic[T]):
    """Items drawn with fixed relative weights: one bisect per draw."""

    def __init__(self, pairs: Sequence[tuple[T, float]]) -> None:
        self.items = [item for item, _ in pairs]
        self.cumulative = list(accumulate(weight for _, weight in pairs))
        self.total = self.cumulative[-1]

    def pick(self, rng: random.Random) -> T:
        return self.items[bisect.bisect_right(self.cumulative, rng.random() * self.total)]


# --- the world the events happen in ------------------------------------------

FIRST_NAMES = (
    "ada", "alan", "amara", "ben", "carla", "chen", "dana", "diego", "elena", "emil",
    "fatima", "felix", "grace", "hana", "ivan", "jonas", "kofi", "lena", "liam", "maya",
    "mei", "nadia", "noah", "olga", "omar", "priya", "rafael", "sara", "tariq", "yuki",
)  # fmt: skip
LAST_NAMES = (
    "andersen", "baptiste", "costa", "dubois", "eriksen", "fischer", "garcia", "haddad",
    "ito", "jansen", "kowalski", "lindqvist", "moreau", "nakamura", "okafor", "petrov",
    "quinn", "rossi", "schmidt", "tanaka", "umar", "varga", "weber", "xu", "young", "zhang",
)  # fmt: skip

TRANSPORTS = Weighted([("stdio", 55), ("http", 30), ("sse", 15)])

DATASETS = (
    "sales.orders", "sales.order_items", "sales.customers", "sales.refunds",
    "finance.invoices", "finance.payments", "finance.ledger", "finance.payroll",
    "marketing.campaigns", "marketing.attribution", "marketing.web_sessions",
    "product.events", "product.feature_flags", "product.experiments",
    "ops.shipments", "ops.warehouses", "ops.inventory_snapshots",
    "support.tickets", "support.csat_responses", "hr.employees",
)  # fmt: skip
# A few tables everyone uses, a long tail of the rest.
POPULAR_DATASETS = Weighted([(name, 1 / (rank + 1)) for rank, name in enumerate(DATASETS)])
SEARCH_TERMS = (
    "orders", "revenue", "customer churn", "refund rate", "invoice", "payments",
    "campaign attribution", "web sessions", "feature flag", "experiment results",
    "shipments late", "inventory", "csat", "tickets", "payroll", "daily active users",
)  # fmt: skip
COLUMNS = ("id", "created_at", "customer_id", "amount_usd", "status", "region", "country")
BUCKETS = ("acme-datalake", "acme-exports", "acme-logs")


@dataclass(frozen=True, slots=True)
class Tool:
    """One tool of one toolkit: how long it takes, how big its answers are, how it fails."""

    name: str
    kind: str
    median_ms: float
    sigma: float
    response_chars: float
    failure_rate: float
    errors: tuple[str, ...]
    denied: tuple[str, ...] = ()


DATAHUB_ERRORS = (
    "DataHub GMS returned 503 Service Unavailable; retry later",
    "dataset urn:li:dataset:(urn:li:dataPlatform:trino,{dataset},PROD) not found",
    "GraphQL error from DataHub: Unauthorized to view entity",
    "read timed out after 10000 ms waiting for DataHub",
)
TRINO_ERRORS = (
    "line 3:15: Column 'revenue_usd' cannot be resolved",
    "line 1:8: Table 'hive.{dataset}_v2' does not exist",
    "Query exceeded maximum time limit of 300.00s",
    "Query killed because the cluster is out of memory. Please try again in a few minutes.",
    "line 5:1: mismatched input 'GROUP'. Expecting: ')', ','",
    "Division by zero",
)
TRINO_DENIED = ("Access Denied: Cannot select from table hive.{dataset}",)
S3_ERRORS = (
    "NoSuchKey: The specified key does not exist.",
    "SlowDown: Please reduce your request rate.",
    "RequestTimeout: Your socket connection to the server was not read from or written "
    "to within the timeout period.",
)
S3_DENIED = ("AccessDenied: Access Denied",)
API_ERRORS = (
    "upstream returned 502 Bad Gateway",
    "rate limit exceeded (429): retry after 30s",
    "request timed out after 30000 ms",
    "upstream returned 500 Internal Server Error",
    "invalid request: field 'customer_id' is required",
)
API_DENIED = ("403 Forbidden: token lacks scope billing:read",)

DISCOVERY_TOOLS = {
    tool.name: tool
    for tool in (
        Tool("search_datasets", "datahub", 180, 0.6, 4_000, 0.02, DATAHUB_ERRORS),
        Tool("get_schema", "datahub", 90, 0.5, 6_000, 0.03, DATAHUB_ERRORS),
        Tool("get_lineage", "datahub", 420, 0.7, 3_000, 0.04, DATAHUB_ERRORS),
        Tool("get_dataset", "datahub", 110, 0.5, 2_500, 0.02, DATAHUB_ERRORS),
        Tool("search_glossary", "datahub", 150, 0.6, 1_800, 0.02, DATAHUB_ERRORS),
    )
}
QUERY_TOOLS = {
    tool.name: tool
    for tool in (
        Tool("run_query", "trino", 1_400, 1.1, 12_000, 0.10, TRINO_ERRORS, TRINO_DENIED),
        Tool("explain_query", "trino", 260, 0.6, 2_500, 0.04, TRINO_ERRORS),
        Tool("describe_table", "trino", 140, 0.5, 1_500, 0.02, TRINO_ERRORS, TRINO_DENIED),
        Tool("list_tables", "trino", 120, 0.5, 900, 0.01, TRINO_ERRORS),
    )
}
S3_TOOLS = {
    tool.name: tool
    for tool in (
        Tool("list_objects", "s3", 120, 0.6, 3_000, 0.03, S3_ERRORS, S3_DENIED),
        Tool("get_object", "s3", 320, 0.9, 20_000, 0.05, S3_ERRORS, S3_DENIED),
        Tool("head_object", "s3", 45, 0.4, 300, 0.04, S3_ERRORS, S3_DENIED),
    )
}
# API gateway operations, by the API that serves them.
APIS = {
    "billing-api": ("get_invoice", "list_invoices", "create_refund"),
    "crm-api": ("get_customer", "search_customers", "update_contact"),
    "inventory-api": ("get_stock_level", "reserve_stock"),
}
API_TOOLS = {
    name: Tool(name, "api", 150, 0.7, 1_500, 0.07, API_ERRORS, API_DENIED)
    for names in APIS.values()
    for name in names
}
API_OF = {name: api for api, names in APIS.items() for name in names}

CONNECTIONS = {
    "datahub": Weighted([("datahub-prod", 90), ("datahub-staging", 10)]),
    "trino": Weighted([("trino-analytics", 60), ("trino-etl", 25), ("trino-finance", 15)]),
    "s3": Weighted([("s3-datalake", 60), ("s3-exports", 30), ("s3-logs", 10)]),
    "api": Weighted([("gateway-eu", 55), ("gateway-us", 45)]),
}

# Which kinds of session each persona tends to have.
SESSION_MIX = {
    "analyst": Weighted([
        ("discover_then_query", 45), ("query_only", 15), ("discover_only", 20),
        ("query_then_discover", 8), ("s3", 5), ("api", 7),
    ]),
    "data_engineer": Weighted([
        ("discover_then_query", 18), ("query_only", 42), ("discover_only", 8),
        ("query_then_discover", 5), ("s3", 22), ("api", 5),
    ]),
    "data_scientist": Weighted([
        ("discover_then_query", 35), ("query_only", 25), ("discover_only", 12),
        ("query_then_discover", 6), ("s3", 17), ("api", 5),
    ]),
    "product_manager": Weighted([
        ("discover_then_query", 35), ("query_only", 8), ("discover_only", 42),
        ("api", 15),
    ]),
    "admin": Weighted([
        ("discover_then_query", 8), ("query_only", 12), ("discover_only", 15),
        ("s3", 25), ("api", 40),
    ]),
    "support": Weighted([("discover_only", 15), ("query_only", 15), ("api", 70)]),
}  # fmt: skip
PERSONAS = Weighted([
    ("analyst", 35), ("data_engineer", 22), ("data_scientist", 18),
    ("product_manager", 10), ("admin", 7), ("support", 8),
])  # fmt: skip

ENRICHMENT_SHARE = {"datahub": 0.6, "trino": 0.45, "s3": 0.15, "api": 0.0}
ENRICHMENT_MODES = Weighted([("full", 35), ("summary", 30), ("reference", 15), ("none", 20)])
# Share of the full token count the deduplicated payload keeps, per mode.
DEDUP_SHARE = {"full": (0.75, 1.0), "summary": (0.3, 0.55), "reference": (0.04, 0.15)}
MATCH_KINDS = {
    "datahub": Weighted([("urn", 60), ("exact", 30), ("fuzzy", 10)]),
    "trino": Weighted([("table", 55), ("column", 25), ("fuzzy", 20)]),
    "s3": Weighted([("prefix", 80), ("fuzzy", 20)]),
}


@dataclass(frozen=True, slots=True)
class User:
    user_id: str
    email: str
    persona: str
    transport: str


def make_users(rng: random.Random) -> Weighted[User]:
    """20-50 users with unique emails, drawn by activity: Zipf-like, so a few dominate."""
    count = rng.randint(20, 50)
    names = [(first, last) for first in FIRST_NAMES for last in LAST_NAMES]
    users = []
    for index, (first, last) in enumerate(rng.sample(names, count), start=1):
        users.append(
            User(
                user_id=f"u-{index:04d}",
                email=f"{first}.{last}@example.com",
                persona=PERSONAS.pick(rng),
                transport=TRANSPORTS.pick(rng),
            )
        )
    return Weighted([(user, 1 / rank**0.8) for rank, user in enumerate(users, start=1)])


# --- time: a daily rhythm over the last D days ----------------------------------


def activity_level(moment: datetime) -> float:
    """Relative call rate at a UTC moment: a working-day peak, quiet nights and weekends."""
    hour = moment.hour + moment.minute / 60
    level = 0.08 + math.exp(-(((hour - 14.0) / 3.5) ** 2))
    return level if moment.weekday() < 5 else level * 0.3


class Timeline:
    """Maps a share of all calls (0..1) to a moment, so calls follow `activity_level`.

    The window [now - days, now] is cut into hours; each hour's weight is the
    activity level at its middle, and a share falls into the hour that holds
    that much cumulative weight, linearly within it.
    """

    def __init__(self, now: datetime, days: int) -> None:
        self.start = now - timedelta(days=days)
        self.seconds = days * 86_400
        hours = days * 24
        self.cumulative = list(
            accumulate(
                activity_level(self.start + timedelta(hours=hour + 0.5)) for hour in range(hours)
            )
        )
        self.total = self.cumulative[-1]

    def offset(self, share: float) -> float:
        """Seconds after the window's start at which `share` of the calls have happened."""
        target = min(max(share, 0.0), 1.0) * self.total
        hour = min(bisect.bisect_left(self.cumulative, target), len(self.cumulative) - 1)
        before = self.cumulative[hour - 1] if hour else 0.0
        weight = self.cumulative[hour] - before
        within = (target - before) / weight if weight > 0 else 0.0
        return (hour + within) * 3_600

    def moment(self, offset: float) -> datetime:
        """The moment `offset` seconds into the window, never past its end (now)."""
        return self.start + timedelta(seconds=min(max(offset, 0.0), self.seconds))


# --- sessions ------------------------------------------------------------------


@dataclass(slots=True)
class Session:
    """What the calls of one session share."""

    user: User
    session_id: str
    dataset: str
    transport: str
    source: str
    connections: dict[str, str]
    enriched: set[str]


def plan_session(rng: random.Random, kind: str) -> list[str]:
    """The tool names a session of this kind calls, in order."""
    if kind == "discover_then_query":
        plan = ["search_datasets", *discovery_steps(rng, rng.randint(1, 3))]
        if rng.random() < 0.3:
            plan.append("explain_query")
        plan += ["run_query"] * rng.randint(1, 4)
        if rng.random() < 0.2:
            plan += ["get_schema", "run_query"]
        return plan
    if kind == "query_only":
        plan = ["describe_table"] if rng.random() < 0.3 else []
        if rng.random() < 0.15:
            plan.insert(0, "list_tables")
        return plan + ["run_query"] * rng.randint(1, 6)
    if kind == "query_then_discover":
        return ["run_query", *discovery_steps(rng, rng.randint(1, 2)), "run_query"]
    if kind == "discover_only":
        first = "search_glossary" if rng.random() < 0.15 else "search_datasets"
        return [first, *discovery_steps(rng, rng.randint(0, 4))]
    if kind == "s3":
        plan = ["list_objects"] * rng.randint(1, 2)
        plan += rng.choices(["get_object", "head_object"], [3, 1], k=rng.randint(1, 4))
        return plan
    api = rng.choice(list(APIS))
    return rng.choices(APIS[api], k=rng.randint(1, 4))


def discovery_steps(rng: random.Random, count: int) -> list[str]:
    return rng.choices(
        ["get_schema", "get_dataset", "get_lineage", "search_datasets"], [5, 3, 2, 1], k=count
    )


TOOLS: dict[str, Tool] = {**DISCOVERY_TOOLS, **QUERY_TOOLS, **S3_TOOLS, **API_TOOLS}
TOOLKIT_NAMES = {"datahub": "datahub", "trino": "trino", "s3": "s3"}


def parameters_for(rng: random.Random, tool: Tool, session: Session) -> dict[str, Any]:
    """Arguments as the client would send them, credentials included now and then."""
    dataset = session.dataset
    urn = f"urn:li:dataset:(urn:li:dataPlatform:trino,hive.{dataset},PROD)"
    name = tool.name
    params: dict[str, Any]
    if name in ("search_datasets", "search_glossary"):
        params = {"query": rng.choice(SEARCH_TERMS), "limit": rng.choice((10, 20, 50))}
        if name == "search_datasets" and rng.random() < 0.4:
            params["filters"] = {"platform": "trino", "domain": dataset.split(".")[0]}
    elif name == "get_lineage":
        params = {"urn": urn, "direction": rng.choice(("upstream", "downstream")), "depth": 2}
    elif tool.kind == "datahub":
        params = {"urn": urn}
    elif name in ("run_query", "explain_query"):
        column = rng.choice(COLUMNS)
        params = {
            "sql": f"SELECT {column}, count(*) AS n FROM hive.{dataset} "
            f"WHERE created_at >= current_date - INTERVAL '{rng.randint(1, 90)}' DAY "
            f"GROUP BY {column} ORDER BY n DESC LIMIT {rng.choice((100, 500, 1000))}",
            "catalog": "hive",
            "schema": dataset.split(".")[0],
        }
        if rng.random() < 0.03:
            params["credentials"] = {"user": "svc_analytics", "password": "pw-" + hex_id(rng, 6)}
        elif rng.random() < 0.02:
            params["password"] = "pw-" + hex_id(rng, 6)
    elif tool.kind == "trino":
        params = {"catalog": "hive", "schema": dataset.split(".")[0]}
        if name == "describe_table":
            params["table"] = dataset.split(".")[1]
    elif tool.kind == "s3":
        bucket = rng.choice(BUCKETS)
        prefix = f"{dataset.replace('.', '/')}/2026/{rng.randint(1, 12):02d}/"
        params = {"bucket": bucket, "prefix": prefix}
        if name != "list_objects":
            params = {"bucket": bucket, "key": f"{prefix}part-{rng.randint(0, 199):05d}.parquet"}
    else:
        params = {"method": "POST" if name.startswith(("create", "update", "reserve")) else "GET"}
        params["path"] = f"/v1/{API_OF[name].removesuffix('-api')}/{name}"
        if rng.random() < 0.5:
            params["headers"] = {
                "Authorization": "Bearer eyJ" + hex_id(rng, 16),
                "Accept": "application/json",
            }
        elif rng.random() < 0.2:
            params["api_key"] = "ak_live_" + hex_id(rng, 12)
        params["body"] = {"id": rng.randint(1_000, 99_999)}
    return params


def hex_id(rng: random.Random, nbytes: int) -> str:
    return f"{rng.getrandbits(nbytes * 8):0{nbytes * 2}x}"


def lognormal(rng: random.Random, median: float, sigma: float) -> int:
    return min(int(median * math.exp(sigma * rng.gauss(0.0, 1.0))), INT4_MAX)


# --- the generator -----------------------------------------------------------------


class SyntheticEvents:
    """`count` events over the `days` days before `now`, about in time order (sessions overlap).

    Sessions are placed along the `Timeline` by the share of events emitted
    before them, so the events fill the window following its daily rhythm
    and the total is exactly `count`.
    """

    def __init__(self, count: int, days: int, now: datetime, seed: int = DEFAULT_SEED) -> None:
        if count < 0:
            raise ValueError(f"count must be 0 or more, not {count}")
        if not 1 <= days <= MAX_DAYS:
            raise ValueError(f"days must be between 1 and {MAX_DAYS}, not {days}")
        self.count = count
        self.days = days
        self.now = now
        self.seed = seed

    def __iter__(self) -> Iterator[NewEvent]:
        rng = random.Random(self.seed)
        activity = make_users(rng)
        timeline = Timeline(self.now, self.days)
        emitted = 0
        while emitted < self.count:
            user = activity.pick(rng)
            kind = SESSION_MIX[user.persona].pick(rng)
            plan = plan_session(rng, kind)[: self.count - emitted]
            session = self._session(rng, user, kind)
            # Where this session starts: its share of the calls, jittered within its own span.
            share = (emitted + rng.random() * len(plan)) / max(self.count, 1)
            offset = timeline.offset(share)
            for name in plan:
                yield self._call(rng, TOOLS[name], session, timeline.moment(offset))
                # Think time before the next call: seconds usually, minutes sometimes.
                offset += lognormal(rng, 25_000, 1.0) / 1000
            emitted += len(plan)

    @staticmethod
    def _session(rng: random.Random, user: User, kind: str) -> Session:
        transport = user.transport if rng.random() < 0.85 else TRANSPORTS.pick(rng)
        source = "mcp"
        session_id = f"sess-{hex_id(rng, 8)}"
        if kind == "api":
            transport = "http"
            source = "api" if rng.random() < 0.7 else "mcp"
            if source == "api" and rng.random() < 0.5:
                session_id = ""  # service-to-service calls outside any session
        return Session(
            user=user,
            session_id=session_id,
            dataset=POPULAR_DATASETS.pick(rng),
            transport=transport,
            source=source,
            connections={toolkit: table.pick(rng) for toolkit, table in CONNECTIONS.items()},
            enriched=set(),
        )

    @staticmethod
    def _call(rng: random.Random, tool: Tool, session: Session, moment: datetime) -> NewEvent:
        kind = tool.kind
        params = parameters_for(rng, tool, session)
        success = rng.random() >= tool.failure_rate
        error = ""
        authorized = True
        if success:
            duration = lognormal(rng, tool.median_ms, tool.sigma)
            if rng.random() < 0.01:
                duration = min(duration * rng.randint(5, 40), INT4_MAX)  # a rare stall
            response_chars = lognormal(rng, tool.response_chars, 0.9)
            content_blocks = 1 + min(response_chars // 6_000, 19)
        else:
            if tool.denied and rng.random() < 0.25:
                error = rng.choice(tool.denied)
                authorized = False
            else:
                error = rng.choice(tool.errors)
            error = error.replace("{dataset}", session.dataset)
            if "time limit" in error or "timed out" in error or "Timeout" in error:
                limit = 300_000 if "300.00s" in error else 30_000 if "30000" in error else 10_000
                duration = limit + lognormal(rng, 40, 0.5)
            else:
                duration = lognormal(rng, tool.median_ms * 0.4, tool.sigma)
            response_chars = len(error) + 24
            content_blocks = 1
        request_chars = 40 + sum(len(str(value)) + len(key) + 6 for key, value in params.items())

        mode = match_kind = ""
        tokens_full = tokens_dedup = 0
        enriched = False
        if success and session.source == "mcp" and rng.random() < ENRICHMENT_SHARE[kind]:
            seen = session.dataset in session.enriched
            mode = "reference" if seen and rng.random() < 0.7 else ENRICHMENT_MODES.pick(rng)
            if mode != "none":
                enriched = True
                session.enriched.add(session.dataset)
                match_kind = MATCH_KINDS[kind].pick(rng)
                tokens_full = lognormal(rng, 900, 0.7) + 50
                low, high = DEDUP_SHARE[mode]
                tokens_dedup = int(tokens_full * rng.uniform(low, high))

        toolkit_name = API_OF[tool.name] if kind == "api" else TOOLKIT_NAMES[kind]
        return NewEvent(
            tool_name=tool.name,
            success=success,
            timestamp=moment,
            duration_ms=max(duration, 1),
            request_id=f"req-{hex_id(rng, 6)}",
            session_id=session.session_id,
            user_id=session.user.user_id,
            user_email=session.user.email,
            persona=session.user.persona,
            toolkit_kind=kind,
            toolkit_name=toolkit_name,
            connection=session.connections[kind],
            parameters=params,
            error_message=error,
            response_chars=response_chars,
            request_chars=request_chars,
            content_blocks=content_blocks,
            transport=session.transport,
            source=session.source,
            enrichment_applied=enriched,
            enrichment_tokens_full=tokens_full,
            enrichment_tokens_dedup=tokens_dedup,
            enrichment_mode=mode,
            enrichment_match_kind=match_kind,
            authorized=authorized,
        )


# --- writing -----------------------------------------------------------------------


async def seed_events(
    store: Store,
    events: int,
    days: int,
    seed: int = DEFAULT_SEED,
    progress: bool = True,
    chunk_size: int = CHUNK_SIZE,
) -> int:
    """Write `events` synthetic events over the `days` days before the store's now.

    Each chunk is one COPY transaction (`Store.copy_events`), fed straight from
    the generator, so memory stays flat and the server inserts one chunk while
    Python draws the rest of it. A progress bar goes to stderr when it is a
    terminal. Returns the number of events written. Chunks already committed
    stay if a later one fails (an interrupted seed is a smaller seed, not a
    broken database). Raises ValueError for events < 0 or days outside
    1..MAX_DAYS.
    """
    now = store.now()
    generated = iter(SyntheticEvents(events, days, now, seed))
    # Rows land in their months' partitions, not in the default one.
    await store.ensure_partitions_between(now - timedelta(days=days), now)
    started = time.perf_counter()
    written = 0
    with progress_bar(events, enabled=progress) as advance:
        while written < events:
            copied = await store.copy_events(islice(generated, min(chunk_size, events - written)))
            if not copied:
                break  # the generator ran dry; it yields exactly `events`, so never in practice
            written += copied
            advance(written)
    await store.analyze()  # partitions and plans see the new rows at once
    log.debug("%s", summary_line(written, days, time.perf_counter() - started))
    return written


def summary_line(events: int, days: int, seconds: float) -> str:
    rate = events / seconds if seconds > 0 else 0.0
    return f"seeded {events} events over {days} days in {seconds:.1f} s ({rate:,.0f} events/s)"


@contextmanager
def progress_bar(total: int, enabled: bool) -> Iterator[Callable[[int], None]]:
    """Yields advance(done): a rich progress bar on stderr, a no-op when it is not a terminal."""
    if not enabled or not sys.stderr.isatty():
        yield lambda done: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    started = time.perf_counter()
    with Progress(
        TextColumn("seeding"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    ) as bar:
        task = bar.add_task("seed", total=total, rate="")

        def advance(done: int) -> None:
            elapsed = time.perf_counter() - started
            rate = f"{done / elapsed:,.0f} events/s" if elapsed > 0 else ""
            bar.update(task, completed=done, rate=rate)

        yield advance
