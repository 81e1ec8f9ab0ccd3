"""Group commit (store.group): appends waiting at the same moment go in one call, and each
caller still gets exactly its own answer — ok, a retry, or its own conflict — with nothing
half written and every summary row equal to the fold of its stream's events."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from store import samples
from store.append import append
from store.errors import VersionConflict
from store.eventstore import EventStore
from tests.integration.test_store_summary_cache import row_is_the_fold


async def test_appends_waiting_together_share_a_call_and_each_gets_its_answer(store: EventStore):
    sids = [samples.new_stream_id() for _ in range(20)]
    batches = {sid: samples.envelopes(sid, samples.happy_path()) for sid in sids}
    results = await asyncio.gather(*(store.append(sid, 0, batches[sid][:2]) for sid in sids))
    assert [(r.stream_id, r.first_version, r.last_version, r.duplicate) for r in results] == [
        (sid, 1, 2, False) for sid in sids]
    assert store.appends.grouped == 20 and store.appends.groups < 20
    second = await asyncio.gather(*(store.append(sid, 2, batches[sid][2:]) for sid in sids))
    assert {r.last_version for r in second} == {len(batches[sids[0]])}
    for sid in sids:
        assert [e.event_id for e in await store.read_stream(sid)] == [
            e.event_id for e in batches[sid]]
        assert (await row_is_the_fold(store, sid))["stage"] == "closed"


async def test_a_conflict_in_a_group_is_only_its_own(store: EventStore):
    sids = [samples.new_stream_id() for _ in range(5)]
    batches = {sid: samples.envelopes(sid, samples.happy_path()) for sid in sids}
    for sid in sids:
        await store.append(sid, 0, batches[sid][:1])
    late = sids[2]
    other = samples.envelopes(late, samples.rough_path())[:1]  # another event at version 1
    calls = [store.append(sid, 1, batches[sid][1:3]) for sid in sids if sid != late]
    outcomes = await asyncio.gather(store.append(late, 0, other), *calls, return_exceptions=True)
    assert isinstance(outcomes[0], VersionConflict) and outcomes[0].actual == 1
    assert all(not isinstance(o, BaseException) and o.last_version == 3 for o in outcomes[1:])
    assert len(await store.read_stream(late)) == 1
    for sid in sids:
        await row_is_the_fold(store, sid)


async def test_a_group_that_fails_as_a_whole_sends_each_append_alone(store: EventStore):
    sids = [samples.new_stream_id() for _ in range(4)]
    batches = {sid: samples.envelopes(sid, samples.happy_path())[:2] for sid in sids}
    taken = samples.new_stream_id()
    await store.append(taken, 0, samples.envelopes(taken, samples.happy_path())[:1])
    # The thief's event carries an id stored in another stream: a unique violation, which
    # rolls back the whole group; the others must still land, the thief must get nothing.
    thief = samples.new_stream_id()
    stolen = samples.envelopes(thief, samples.happy_path())[:1]
    stolen = [stolen[0].model_copy(update={"event_id": f"{taken}:1"})]
    outcomes = await asyncio.gather(store.append(thief, 0, stolen),
                                    *(store.append(sid, 0, batches[sid]) for sid in sids),
                                    return_exceptions=True)
    assert isinstance(outcomes[0], VersionConflict)
    assert "event id already used" in outcomes[0].reason
    assert [o.last_version for o in outcomes[1:]] == [2] * len(sids)
    assert await store.read_stream(thief) == [] and await store.need_summary(thief) is None
    for sid in sids:
        await row_is_the_fold(store, sid)


async def test_a_retried_batch_in_a_group_answers_as_the_first_time(store: EventStore):
    sid, other = samples.new_stream_id(), samples.new_stream_id()
    batch = samples.envelopes(sid, samples.happy_path())[:3]
    await store.append(sid, 0, batch)
    retry, fresh = await asyncio.gather(
        store.append(sid, 0, batch),
        store.append(other, 0, samples.envelopes(other, samples.happy_path())[:1]))
    assert retry.duplicate and (retry.first_version, retry.last_version) == (1, 3)
    assert not fresh.duplicate
    assert len(await store.read_stream(sid)) == 3
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
        "SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
