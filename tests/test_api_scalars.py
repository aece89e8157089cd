"""The DateTime and Long scalars: offsets in and UTC out, and counts as JSON numbers."""

from __future__ import annotations

import json
import re

from api_client import Api, gql


async def test_datetime_input_without_offset_is_utc(api: Api, seeded: None) -> None:
    data = await gql(
        api,
        '{ naive: eventCount(filter: {startTime: "2026-03-10T08:00:00", '
        'endTime: "2026-03-10T08:00:00"}) '
        ' zulu: eventCount(filter: {startTime: "2026-03-10T08:00:00Z", '
        'endTime: "2026-03-10T08:00:00Z"}) }',
    )
    assert data == {"naive": 1, "zulu": 1}


async def test_datetime_input_with_an_offset_is_converted(api: Api, seeded: None) -> None:
    data = await gql(
        api,
        # 10:00+02:00 is e8's 08:00Z; 08:00+02:00 is 06:00Z, when nothing happened.
        '{ converted: events(filter: {startTime: "2026-03-10T10:00:00+02:00", '
        'endTime: "2026-03-10T10:00:00+02:00"}) { items { id timestamp } } '
        ' shifted: eventCount(filter: {startTime: "2026-03-10T08:00:00+02:00", '
        'endTime: "2026-03-10T08:00:00+02:00"}) '
        ' west: timeseries(resolution: HOUR, filter: {startTime: "2026-03-15T04:30:00-05:00", '
        'endTime: "2026-03-15T05:00:00-05:00"}) { bucket count } }',
    )
    assert data["converted"]["items"] == [{"id": "e8", "timestamp": "2026-03-10T08:00:00+00:00"}]
    assert data["shifted"] == 0
    # 04:30-05:00 is 09:30Z and 05:00-05:00 is 10:00Z: e2 and e3, in UTC buckets.
    assert data["west"] == [
        {"bucket": "2026-03-15T09:00:00+00:00", "count": 1},
        {"bucket": "2026-03-15T10:00:00+00:00", "count": 1},
    ]


UTC_OUTPUT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?\+00:00$")


async def test_datetime_outputs_always_end_in_utc_offset(api: Api, seeded: None) -> None:
    data = await gql(
        api,
        "{ events { items { timestamp } } timeseries(resolution: HOUR) { bucket } }",
    )
    stamps = [i["timestamp"] for i in data["events"]["items"]]
    stamps += [b["bucket"] for b in data["timeseries"]]
    assert len(stamps) == 8 + 25
    for stamp in stamps:
        assert UTC_OUTPUT.match(stamp), stamp


async def test_long_fields_are_json_numbers(api: Api, seeded: None) -> None:
    await gql(
        api,
        "{ eventCount events(limit: 1) { totalCount } overview { totalCalls uniqueUsers } "
        "timeseries(resolution: DAY) { count } breakdown(groupBy: TOOL_NAME) { count } "
        "enrichment { totalTokensFull tokensSaved } partitions { approxRows } }",
    )
    body = json.loads(api.responses[-1])["data"]
    longs = [
        body["eventCount"],
        body["events"]["totalCount"],
        body["overview"]["totalCalls"],
        body["overview"]["uniqueUsers"],
        *(b["count"] for b in body["timeseries"]),
        *(e["count"] for e in body["breakdown"]),
        body["enrichment"]["totalTokensFull"],
        body["enrichment"]["tokensSaved"],
        *(p["approxRows"] for p in body["partitions"]),
    ]
    assert all(type(value) is int for value in longs), longs
    assert '"eventCount":8' in api.responses[-1].replace(" ", "")
