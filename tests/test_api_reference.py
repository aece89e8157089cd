"""Statistics and cursor paging over 400 generated events, against the plain-Python reference."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import pytest
import reference
from api_client import Api, gql
from api_dataset import (
    BUCKET,
    DISCOVERY,
    ENRICHMENT,
    ENTRY,
    OVERVIEW,
    PERFORMANCE,
    at,
    walk_pages,
)
from graphql_client import EVENT_FIELDS


def generated_events(count: int) -> list[dict[str, Any]]:
    """Deterministic, varied AuditEventInputs over the three days before the clock."""
    rng = random.Random(20260315)
    users = [(f"user-{n}", f"user{n}@example.com" if n % 3 else "") for n in range(8)]
    kinds = [("datahub", ["search", "get_schema", "lineage"]), ("trino", ["run_query"]),
             ("s3", ["list", "get_object"]), ("api", ["invoke"])]  # fmt: skip
    start = at(12, day=12)
    inputs = []
    for n in range(count):
        user, email = rng.choice(users)
        kind, tools = rng.choice(kinds)
        # Whole minutes, so several events share a timestamp.
        moment = start + timedelta(minutes=rng.randrange(3 * 24 * 60 + 1))
        mode = rng.choice(["", "", "full", "summary", "reference", "none"])
        inputs.append(
            {
                "id": f"g{n:04d}",
                "timestamp": moment.isoformat(),
                "durationMs": int(rng.paretovariate(1.5) * 20),
                "userId": user,
                "userEmail": email if rng.random() < 0.8 else "",
                "persona": rng.choice(["", "analyst", "engineer"]),
                "toolName": rng.choice(tools),
                "toolkitKind": kind,
                "connection": rng.choice(["", "prod", "staging"]),
                "sessionId": rng.choice(["", *(f"s{k}" for k in range(25))]),
                "success": rng.random() < 0.85,
                "errorMessage": "",
                "responseChars": rng.randrange(5000),
                "requestChars": rng.randrange(500),
                "enrichmentApplied": mode not in ("", "none"),
                "enrichmentMode": mode,
                "enrichmentTokensFull": rng.choice([0, rng.randrange(1, 900)]),
                "enrichmentTokensDedup": rng.choice([0, rng.randrange(1, 300)]),
                "source": rng.choice(["mcp", "gateway"]),
            }
        )
    return inputs


def as_expected(value: Any) -> Any:
    """A reference result in the API's shape: camelCase keys, ISO instants, approx floats."""
    if isinstance(value, dict):
        return {camel(k): as_expected(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_expected(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float):
        return pytest.approx(value, rel=1e-9, abs=1e-9)
    return value


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


@pytest.fixture
async def generated(api: Api) -> list[dict[str, Any]]:
    """400 events written with one logEvents call, read back as stored (reference shape)."""
    inputs = generated_events(400)
    await gql(
        api,
        "mutation($e: [AuditEventInput!]!) { logEvents(inputs: $e) { accepted } }",
        {"e": inputs},
    )
    data = await gql(api, f"{{ events(limit: 1000) {{ items {{ {EVENT_FIELDS} }} }} }}")
    return [reference.from_graphql(item) for item in data["events"]["items"]]


METRICS_SCOPES: list[dict[str, Any]] = [
    {},
    {"start": at(0, day=13), "end": at(6, day=15)},
    {"user_id": "user-1"},
    {"event_kind": "apigateway_invoke", "start": at(12, day=12)},
]


def metrics_filter(scope: dict[str, Any]) -> dict[str, Any]:
    names = {"start": "startTime", "end": "endTime", "user_id": "userId", "event_kind": "eventKind"}
    return {names[k]: v.isoformat() if isinstance(v, datetime) else v for k, v in scope.items()}


@pytest.mark.parametrize("scope", METRICS_SCOPES)
async def test_statistics_agree_with_the_reference(
    api: Api, generated: list[dict[str, Any]], scope: dict[str, Any]
) -> None:
    now = at(12)
    dimensions = ["TOOL_NAME", "USER_ID", "PERSONA", "TOOLKIT_KIND", "CONNECTION"]
    breakdowns = " ".join(
        f"{d}: breakdown(groupBy: {d}, limit: 100, filter: $f) {{ {ENTRY} }}" for d in dimensions
    )
    data = await gql(
        api,
        f"query($f: MetricsFilter) {{ overview(filter: $f) {{ {OVERVIEW} }} "
        f"performance(filter: $f) {{ {PERFORMANCE} }} enrichment(filter: $f) {{ {ENRICHMENT} }} "
        f"discovery(filter: $f) {{ {DISCOVERY} }} "
        f"timeseries(resolution: HOUR, filter: $f) {{ {BUCKET} }} {breakdowns} }}",
        {"f": metrics_filter(scope)},
    )
    without_user = {k: v for k, v in scope.items() if k != "user_id"}
    assert data["overview"] == as_expected(reference.overview(generated, now, **scope))
    assert data["performance"] == as_expected(reference.performance(generated, now, **scope))
    assert data["enrichment"] == as_expected(reference.enrichment(generated, now, **scope))
    assert data["discovery"] == as_expected(reference.discovery(generated, now, **without_user))
    assert data["timeseries"] == as_expected(reference.timeseries(generated, "hour", now, **scope))
    for d in dimensions:
        expected = reference.breakdown(generated, d.lower(), 100, now, **scope)
        assert data[d] == as_expected(expected), d
    assert data["overview"]["totalCalls"] > 0


@pytest.mark.parametrize(
    ("sort_by", "order"), [("TIMESTAMP", "DESC"), ("USER_ID", "ASC"), ("DURATION_MS", "DESC")]
)
async def test_cursor_paging_over_the_larger_set_agrees_with_the_reference(
    api: Api, generated: list[dict[str, Any]], sort_by: str, order: str
) -> None:
    pages = await walk_pages(api, sort_by, order, 37, '{source: "mcp"}', most=len(generated))
    seen = [event_id for page in pages for event_id in page]
    expected = reference.query(generated, {"source": "mcp"}, sort_by.lower(), order.lower())
    assert seen == [event["id"] for event in expected]
    assert len(set(seen)) == len(seen) > 37
