"""Finding the open need a new report may repeat: `need_summary` and the intake claims.

The workflow decides with `domain.collection.matches` on what this returns; the query only
narrows the candidates (same category, same place, recent, still open).

A need is in `need_summary` only once its first append committed. So that two reports of one
need arriving within that moment still see each other, an intake that finds no candidate
claims its (category, place) in `intake_claims`, and every intake reads the claims of needs
not yet summarised; a transaction-scoped advisory lock on the (category, place) makes the
second intake wait until the first one's claim is committed. Only would-be primaries claim,
so the order in which intakes take the lock decides the primary, whatever their clocks say.
Claims older than a day are dropped on the way (by then the need is long summarised).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg
from temporalio import activity

from domain.collection import OpenNeedSummary
from workflows.messages import DuplicateAnswer, DuplicateQuery

_PLACE = "street IS NOT DISTINCT FROM $4 AND community IS NOT DISTINCT FROM $5 " \
         "AND grid IS NOT DISTINCT FROM $6 AND building IS NOT DISTINCT FROM $7"
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
_FORGET = ("DELETE FROM intake_claims "
           "WHERE category = $1 AND submitted_at < coalesce($2::timestamptz, now()) - $3::interval")
CLAIMS_KEPT = timedelta(days=1)


class DuplicateActivities:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @activity.defn(name="find_open_duplicate")
    async def find_open_duplicate(self, query: DuplicateQuery) -> DuplicateAnswer:
        """Runs started before the intake patch: their claims take the database's time."""
        return await self.candidates(query, claimed_at=None)

    async def candidates(self, query: DuplicateQuery,
                         claimed_at: datetime | None) -> DuplicateAnswer:
        """The open needs `query` may repeat, and this intake's claim (at `claimed_at`, the
        workflow's time, which is what `need_summary.submitted_at` will hold)."""
        loc = query.location
        place = (loc.street, loc.community, loc.grid, loc.building)
        key = "/".join([query.category.value, *(p or "" for p in place)])
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(_LOCK, key)
            rows = await conn.fetch(_CANDIDATES, query.category.value, query.stream_id,
                                    query.since, *place)
            if not rows:
                # Only a would-be primary claims: a later report then finds the need it
                # repeats, never another repeat. (The workflow matches the candidates with
                # the same criteria.) A retried intake finds its own claim: nothing changes.
                await conn.execute(_CLAIM, query.stream_id, query.category.value, *place,
                                   claimed_at)
            await conn.execute(_FORGET, query.category.value, claimed_at, CLAIMS_KEPT)
        return DuplicateAnswer(candidates=[OpenNeedSummary(**dict(row)) for row in rows])
