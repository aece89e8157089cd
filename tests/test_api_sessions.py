"""sessions and session over GraphQL, on the eight hand-made events of api_dataset.

The clock's now is 2026-03-15 12:00 UTC, so the default window (the last 24
hours) holds e1-e7; e8 (March 10, session s5) is outside it. Expected values
are worked out by hand from the table in api_dataset.py.
"""

from __future__ import annotations

from typing import Any

from api_client import Api, gql

SUMMARY = """sessionId kind userId userEmail persona startedAt lastActiveAt callCount
             failureCount totalDurationMs tools connections discoveredBeforeQuery"""
PAGE = f"""query($first: Int, $after: String, $filter: SessionFilter) {{
  sessions(first: $first, after: $after, filter: $filter) {{
    items {{ {SUMMARY} }} totalCount hasNextPage endCursor
  }}
}}"""


def summary(session_id: str, user: str, email: str, persona: str, started: str, last: str,
            calls: int, failures: int, total: int, tools: list[str], connections: list[str],
            before: bool) -> dict[str, Any]:  # fmt: skip
    return {
        "sessionId": session_id, "kind": "TRANSPORT", "userId": user, "userEmail": email,
        "persona": persona, "startedAt": f"2026-03-15T{started}:00+00:00",
        "lastActiveAt": f"2026-03-15T{last}:00+00:00", "callCount": calls,
        "failureCount": failures, "totalDurationMs": total, "tools": tools,
        "connections": connections, "discoveredBeforeQuery": before,
    }  # fmt: skip


S1 = summary("s1", "alice", "alice@old.example", "analyst", "09:00", "09:30", 2, 1, 400,
             ["run_query", "search_datasets"], ["prod-dh", "prod-trino"], True)  # fmt: skip
S2 = summary("s2", "bob", "bob@example.com", "engineer", "10:00", "10:05", 2, 0, 600,
             ["get_schema", "run_query"], ["prod-dh", "prod-trino"], False)  # fmt: skip
S3 = summary("s3", "carol", "", "", "10:10", "10:10", 1, 1, 1000, ["invoke_api"], [], False)
S4 = summary("s4", "dave", "", "", "11:30", "11:30", 1, 0, 500, ["run_query"], ["prod-trino"],
             False)  # fmt: skip


async def test_sessions_come_newest_first_in_pages(api: Api, seeded: None) -> None:
    first = (await gql(api, PAGE, {"first": 2}))["sessions"]
    assert first["items"] == [S4, S3]
    assert (first["totalCount"], first["hasNextPage"]) == (4, True)
    second = (await gql(api, PAGE, {"first": 2, "after": first["endCursor"]}))["sessions"]
    assert second["items"] == [S2, S1]
    assert (second["totalCount"], second["hasNextPage"]) == (4, False)


async def test_sessions_filters(api: Api, seeded: None) -> None:
    async def ids(**flt: Any) -> list[str]:
        page = (await gql(api, PAGE, {"filter": flt}))["sessions"]
        return [item["sessionId"] for item in page["items"]]

    assert await ids(hasFailures=True) == ["s3", "s1"]
    assert await ids(hasFailures=False) == ["s4", "s2"]
    assert await ids(userId="bob") == ["s2"]
    assert await ids(kind="AGENT") == []
    assert await ids(kind="TRANSPORT") == ["s4", "s3", "s2", "s1"]
    assert await ids(search="S2") == ["s2"]
    assert await ids(startTime="2026-03-10T00:00:00Z") == ["s4", "s3", "s2", "s1", "s5"]
    assert await ids(startTime="2026-03-15T10:00:00Z", endTime="2026-03-15T10:07:00Z") == ["s2"]


async def test_a_session_and_its_timeline(api: Api, seeded: None) -> None:
    query = f"""query($after: String) {{ session(id: "s1") {{ {SUMMARY}
        timeline(first: 1, after: $after) {{ items {{ id }} hasNextPage endCursor totalCount }}
    }} }}"""
    data = (await gql(api, query))["session"]
    timeline = data.pop("timeline")
    assert data == S1
    assert (timeline["items"], timeline["hasNextPage"], timeline["totalCount"]) == (
        [{"id": "e1"}], True, 2,
    )  # fmt: skip
    rest = (await gql(api, query, {"after": timeline["endCursor"]}))["session"]["timeline"]
    assert (rest["items"], rest["hasNextPage"]) == ([{"id": "e2"}], False)
    outside = (await gql(api, '{ session(id: "s5") { callCount startedAt kind } }'))["session"]
    assert outside == {"callCount": 1, "startedAt": "2026-03-10T08:00:00+00:00",
                       "kind": "TRANSPORT"}  # fmt: skip
    assert (await gql(api, '{ session(id: "nope") { callCount } }'))["session"] is None


async def test_bad_session_arguments_are_bad_user_input(api: Api, seeded: None) -> None:
    assert "first" in await api.bad_input("{ sessions(first: 0) { totalCount } }")
    assert "first" in await api.bad_input("{ sessions(first: 201) { totalCount } }")
    assert "cursor" in await api.bad_input('{ sessions(after: "x") { totalCount } }')
    message = await api.bad_input('{ session(id: "s1") { timeline(first: 1001) { totalCount } } }')
    assert "first" in message
