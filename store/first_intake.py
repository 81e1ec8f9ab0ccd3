"""The first intake's repeat lookup (category + place), kept for runs started before the
intake patch (activities/duplicates.py, `find_open_duplicate`); newer runs use store/intake.py.

A need is in `need_summary` only once its first append committed. So that two reports of one
need arriving within that moment still see each other, an intake that finds no candidate
claims its (category, place) in `intake_claims`, and every intake reads the claims of needs
not yet summarised; a transaction-scoped advisory lock on the (category, place) makes the
second intake wait until the first one's claim is committed. Claims older than `kept` are
dropped on the way (by then the need is long summarised).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import asyncpg

_PLACE = (
    "street IS NOT DISTINCT FROM $4 AND community IS NOT DISTINCT FROM $5 "
    "AND grid IS NOT DISTINCT FROM $6 AND building IS NOT DISTINCT FROM $7"
)
_CANDIDATES = f"""
SELECT stream_id, category, concat_ws('/', street, community, grid, building) AS place_key,
       submitted_at
FROM need_summary
WHERE stage <> 'closed' AND category = $1 AND stream_id <> $2 AND submitted_at >= $3
  AND {_PLACE}
UNION ALL
SELECT stream_id, category, concat_ws('/', street, community, grid, building), submitted_at
FROM intake_claims c
WHERE category = $1 AND stream_id <> $2 AND submitted_at >= $3 AND {_PLACE}
  AND NOT EXISTS (SELECT FROM need_summary s WHERE s.stream_id = c.stream_id)
ORDER BY submitted_at
LIMIT 20
"""
_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))"
_CLAIM = """
INSERT INTO intake_claims (stream_id, category, street, community, grid, building, submitted_at)
VALUES ($1, $2, $3, $4, $5, $6, coalesce($7::timestamptz, now()))
ON CONFLICT (stream_id) DO NOTHING
"""
_FORGET = (
    "DELETE FROM intake_claims "
    "WHERE category = $1 AND submitted_at < coalesce($2::timestamptz, now()) - $3::interval"
)


async def candidates_and_claim(
    pool: asyncpg.Pool,
    category: str,
    stream_id: str,
    since: datetime,
    place: tuple[str | None, str | None, str | None, str | None],
    claimed_at: datetime | None,
    kept: timedelta,
) -> list[dict[str, Any]]:
    """The open needs of `category` at `place` submitted since `since` (oldest first, at most
    20); when there are none, `stream_id` claims the place (at `claimed_at`, else now)."""
    key = "/".join([category, *(p or "" for p in place)])
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(_LOCK, key)
        rows = await conn.fetch(_CANDIDATES, category, stream_id, since, *place)
        if not rows:
            # Only a would-be primary claims: a later report then finds the need it repeats,
            # never another repeat. A retried intake finds its own claim: nothing changes.
            await conn.execute(_CLAIM, stream_id, category, *place, claimed_at)
        await conn.execute(_FORGET, category, claimed_at, kept)
    return [dict(r) for r in rows]
