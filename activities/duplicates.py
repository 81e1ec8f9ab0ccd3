"""Finding the open need a new report may repeat: a read of the need_summary projection.

The workflow decides with `domain.collection.matches` on what this returns; the query only
narrows the candidates (same category, same place, recent, still open).
"""

from __future__ import annotations

import asyncpg
from temporalio import activity

from domain.collection import OpenNeedSummary
from workflows.messages import DuplicateAnswer, DuplicateQuery

_CANDIDATES = """
SELECT stream_id, category, concat_ws('/', street, community, grid, building) AS place_key,
       submitted_at
FROM need_summary
WHERE stage <> 'closed' AND category = $1 AND stream_id <> $2 AND submitted_at >= $3
  AND street IS NOT DISTINCT FROM $4 AND community IS NOT DISTINCT FROM $5
  AND grid IS NOT DISTINCT FROM $6 AND building IS NOT DISTINCT FROM $7
ORDER BY submitted_at
LIMIT 20
"""


class DuplicateActivities:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @activity.defn(name="find_open_duplicate")
    async def find_open_duplicate(self, query: DuplicateQuery) -> DuplicateAnswer:
        loc = query.location
        rows = await self.pool.fetch(
            _CANDIDATES, query.category.value, query.stream_id, query.since,
            loc.street, loc.community, loc.grid, loc.building,
        )
        return DuplicateAnswer(candidates=[OpenNeedSummary(**dict(row)) for row in rows])
