"""Projections: read models written in the same transaction as the events they come from.

- `need_summary`: one row per need (stage, classification, assignee, due time, overdue flag,
  counters, timestamps, outcome, requester and address masked);
- `unit_inbox` (a view over need_summary): each unit's open accept/handle tasks;
- `unit_monthly_stats` (a view summing `unit_monthly_stat_slots`): counters per unit and
  Asia/Shanghai calendar month, with rates derived in the view `unit_monthly_rates`.
The rules live in the SQL function `df_project` (migrations 0001, 0002); rebuild replays every
stream through the same function, so live and rebuilt tables cannot drift apart.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import asyncpg

SUMMARY_SQL = "SELECT * FROM need_summary WHERE stream_id = $1"
INBOX_SQL = """
SELECT * FROM unit_inbox WHERE unit_id = $1
ORDER BY due_at NULLS LAST, stream_id LIMIT $2
"""
STATS_SQL = "SELECT * FROM unit_monthly_rates WHERE unit_id = $1 AND month = $2"


async def rebuild_projections(conn: asyncpg.Connection) -> int:
    """Recompute every projection from the events alone, atomically; returns streams replayed.

    Works as owner or app role. Appends that arrive meanwhile wait on the tables' lock and
    then fold onto the rebuilt rows, so nothing is lost or counted twice.
    """
    async with conn.transaction():
        return await conn.fetchval("SELECT df_rebuild_projections()")


async def need_summary(conn: asyncpg.Connection | asyncpg.Pool, stream_id: str) -> dict | None:
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
