"""Projections: read models written in the same transaction as the events they come from.

- `need_summary`: one row per need (stage, classification, assignee, due time, overdue flag,
  counters, timestamps, outcome, requester and address masked);
- `unit_inbox` (a view over need_summary): each unit's open accept/handle tasks;
- `need_assists`: the sub-tasks of joint handling (store.assists, revision 0015);
- `unit_monthly_stats` (a view summing `unit_monthly_stat_slots`): counters per unit and
  Asia/Shanghai calendar month, with rates derived in the view `unit_monthly_rates`.
The rules live in `store.fold`, which the append path applies to each batch; rebuild folds
every stream from its first event with the same function, so live and rebuilt tables cannot
drift apart.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import asyncpg

from domain.events import EventEnvelope
from store import assists, fold
from store.append import credit_rows
from store.columns import STAT_COUNTERS, SUMMARY_COLUMNS
from store.read import COLUMNS, to_envelope
from store.wishes import rebuild_wishes

SUMMARY_SQL = "SELECT * FROM need_summary WHERE stream_id = $1"
INBOX_SQL = """
SELECT * FROM unit_inbox WHERE unit_id = $1
ORDER BY due_at NULLS LAST, stream_id LIMIT $2
"""
STATS_SQL = "SELECT * FROM unit_monthly_rates WHERE unit_id = $1 AND month = $2"


ALL_STREAMS_SQL = (
    f"SELECT {COLUMNS} FROM events WHERE stream_id LIKE 'need-%' ORDER BY stream_id, version"
)


async def rebuild_projections(conn: asyncpg.Connection, fetch_size: int = 2000) -> int:
    """Recompute every projection from the events alone, atomically; returns streams replayed
    (needs, then wishes: store.wishes.rebuild_wishes).

    Works as owner or app role. The exclusive lock on `stream_heads` makes appends that arrive
    meanwhile wait (every append locks its head first) and then write over the rebuilt rows,
    so nothing is lost or counted twice.
    """
    async with conn.transaction():
        await conn.execute("LOCK TABLE stream_heads IN EXCLUSIVE MODE")
        await conn.execute("TRUNCATE need_summary, unit_monthly_stat_slots, need_assists")
        rows: list[tuple[Any, ...]] = []
        assist_rows: list[tuple[Any, ...]] = []
        credits: fold.Credits = {}
        stream: str | None = None
        history: list[EventEnvelope] = []
        async for record in conn.cursor(ALL_STREAMS_SQL, prefetch=fetch_size):
            if record["stream_id"] != stream:
                _fold_into(rows, credits, stream, history)
                assist_rows += assists.rebuilt_rows(history)
                stream, history = record["stream_id"], []
            history.append(to_envelope(record))
            if len(rows) >= fetch_size:
                await _copy_rows(conn, rows)
                await assists.copy_rows(conn, assist_rows)
        _fold_into(rows, credits, stream, history)
        assist_rows += assists.rebuilt_rows(history)
        await _copy_rows(conn, rows)
        await assists.copy_rows(conn, assist_rows)
        await conn.copy_records_to_table(
            "unit_monthly_stat_slots",
            records=credit_rows(credits),
            columns=["unit_id", "month", "slot", *STAT_COUNTERS],
        )
        replayed: int = await conn.fetchval("SELECT count(*) FROM need_summary")
        return replayed + await rebuild_wishes(conn)


def _fold_into(
    rows: list[tuple[Any, ...]],
    credits: fold.Credits,
    stream: str | None,
    history: list[EventEnvelope],
) -> None:
    if stream is None:
        return
    row, earned = fold.fold(None, stream, history)
    rows.append(tuple(row[c] for c in SUMMARY_COLUMNS))
    fold.add_credits(credits, earned)


async def _copy_rows(conn: asyncpg.Connection, rows: list[tuple[Any, ...]]) -> None:
    """Write the folded rows (updated_at = the rebuild's transaction time) and empty the list."""
    if rows:
        now = await conn.fetchval("SELECT now()")
        at = SUMMARY_COLUMNS.index("updated_at")
        await conn.copy_records_to_table(
            "need_summary",
            records=[(*r[:at], now, *r[at + 1 :]) for r in rows],
            columns=list(SUMMARY_COLUMNS),
        )
        rows.clear()


async def need_summary(
    conn: asyncpg.Connection | asyncpg.Pool, stream_id: str
) -> dict[str, Any] | None:
    row = await conn.fetchrow(SUMMARY_SQL, stream_id)
    return dict(row) if row else None


async def unit_inbox(
    conn: asyncpg.Connection | asyncpg.Pool, unit_id: str, limit: int = 100
) -> list[dict[str, Any]]:
    """The unit's open tasks, most urgent first; tasks without a due time come last."""
    return [dict(r) for r in await conn.fetch(INBOX_SQL, unit_id, limit)]


async def unit_month(
    conn: asyncpg.Connection | asyncpg.Pool, unit_id: str, month: date
) -> dict[str, Any] | None:
    """Counters and rates of one unit for one month (`month` = first day, Shanghai time)."""
    row = await conn.fetchrow(STATS_SQL, unit_id, month.replace(day=1))
    return dict(row) if row else None
