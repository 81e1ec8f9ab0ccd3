"""Finding the open need a new report may repeat by category and place: the lookup of runs
started before the intake patch (the SQL is store/first_intake.py). The workflow decides
with `domain.collection.matches` on what this returns; the query only narrows the candidates
(same category, same place, recent, still open).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg
from temporalio import activity

from domain.collection import OpenNeedSummary
from store import first_intake
from workflows.messages import DuplicateAnswer, DuplicateQuery

CLAIMS_KEPT = timedelta(days=1)


class DuplicateActivities:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @activity.defn(name="find_open_duplicate")
    async def find_open_duplicate(self, query: DuplicateQuery) -> DuplicateAnswer:
        """Runs started before the intake patch: their claims take the database's time."""
        return await self.candidates(query, claimed_at=None)

    async def candidates(
        self, query: DuplicateQuery, claimed_at: datetime | None
    ) -> DuplicateAnswer:
        """The open needs `query` may repeat, and this intake's claim (at `claimed_at`, the
        workflow's time, which is what `need_summary.submitted_at` will hold)."""
        loc = query.location
        rows = await first_intake.candidates_and_claim(
            self.pool,
            query.category.value,
            query.stream_id,
            query.since,
            (loc.street, loc.community, loc.grid, loc.building),
            claimed_at,
            CLAIMS_KEPT,
        )
        return DuplicateAnswer(candidates=[OpenNeedSummary(**row) for row in rows])
