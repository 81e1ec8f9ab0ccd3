"""What must hold after any fault: the audit trail is whole and the read models agree with it.

- every stream's versions are exactly 1..n (no gap, no duplicate) and its head says n;
- every event id appears once;
- the hash chains verify;
- `need_summary` equals a rebuild from the events alone (done inside a transaction that is
  rolled back, so the live table is untouched), every column but `updated_at`;
- for the needs the test drove, the stage, unit and version equal `domain.state.fold` of the
  stored stream.
"""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg

from domain.state import fold
from store.columns import SUMMARY_COLUMNS
from store.db import connect
from store.projections import rebuild_projections
from store.read import read_stream
from store.verify import verify

COMPARED = [name for name in SUMMARY_COLUMNS if name != "updated_at"]


async def audit_problems(owner_url: str, need_ids: Iterable[str]) -> list[str]:
    conn = await connect(owner_url, role=None)
    try:
        return await _problems(conn, list(need_ids))
    finally:
        await conn.close()


async def _problems(conn: asyncpg.Connection, need_ids: list[str]) -> list[str]:
    problems: list[str] = []
    gaps = await conn.fetch("""
        SELECT e.stream_id, count(*) AS n, count(DISTINCT e.version) AS distinct_versions,
               min(e.version) AS lo, max(e.version) AS hi, h.version AS head
        FROM events e LEFT JOIN stream_heads h ON h.stream_id = e.stream_id
        GROUP BY e.stream_id, h.version
        HAVING count(*) <> max(e.version) OR count(DISTINCT e.version) <> count(*)
            OR min(e.version) <> 1 OR h.version IS DISTINCT FROM max(e.version)""")
    problems += [
        f"stream {r['stream_id']}: versions {r['lo']}..{r['hi']}, {r['n']} rows, head {r['head']}"
        for r in gaps
    ]
    dup_ids = await conn.fetchval(
        "SELECT count(*) FROM (SELECT event_id FROM events GROUP BY 1 HAVING count(*) > 1) d"
    )
    if dup_ids:
        problems.append(f"{dup_ids} event ids stored more than once")
    heads_without_events = await conn.fetchval(
        "SELECT count(*) FROM stream_heads h WHERE NOT EXISTS "
        "(SELECT 1 FROM events e WHERE e.stream_id = h.stream_id)"
    )
    if heads_without_events:
        problems.append(f"{heads_without_events} stream heads without events")
    report = await verify(conn)
    problems += [f"chain {b.stream_id} v{b.version}: {b.problem}" for b in report.broken]

    cols = ", ".join(COMPARED)
    tr = conn.transaction()
    await tr.start()
    try:
        await conn.execute(f"CREATE TEMP TABLE live_summary AS SELECT {cols} FROM need_summary")
        await rebuild_projections(conn)
        only_live = await conn.fetch(
            f"SELECT stream_id FROM (SELECT {cols} FROM live_summary "
            f"EXCEPT SELECT {cols} FROM need_summary) d"
        )
        only_rebuilt = await conn.fetch(
            f"SELECT stream_id FROM (SELECT {cols} FROM need_summary "
            f"EXCEPT SELECT {cols} FROM live_summary) d"
        )
    finally:
        await tr.rollback()
    bad = sorted({r["stream_id"] for r in [*only_live, *only_rebuilt]})
    if bad:
        problems.append(f"need_summary differs from a rebuild for {len(bad)} needs: {bad[:5]}")

    for need_id in need_ids:
        stored = await read_stream(conn, need_id)
        if not stored:
            problems.append(f"{need_id}: no events")
            continue
        state = fold(e.event() for e in stored)
        row = await conn.fetchrow(
            "SELECT stage, assigned_unit, last_version FROM need_summary WHERE stream_id = $1",
            need_id,
        )
        expected = (state.stage.value if state.stage else None, state.assigned_unit, state.version)
        got = (row["stage"], row["assigned_unit"], row["last_version"]) if row else None
        if got != expected:
            problems.append(f"{need_id}: projection {got} != fold {expected}")
    return problems
