"""Group commit: the appends waiting in this process share one call and one transaction.

Each need's workflow appends on its own, so under load many single appends wait at once, and
one round trip plus one commit each is most of their cost. `GroupCommit.append` prepares the
append in the caller (validation, digests, the folded summary row: store.append) and queues
it; one sender at a time takes every queued append, sorted by stream (the order in which
concurrent groups lock stream heads), and sends them as one `df_append_group` call. Each
caller gets its own answer: ok, a retry (`duplicate`), or its own VersionConflict.

If the group call fails as a whole (a stale summary row, an event id stored in another stream,
a deadlock, a lost connection), nothing of it is known to be written, so every append of the
group is sent again on its own by `append_unchecked`, which handles each case for that append
(appends are idempotent on their event ids, so one that did commit answers as a retry).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from domain.events import EventEnvelope
from store import fold
from store.append import (
    AppendResult,
    SummaryCache,
    append_unchecked,
    credit_rows,
    event_columns,
    prior_row,
)
from store.errors import VersionConflict
from store.validation import check_batch

GROUP_SQL = ("SELECT status, actual, reason FROM df_append_group($1, $2, $3, $4, $5, $6, $7, "
             "$8, $9, $10, $11, $12, $13::need_summary[], $14, $15::unit_monthly_stat_slots[], "
             "$16)")


@dataclass
class _Queued:
    stream_id: str
    expected: int
    events: Sequence[EventEnvelope]
    columns: list[list[Any]]
    row: fold.Row
    credits: list[tuple]
    refolded: bool
    answer: asyncio.Future[AppendResult]


class GroupCommit:
    """Appends through one pool, grouped while a group is on its way (see module docstring)."""

    def __init__(self, pool: asyncpg.Pool, cache: SummaryCache, max_group: int = 256) -> None:
        self.pool = pool
        self.cache = cache
        self.max_group = max_group
        self._queue: list[_Queued] = []
        self._sender: asyncio.Task[None] | None = None
        self.groups = 0  # how many calls, and how many appends they carried (for benchmarks)
        self.grouped = 0

    async def append(
        self, stream_id: str, expected_version: int, events: Sequence[EventEnvelope]
    ) -> AppendResult:
        check_batch(stream_id, expected_version, events)
        columns = event_columns(events)
        prior, refolded = await prior_row(self.pool, stream_id, expected_version, self.cache)
        row, credits = fold.fold(prior, stream_id, events)
        answer: asyncio.Future[AppendResult] = asyncio.get_running_loop().create_future()
        self._queue.append(_Queued(stream_id, expected_version, events, columns, row,
                                   credit_rows(credits), refolded, answer))
        if self._sender is None:
            self._sender = asyncio.create_task(self._send_queued())
        return await answer

    async def _send_queued(self) -> None:
        group: list[_Queued] = []
        try:
            while self._queue:
                group = sorted(self._queue[: self.max_group], key=lambda q: q.stream_id)
                del self._queue[: self.max_group]
                try:
                    await self._send(group)
                except Exception:  # noqa: BLE001 - each append then finds out on its own
                    await asyncio.gather(*(self._send_alone(q) for q in group))
        except BaseException as exc:  # cancelled (the loop is closing): nobody may wait forever
            for q in [*group, *self._queue]:
                _answer(q, error=exc)
            self._queue.clear()
            raise
        finally:
            self._sender = None

    async def _send(self, group: list[_Queued]) -> None:
        columns: list[list[Any]] = [[] for _ in range(9)]
        ends: list[int] = []
        credits: list[tuple] = []
        credit_ends: list[int] = []
        for q in group:
            for column, values in zip(columns, q.columns, strict=True):
                column.extend(values)
            ends.append(len(columns[0]))
            credits.extend(q.credits)
            credit_ends.append(len(credits))
        async with self.pool.acquire() as conn:
            statuses, actuals, reasons = await conn.fetchrow(
                GROUP_SQL, [q.stream_id for q in group], [q.expected for q in group], ends,
                *columns, [tuple(q.row[c] for c in fold.SUMMARY_COLUMNS) for q in group],
                credit_ends, credits, [q.refolded for q in group])
        self.groups += 1
        self.grouped += len(group)
        for q, status, actual, reason in zip(group, statuses, actuals, reasons, strict=True):
            if status == "conflict":
                self.cache.drop(q.stream_id)
                _answer(q, error=VersionConflict(q.stream_id, q.expected, actual, reason))
            else:
                self.cache.put(q.stream_id, q.row)
                _answer(q, result=AppendResult(
                    stream_id=q.stream_id, first_version=q.expected + 1,
                    last_version=q.expected + len(q.events), duplicate=status == "duplicate"))

    async def _send_alone(self, q: _Queued) -> None:
        try:
            result = await append_unchecked(self.pool, q.stream_id, q.expected, q.events,
                                            self.cache)
        except Exception as exc:  # noqa: BLE001 - handed to the caller, who sees it raised
            _answer(q, error=exc)
        else:
            _answer(q, result=result)


def _answer(q: _Queued, *, result: AppendResult | None = None,
            error: BaseException | None = None) -> None:
    if q.answer.done():  # the caller was cancelled meanwhile: the append stands regardless
        return
    if error is not None:
        q.answer.set_exception(error)
    else:
        q.answer.set_result(result)
