"""A dashboard request: its four statistics answer together, their root fields concurrently."""

from __future__ import annotations

from api_client import Api, Recording, gql
from api_dataset import ENTRY, entry

DASHBOARD = f"""{{
  overview {{ totalCalls errorCount }}
  timeseries(resolution: HOUR, filter: {{startTime: "2026-03-15T09:00:00Z",
                                         endTime: "2026-03-15T11:00:00Z"}}) {{ bucket count }}
  tools: breakdown(groupBy: TOOL_NAME, limit: 2) {{ {ENTRY} }}
  users: breakdown(groupBy: USER_ID, limit: 2) {{ {ENTRY} }}
}}"""


async def test_dashboard_request_answers_all_four_statistics(api: Api, seeded: None) -> None:
    data = await gql(api, DASHBOARD)
    assert data == {
        "overview": {"totalCalls": 7, "errorCount": 2},
        "timeseries": [
            {"bucket": "2026-03-15T09:00:00+00:00", "count": 2},
            {"bucket": "2026-03-15T10:00:00+00:00", "count": 3},
            # e6 at 11:00 is on the inclusive end; e7 at 11:30 is past it.
            {"bucket": "2026-03-15T11:00:00+00:00", "count": 1},
        ],
        "tools": [entry("run_query", 3, 2 / 3, 1000 / 3), entry("search_datasets", 2, 1.0, 50)],
        "users": [
            entry("alice@old.example", 3, 2 / 3, 400 / 3),
            entry("bob@example.com", 2, 1.0, 300),
        ],
    }


async def test_dashboard_root_fields_hold_pool_connections_at_the_same_time(
    recording: Recording, seeded: None
) -> None:
    """Each of the four reads waits, holding its pooled connection, until all four hold one.

    Run one after another, the first would wait alone until the guard lets it
    go and `most_held` would stay 1; only concurrent root fields reach 4.
    """
    recording.store.parties = 4
    data = await recording.api.gql(DASHBOARD)
    assert data["overview"] == {"totalCalls": 7, "errorCount": 2}
    assert [b["count"] for b in data["timeseries"]] == [2, 3, 1]
    assert [e["dimension"] for e in data["tools"]] == ["run_query", "search_datasets"]
    assert [e["dimension"] for e in data["users"]] == ["alice@old.example", "bob@example.com"]

    assert recording.store.most_held == 4
    assert len(recording.store.backends) == 4
    calls = recording.store.calls
    entered = [name for kind, name in calls if kind == "enter"]
    assert sorted(entered) == ["breakdown", "breakdown", "overview", "timeseries"]
    # Every call entered before any of them finished: the four intervals overlap.
    assert [kind for kind, _ in calls[:4]] == ["enter"] * 4
    assert [kind for kind, _ in calls[4:]] == ["exit"] * 4
