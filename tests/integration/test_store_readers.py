"""Global readers never skip an event, even when writers commit out of order."""

from __future__ import annotations

import asyncio
import random

import asyncpg

from store import samples
from store.append import append
from store.db import connect
from store.eventstore import EventStore
from store.read import Cursor, read_all


async def follow(pool: asyncpg.Pool, cursor: Cursor, seen: list[str], limit: int) -> Cursor:
    """One poll: read pages until the horizon, remembering ids in the order received."""
    while True:
        page = await read_all(pool, cursor, limit)
        seen.extend(r.envelope.event_id for r in page)
        if not page:
            return cursor
        cursor = page[-1].cursor


async def test_a_late_committer_holds_readers_back_instead_of_being_skipped(
    store: EventStore, app_url: str, app_role: str
):
    early, late = samples.new_stream_id(), samples.new_stream_id()
    slow = await connect(app_url, app_role)
    try:
        tx = slow.transaction()
        await tx.start()
        await append(slow, early, 0, samples.envelopes(early, samples.happy_path()[:1]))
        await store.append(late, 0, samples.envelopes(late, samples.happy_path()[:1]))
        # The trap: the committed row has the higher position, the open one the lower.
        naive = await store.pool.fetch("SELECT stream_id, position FROM events ORDER BY 2")
        assert [r["stream_id"] for r in naive] == [late] and naive[0]["position"] == 2
        assert await store.read_all() == []  # nothing past the open transaction yet
        await tx.commit()
    finally:
        await slow.close()
    assert [r.envelope.stream_id for r in await store.read_all()] == [early, late]


async def writer(
    url: str, role: str, rng: random.Random, appended: asyncio.Event, commit: asyncio.Event
) -> int:
    conn = await connect(url, role)
    try:
        sid = samples.new_stream_id()
        events = samples.envelopes(sid, samples.rough_path()[: rng.randint(1, 6)])
        await asyncio.sleep(rng.random() * 0.02)
        async with conn.transaction():
            await append(conn, sid, 0, events)
            appended.set()
            await commit.wait()  # the test decides the commit order
        return len(events)
    finally:
        await conn.close()


async def commit_in_random_order(
    rng: random.Random, appended: list[asyncio.Event], commits: list[asyncio.Event]
) -> None:
    """Let writers commit one at a time, each picked at random among those whose append is
    done (an append can wait on a row lock of an uncommitted writer): commits out of position
    order are certain, not left to timing."""
    pending = set(range(len(commits)))
    while pending:
        ready = sorted(i for i in pending if appended[i].is_set())
        if not ready:
            await asyncio.sleep(0.002)
            continue
        chosen = rng.choice(ready)
        pending.discard(chosen)
        commits[chosen].set()
        await asyncio.sleep(rng.random() * 0.01)


async def test_a_polling_reader_collects_every_event_once_in_final_order(
    store: EventStore, app_url: str, app_role: str
):
    rng = random.Random(20260331)
    appended = [asyncio.Event() for _ in range(40)]
    commits = [asyncio.Event() for _ in range(40)]
    tasks = [
        asyncio.create_task(writer(app_url, app_role, rng, a, c))
        for a, c in zip(appended, commits, strict=False)
    ]
    tasks.append(asyncio.create_task(commit_in_random_order(rng, appended, commits)))
    seen: list[str] = []
    naive: list[int] = []  # what "position > last seen" would have collected
    cursor = Cursor()
    while not all(t.done() for t in tasks):
        cursor = await follow(store.pool, cursor, seen, limit=3)
        naive += [
            r["position"]
            for r in await store.pool.fetch(
                "SELECT position FROM events WHERE position > $1 ORDER BY 1", max(naive, default=0)
            )
        ]
        await asyncio.sleep(0.003)
    total = sum(t.result() for t in tasks[:-1])
    await follow(store.pool, cursor, seen, limit=3)
    final = [r.envelope.event_id for r in await store.read_all(limit=10_000)]
    assert len(final) == total
    assert seen == final  # nothing skipped, nothing twice, same order
    # The trap was live in this run: the naive reader lost events our reader kept.
    assert len(naive) < total
