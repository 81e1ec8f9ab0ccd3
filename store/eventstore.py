"""`EventStore`: the one object the workflow activities, CLI and HTTP layer hold.

It wraps an asyncpg pool connected as the app role; each method is one short transaction.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import asyncpg

from domain.events import AppendResult, EventEnvelope
from store import assists, plans, projections, read, wishes
from store.append import SummaryCache, append
from store.db import DEFAULT_APP_ROLE, create_pool
from store.errors import VersionConflict
from store.read import Cursor, RecordedEvent
from store.verify import VerifyReport, verify
from telemetry import metrics, tracing


class EventStore:
    def __init__(self, pool: asyncpg.Pool, cache_size: int = 1024) -> None:
        self.pool = pool
        # The summary rows this store wrote last: the next append of those needs folds onto
        # them instead of reading its row back (see store.append).
        self.summaries = SummaryCache(cache_size)

    @classmethod
    async def open(cls, url: str, role: str = DEFAULT_APP_ROLE, **pool_kw: Any) -> EventStore:
        return cls(await create_pool(url, role, **pool_kw))

    async def close(self) -> None:
        await self.pool.close()

    async def append(
        self, stream_id: str, expected_version: int, events: Sequence[EventEnvelope]
    ) -> AppendResult:
        """See store.append: all or nothing, idempotent retries, conflicts raise. Counted in
        the process's metrics (a retry that stored nothing counts nothing)."""
        started = time.perf_counter()
        try:
            with tracing.append_span(stream_id, expected_version, [e.type for e in events]):
                if assists.touches(events):
                    result = await self._append_with_assists(stream_id, expected_version, events)
                else:
                    result = await append(
                        self.pool, stream_id, expected_version, events, self.summaries
                    )
        except VersionConflict:
            metrics.APPEND_CONFLICTS.inc()
            raise
        if not result.duplicate:
            metrics.appended(
                events,
                self.summaries.get(stream_id, result.last_version),
                time.perf_counter() - started,
            )
        return result

    async def _append_with_assists(
        self, stream_id: str, expected_version: int, events: Sequence[EventEnvelope]
    ) -> AppendResult:
        """A batch with sub-task events of joint handling: the events, the summary row and the
        sub-task rows (store.assists) in one transaction. A retry of a stored batch writes the
        rows again to the same values (they skip the events they have seen)."""
        async with self.pool.acquire() as conn, conn.transaction():
            result = await append(conn, stream_id, expected_version, events, self.summaries)
            await assists.write(conn, stream_id, events)
        return result

    async def append_wish(
        self, stream_id: str, expected_version: int, events: Sequence[EventEnvelope]
    ) -> AppendResult:
        """A micro-wish's batch (store.wishes): the same contract as `append`."""
        with tracing.append_span(stream_id, expected_version, [e.type for e in events]):
            return await wishes.append_wish(self.pool, stream_id, expected_version, events)

    async def append_plan(
        self, stream_id: str, expected_version: int, events: Sequence[EventEnvelope]
    ) -> AppendResult:
        """A service plan's batch (store.plans): the same contract as `append`."""
        with tracing.append_span(stream_id, expected_version, [e.type for e in events]):
            return await plans.append_plan(self.pool, stream_id, expected_version, events)

    async def read_stream(self, stream_id: str, from_version: int = 1) -> list[EventEnvelope]:
        return await read.read_stream(self.pool, stream_id, from_version)

    async def read_all(self, after: Cursor | None = None, limit: int = 500) -> list[RecordedEvent]:
        return await read.read_all(self.pool, after, limit)

    async def need_summary(self, stream_id: str) -> dict[str, Any] | None:
        return await projections.need_summary(self.pool, stream_id)

    async def unit_inbox(self, unit_id: str, limit: int = 100) -> list[dict[str, Any]]:
        return await projections.unit_inbox(self.pool, unit_id, limit)

    async def rebuild_projections(self) -> int:
        async with self.pool.acquire() as conn:
            return await projections.rebuild_projections(conn)

    async def verify(self) -> VerifyReport:
        async with self.pool.acquire() as conn:
            return await verify(conn)
