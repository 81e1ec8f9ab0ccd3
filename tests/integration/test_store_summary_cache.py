"""The append folds onto the row as of `expected_version`: from this process's cache, from
`need_summary`, or from the stored events. Whatever the source, the stored row ends equal to
the fold of the stream's events; a stale cached row is never written."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from store import fold, samples
from store.append import append
from store.errors import VersionConflict
from store.eventstore import EventStore


async def row_is_the_fold(store: EventStore, sid: str) -> dict:
    """The stored row, after checking it equals the fold of the stored events."""
    stored = await store.need_summary(sid)
    assert stored is not None
    folded = fold.fold(None, sid, await store.read_stream(sid))[0]
    del stored["updated_at"], folded["updated_at"]
    assert stored == folded
    return stored


async def test_two_writers_of_one_stream_fold_onto_each_others_rows(
    store: EventStore, pool: asyncpg.Pool
):
    other = EventStore(pool)  # a second process: its own cache
    sid = samples.new_stream_id()
    batch = samples.envelopes(sid, samples.rough_path())
    for i, envelope in enumerate(batch):
        await (store if i % 3 else other).append(sid, i, [envelope])
        row = await row_is_the_fold(store, sid)
    assert row["escalations"] == 2


async def test_a_row_changed_behind_the_cache_is_replaced_by_the_fold_of_the_events(
    store: EventStore, owner_conn: asyncpg.Connection
):
    sid = samples.new_stream_id()
    batch = samples.envelopes(sid, samples.happy_path())
    for i in range(4):
        await store.append(sid, i, [batch[i]])
    assert store.summaries.get(sid, 4) is not None  # the next append would fold onto it
    await owner_conn.execute(
        "UPDATE need_summary SET stage = 'closed', escalations = 7, last_version = 99 "
        "WHERE stream_id = $1",
        sid,
    )
    await store.append(sid, 4, [batch[4]])
    assert (await row_is_the_fold(store, sid))["escalations"] == 0


async def test_a_lost_row_is_written_again_by_the_next_append(
    store: EventStore, owner_conn: asyncpg.Connection
):
    sid = samples.new_stream_id()
    batch = samples.envelopes(sid, samples.happy_path())
    await store.append(sid, 0, batch[:3])
    await owner_conn.execute("DELETE FROM need_summary WHERE stream_id = $1", sid)
    fresh = EventStore(store.pool)  # no cache: the prior comes from the events themselves
    await fresh.append(sid, 3, batch[3:5])
    await row_is_the_fold(store, sid)
    await owner_conn.execute("DELETE FROM need_summary WHERE stream_id = $1", sid)
    await store.append(sid, 5, batch[5:])  # the cache missed the previous append: same answer
    assert (await row_is_the_fold(store, sid))["stage"] == "closed"


async def test_a_conflict_forgets_the_cached_row(store: EventStore):
    sid = samples.new_stream_id()
    batch = samples.envelopes(sid, samples.happy_path())
    await store.append(sid, 0, batch[:2])
    other = EventStore(store.pool)
    await other.append(sid, 2, batch[2:3])
    with pytest.raises(VersionConflict):
        await store.append(sid, 1, [*batch[1:2], batch[2].model_copy(update={"event_id": "x"})])
    assert store.summaries.get(sid, 2) is None
    await store.append(sid, 3, batch[3:4])
    await row_is_the_fold(store, sid)


async def test_a_writer_ahead_of_the_stored_stream_is_refused_not_folded_short(
    store: EventStore, pool: asyncpg.Pool, owner_conn: asyncpg.Connection
):
    """Writer A's append of version 2 is uncommitted; writer B (another process, no cached
    row) appends version 3 without waiting. B must be refused: folding its row from the one
    event it can see, then writing it once A commits, would lose A's event from the row."""
    sid = samples.new_stream_id()
    batch = samples.envelopes(sid, samples.happy_path())
    await store.append(sid, 0, batch[:1])
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        await append(conn, sid, 1, batch[1:2])
        b = asyncio.create_task(EventStore(pool).append(sid, 2, batch[2:3]))
        while not b.done() and not await _someone_waits_on_a_lock(owner_conn):
            await asyncio.sleep(0.01)
        await tx.commit()
    with pytest.raises(VersionConflict) as refused:
        await b
    assert refused.value.actual == 1
    await row_is_the_fold(store, sid)


async def _someone_waits_on_a_lock(conn: asyncpg.Connection) -> bool:
    return await conn.fetchval(
        "SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
    )
