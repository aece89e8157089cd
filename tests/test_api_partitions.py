"""The partitions query: the default partition and the monthly ones, with their row estimates."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
from api_client import Api, gql, insert
from api_dataset import at, row


async def test_partitions_list_default_and_monthly(api: Api, db: psycopg.Connection) -> None:
    db.execute(
        "CREATE TABLE audit_logs_2026_04 PARTITION OF audit_logs "
        "FOR VALUES FROM ('2026-04-01') TO ('2026-05-01')"
    )
    for n in range(3):
        insert(db, **row(f"apr{n}", datetime(2026, 4, 2, n, tzinfo=UTC), tool_name="t"))
    insert(db, **row("mar", at(9), tool_name="t"))
    db.execute("ANALYZE audit_logs")
    data = await gql(api, "{ partitions { name rangeStart rangeEnd isDefault approxRows } }")
    assert sorted(data["partitions"], key=lambda p: p["name"]) == [
        {
            "name": "audit_logs_2026_04",
            "rangeStart": "2026-04-01T00:00:00+00:00",
            "rangeEnd": "2026-05-01T00:00:00+00:00",
            "isDefault": False,
            "approxRows": 3,
        },
        {
            "name": "audit_logs_default",
            "rangeStart": None,
            "rangeEnd": None,
            "isDefault": True,
            "approxRows": 1,
        },
    ]
