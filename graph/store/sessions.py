"""Sessions: the events sharing one non-empty session_id, summarised in SQL.

Nothing is stored per session, so a session reaches back as far as
retention. `sessions` lists those with a call in a window, newest activity
first (session id breaking ties, in code-point order) and pages them with a
keyset cursor on (last_active_at, session_id); `session` sums all of one
session's calls, found through the session index (migrations.SESSION_INDEX).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from psycopg import AsyncConnection, sql
from psycopg.rows import class_row

from graph.values import as_utc, is_storable_text

from .conditions import Conditions
from .errors import InvalidArgument
from .events import cursor_elements, cursor_text, not_a_cursor
from .models import PREFIXED_KINDS, Session, SessionFilter, SessionKind, Window

# Each column of a Session from the calls it sums; "first" and "most recent" go
# by (timestamp, id), as the events do. NULL text reads as ''.
SUMMARY = sql.SQL("""
    session_id,
    coalesce((array_agg(user_id ORDER BY timestamp, id COLLATE "C"))[1], '') AS user_id,
    coalesce((array_agg(user_email ORDER BY timestamp DESC, id COLLATE "C" DESC)
              FILTER (WHERE user_email <> ''))[1], '') AS user_email,
    coalesce((array_agg(persona ORDER BY timestamp, id COLLATE "C"))[1], '') AS persona,
    min(timestamp) AS started_at,
    max(timestamp) AS last_active_at,
    count(*) AS call_count,
    count(*) FILTER (WHERE NOT success) AS failure_count,
    coalesce(sum(duration_ms), 0) AS total_duration_ms,
    coalesce(array_agg(DISTINCT tool_name COLLATE "C") FILTER (WHERE tool_name <> ''), '{}')
        AS tools,
    coalesce(array_agg(DISTINCT connection COLLATE "C") FILTER (WHERE connection <> ''), '{}')
        AS connections,
    coalesce(min(timestamp) FILTER (WHERE toolkit_kind = %(discovery_kind)s)
             < min(timestamp) FILTER (WHERE toolkit_kind = %(query_kind)s), false)
        AS discovered_before_query
""")
SESSION_COLUMNS = sql.SQL(
    "session_id, user_id, user_email, persona, started_at, last_active_at, call_count, "
    "failure_count, total_duration_ms, tools, connections, discovered_before_query"
)
ORDER = sql.SQL('last_active_at DESC, session_id COLLATE "C"')


def encode_cursor(session: Session) -> str:
    return cursor_text(["session", session.last_active_at.isoformat(), session.session_id])


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The (last_active_at, session_id) a cursor of `sessions` stands at."""
    elements = cursor_elements(cursor)
    if len(elements) != 3 or elements[0] != "session":
        raise InvalidArgument(
            "after is not a cursor of sessions; pass endCursor from a previous page of sessions."
        )
    _, moment, session_id = elements
    try:
        last_active = as_utc(datetime.fromisoformat(moment))
    except (TypeError, ValueError, OverflowError):
        raise not_a_cursor() from None
    if not (isinstance(session_id, str) and is_storable_text(session_id)):
        raise not_a_cursor()
    return last_active, session_id


def call_conditions(window: Window, flt: SessionFilter) -> Conditions:
    """Which calls count: those in the window, of a session (of the kind asked for)."""
    where = Conditions()
    where.time_range(window.start, window.end)
    where.add("session_id <> ''")
    if flt.kind is SessionKind.TRANSPORT:
        where.add(
            "left(session_id, 4) <> ALL(%(prefixes)s)",
            prefixes=[kind.value for kind in PREFIXED_KINDS],
        )
    elif flt.kind is not None:
        where.add("starts_with(session_id, %(prefix)s)", prefix=flt.kind.value)
    return where


def summary_conditions(flt: SessionFilter) -> Conditions:
    """Which sessions are listed, by their summary."""
    where = Conditions()
    if flt.user_id:
        where.add("user_id = %(user_id)s", user_id=flt.user_id)
    if flt.has_failures is not None:
        where.add("failure_count > 0" if flt.has_failures else "failure_count = 0")
    if flt.search:
        where.add(
            "(strpos(lower(session_id), lower(%(search)s)) > 0 OR purpose_matches)",
            search=flt.search,
        )
    return where


def summaries(calls: Conditions, search: str) -> sql.Composable:
    """One row per session of `calls`: the Session columns, and whether a purpose matched."""
    matches = sql.SQL(
        "bool_or(strpos(lower(purpose), lower(%(search)s)) > 0)" if search else "false"
    )
    return sql.SQL("SELECT {summary}, {matches} AS purpose_matches FROM audit_logs {where} "
                   "GROUP BY session_id").format(summary=SUMMARY, matches=matches,
                                                 where=calls.sql())  # fmt: skip


# The newest sessions are found in a slice of the window's newest rows, widened
# until it holds a page: the cost of a page follows the page, not the window.
FIRST_SLICE = timedelta(minutes=15)
SLICE_GROWTH = 4
# Sessions summed at once while looking for those a filter lists.
SUMMARY_BATCH = 100


async def select_sessions(
    conn: AsyncConnection,
    window: Window,
    flt: SessionFilter,
    kinds: dict[str, str],
    limit: int,
    after: tuple[datetime, str] | None,
) -> list[Session]:
    """Up to `limit` sessions in order, after the position `after`.

    Every session whose last activity falls in a slice [lo, hi] at the newest
    end of what is left of the window comes before every session that is not
    in it, so once the slice holds `limit` listed sessions, they are the
    page; until then the slice grows toward the window's start. Only the
    slice's sessions are summed (through the session index), in order, a
    batch at a time, so a page costs about its own sessions' calls.
    `kinds` names the discovery and query toolkit kinds.
    """
    hi = window.end if after is None else min(window.end, after[0])
    # A summary filter drops sessions only once they are summed: then every
    # session of the slice is a candidate, summed a batch at a time.
    filtered = bool(summary_conditions(flt).clauses)
    batch = max(limit, SUMMARY_BATCH) if filtered else limit
    span = FIRST_SLICE
    while True:
        try:
            lo = max(window.start, hi - span)
        except OverflowError:
            lo = window.start
        candidates = await slice_sessions(
            conn, window, flt, lo, hi, after, None if filtered else limit
        )
        listed: list[Session] = []
        for first in range(0, len(candidates), batch):
            ids = candidates[first : first + batch]
            listed += await summarise(conn, window, flt, kinds, ids)
            if len(listed) >= limit:
                return listed[:limit]
        if lo == window.start:
            return listed
        span *= SLICE_GROWTH


async def slice_sessions(
    conn: AsyncConnection,
    window: Window,
    flt: SessionFilter,
    lo: datetime,
    hi: datetime,
    after: tuple[datetime, str] | None,
    limit: int | None,
) -> list[str]:
    """Ids of the sessions whose last activity in the window is in [lo, hi], in order.

    A session with a call after `hi` (still in the window) is active later
    than the slice shows, which only happens on a page after the first: it
    comes before the cursor, so it is left out.
    """
    rows = call_conditions(Window(lo, hi), flt)
    kept = Conditions()
    if after is not None:
        kept.add(
            "(max(timestamp) < %(after_time)s OR (max(timestamp) = %(after_time)s "
            'AND session_id COLLATE "C" > %(after_id)s))',
            after_time=after[0],
            after_id=after[1],
        )
    if hi < window.end:
        later = Conditions()
        later.time_range(hi, window.end, "later_")
        later.add("later.session_id = audit_logs.session_id")
        later.add("later.timestamp > %(later_start)s")
        kept.add(sql.SQL("NOT EXISTS (SELECT FROM audit_logs AS later {})").format(later.sql()))
        kept.params.update(later.params)
    predicate = kept.predicate()
    query = sql.SQL(
        "SELECT session_id FROM audit_logs {where} GROUP BY session_id {having} "
        'ORDER BY max(timestamp) DESC, session_id COLLATE "C" {limit}'
    ).format(
        where=rows.sql(),
        having=sql.SQL("HAVING {}").format(predicate) if predicate else sql.SQL(""),
        limit=sql.SQL("LIMIT {}").format(limit) if limit is not None else sql.SQL(""),
    )
    cur = await conn.execute(query, {**rows.params, **kept.params})
    return [row[0] for row in await cur.fetchall()]


async def summarise(
    conn: AsyncConnection,
    window: Window,
    flt: SessionFilter,
    kinds: dict[str, str],
    ids: list[str],
) -> list[Session]:
    """The sessions `ids` summed over the window, those the filter lists, in order."""
    calls = call_conditions(window, flt)
    calls.add("session_id = ANY(%(ids)s)", ids=ids)
    listed = summary_conditions(flt)
    query = sql.SQL(
        "SELECT {columns} FROM ({summaries}) AS sessions {where} ORDER BY {order}"
    ).format(
        columns=SESSION_COLUMNS,
        summaries=summaries(calls, flt.search),
        where=listed.sql(),
        order=ORDER,
    )
    cur = conn.cursor(row_factory=class_row(Session))
    await cur.execute(query, {**calls.params, **listed.params, **kinds})
    return await cur.fetchall()


async def count_sessions(
    conn: AsyncConnection, window: Window, flt: SessionFilter, kinds: dict[str, str]
) -> int:
    calls = call_conditions(window, flt)
    listed = summary_conditions(flt)
    query = sql.SQL("SELECT count(*) FROM ({summaries}) AS sessions {where}").format(
        summaries=summaries(calls, flt.search), where=listed.sql()
    )
    cur = await conn.execute(query, {**calls.params, **listed.params, **kinds})
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def select_session(
    conn: AsyncConnection, session_id: str, kinds: dict[str, str]
) -> Session | None:
    """All calls of one session, summed; None when the log holds none."""
    calls = Conditions()
    calls.add("session_id = %(session_id)s", session_id=session_id)
    query = sql.SQL("SELECT {columns} FROM ({summaries}) AS sessions").format(
        columns=SESSION_COLUMNS, summaries=summaries(calls, "")
    )
    cur = conn.cursor(row_factory=class_row(Session))
    await cur.execute(query, {**calls.params, **kinds})
    return await cur.fetchone()
