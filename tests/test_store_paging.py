"""Store.page: keyset cursors, offsets and the bounds of limit, offset and sort."""

from __future__ import annotations

import base64

import pytest
from store_helpers import at, ev

from graph.store import InvalidArgument, Store


async def test_cursor_pages_cover_every_row_once(store: Store) -> None:
    await store.log_many([ev(id=f"e{h}", timestamp=at(15, h)) for h in range(1, 6)])
    first = await store.page(limit=2)
    assert ([e.id for e in first.items], first.has_next_page) == (["e5", "e4"], True)
    second = await store.page(limit=2, after=first.end_cursor)
    assert ([e.id for e in second.items], second.has_next_page) == (["e3", "e2"], True)
    third = await store.page(limit=2, after=second.end_cursor)
    assert ([e.id for e in third.items], third.has_next_page) == (["e1"], False)
    beyond = await store.page(limit=2, after=third.end_cursor)
    assert (beyond.items, beyond.has_next_page, beyond.end_cursor) == ([], False, None)


async def test_cursor_paging_through_ties_in_the_sort_value(store: Store) -> None:
    await store.log_many([ev(id=i, tool_name="same") for i in ("c", "a", "d", "b")])
    seen: list[str] = []
    after = None
    for _ in range(4):
        page = await store.page(sort="tool_name", order="asc", limit=1, after=after)
        seen += [e.id for e in page.items]
        after = page.end_cursor
    assert seen == ["a", "b", "c", "d"]


async def test_cursor_paging_returns_both_rows_that_share_an_id_across_days(store: Store) -> None:
    # (id, created_date) is the key: one id may be stored once per UTC day.
    await store.log_many(
        [
            ev(id="reused", tool_name="same", timestamp=at(14, 12)),
            ev(id="reused", tool_name="same", timestamp=at(15, 9)),
        ]
    )
    for order in ("asc", "desc"):
        seen = []
        after = None
        while True:
            page = await store.page(sort="tool_name", order=order, limit=1, after=after)
            seen += [e.timestamp for e in page.items]
            if not page.has_next_page:
                break
            after = page.end_cursor
        assert sorted(seen) == [at(14, 12), at(15, 9)], order
        offset_pages = [
            (await store.page(sort="tool_name", order=order, limit=1, offset=n)).items
            for n in range(2)
        ]
        assert sorted(e.timestamp for page in offset_pages for e in page) == [at(14, 12), at(15, 9)]


async def test_cursor_issued_before_it_carried_created_date_still_pages(store: Store) -> None:
    # Cursors of the first release held [sort, order, value, id]; a replica running it may
    # have handed one out during an upgrade.
    await store.log_many([ev(id=i, tool_name="same") for i in ("a", "b", "c")])
    legacy = base64.urlsafe_b64encode(b'["tool_name","asc","same","a"]').decode().rstrip("=")
    page = await store.page(sort="tool_name", order="asc", limit=10, after=legacy)
    assert [e.id for e in page.items] == ["b", "c"]


async def test_cursor_from_another_sort_is_rejected(store: Store) -> None:
    await store.log_many([ev(id="a"), ev(id="b")])
    page = await store.page(sort="tool_name", order="asc", limit=1)
    with pytest.raises(InvalidArgument, match="sort"):
        await store.page(sort="timestamp", order="asc", limit=1, after=page.end_cursor)
    with pytest.raises(InvalidArgument, match="sort"):
        await store.page(sort="tool_name", order="desc", limit=1, after=page.end_cursor)


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "",
        "!!!!",
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        base64.urlsafe_b64encode(b'["timestamp", "desc", "not a date", "x"]').decode(),
        base64.urlsafe_b64encode(b'["timestamp", "desc", "2026-03-15T00:00:00+00:00", 5]').decode(),
        base64.urlsafe_b64encode(b'{"a": 1}').decode(),
    ],
)
async def test_garbage_cursor_is_rejected(store: Store, cursor: str) -> None:
    with pytest.raises(InvalidArgument, match="after"):
        await store.page(after=cursor)


async def test_cursor_with_offset_is_rejected(store: Store) -> None:
    await store.log_many([ev(id="a"), ev(id="b")])
    page = await store.page(limit=1)
    with pytest.raises(InvalidArgument, match="offset"):
        await store.page(limit=1, offset=1, after=page.end_cursor)


@pytest.mark.parametrize(("limit", "offset"), [(0, 0), (1001, 0), (-1, 0), (50, -1), (50, 100_001)])
async def test_out_of_range_limit_or_offset_is_rejected(
    store: Store, limit: int, offset: int
) -> None:
    with pytest.raises(InvalidArgument, match="limit" if offset == 0 else "offset"):
        await store.page(limit=limit, offset=offset)


@pytest.mark.parametrize(("limit", "offset"), [(1, 0), (1000, 0), (1000, 100_000)])
async def test_limit_and_offset_at_their_bounds_are_accepted(
    store: Store, limit: int, offset: int
) -> None:
    await store.log(ev(id="only"))
    page = await store.page(limit=limit, offset=offset)
    assert [e.id for e in page.items] == ([] if offset else ["only"])


@pytest.mark.parametrize(("sort", "order"), [("email", "asc"), ("timestamp", "up"), ("id", "asc")])
async def test_unknown_sort_or_order_is_rejected(store: Store, sort: str, order: str) -> None:
    with pytest.raises(InvalidArgument):
        await store.page(sort=sort, order=order)
